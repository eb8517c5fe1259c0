"""The benchmark runner: a suite's cells, run one by one into a resumable ``results.json``.

A *suite* satisfies the :class:`benchmarks.suite.Suite` protocol: NAME, DEVICES, PROFILES (frozen
settings dataclasses), ``cells``, ``run_cell`` and ``report``.

A cell is identified by its config (canonical JSON): a config determines its numbers, so a
cell whose record is already in ``results.json`` is skipped when the command is run again.
Every finished cell rewrites ``results.json`` atomically (temporary file + ``os.replace``), so
a killed run loses at most the cell in progress. Records hold the full config, the seed,
package versions, git commit, machine and date.
"""
import dataclasses
import json
import math
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from benchmarks import backends
from benchmarks.cell import Context, machine
from benchmarks.suite import Settings, Suite, override
from zoo._utils.io import write_text
from zoo._utils.provenance import git_state, versions

RESULTS, REPORT = "results.json", "report.md"
FORMAT = 1
PROFILES = ("smoke", "quick", "standard", "paper")  # every suite has smoke, quick and paper
REQUIRED_PROFILES = ("smoke", "quick", "paper")
SMOKE_THREADS = 1  # smoke cells are tiny tensors: a thread pool costs more than it gives
REPO = Path(__file__).resolve().parents[1]


def cell_key(suite: str, config: dict) -> str:
    """The identity of a cell: its suite and config as canonical JSON."""
    return suite + ":" + json.dumps(config, sort_keys=True, separators=(",", ":"))


def jsonable(obj):
    """``obj`` with tuples as lists and non-finite floats as ``None`` (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return jsonable(obj.item())
    return obj




class ResultStore:
    """``results.json``: ``{"format": 1, "records": [...]}``, one record per finished cell."""

    def __init__(self, path):
        self.path = Path(path)
        self.records: Dict[str, dict] = {r["key"]: r for r in self._read()}

    def _read(self) -> List[dict]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{self.path} is not valid JSON ({e}); move it away or choose another --out") from e
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("records"), list):
            raise ValueError(f"{self.path} is not a results file of vaezoo bench (format {FORMAT}); "
                             "move it away or choose another --out")
        return data["records"]

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def get(self, key: str) -> Optional[dict]:
        return self.records.get(key)

    def add(self, record: dict) -> None:
        """Add (or replace) a record and rewrite the file atomically."""
        self.records[record["key"]] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "records": list(self.records.values())}
        write_text(self.path, json.dumps(jsonable(body), indent=1, allow_nan=False) + "\n")


# ---- provenance -------------------------------------------------------------------------------


def make_record(suite: str, profile: str, config: dict, result: dict, wall_time_s: float,
                machine_info: Optional[dict] = None) -> dict:
    """A cell's record; ``machine_info``: where it ran (default: this process, now)."""
    git = git_state()
    return {"key": cell_key(suite, config), "suite": suite, "profile": profile, "config": config,
            "seed": config.get("seed"), "result": result, "wall_time_s": wall_time_s, "versions": versions(),
            "git_commit": git["commit"], "git_dirty": git["dirty"],
            "machine": machine_info or machine(config.get("device", "cpu")),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# ---- running ----------------------------------------------------------------------------------


def settings_for(suite: Suite, profile: str, seeds: Optional[int] = None,
                 overrides: Optional[dict] = None) -> Settings:
    """The profile's settings (a frozen dataclass) with ``overrides`` and ``seeds`` replaced."""
    if profile not in suite.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(suite.PROFILES)}")
    overrides = dict(overrides or {})
    if seeds is not None:
        overrides["seeds"] = seeds
    return override(suite.PROFILES[profile], overrides, suite.NAME)


def settings_dict(settings: Settings, profile: str, **extra) -> dict:
    """The settings as plain data, for reports and ``--dry-run``."""
    return {**dataclasses.asdict(settings), "profile": profile, **extra}


def plan(suite: Suite, settings: Settings, device: str) -> List[dict]:
    """The suite's cells for ``settings``, as JSON round-tripped configs with the device."""
    if device.split(":")[0] not in suite.DEVICES:
        raise ValueError(f"the {suite.NAME} suite runs on {', '.join(suite.DEVICES)}; got device {device!r}")
    configs = suite.cells(settings, list(range(settings.seeds)))
    return [json.loads(json.dumps(jsonable({**c, "device": device}))) for c in configs]


