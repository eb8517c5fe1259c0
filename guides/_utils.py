"""The bottom layer: a name -> factory registry and argument checks, shared by ``guides`` and ``zoo``.

They live here, in the package every other one may import, so that ``guides`` needs nothing
from ``zoo`` (``zoo._utils`` re-exports them). Messages name the argument and the value.
"""
import inspect
import math
from typing import Callable, Dict, List


class Registry:
    """Maps names to factories; unknown names raise a ``ValueError`` listing the choices.

    Args:
        kind: what the registry holds ("model", "guide", ...), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: Dict[str, Callable] = {}

    def register(self, name: str) -> Callable[[Callable], Callable]:
        def decorator(factory: Callable) -> Callable:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return decorator

    def get(self, name: str) -> Callable:
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        try:
            return self._factories[name]
        except KeyError:
            choices = ", ".join(self.names())
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {choices}") from None

    def check(self, name: str, **kwargs) -> Callable:
        """The factory registered as ``name``, if its signature takes ``kwargs``; else a
        ``TypeError`` naming the factory and the argument (nothing is called)."""
        factory = self.get(name)
        try:
            inspect.signature(factory).bind_partial(**kwargs)
        except TypeError as e:
            raise TypeError(f"bad arguments for {self.kind} {name!r}: {e}") from None
        return factory

    def create(self, name: str, **kwargs):
        """Call the factory registered as ``name`` with ``kwargs`` (checked first, :meth:`check`);
        errors raised inside the factory pass through unchanged."""
        return self.check(name, **kwargs)(**kwargs)

    def names(self) -> List[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories


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
