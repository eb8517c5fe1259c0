"""``vaezoo eval RUN_DIR``: log-likelihood and diagnostics -> eval.json.

It reads the run's ``data.json`` to reload the test split it was trained with, and can
also time the point-by-point computation of pythae's ``get_nll`` (one datapoint at a time, its
S particles as one batch of copies of it, plain torch) on the first ``--pointwise`` points.
"""
import math
import resource
import statistics
import time
from pathlib import Path

import torch
from zoo._utils.io import read_json, write_json

EVAL_FILE = "eval.json"


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="importance-sampled log-likelihood and diagnostics -> RUN_DIR/eval.json")
    p.add_argument("run_dir")
    p.add_argument("--num-samples", type=int, default=5000, help="S per datapoint (5000 as in Burda et al.)")
    p.add_argument("--batch-size", type=int, default=100, help="datapoints per vectorized call")
    p.add_argument("--chunk-size", type=int, default=20,
                   help="particles per model call: bounds memory; 100 points x 20 particles keep the decoder "
                        "output in cache (default: 20)")
    p.add_argument("--test-size", type=int, default=None, help="the first N test points (default: the run's)")
    p.add_argument("--stride", type=int, default=1,
                   help="every K-th test point: a quick subset that, unlike the first N, spans a sorted split")
    p.add_argument("--pointwise", type=int, default=0,
                   help="also time pythae-style point-by-point estimation on the first N points")
    p.add_argument("--pointwise-batch-size", type=int, default=0,
                   help="particles per batch in the point-by-point loop (default 0: all S at once; "
                        "pythae's get_nll defaults to 100)")
    p.add_argument("--pointwise-rounds", type=int, default=3,
                   help="alternating rounds of the loop and the vectorized estimate on the same points (default: 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.add_argument("--device", default="cpu", help="cpu, or cuda[:i] (default: cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=cmd_eval)


def load_test_split(run: Path, data_root=None, test_size=None):
    """The run's test split as it was evaluated in training, and its labels (or None).

    Dynamically binarized runs get one seeded static draw of the test images."""
    import zoo

    path = run / "data.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: cannot tell which data the run used")
    spec = read_json(path)
    binarize = spec["binarize"] if spec["binarize"] in ("static", "threshold") else None
    ds = zoo.data.load(spec["dataset"], data_root or spec.get("data_root"), download=spec.get("download", False),
                       binarize=binarize, seed=spec["seed"])
    n = test_size or spec.get("test_size") or ds.test.shape[0]
    x, labels = ds.test[:n], ds.test_labels[:n] if ds.test_labels is not None else None
    if spec["binarize"] == "dynamic":
        x = zoo.data.binarize(x, "static", torch.Generator().manual_seed(spec["seed"]))
    return x, labels


# ---- eval ------------------------------------------------------------------------------------


def cmd_eval(args) -> int:
    import zoo
    from zoo._utils.checks import positive_int
    from zoo.evaluation.likelihood import evaluate

    from zoo._utils.devices import check_device

    check_device(args.device)
    run = Path(args.run_dir)
    vae = zoo.load(run).to(args.device)
    x, _ = load_test_split(run, args.data_root, args.test_size)
    x = x[:: positive_int("stride", args.stride)].to(args.device)
    rss_before = _peak_rss_mb()
    result = evaluate(vae, x, num_samples=args.num_samples, batch_size=args.batch_size,
                      chunk_size=args.chunk_size, seed=args.seed, progress=not args.no_progress)
    result.update(stride=args.stride, peak_rss_mb_before=rss_before, peak_rss_mb=_peak_rss_mb(),
                  torch_threads=torch.get_num_threads(), device=args.device,
                  date=time.strftime("%Y-%m-%d %H:%M:%S"))
    if x.device.type == "cuda":
        result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(x.device) / 2**20
    if args.pointwise:
        result["pointwise_baseline"] = _pointwise(vae, x[: args.pointwise], result, args)
    write_json(run / EVAL_FILE, result, indent=1)
    _print_eval(result)
    print(f"wrote {run / EVAL_FILE}")
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
    print(f"KL {_fmt(r['kl'])}, active units {r['active_units']}/{r['latent_dim']}, mutual information I(x; z) {mi}")
    print(f"time {r['log_likelihood_time_s']:.1f} s for log p(x) ({1000 * r['log_likelihood_time_s'] / n:.1f} ms per "
          f"point), {r['diagnostics_time_s']:.1f} s diagnostics; peak RSS {r['peak_rss_mb']:.0f} MB"
          + (f", peak GPU memory {r['peak_gpu_memory_mb']:.0f} MB" if "peak_gpu_memory_mb" in r else ""))
    if "pointwise_baseline" in r:
        b = r["pointwise_baseline"]
        print(f"point by point (pythae get_nll style, batches of {b['batch_size']} particles) on {b['num_points']} "
              f"points: {1000 * b['time_per_point_s']:.1f} ms per point, vectorized "
              f"{1000 * b['vectorized_time_per_point_s']:.1f}: {b['speedup']:.2f}x as fast (median of "
              f"{b['rounds']} alternating rounds)")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _pointwise(vae, x, result: dict, args) -> dict:
    """Time the point-by-point loop against ``log_likelihood`` on the same points, alternating the
    two for ``--pointwise-rounds`` rounds in this process; the speedup is the median round ratio."""
    import pyro
    from zoo._utils.checks import positive_int
    from zoo.evaluation.likelihood import log_likelihood

    if args.pointwise_batch_size < 0:
        raise ValueError(f"--pointwise-batch-size must be >= 0 (0: all S at once), got {args.pointwise_batch_size}")
    rounds = positive_int("pointwise_rounds", args.pointwise_rounds)
    ours, theirs = [], []
    with pyro.validation_enabled(False):
        for r in range(rounds):
            start = time.perf_counter()
            ll = log_likelihood(vae.model, vae.guide, x, args.num_samples, args.batch_size, args.chunk_size, args.seed)
            _synchronize(x)
            ours.append(time.perf_counter() - start)
            torch.manual_seed(args.seed + r)
            start = time.perf_counter()
            log_px = pointwise_log_likelihood(vae, x, args.num_samples, args.pointwise_batch_size)
            _synchronize(x)
            theirs.append(time.perf_counter() - start)
    n = x.shape[0]
    return {"num_points": n, "num_samples": args.num_samples, "rounds": rounds,
            "batch_size": args.pointwise_batch_size or args.num_samples,
            "time_s": theirs, "vectorized_time_s": ours, "time_per_point_s": statistics.median(theirs) / n,
            "vectorized_time_per_point_s": statistics.median(ours) / n,
            "speedup": statistics.median([t / o for t, o in zip(theirs, ours)]),
            "log_likelihood": log_px.double().mean().item(),
            "vectorized_log_likelihood_same_points": ll.log_px.double().mean().item()}


def _synchronize(x: torch.Tensor) -> None:
    """Wait for queued GPU work, so that wall-clock times cover it."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


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


# ---- plot ------------------------------------------------------------------------------------
