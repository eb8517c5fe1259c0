"""The ``Suite`` protocol that every benchmark suite module satisfies, and typed settings.

A suite is a module of ``benchmarks.suites`` with

    NAME       the suite's name, e.g. "estimators"
    DEVICES    the devices it can run on, e.g. ("cpu", "cuda")
    PROFILES   {"smoke": Settings, "quick": Settings, "paper": Settings}: frozen dataclasses
    cells(settings, seeds) -> [config dict, ...]   one per measurement, each with its "seed"
    run_cell(config, context) -> result dict        the measurement (JSON-ready)
    report(records, settings, out) -> (markdown, [png paths]); ``settings`` as a dict

Settings are frozen dataclasses whose fields are typed; ``--set NAME=VALUE`` replaces a field
(:func:`override`), and every value goes through the command line's one checker
(:func:`zoo.cli.options.convert`): a value of the wrong type is refused naming the setting.
"""
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, runtime_checkable

from zoo.cli.options import check_fields


@dataclass(frozen=True)
class Settings:
    """What every profile has: a one-line description (for the report) and the number of seeds."""

    description: str
    seeds: int

    def __post_init__(self):
        check_fields(self)  # text from --set is parsed by the field's type; a bad value names the setting
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
