r"""One option system for every ``vaezoo`` command, generated from a frozen dataclass.

A command declares its options as a frozen dataclass whose fields carry a type, a default and
a help text (:func:`option`). From it come the command's flags (``latent_dim`` ->
``--latent-dim``; a ``bool`` is a switch, a tuple takes several values, ``repeat`` fields take
``--NAME KEY=VALUE`` again and again), its YAML config (the same keys, with ``_`` or ``-``) and
its ``--help``, every line with its default. Every command also takes

    --config FILE     a YAML mapping of options; flags given on the command line override it
    --print-config    print the resolved options as such a file, and stop

Values from the command line (text), from a config file (YAML values) and from
``NAME=VALUE`` assignments (``vaezoo bench --set``) go through one checker, :func:`convert`,
against the field's type: ``int``, ``float``, ``str``, ``bool``, ``Optional``, ``Literal``,
``Tuple``/``List`` of them, ``Dict``, ``Any``, and ``Annotated`` constraints such as
:data:`PositiveInt`. A bad value is refused in one line naming the key, the value and what was
expected (:class:`OptionError`), before the command does anything.
"""
import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Dict, List, Literal, Sequence, Tuple, Union

NULLS = ("null", "none", "None", "~")
TRUE, FALSE = ("true", "True", "yes", "1"), ("false", "False", "no", "0")


class OptionError(ValueError):
    """A bad option: unknown key, wrong type, value out of range; its message is one line."""


@dataclass(frozen=True)
class Check:
    """A constraint on a value, e.g. ``Check(lambda v: v > 0, "> 0")``, inside ``Annotated``."""

    test: Callable[[Any], bool]
    text: str


PositiveInt = Annotated[int, Check(lambda v: v > 0, "> 0")]
NonNegativeInt = Annotated[int, Check(lambda v: v >= 0, ">= 0")]
PositiveFloat = Annotated[float, Check(lambda v: v > 0, "> 0")]
NonNegativeFloat = Annotated[float, Check(lambda v: v >= 0, ">= 0")]


def option(default: Any = dataclasses.MISSING, help: str = "", *, positional: bool = False,
           repeat: bool = False) -> Any:
    """A dataclass field with its help text. ``positional``: an argument without a flag
    (``vaezoo eval RUN_DIR``); ``repeat``: a ``Dict[str, ...]`` given as ``--NAME KEY=VALUE``,
    repeatable."""
    metadata = {"help": help, "positional": positional, "repeat": repeat}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# ---- the checker -----------------------------------------------------------------------------


class _Mismatch(Exception):
    pass


def convert(key: str, value: Any, tp: Any) -> Any:
    """``value`` as the type ``tp``: text from the command line is parsed, YAML values are
    checked; tuples and lists alike become the annotated sequence type.

    Raises:
        OptionError: ``KEY: expected <what>, got <value>``.
    """
    try:
        return _convert(value, tp)
    except _Mismatch:
        raise OptionError(f"{key}: expected {describe(tp)}, got {value!r}") from None


def _convert(value: Any, tp: Any) -> Any:
    base, checks = _unannotated(tp)
    origin, args = typing.get_origin(base), typing.get_args(base)
    if base is Any:
        out = parse_value(value) if isinstance(value, str) else value
    elif origin is Union:
        out = _union(value, args)
    elif base is type(None):
        if value is not None and value not in NULLS:
            raise _Mismatch
        out = None
    elif origin is Literal:
        out = next((c for c in args if value == c or (isinstance(value, str) and value == str(c))), _Mismatch)
        if out is _Mismatch:
            raise _Mismatch
    elif base in (bool, int, float, str):
        out = _scalar(value, base)
    elif origin in (list, tuple, Sequence, typing.Sequence) or base in (list, tuple):
        out = _sequence(value, origin or base, args)
    elif origin is dict or base is dict:
        value = parse_value(value) if isinstance(value, str) else value
        if not isinstance(value, dict):
            raise _Mismatch
        out = {str(k): _convert(v, args[1]) if args else v for k, v in value.items()}
    else:
        raise TypeError(f"options of type {tp!r} are not supported")
    if not all(check.test(out) for check in checks):
        raise _Mismatch
    return out


