"""``vaezoo gmm``: fit a Gaussian mixture by EM (and optionally SVI), or benchmark EM against
scikit-learn's ``GaussianMixture`` from identical initial parameters in the same process.

Data: ``blobs`` (synthetic: K centers uniform in [-box, box]^d, each cluster Gaussian with
a random full covariance of mean variance std^2), or a labelled image dataset (``mnist5k``,
``mnist``) projected onto its first ``--pca-dim`` principal components.

The benchmark times ``fit`` of both from the same weights, means and precisions (each
computes its own Cholesky factors), with tol compared alike (the change of the mean
log-likelihood per sample), alternating which goes first, torch and BLAS limited to the
same number of threads. scikit-learn is needed for the benchmark only.
"""
import dataclasses
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import torch

from zoo._utils.checks import positive_int
from zoo._utils.io import write_json, write_text
from zoo.cli.options import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, option
from zoo.cli.parsing import add_command
from zoo.gmm.em import GaussianMixtureEM

FIT_DEFAULTS = dict(n_samples=1000, n_features=2, n_components=3, center_box=10.0)
BENCH_DEFAULTS = dict(n_samples=200_000, n_features=16, n_components=16, center_box=1.0)


def make_blobs(n_samples: int, n_features: int, centers: int, cluster_std: float = 1.0, center_box: float = 10.0,
               seed: int = 0):
    """(x (N, d) float64, labels (N,)): near-equal clusters x = c_k + A_k e, A_k A_k^T with
    mean eigenvalue cluster_std^2 (A_k = cluster_std G_k / sqrt(d), G_k standard normal)."""
    for name, value in (("n_samples", n_samples), ("n_features", n_features), ("centers", centers)):
        positive_int(name, value)
    g = torch.Generator().manual_seed(seed)
    loc = (torch.rand(centers, n_features, generator=g, dtype=torch.float64) * 2 - 1) * center_box
    mix = torch.randn(centers, n_features, n_features, generator=g, dtype=torch.float64)
    mix = mix * cluster_std / math.sqrt(n_features)
    labels = torch.arange(n_samples) % centers
    noise = torch.randn(n_samples, n_features, generator=g, dtype=torch.float64)
    x = loc[labels] + torch.einsum("nij,nj->ni", mix[labels], noise)
    return x, labels


def pca_project(images: torch.Tensor, n_components: int) -> torch.Tensor:
    """Flattened images onto their top principal directions (eigenvectors of the covariance,
    each signed so that its largest entry is positive), float64."""
    x = images.reshape(images.shape[0], -1).double()
    if not 0 < positive_int("pca_dim", n_components) <= x.shape[1]:
        raise ValueError(f"pca_dim must be at most the {x.shape[1]} pixels, got {n_components}")
    x = x - x.mean(0)
    eigvals, eigvecs = torch.linalg.eigh(x.T @ x / x.shape[0])
    top = eigvecs[:, eigvals.argsort(descending=True)[:n_components]]
    top = top * top.gather(0, top.abs().argmax(0, keepdim=True)).sign()
    return x @ top


def load_data(args):
    """(x, labels or None) for ``vaezoo gmm``."""
    if args.dataset == "blobs":
        return make_blobs(args.n_samples, args.n_features, args.centers, args.cluster_std, args.center_box, args.seed)
    import zoo

    ds = zoo.data.load(args.dataset, args.data_root)
    x, labels = ds.train, ds.train_labels
    if args.n_samples:
        x, labels = x[: args.n_samples], None if labels is None else labels[: args.n_samples]
    return pca_project(x, args.pca_dim), labels


def _model(args, x_init=None, **overrides) -> GaussianMixtureEM:
    kw = dict(covariance_type=args.covariance_type, tol=args.tol, reg_covar=args.reg_covar, max_iter=args.max_iter,
              n_init=args.n_init, init=args.init, random_state=args.seed)
    return GaussianMixtureEM(args.n_components, **{**kw, **overrides})


