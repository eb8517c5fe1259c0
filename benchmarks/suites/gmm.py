r"""GMM suite: EM here vs scikit-learn's EM vs SVI (Pyro, TraceEnum_ELBO), per covariance type.

Each cell is one :func:`benchmarks.gmm_speed.run_benchmark` on ``make_blobs`` data (data and
initialization drawn under the cell's seed, so the spread over seeds includes both): both EMs start
from identical initial parameters and stop at the same tolerance; SVI starts from the same
initialization and climbs the enumerated log-likelihood by Adam for ``svi_steps`` full-batch
steps. Reported per implementation: the lower bound (the mean log-likelihood per sample at the
last iteration), the iterations and the fit time; CPU only, with torch and BLAS limited to
``threads`` threads (scikit-learn's side of the comparison runs there).

References:
    [1] Dempster, Laird, Rubin. Maximum likelihood from incomplete data via the EM algorithm. JRSS B 1977
    [2] Pedregosa et al. Scikit-learn: Machine Learning in Python. JMLR 2011
"""
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List

from benchmarks import report as rep
from benchmarks.suite import Settings

NAME = "gmm"
DEVICES = ("cpu",)
_BLOBS = dict(cluster_std=1.0, center_box=1.0, tol=1e-3, reg_covar=1e-6, max_iter=100, init="kmeans", threads=1)
@dataclass(frozen=True)
class GMMSettings(Settings):
    n_samples: int
    n_features: int
    n_components: int
    covariance_types: List[str]
    repeats: int
    iteration_rounds: int
    svi_steps: int
    svi_lr: float
    cluster_std: float
    center_box: float
    tol: float
    reg_covar: float
    max_iter: int
    init: str
    threads: int

PROFILES = {
    "smoke": GMMSettings(description="2,000 points in 2-D, 3 components, 20 SVI steps", n_samples=2000, n_features=2,
                  n_components=3, covariance_types=["full", "diag"], repeats=1, iteration_rounds=2, svi_steps=20,
                  svi_lr=0.05, **_BLOBS, seeds=1),
    "quick": GMMSettings(description="200,000 points in 16-D, 16 components (the `vaezoo gmm --benchmark` default), "
                              "20 SVI steps (seconds each on a CPU at this size)", n_samples=200_000, n_features=16,
                  n_components=16, covariance_types=["full", "diag"], repeats=2, iteration_rounds=5, svi_steps=20,
                  svi_lr=0.05, **_BLOBS, seeds=2),
    "paper": GMMSettings(description="200,000 points in 16-D, 16 components, 5 timed fits, 200 SVI steps",
                  n_samples=200_000, n_features=16, n_components=16, covariance_types=["full", "diag"], repeats=5,
                  iteration_rounds=10, svi_steps=200, svi_lr=0.05, **_BLOBS, seeds=5),
}
_CELL_KEYS = ("n_samples", "n_features", "n_components", "repeats", "iteration_rounds", "svi_steps", "svi_lr",
              *_BLOBS)


def cells(settings: GMMSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    return [{**common, "covariance_type": cov, "seed": seed} for cov in settings.covariance_types for seed in seeds]


def run_cell(config: dict, context) -> dict:
    from benchmarks.gmm_speed import run_benchmark

    _warm_up_svi()
    kwargs = {k: v for k, v in config.items() if k != "device"}
    with context.bar(1, f"{config['covariance_type']} seed {config['seed']}") as bar:
        result = run_benchmark(**kwargs)
        bar.update(1)
    result.pop("config")  # the record keeps it
    return result


@lru_cache(maxsize=1)
def _warm_up_svi() -> None:
    """Pyro's first SVI fit in a process pays one-time setup (about a second); keep it out of the timings."""
    import torch

    from zoo.gmm.svi import GaussianMixtureSVI

    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for covariance_type in ("full", "diag"):
        GaussianMixtureSVI(2, covariance_type, num_steps=2).fit(x)


IMPLEMENTATIONS = [("zoo EM (`GaussianMixtureEM`)", "em"), ("scikit-learn EM (`GaussianMixture`)", "sklearn"),
                   ("zoo SVI (`GaussianMixtureSVI`, TraceEnum_ELBO)", "svi")]


def _rows(group: list) -> list:
    rows = []
    for name, key in IMPLEMENTATIONS:
        if key not in group[0]["result"]:
            continue
        iters = "steps" if key == "svi" else "n_iter"
        time_key = "time_s" if key == "svi" else "median_s"
        rows.append([group[0]["config"]["covariance_type"], name,
                     rep.aggregate(group, lambda r, key=key: r[key]["lower_bound"], ".5f"),
                     rep.aggregate(group, lambda r, key=key, iters=iters: r[key][iters], ".1f"),
                     rep.aggregate(group, lambda r, key=key, t=time_key: r[key][t], ".3f")])
    return rows


def report(records: list, settings: dict, out: Path):
    groups = rep.by_cell(records)
    rows = [row for g in groups for row in _rows(g)]
    speed = [[g[0]["config"]["covariance_type"], rep.aggregate(g, lambda r: r["speedup"]),
              rep.aggregate(g, lambda r: rep.mean_std(r["iteration_time_ratios"])[0]),
              rep.aggregate(g, lambda r: r["relative_lower_bound_difference"], ".1e")] for g in groups]
    c = records[0]["config"]
    text = rep.header("GMM: EM vs scikit-learn vs SVI", settings, records) + (
        f"make_blobs: {c['n_samples']} points in {c['n_features']}-D, {c['n_components']} components, "
        f"center_box {c['center_box']}, cluster_std {c['cluster_std']}; float64; identical {c['init']} "
        f"initialization; tol {c['tol']}, max_iter {c['max_iter']}; {c['threads']} torch / BLAS thread(s). "
        "Lower bound: mean log-likelihood per sample (nats) at the last iteration; EM times are the median of "
        f"{c['repeats']} fit(s); SVI: {c['svi_steps']} full-batch Adam steps (lr {c['svi_lr']}).\n\n"
        + rep.table(["covariance", "implementation", "lower bound", "iterations / steps", "fit time (s)"], rows)
        + "\n" + rep.table(["covariance", "speedup over scikit-learn (fit)", "speedup per E+M iteration",
                            "relative lower-bound difference"], speed))
    return text, []