def _union(value, args):
    if type(None) in args and (value is None or value in NULLS):
        return None
    for arm in args:
        if arm is not type(None):
            try:
                return _convert(value, arm)
            except _Mismatch:
                pass
    raise _Mismatch


def _scalar(value, base):
    if base is str:
        if not isinstance(value, str):
            raise _Mismatch
        return value
    if isinstance(value, str):
        if base is bool and value in TRUE + FALSE:
            return value in TRUE
        try:
            value = int(value) if base is int else float(value) if base is float else value
        except ValueError:
            raise _Mismatch from None
    if isinstance(value, bool) != (base is bool) or not isinstance(value, (int, float)):
        raise _Mismatch
    if base is int and not isinstance(value, int):
        raise _Mismatch
    if base is float and not math.isfinite(value):
        raise _Mismatch
    return base(value)


def _sequence(value, kind, args):
    if isinstance(value, str):
        value = parse_value(value)
    if not isinstance(value, (list, tuple)):
        raise _Mismatch
    if args and args[-1] is not Ellipsis and kind in (tuple, Tuple):  # a fixed-length tuple
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert(v, a) for v, a in zip(value, args))
    items = [_convert(v, args[0] if args else Any) for v in value]
    return tuple(items) if kind in (tuple, Tuple) else items


def _unannotated(tp) -> Tuple[Any, List[Check]]:
    if typing.get_origin(tp) is Annotated:
        base, *extras = typing.get_args(tp)
        return base, [e for e in extras if isinstance(e, Check)]
    return tp, []


def describe(tp) -> str:
    """What a value of type ``tp`` must be, in words: ``an integer > 0``, ``one of a, b``."""
    base, checks = _unannotated(tp)
    origin, args = typing.get_origin(base), typing.get_args(base)
    bound = "".join(f" {c.text}" for c in checks)
    if origin is Union:
        return " or ".join("null" if a is type(None) else describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin in (list, tuple, Sequence, typing.Sequence) or base in (list, tuple):
        if args and args[-1] is not Ellipsis and origin is tuple:
            return f"{len(args)} values ({', '.join(describe(a) for a in args)})"
        return f"a list of {_plural(describe(args[0]) if args else 'values')}{bound}"
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a mapping",
             Any: "a value"}
    return words.get(base, "a mapping" if origin is dict else getattr(base, "__name__", str(base))) + bound


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            head, _, rest = text[len(article):].partition(" ")
            return f"{head}s {rest}".strip()
    return text


def parse_value(text: str) -> Any:
    """A value written on the command line: ``10`` -> 10, ``1e-3`` -> 0.001, ``[1, 5]`` -> [1, 5],
    ``null`` -> None, ``true`` -> True; other text stays a string (``average``)."""
    import yaml

    if not isinstance(text, str):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
        return number if text.strip().lower() not in ("nan", "inf", "-inf", "infinity") else text
    except ValueError:
        pass
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if parsed is None and text not in NULLS + ("",) else parsed


def parse_assignment(text: str) -> Tuple[str, str]:
    """``"NAME=VALUE"`` -> ``(name, "VALUE")``, the one assignment syntax of the command line
    (``--set``, ``--estimator-option``); the value is converted by the option it sets."""
    name, sep, value = str(text).partition("=")
    if not sep or not name.isidentifier():
        raise OptionError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def hints(cls) -> Dict[str, Any]:
    """The field types of a dataclass, constraints included."""
    return typing.get_type_hints(cls, include_extras=True)


def check_fields(obj) -> None:
    """Check every field of a dataclass instance against its type (for ``__post_init__``);
    sequences become the annotated kind. ``OptionError`` names the first bad field."""
    types = hints(type(obj))
    for field in dataclasses.fields(obj):
        value = convert(field.name, getattr(obj, field.name), types[field.name])
        object.__setattr__(obj, field.name, value)


__all__ = ["Check", "NonNegativeFloat", "NonNegativeInt", "OptionError", "PositiveFloat", "PositiveInt",
           "check_fields", "convert", "describe", "hints", "option", "parse_assignment", "parse_value"]