def fit_and_report(args) -> dict:
    """Fit EM (and SVI with ``--svi-steps``) on the chosen data; print, plot, write results.json."""
    from zoo.gmm import plots as gmm_plots

    x, labels = load_data(args)
    start = time.perf_counter()
    em = _model(args).fit(x)
    result = {"dataset": args.dataset, "n_samples": x.shape[0], "n_features": x.shape[1],
              "em": {"log_likelihood": em.score(x), "bic": em.bic(x), "aic": em.aic(x), "n_iter": em.n_iter_,
                     "converged": em.converged_, "time_s": time.perf_counter() - start,
                     "lower_bounds": em.lower_bounds_}}
    curves = {"EM": em.lower_bounds_}
    r = result["em"]
    print(f"EM: log-likelihood {r['log_likelihood']:.4f} nats per sample, BIC {r['bic']:.1f}, AIC {r['aic']:.1f}, "
          f"{r['n_iter']} iterations ({'converged' if r['converged'] else 'not converged'}), {r['time_s']:.2f} s")
    if args.svi_steps:
        from zoo.gmm.svi import GaussianMixtureSVI

        start = time.perf_counter()
        svi = GaussianMixtureSVI(args.n_components, args.covariance_type, num_steps=args.svi_steps, lr=args.svi_lr,
                                 init=args.init, reg_covar=args.reg_covar, random_state=args.seed).fit(x)
        seconds = time.perf_counter() - start
        result["svi"] = {"log_likelihood": svi.score(x), "steps": args.svi_steps, "time_s": seconds}
        curves["SVI (TraceEnum_ELBO)"] = svi.lower_bounds_
        print(f"SVI: log-likelihood {result['svi']['log_likelihood']:.4f} nats per sample after {args.svi_steps} "
              f"steps, {seconds:.2f} s")
    out = Path(args.out or f"runs/gmm-{args.dataset}-seed{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    paths = [gmm_plots.plot_log_likelihood(curves, out / "log_likelihood.png")]
    if x.shape[1] == 2:
        paths.append(gmm_plots.plot_components(x, em.weights_, em.means_, em.covariances_, args.covariance_type,
                                               out / "components.png", labels=em.predict(x),
                                               title=f"{args.dataset}: {args.n_components} components, "
                                                     f"{args.covariance_type} covariance"))
    write_json(out / "results.json", result)
    for path in paths + [out / "results.json"]:
        print(f"wrote {path}")
    return result


def _timed_fits(models: dict, x_by_name: dict, repeats: int) -> dict:
    """Fit each model ``repeats`` times, alternating which goes first; keep the last fit."""
    times = {name: [] for name in models}
    fitted = {}
    for rep in range(repeats):
        names = list(models) if rep % 2 == 0 else list(reversed(models))
        for name in names:
            start = time.perf_counter()
            fitted[name] = models[name]().fit(x_by_name[name])
            times[name].append(time.perf_counter() - start)
    return {name: (fitted[name], times[name]) for name in models}


def run_benchmark(n_samples: int = 200_000, n_features: int = 16, n_components: int = 16,
                  covariance_type: str = "full", tol: float = 1e-3, reg_covar: float = 1e-6, max_iter: int = 100,
                  init: str = "kmeans", cluster_std: float = 1.0, center_box: float = 1.0, seed: int = 0,
                  threads: int = 1, repeats: int = 2, iteration_rounds: int = 5, svi_steps: int = 0,
                  svi_lr: float = 0.05) -> dict:
    """EM here against scikit-learn, from identical initial parameters, on ``make_blobs`` data.

    Returns:
        dict with "config", "machine", "init_time_s", and for "em" and "sklearn" (and "svi"
        with ``svi_steps``): "lower_bound", "n_iter", "converged", "times_s" (one per repeat),
        "median_s", "per_iter_s"; plus "relative_lower_bound_difference", "max_abs_mean_difference"
        "speedup" (sklearn / em median fit time) and "iteration_time_ratios" (sklearn / em
        time of single E+M iterations, ``iteration_rounds`` of them).
    """
    config = dict(locals())
    import warnings

    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    x, _ = make_blobs(n_samples, n_features, n_components, cluster_std, center_box, seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a run that does not converge is reported, not warned about
            start = time.perf_counter()
            start_model = GaussianMixtureEM(n_components, covariance_type, reg_covar=reg_covar, max_iter=0, init=init,
                                            random_state=seed).fit(x)
            init_time = time.perf_counter() - start
            params = dict(weights_init=start_model.weights_, means_init=start_model.means_,
                          precisions_init=start_model.precisions_)
            numpy_params = {k: v.numpy() for k, v in params.items()}
            common = dict(covariance_type=covariance_type, tol=tol, reg_covar=reg_covar, max_iter=max_iter)
            models = {"em": lambda: GaussianMixtureEM(n_components, **common, **params),
                      "sklearn": lambda: GaussianMixture(n_components, **common, **numpy_params)}
            _timed_fits(models, {"em": x[:1000], "sklearn": x[:1000].numpy()}, 1)  # warm-up
            fits = _timed_fits(models, {"em": x, "sklearn": x.numpy()}, repeats)
            result = {"config": config, "init_time_s": init_time}
            for name, (model, times) in fits.items():
                result[name] = {"lower_bound": float(model.lower_bound_), "n_iter": int(model.n_iter_),
                                "converged": bool(model.converged_), "times_s": times,
                                "median_s": statistics.median(times),
                                "per_iter_s": statistics.median(times) / max(1, model.n_iter_)}
            em, sk = fits["em"][0], fits["sklearn"][0]
            result["relative_lower_bound_difference"] = abs(em.lower_bound_ - sk.lower_bound_) / abs(sk.lower_bound_)
            result["max_abs_mean_difference"] = float((em.means_ - torch.from_numpy(sk.means_)).abs().max())
            result["speedup"] = result["sklearn"]["median_s"] / result["em"]["median_s"]
            result["iteration_time_ratios"] = _iteration_time_ratios(em, sk, x, iteration_rounds)
            if svi_steps:
                result["svi"] = _svi_run(x, n_components, covariance_type, svi_steps, svi_lr, init, reg_covar, seed)
    finally:
        torch.set_num_threads(previous_threads)
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": threads,
                         "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    return result


def _iteration_time_ratios(em, sk, x: torch.Tensor, rounds: int) -> list:
    """sklearn / zoo time of one EM iteration (E-step + M-step, nothing else), alternating;
    continues both fitted models (run after their results are recorded)."""
    xn, ratios = x.numpy(), []
    for _ in range(rounds):
        start = time.perf_counter()
        em.m_step(x, em.e_step(x)[1])
        middle = time.perf_counter()
        sk._m_step(xn, sk._e_step(xn)[1])  # the private steps of sklearn's fit loop
        ratios.append((time.perf_counter() - middle) / (middle - start))
    return ratios


def _svi_run(x, n_components, covariance_type, steps, lr, init, reg_covar, seed) -> dict:
    from zoo.gmm.svi import GaussianMixtureSVI

    start = time.perf_counter()
    svi = GaussianMixtureSVI(n_components, covariance_type, num_steps=steps, lr=lr, init=init, reg_covar=reg_covar,
                             random_state=seed).fit(x)
    seconds = time.perf_counter() - start
    return {"lower_bound": svi.lower_bound_, "log_likelihood": svi.score(x), "steps": steps, "time_s": seconds}


def format_report(result: dict) -> str:
    """A markdown table of the benchmark."""
    c, m = result["config"], result["machine"]
    lines = [f"# GMM EM: zoo vs scikit-learn, {c['n_samples']} x {c['n_features']}, {c['n_components']} components, "
             f"{c['covariance_type']} covariance, float64\n",
             f"make_blobs(center_box={c['center_box']}, cluster_std={c['cluster_std']}, seed={c['seed']}); "
             f"identical {c['init']} initialization ({result['init_time_s']:.2f} s, not timed); tol {c['tol']}, "
             f"max_iter {c['max_iter']}; {m['threads']} torch / BLAS thread(s), {m['cpus']} CPUs, torch {m['torch']}, "
             f"{m['date']}.\n",
             "| implementation | lower bound (nats/sample) | iterations | converged | fit time (s), each repeat | "
             "median per iteration (s) |", "|---|---|---|---|---|---|"]
    for name in ("em", "sklearn"):
        r = result[name]
        lines.append(f"| {'zoo GaussianMixtureEM' if name == 'em' else 'sklearn GaussianMixture'} | "
                     f"{r['lower_bound']:.10f} | {r['n_iter']} | {r['converged']} | "
                     f"{', '.join(f'{t:.3f}' for t in r['times_s'])} | {r['per_iter_s']:.4f} |")
    lines += [f"\nrelative lower-bound difference: {result['relative_lower_bound_difference']:.2e}; "
              f"max |means difference|: {result['max_abs_mean_difference']:.2e}",
              f"speedup (sklearn / zoo, median fit time): {result['speedup']:.2f}x; per E+M iteration alone: "
              f"{', '.join(f'{r:.2f}' for r in result['iteration_time_ratios'])}x"]
    if "svi" in result:
        s = result["svi"]
        lines.append(f"\nSVI (TraceEnum_ELBO, Adam, full batch) from the same start: log-likelihood "
                     f"{s['log_likelihood']:.6f} nats/sample after {s['steps']} steps, {s['time_s']:.2f} s")
    return "\n".join(lines) + "\n"


def benchmark_and_report(args) -> dict:
    result = run_benchmark(args.n_samples, args.n_features, args.n_components, args.covariance_type, args.tol,
                           args.reg_covar, args.max_iter, args.init, args.cluster_std, args.center_box, args.seed,
                           args.threads, args.repeats, svi_steps=args.svi_steps, svi_lr=args.svi_lr)
    out = Path(args.out or "bench/gmm")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", result)
    report = format_report(result)
    write_text(out / "report.md", report)
    print(report + f"wrote {out / 'results.json'} and {out / 'report.md'}")
    return result


@dataclass(frozen=True)
class GmmOptions:
    """The options of ``vaezoo gmm``."""

    benchmark: bool = option(False, "time EM against sklearn GaussianMixture from identical initial parameters on "
                                    f"blobs (defaults: {BENCH_DEFAULTS})")
    dataset: str = option("blobs", "blobs, or an image dataset with PCA: mnist5k, mnist")
    data_root: Optional[str] = option(None, "the data root (default: $VAEZOO_DATA)")
    n_samples: Optional[PositiveInt] = option(None, f"blobs: default {FIT_DEFAULTS['n_samples']}; image datasets: "
                                                    "the first N training images")
    n_features: Optional[PositiveInt] = option(None, f"blobs (default {FIT_DEFAULTS['n_features']})")
    centers: Optional[PositiveInt] = option(None, "blobs clusters (default: --n-components)")
    cluster_std: PositiveFloat = option(1.0, "blobs: the clusters' scale")
    center_box: Optional[PositiveFloat] = option(None, "blobs centers in [-box, box]^d (default 10; 1 with "
                                                       "--benchmark)")
    pca_dim: PositiveInt = option(2, "principal components of image datasets")
    n_components: Optional[PositiveInt] = option(None, "K (default 3; 16 with --benchmark)")
    covariance_type: Literal["full", "tied", "diag", "spherical"] = option("full", "the covariance type")
    tol: PositiveFloat = option(1e-3, "convergence threshold on the mean log-likelihood")
    reg_covar: NonNegativeFloat = option(1e-6, "added to the covariances' diagonal")
    max_iter: PositiveInt = option(100, "EM iterations at most")
    n_init: PositiveInt = option(1, "initializations; the best is kept")
    init: Literal["kmeans", "kmeans++", "random"] = option("kmeans", "the initialization")
    seed: int = option(0, "seeds the data and the initialization")
    svi_steps: NonNegativeInt = option(0, "also fit by SVI (TraceEnum_ELBO) for this many steps")
    svi_lr: PositiveFloat = option(0.05, "the SVI learning rate")
    threads: Optional[PositiveInt] = option(None, "torch threads (default: torch's own); --benchmark: torch and BLAS "
                                                  "threads alike (default 1)")
    repeats: PositiveInt = option(2, "--benchmark: timed fits of each")
    out: Optional[str] = option(None, "output folder (default runs/gmm-<dataset>-seed<seed>; bench/gmm with "
                                      "--benchmark)")


def add_parser(sub) -> None:
    add_command(sub, "gmm", GmmOptions, _run_cli,
                help="fit a Gaussian mixture by EM (and SVI); --benchmark: against scikit-learn")


def _run_cli(args: GmmOptions) -> int:
    defaults = BENCH_DEFAULTS if args.benchmark else FIT_DEFAULTS
    args = dataclasses.replace(args, **{name: value for name, value in defaults.items()
                                        if getattr(args, name) is None and (name != "n_samples" or
                                                                            args.dataset == "blobs")})
    args = dataclasses.replace(args, centers=args.centers or args.n_components)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.benchmark:
        args = dataclasses.replace(args, threads=args.threads or 1)
        if args.dataset != "blobs" or args.centers != args.n_components:
            raise ValueError("--benchmark runs on blobs with one cluster per component; drop --dataset and --centers")
        benchmark_and_report(args)
    else:
        fit_and_report(args)
    return 0
