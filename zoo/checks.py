"""Argument checks shared by the package; messages name the argument and the value."""
import math


def positive_int(name: str, value) -> int:
    """``value`` if it is an int > 0 (bools refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def positive_float(name: str, value) -> float:
    """``float(value)`` if it is a finite real number > 0 (bools refused), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)
