"""``vaezoo eval RUN_DIR``: importance-sampled log-likelihood and diagnostics -> eval.json.

It reads the run under a shared lock (no writer can start meanwhile), reloads the test split
the run was trained with from its ``data.json`` (one seeded draw of it for dynamic
binarization) and writes ``eval.json`` beside the checkpoint. Finished batches of the
log-likelihood are kept in ``eval.parts/`` meanwhile: an interrupted ``vaezoo eval`` run again
goes on from them (same numbers as an uninterrupted run) and the folder is removed at the end.
"""
import resource
import shutil
import time
from dataclasses import dataclass
from typing import Optional

import torch

from zoo._utils.devices import THREADS_HELP
from zoo._utils.io import write_json
from zoo.cli.options import PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.cli.runs import RunOptions


@dataclass(frozen=True)
class EvalOptions(RunOptions):
    """The options of ``vaezoo eval``."""

    num_samples: PositiveInt = option(5000, "S per datapoint (5000 as in Burda et al.)")
    batch_size: PositiveInt = option(100, "datapoints per vectorized call")
    chunk_size: PositiveInt = option(20, "particles per model call: bounds memory; 100 points x 20 particles keep "
                                         "the decoder output in cache")
    test_size: Optional[PositiveInt] = option(None, "the first N test points (default: the run's)")
    stride: PositiveInt = option(1, "every K-th test point: a quick subset that, unlike the first N, spans a "
                                    "sorted split")
    device: str = option("cpu", "cpu, or cuda[:i]")
    threads: Optional[PositiveInt] = option(None, THREADS_HELP)
    no_progress: bool = option(False, "no progress bars")


def add_parser(sub) -> None:
    add_command(sub, "eval", EvalOptions, run, help="importance-sampled log-likelihood and diagnostics -> "
                                                   "RUN_DIR/eval.json")


def run(opts: EvalOptions) -> int:
    from zoo._utils.devices import check_device, set_threads
    from zoo.evaluation.report import evaluate
    from zoo.training import EVAL, EVAL_PARTS, Run, load

    device = check_device(opts.device)
    set_threads(opts.threads)
    with Run(opts.run_dir).reading() as run:
        vae = load(run.path).to(device)
        spec = run.read_data()
        x = spec.fixed(spec.load(opts.data_root).test[: opts.test_size])[:: opts.stride].to(device)
        rss_before = _peak_rss_mb()
        parts = run.file(EVAL_PARTS)
        result = evaluate(vae, x, num_samples=opts.num_samples, batch_size=opts.batch_size,
                          chunk_size=opts.chunk_size, seed=opts.seed, progress=not opts.no_progress, parts_dir=parts)
        result.update(stride=opts.stride, peak_rss_mb_before=rss_before, peak_rss_mb=_peak_rss_mb(),
                      torch_threads=torch.get_num_threads(), device=str(device),
                      date=time.strftime("%Y-%m-%d %H:%M:%S"))
        if x.device.type == "cuda":
            result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(x.device) / 2**20
        write_json(run.file(EVAL), result, indent=1)
        shutil.rmtree(parts, ignore_errors=True)  # its batches are in eval.json now
    _print_eval(result)
    print(f"wrote {run.file(EVAL)}")
    return 0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _print_eval(r: dict) -> None:
    n, s = r["num_datapoints"], r["num_samples"]
    every = f", one in {r['stride']}" if r.get("stride", 1) > 1 else ""
    print(f"log p(x) ~= {r['log_likelihood']:.2f} +- {r['log_likelihood_stderr']:.2f} nats (importance sampled, "
          f"S={s}, {n} test points{every}; +- is the Monte Carlo standard error)")
    print(f"ELBO {r['elbo']:.2f}, gap log p(x) - ELBO {r['posterior_gap']:.2f}; "
          f"ESS median {r['ess_median']:.1f} of {s}")
    print(f"PSIS k-hat: median {_fmt(r['khat_median'])}, {100 * r['khat_frac_above_0.5']:.1f}% above 0.5, "
          f"{100 * r['khat_frac_above_0.7']:.1f}% above 0.7")
    mi = "n/a (" + r.get("mutual_information_note", "") + ")" if r["mutual_information"] is None else \
        f"{r['mutual_information']:.2f} nats (at most log N = {r['mutual_information_max']:.2f})"
    active = f"{r['active_units']}/{r['latent_dim']}"
    if "active_units_per_layer" in r:  # z1 + z2 + ...
        active += " (" + " + ".join(f"{a}/{d}" for a, d in zip(r["active_units_per_layer"], r["latent_dims"])) + ")"
    print(f"KL {_fmt(r['kl'])}, active units {active}, mutual information I(x; z) {mi}")
    resumed = r.get("log_likelihood_points_resumed", 0)
    print(f"time {r['log_likelihood_time_s']:.1f} s for log p(x) ({1000 * r['log_likelihood_time_s'] / n:.1f} ms per "
          f"point" + (f"; {resumed} points read back from an interrupted run" if resumed else "")
          + f"), {r['diagnostics_time_s']:.1f} s diagnostics; peak RSS {r['peak_rss_mb']:.0f} MB"
          + (f", peak GPU memory {r['peak_gpu_memory_mb']:.0f} MB" if "peak_gpu_memory_mb" in r else ""))


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"
