r"""pythae's point-by-point log-likelihood loop, timed against ``zoo.evaluation.log_likelihood``:
``vaezoo experiment pointwise RUN_DIR``.

pythae's ``get_nll`` estimates log p(x) one datapoint at a time: S copies of the point, in
batches, through encoder, sampler and decoder, in plain torch. :func:`pointwise_log_likelihood`
is that loop; the study runs it and the vectorized estimate on the same test points of a run,
alternating the two for a number of rounds in one process, and reports the median time ratio
(the baseline of ``docs/evaluation.md`` and of ``benchmarks/gpu_check.py``). Results in
``RUN_DIR/pointwise.json``.
"""
import math
import statistics
import time
from dataclasses import dataclass

import torch

from zoo._utils.io import write_json
from zoo.cli.options import NonNegativeInt, PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.cli.runs import RunOptions

RESULT = "pointwise.json"


@torch.no_grad()
def pointwise_log_likelihood(vae, x: torch.Tensor, num_samples: int, batch_size: int = 0) -> torch.Tensor:
    """The loop of pythae's ``get_nll``: for each datapoint, ``num_samples`` copies of it in
    batches of ``batch_size`` (default: all at once) through encoder, sampler and decoder."""
    batch_size = batch_size or num_samples
    vae.eval()
    out = []
    for xi in x:
        log_w = []
        for start in range(0, num_samples, batch_size):
            x_rep = xi.expand(min(batch_size, num_samples - start), *xi.shape)
            q = vae.encode(x_rep)
            z = q.sample()
            log_w.append(vae.decode(z).log_prob(x_rep) + vae.prior().log_prob(z) - q.log_prob(z))
        out.append(torch.cat(log_w).logsumexp(0) - math.log(num_samples))
    return torch.stack(out)


def compare(vae, x: torch.Tensor, num_samples: int, batch_size: int = 0, rounds: int = 3, seed: int = 0,
            eval_batch_size: int = 100, chunk_size: int = 20) -> dict:
    """Time the loop against ``log_likelihood`` on the same points, alternating the two for
    ``rounds`` rounds; the speedup is the median of the rounds' time ratios."""
    import pyro

    from zoo.evaluation.likelihood import log_likelihood

    ours, theirs = [], []
    with pyro.validation_enabled(False):
        for r in range(rounds):
            start = time.perf_counter()
            ll = log_likelihood(vae.model, vae.guide, x, num_samples=num_samples, batch_size=eval_batch_size,
                                chunk_size=chunk_size, seed=seed)
            _synchronize(x)
            ours.append(time.perf_counter() - start)
            torch.manual_seed(seed + r)
            start = time.perf_counter()
            log_px = pointwise_log_likelihood(vae, x, num_samples, batch_size)
            _synchronize(x)
            theirs.append(time.perf_counter() - start)
    n = x.shape[0]
    return {"num_points": n, "num_samples": num_samples, "rounds": rounds, "batch_size": batch_size or num_samples,
            "time_s": theirs, "vectorized_time_s": ours, "time_per_point_s": statistics.median(theirs) / n,
            "vectorized_time_per_point_s": statistics.median(ours) / n,
            "speedup": statistics.median([t / o for t, o in zip(theirs, ours)]),
            "log_likelihood": log_px.double().mean().item(),
            "vectorized_log_likelihood_same_points": ll.log_px.double().mean().item()}


def _synchronize(x: torch.Tensor) -> None:
    """Wait for queued GPU work, so that wall-clock times cover it."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


@dataclass(frozen=True)
class PointwiseOptions(RunOptions):
    """The options of ``vaezoo experiment pointwise``."""

    points: PositiveInt = option(100, "the first N test points of the run")
    num_samples: PositiveInt = option(5000, "S per datapoint")
    batch_size: NonNegativeInt = option(0, "particles per batch in the loop (0: all S at once; pythae's get_nll "
                                           "uses 100)")
    rounds: PositiveInt = option(3, "alternating rounds of the loop and the vectorized estimate")
    device: str = option("cpu", "cpu, or cuda[:i]")


def add_parser(sub) -> None:
    add_command(sub, "pointwise", PointwiseOptions, run,
                help="pythae's point-by-point log p(x) loop timed against the vectorized estimate")


def run(opts: PointwiseOptions) -> int:
    from zoo._utils.devices import check_device
    from zoo.training import Run, load

    device = check_device(opts.device)
    with Run(opts.run_dir).reading() as run_dir:
        vae = load(run_dir.path).to(device)
        spec = run_dir.read_data()
        x = spec.fixed(spec.load(opts.data_root).test[: opts.points]).to(device)
        b = compare(vae, x, opts.num_samples, opts.batch_size, opts.rounds, opts.seed)
        write_json(run_dir.file(RESULT), b, indent=1)
    print(f"point by point (pythae get_nll style, batches of {b['batch_size']} particles) on {b['num_points']} "
          f"points: {1000 * b['time_per_point_s']:.1f} ms per point, vectorized "
          f"{1000 * b['vectorized_time_per_point_s']:.1f}: {b['speedup']:.2f}x as fast (median of "
          f"{b['rounds']} alternating rounds); log p(x) {b['log_likelihood']:.2f} against "
          f"{b['vectorized_log_likelihood_same_points']:.2f}")
    print(f"wrote {run_dir.file(RESULT)}")
    return 0
