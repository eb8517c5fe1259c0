"""The ``Suite`` protocol that every benchmark suite module satisfies, and typed settings.

A suite is a module of ``benchmarks.suites`` with

    NAME       the suite's name, e.g. "estimators"
    DEVICES    the devices it can run on, e.g. ("cpu", "cuda")
    PROFILES   {"smoke": Settings, "quick": Settings, "paper": Settings}: frozen dataclasses
    cells(settings, seeds) -> [config dict, ...]   one per measurement, each with its "seed"
    run_cell(config, context) -> result dict        the measurement (JSON-ready)
    report(records, settings, out) -> (markdown, [png paths]); ``settings`` as a dict

Settings are frozen dataclasses whose fields are typed; ``--set NAME=VALUE`` replaces a field
(:func:`override`), and a value of the wrong type is refused naming the setting.
"""
import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable


@dataclass(frozen=True)
class Settings:
    """What every profile has: a one-line description (for the report) and the number of seeds."""

    description: str
    seeds: int

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not conforms(value, hints[field.name]):
                raise ValueError(f"setting {field.name!r} must be {_describe(field.type)}, got {value!r}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be a positive integer, got {self.seeds!r}")


@dataclass(frozen=True)
class DataSettings(Settings):
    """The data of a suite that trains VAEs: a dataset, its binarization and the split sizes used."""

    dataset: str
    binarize: Optional[str]
    train_size: Optional[int]
    test_size: Optional[int]


@runtime_checkable
class Suite(Protocol):
    NAME: str
    DEVICES: Tuple[str, ...]
    PROFILES: Mapping[str, Settings]

    def cells(self, settings: Settings, seeds: Sequence[int]) -> List[dict]: ...

    def run_cell(self, config: dict, context) -> dict: ...

    def report(self, records: List[dict], settings: Dict[str, Any], out: Path) -> Tuple[str, List[Path]]: ...


def override(settings: Settings, overrides: Mapping[str, Any], suite_name: str) -> Settings:
    """``settings`` with the named fields replaced; an unknown name lists the choices."""
    base = [f.name for f in dataclasses.fields(Settings)]
    names = [f.name for f in dataclasses.fields(settings) if f.name not in base] + ["seeds"]
    for name in overrides:
        if name not in names:
            raise ValueError(f"unknown setting {name!r} for the {suite_name} suite; choose from {', '.join(names)}")
    return dataclasses.replace(settings, **overrides)


def conforms(value, tp) -> bool:
    """Whether ``value`` (from JSON or YAML) fits the annotation ``tp``: int, float, str, bool,
    Any, Optional/Union, List/Tuple/Sequence of them (lists and tuples alike), Dict."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True
    if origin is typing.Union:
        return any(conforms(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin in (list, tuple, Sequence, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args else Any
        return all(conforms(v, item) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict)
    return isinstance(value, tp)


def _describe(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
