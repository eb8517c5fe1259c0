"""``vaezoo bench SUITE``: run a benchmark suite into DIR/results.json, DIR/report.md and PNG plots.

suites:
  estimators  estimator x K in {1, 5, 50}: -ELBO, -log p(x), KL, active units, gradient SNR, time
  guides      every guide on the same model and budget: -log p(x), -ELBO, gap, PSIS k-hat, time
  gmm         EM vs scikit-learn vs SVI (TraceEnum): lower bound, iterations, time
  overhead    zoo.fit vs a hand-written PyTorch step (ELBO, IWAE K=50): time ratios
  paper       the IWAE paper's 1-layer MNIST setting and planar flows beside the published numbers
  ddp         1 process x 1 thread, 1 x 2 and 2 processes x 1 thread (torchrun): epoch time ratios

profiles: smoke (tiny, embedded data, about a minute for all suites), quick (shared data, short
runs), standard (near convergence, hours), paper (the published budgets: GPU hours; --device
cuda). `--print-config` prints the profile's settings (with --set applied), as a file that
--config reads back. Re-running a command skips the cells already in DIR/results.json; a killed
run loses at most the cell in progress.
"""
import dataclasses
import importlib
import json
import sys
from dataclasses import dataclass
from typing import Any, Dict, Literal, Optional, Tuple

from benchmarks import runner
from zoo._utils.devices import check_device
from zoo.cli.options import NonNegativeFloat, PositiveInt, option
from zoo.cli.parsing import add_command, plain

SUITES = {"estimators": "benchmarks.suites.estimators", "guides": "benchmarks.suites.guides",
          "gmm": "benchmarks.suites.gmm", "overhead": "benchmarks.suites.overhead", "paper": "benchmarks.suites.paper",
          "ddp": "benchmarks.suites.ddp", "hierarchy": "benchmarks.suites.hierarchy",
          "discrete": "benchmarks.suites.discrete"}


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``vaezoo bench``."""

    suite: Literal[tuple(SUITES)] = option(help="the suite", positional=True)
    profile: Literal[runner.PROFILES] = option("quick", "the profile: its settings, --print-config shows them")
    seeds: Optional[PositiveInt] = option(None, "run seeds 0..N-1 (default: the profile's)")
    out: Optional[str] = option(None, "output folder (default: bench/SUITE-PROFILE)")
    device: str = option("cpu", "cpu, or cuda[:i] for estimators, guides and paper")
    set: Dict[str, Any] = option({}, "override a setting of the profile, repeatable: --set epochs=20", repeat=True)
    threads: Optional[PositiveInt] = option(None, "torch threads (default: 1 for smoke, torch's default otherwise)")
    data_root: Optional[str] = option(None, "data root (default: $VAEZOO_DATA)")
    backend: Literal["local", "ray"] = option(
        "local", "local: cells one after another here; ray: each cell a Ray task (pip install -e '.[ray]')")
    address: Optional[str] = option(None, "ray: the cluster's address (default: start a local Ray)")
    gpus_per_cell: NonNegativeFloat = option(0.0, "ray: GPUs per cell, fractional to share a GPU")
    only: Tuple[str, ...] = option((), "run only the cells of these kinds (estimators: training, snr-fixed, "
                                       "snr-toy)")
    report_only: bool = option(False, "run nothing: write report.md from the cells already in --out (e.g. of a run "
                                      "in progress)")
    dry_run: bool = option(False, "print the settings and the cells, run nothing")
    no_progress: bool = option(False, "no progress bars")

    def settings(self):
        """The profile's settings with ``--seeds`` and ``--set`` applied (each value type-checked)."""
        return runner.settings_for(suite_module(self.suite), self.profile, self.seeds, self.set)

    def printed_config(self) -> Dict[str, Any]:
        """What ``--print-config`` prints: the options, ``set`` holding every setting of the profile."""
        settings = dataclasses.asdict(self.settings())
        settings.pop("description")
        seeds = settings.pop("seeds")
        return {**{f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}, "seeds": seeds,
                "set": plain(settings)}


def add_parser(sub) -> None:
    add_command(sub, "bench", BenchOptions, cmd_bench, description=__doc__,
                help="run a benchmark suite: estimators, guides, gmm, overhead, paper, ddp, hierarchy, discrete")


def suite_module(name: str):
    """The module of the suite ``name`` (a key of ``SUITES``)."""
    return importlib.import_module(SUITES[name])


def cmd_bench(opts: BenchOptions) -> int:
    suite, settings = suite_module(opts.suite), opts.settings()
    profile = suite.PROFILES[opts.profile]
    overrides = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)
                 if f.name != "seeds" and getattr(settings, f.name) != getattr(profile, f.name)}
    if opts.dry_run:
        configs = runner.select(suite, runner.plan(suite, settings, opts.device), opts.only)
        print("settings: " + json.dumps(runner.settings_dict(settings, opts.profile)))
        print(f"{len(configs)} cells:", *(json.dumps(c) for c in configs), sep="\n")
        return 0
    check_device(opts.device)
    if opts.backend == "ray":
        from benchmarks.backends import require_ray

        require_ray()  # says how to install it, before anything runs
    context = runner.Context(data_root=opts.data_root, progress=not opts.no_progress)
    try:
        result = runner.run(suite, opts.profile, settings.seeds, opts.out, opts.device, overrides, context,
                            opts.threads, backend=opts.backend, address=opts.address,
                            gpus_per_cell=opts.gpus_per_cell, only=list(opts.only) or None,
                            report_only=opts.report_only)
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are saved in results.json; run the same command to go on",
              file=sys.stderr)
        return 130
    print(result["report"].read_text())
    for path in [result["report"].parent / runner.RESULTS, result["report"], *result["figures"]]:
        print(f"wrote {path}")
    return 0