def run(suite, profile: str = "smoke", seeds: Optional[int] = None, out=None, device: str = "cpu",
        overrides: Optional[dict] = None, context: Optional[Context] = None, threads: Optional[int] = None,
        backend: str = "local", address: Optional[str] = None, gpus_per_cell: float = 0.0,
        only: Optional[Sequence[str]] = None, report_only: bool = False) -> dict:
    """Run the cells of ``suite`` not yet in ``out/results.json``, then write ``out/report.md``.

    ``report_only``: run nothing; write the report of the cells already finished (a run still in
    progress elsewhere, or one stopped part way).

    ``only``: run (and report) only the cells of these kinds (a config's ``"kind"``, ``training``
    where it has none), e.g. the estimators suite's ``snr-fixed`` and ``snr-toy``.

    ``backend``: ``local`` (in this process) or ``ray`` (Ray tasks, ``address`` and
    ``gpus_per_cell``; see ``benchmarks.backends``); each finished cell is saved at once.

    Returns:
        ``{"records": [...] in cell order, "ran": n, "skipped": n, "report": path, "figures": [...]}``.
    """
    context = context or Context()
    out = Path(out or f"bench/{suite.NAME}-{profile}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; it must be a folder (made if missing)")
    settings = settings_for(suite, profile, seeds, overrides)
    configs = plan(suite, settings, device)
    configs = select(suite, configs, only)
    store = ResultStore(out / RESULTS)
    others = sorted({r["suite"] for r in store.records.values()} - {suite.NAME})
    if others:
        raise ValueError(f"{store.path} holds results of the {', '.join(others)} suite; choose another --out")
    unfinished = [c for c in configs if cell_key(suite.NAME, c) not in store]
    todo = [] if report_only else unfinished
    print(f"{suite.NAME} ({profile}): {len(configs)} cells, {len(configs) - len(unfinished)} already finished in "
          f"{store.path}, {len(todo)} to run", flush=True)
    if backend not in backends.BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(backends.BACKENDS)}")
    cell_threads = threads if threads is not None else SMOKE_THREADS if profile == "smoke" else None

    def save(config: dict, result: dict, seconds: float, machine_info: Optional[dict] = None) -> None:
        store.add(make_record(suite.NAME, profile, config, result, seconds, machine_info))

    if backend == "ray" and todo:
        backends.run_ray(suite, todo, context, cell_threads, save, address, gpus_per_cell)
    else:
        backends.run_local(suite, todo, context, cell_threads, save)
    records = [r for r in (store.get(cell_key(suite.NAME, c)) for c in configs) if r is not None]
    if not records:
        raise ValueError(f"{store.path} holds no finished cell of this plan; nothing to report")
    cmd = command(suite.NAME, profile, settings.seeds, out, device, overrides, threads, only)
    markdown, figures = suite.report(records, settings_dict(settings, profile, command=cmd), out)
    if len(records) < len(configs):  # --report-only on a run in progress
        title, _, rest = markdown.partition("\n")
        markdown = (f"{title}\n\n**Partial: {len(records)} of the {len(configs)} cells are finished; the others are "
                    f"running or not yet run, and the same command finishes them.**\n{rest}")
    write_text(out / REPORT, markdown)
    return {"records": records, "ran": len(todo), "skipped": len(configs) - len(unfinished), "report": out / REPORT,
            "figures": figures}




def command(suite: str, profile: str, seeds: int, out, device: str = "cpu", overrides: Optional[dict] = None,
            threads: Optional[int] = None, only: Optional[Sequence[str]] = None) -> str:
    """The ``vaezoo bench`` command line that reproduces a report."""
    sets = "".join(" --set " + shlex.quote(f"{k}={json.dumps(v, separators=(',', ':'))}")
                   for k, v in (overrides or {}).items())
    dev = f" --device {device}" if device != "cpu" else ""
    thr = f" --threads {threads}" if threads is not None else ""
    kinds = f" --only {' '.join(only)}" if only else ""
    return (f"vaezoo bench {suite} --profile {profile} --seeds {seeds} --out {shlex.quote(str(out))}"
            f"{dev}{thr}{sets}{kinds}")


def select(suite: Suite, configs: List[dict], only: Optional[Sequence[str]]) -> List[dict]:
    """The configs of the kinds in ``only`` (all if None); an unknown kind is refused."""
    if not only:
        return configs
    kinds = {cell_kind(c) for c in configs}
    unknown = sorted(set(only) - kinds)
    if unknown:
        raise ValueError(f"--only {', '.join(unknown)}: the {suite.NAME} suite has cells of the kinds "
                         f"{', '.join(sorted(kinds))}")
    return [c for c in configs if cell_kind(c) in only]


def cell_kind(config: dict) -> str:
    """A cell's kind: its config's ``"kind"``, or ``training``."""
    return config.get("kind", "training")


__all__ = ["FORMAT", "PROFILES", "REPORT", "RESULTS", "Context", "ResultStore", "cell_key", "cell_kind", "command",
           "git_state", "jsonable", "machine", "make_record", "plan", "run", "select", "settings_dict", "settings_for",
           "versions"]
