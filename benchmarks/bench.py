"""``vaezoo bench SUITE``: run a benchmark suite into DIR/results.json, DIR/report.md and PNG plots.

suites:
  estimators  estimator x K in {1, 5, 50}: -ELBO, -log p(x), KL, active units, gradient SNR, time
  guides      every guide on the same model and budget: -log p(x), -ELBO, gap, PSIS k-hat, time
  gmm         EM vs scikit-learn vs SVI (TraceEnum): lower bound, iterations, time
  overhead    zoo.fit vs a hand-written PyTorch step (ELBO, IWAE K=50): time ratios
  paper       the IWAE paper's 1-layer MNIST setting and planar flows beside the published numbers
  ddp         1 process x 1 thread, 1 x 2 and 2 processes x 1 thread (torchrun): epoch time ratios

profiles: smoke (tiny, embedded data, about a minute for all suites), quick (shared data, short
runs), paper (the published budgets: GPU hours; --device cuda). Re-running a command skips the
cells already in DIR/results.json; a killed run loses at most the cell in progress.
"""
import argparse
import importlib
import json
import sys

from benchmarks import runner
from zoo._utils.devices import check_device
from zoo._utils.options import parse_assignment

SUITES = {"estimators": "benchmarks.suites.estimators", "guides": "benchmarks.suites.guides",
          "gmm": "benchmarks.suites.gmm", "overhead": "benchmarks.suites.overhead", "paper": "benchmarks.suites.paper",
          "ddp": "benchmarks.suites.ddp"}


def _setting(text: str):
    """``NAME=VALUE`` (the one option syntax, ``zoo._utils.options.parse_assignment``)."""
    try:
        return parse_assignment(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark suite: estimators, guides, gmm, overhead, paper",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=list(SUITES))
    p.add_argument("--profile", default="quick", choices=runner.PROFILES, help="(default: quick)")
    p.add_argument("--seeds", type=int, default=None, help="run seeds 0..N-1 (default: the profile's)")
    p.add_argument("--out", default=None, help="output folder (default: bench/SUITE-PROFILE)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda[:i] for estimators, guides and paper")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE", type=_setting,
                   help="override a setting of the profile (see --dry-run), repeatable: --set epochs=20")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: 1 for smoke, torch's default otherwise)")
    p.add_argument("--data-root", default=None, help="data root (default: $VAEZOO_DATA)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local: cells one after another here; ray: each cell a Ray task (pip install -e '.[ray]')")
    p.add_argument("--address", default=None, help="ray: the cluster's address (default: start a local Ray)")
    p.add_argument("--gpus-per-cell", type=float, default=0.0,
                   help="ray: GPUs per cell, fractional to share a GPU (default: 0)")
    p.add_argument("--only", action="append", default=None, metavar="KIND",
                   help="run only the cells of this kind, repeatable (estimators: training, snr-fixed, snr-toy)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: write report.md from the cells already in --out (e.g. of a run in progress)")
    p.add_argument("--dry-run", action="store_true", help="print the settings and the cells, run nothing")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_bench)


def suite_module(name: str):
    """The module of the suite ``name`` (a key of ``SUITES``)."""
    return importlib.import_module(SUITES[name])


def cmd_bench(args) -> int:
    suite = suite_module(args.suite)
    overrides = dict(args.overrides)
    if args.dry_run:
        settings = runner.settings_for(suite, args.profile, args.seeds, overrides)
        configs = runner.select(suite, runner.plan(suite, settings, args.device), args.only)
        print("settings: " + json.dumps(runner.settings_dict(settings, args.profile)))
        print(f"{len(configs)} cells:", *(json.dumps(c) for c in configs), sep="\n")
        return 0
    check_device(args.device)
    if args.backend == "ray":
        from benchmarks.backends import require_ray

        require_ray()  # says how to install it, before anything runs
    if args.threads is not None and (isinstance(args.threads, bool) or args.threads < 1):
        raise ValueError(f"threads must be a positive integer, got {args.threads}")
    context = runner.Context(data_root=args.data_root, progress=not args.no_progress)
    try:
        result = runner.run(suite, args.profile, args.seeds, args.out, args.device, overrides, context, args.threads,
                            backend=args.backend, address=args.address, gpus_per_cell=args.gpus_per_cell,
                            only=args.only, report_only=args.report_only)
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are saved in results.json; run the same command to go on",
              file=sys.stderr)
        return 130
    print(result["report"].read_text())
    for path in [result["report"].parent / runner.RESULTS, result["report"], *result["figures"]]:
        print(f"wrote {path}")
    return 0

