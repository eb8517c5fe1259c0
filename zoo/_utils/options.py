"""Options as hashable ``(name, value)`` pairs, for the frozen config dataclasses."""
from typing import Any, Tuple

Options = Tuple[Tuple[str, Any], ...]

def freeze_options(options, what: str = "likelihood options") -> Options:
    """Options as a sorted tuple of ``(name, value)`` pairs (hashable, for frozen configs).

    Accepts a dict, pairs (tuples or, after a JSON round trip, lists), or ``None``.
    """
    if options is None:
        return ()
    items = options.items() if isinstance(options, dict) else options
    try:
        pairs = [(k, v) for k, v in items]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a dict of name -> value, got {options!r}") from None
    for k, _ in pairs:
        if not isinstance(k, str):
            raise ValueError(f"{what}: names must be str, got {k!r}")
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError(f"{what} repeat a name: {options!r}")
    return tuple(sorted(pairs, key=lambda pair: pair[0]))


def parse_assignment(text: str) -> Tuple[str, Any]:
    """``"NAME=VALUE"`` -> ``(name, value)``, the one option syntax of the command line.

    VALUE is read as YAML: ``10`` -> 10, ``0.5`` -> 0.5, ``[1, 5]`` -> [1, 5], ``null`` -> None,
    ``true`` -> True; anything else stays a string (``average``).
    """
    import yaml

    name, sep, value = str(text).partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"expected NAME=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return name, value if parsed is None and value not in ("null", "~", "None", "") else parsed
