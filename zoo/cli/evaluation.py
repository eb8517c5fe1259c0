"""``vaezoo eval RUN_DIR`` (log-likelihood and diagnostics -> eval.json) and ``vaezoo plot RUN_DIR``.

Both read the run's ``data.json`` to reload the test split it was trained with. ``eval`` can
also time the point-by-point computation of pythae's ``get_nll`` (one datapoint at a time, its
S particles as one batch of copies of it, plain torch) on the first ``--pointwise`` points.
"""
import json
import math
import resource
import statistics
import time
from pathlib import Path

import torch
from zoo._utils.io import write_json

EVAL_FILE = "eval.json"
# Seed 004 interpolates between the class means of 1 and 8.
CLASS_PAIRS = ((1, 8), (0, 6), (3, 5), (4, 9), (2, 7))


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
    p = sub.add_parser("plot", help="write every figure of a run (PNG) and print their paths")
    p.add_argument("run_dir")
    p.add_argument("--test-size", type=int, default=None, help="the first N test points (default: the run's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None)
    p.set_defaults(run=cmd_plot)


def load_test_split(run: Path, data_root=None, test_size=None):
    """The run's test split as it was evaluated in training, and its labels (or None).

    Dynamically binarized runs get one seeded static draw of the test images."""
    import zoo

    path = run / "data.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: cannot tell which data the run used")
    spec = json.loads(path.read_text())
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


def cmd_plot(args) -> int:
    import zoo

    run = Path(args.run_dir)
    vae = zoo.load(run)
    x, labels = load_test_split(run, args.data_root, args.test_size)
    result = _fresh_eval(run)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        paths = _sample_figures(run, vae, x, result) + _latent_figures(run, vae, x, labels)
    if result is not None and result["per_datapoint"].get("khat"):
        from zoo import plots

        khat = torch.tensor([-math.inf if v is None else v for v in result["per_datapoint"]["khat"]])
        paths.append(plots.plot_khat_histogram(khat, run / "khat_histogram.png",
                                               title=f"PSIS k-hat per test point, S={result['num_samples']}"))
    elif vae.config.get("model") == "ae":
        print("the autoencoder has no log-likelihood, so no k-hat histogram")
    else:
        print(f"no current {EVAL_FILE}: run `vaezoo eval {run}` first for the k-hat histogram")
    for path in paths:
        print(f"wrote {path}")
    return 0


def _fresh_eval(run: Path):
    """eval.json if it was written after the checkpoint (a retrained run makes it stale)."""
    path, checkpoint = run / EVAL_FILE, run / "checkpoint.pt"
    if not path.exists() or path.stat().st_mtime < checkpoint.stat().st_mtime:
        return None
    return json.loads(path.read_text())


@torch.no_grad()
def _sample_figures(run: Path, vae, x, result) -> list:
    from zoo import plots

    history = json.loads((run / "history.json").read_text()) if (run / "history.json").exists() else []
    inputs = x[torch.linspace(0, x.shape[0] - 1, min(8, x.shape[0])).long()]
    paths = [plots.plot_samples(vae.sample(100), run / "samples.png",
                                title="Samples from the prior" if vae.config.get("model") != "ae" else
                                "Decoded latent noise z ~ N(0, I) (an autoencoder has no prior)"),
             plots.plot_reconstructions(inputs, vae.reconstruct(inputs, 9), run / "reconstructions.png"),
             plots.plot_many_reconstructions(inputs[0], vae.reconstruct(inputs[:1], 30)[:, 0],
                                             run / "reconstructions_one_input.png")]
    if history:
        ll = result["log_likelihood"] if result else None
        paths.append(plots.plot_training_curves(history, run / "training_curves.png", log_likelihood=ll,
                                                num_samples=result["num_samples"] if result else None,
                                                title=f"{vae.config.get('model')} training curves"))
    return paths


@torch.no_grad()
def _latent_figures(run: Path, vae, x, labels) -> list:
    from zoo import plots
    from zoo.evaluation import latent

    codes = latent.posterior_means(vae.encode, x)
    ends = torch.linspace(0, x.shape[0] - 1, min(10, x.shape[0])).long()
    pairs = [(int(a), int(b)) for a, b in zip(ends[0::2], ends[1::2])]
    rows = torch.stack([vae.generate(latent.interpolate(codes[a], codes[b], 10)) for a, b in pairs])
    paths = [plots.plot_interpolations(rows, run / "interpolation_inputs.png", [f"#{a} to #{b}" for a, b in pairs],
                                       title="Interpolation between the codes E[z|x] of two test inputs")]
    centres = codes[ends[:6]]
    perturbed = torch.stack([torch.cat([c[None], latent.perturb(c, 9)]) for c in centres])
    paths.append(plots.plot_perturbations(vae.generate(perturbed), run / "perturbations.png",
                                          [f"#{int(i)}" for i in ends[:6]]))
    keep = torch.arange(min(2000, x.shape[0]))
    paths.append(plots.plot_latent_scatter(codes[keep], run / "latent_scatter.png",
                                           labels[keep] if labels is not None else None,
                                           title=f"Posterior means E[z|x] of {len(keep)} test points"))
    if labels is not None:
        paths += _class_figures(run, vae, codes, labels)
    else:
        print("the dataset has no labels: no class-mean figures")
    return paths


@torch.no_grad()
def _class_figures(run: Path, vae, codes, labels) -> list:
    from zoo import plots
    from zoo.evaluation import latent

    classes, means = latent.class_means(codes, labels)
    index = {int(c): i for i, c in enumerate(classes)}
    pairs = [p for p in CLASS_PAIRS if p[0] in index and p[1] in index] or \
        [(int(a), int(b)) for a, b in zip(classes[:-1], classes[1:])][:5]
    decoded = vae.generate(means)[None]
    paths = [plots.plot_image_rows(decoded, run / "class_means.png", title="Decoded class-mean codes",
                                   xlabel="class " + " ".join(str(int(c)) for c in classes), row_labels=["mean"])]
    if pairs:
        rows = torch.stack([vae.generate(latent.interpolate(means[index[a]], means[index[b]], 10)) for a, b in pairs])
        paths.append(plots.plot_interpolations(rows, run / "interpolation_class_means.png",
                                               [f"{a} to {b}" for a, b in pairs],
                                               title="Interpolation between class-mean codes"))
    return paths
