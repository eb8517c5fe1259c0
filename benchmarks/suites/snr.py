r"""Gradient signal-to-noise ratios for the estimators suite, with network and K not confounded.

Two kinds of cell, one per seed:

``snr-fixed``  trains one reference VAE (the single-sample ELBO, the suite's network, data and
               epochs), then measures every estimator of the grid at every K of ``snr_ks`` on
               that *same* network and test batch:  SNR = mean_i |E g_i| / std g_i  over
               ``snr_draws`` gradient draws [1]. Differences between rows are the estimators';
               differences along a row are K's.
``snr-toy``    the Gaussian toy of [1] (``zoo.GaussianToy``, D = ``toy_dim``) at its perturbed
               optimum, for ``iwae``, ``iwae-dreg`` and ``iwae-stl`` at K in ``toy_ks``. The IWAE
               and DReG guide gradients have the same expectation (DReG is unbiased [2], tested
               in ``tests/``), so E g is estimated from the DReG draws, whose variance is far
               smaller: a sample mean of IWAE's own draws would sit at its noise floor
               ~1/sqrt(draws) long before K^{-1/2} is resolved. STL is biased for the IWAE
               bound [2] and keeps its own mean.

With n draws, an SNR below about 1/sqrt(n) (the ``floor`` in the report) is not resolved.

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are Not
        Necessarily Better. arXiv:1802.04537
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
"""
import math
from typing import Dict, List, Optional

from benchmarks import report as rep
from benchmarks.suites import vae_cells

TOY_ESTIMATORS = ("iwae", "iwae-dreg", "iwae-stl")


def label(name: str, options: dict) -> str:
    opts = ", ".join(f"{a}={v}" for a, v in options.items())
    return name + (f" ({opts})" if opts else "")


def cells(common: dict, settings, seeds) -> List[dict]:
    fixed = {**common, "kind": "snr-fixed", "grid": settings.grid, "estimator": "elbo", "estimator_options": {},
             "num_particles": 1}
    toy = {"kind": "snr-toy", "toy_dim": settings.toy_dim, "toy_ks": settings.toy_ks,
           "snr_draws": settings.toy_draws}
    return [{**fixed, "seed": s} for s in seeds] + [{**toy, "seed": s} for s in seeds]


def run_fixed(config: dict, context) -> dict:
    """Train the reference network, then the SNR of every (estimator, K) on it."""
    from zoo.evaluation.gradients import gradient_stats

    train_x, test_x = vae_cells.splits(config, context)
    vae = vae_cells.build(config, train_x.shape[1:])
    entries = [(name, options, k) for name, options, _ in config["grid"] for k in config["snr_ks"]]
    with context.bar(vae_cells.num_epochs(config) + len(entries), f"SNR network seed {config['seed']}") as bar:
        history = vae_cells.train(vae, train_x, test_x, config, bar)
        x = test_x[vae_cells.ll_subset(len(test_x), config["snr_batch"])]
        snr: Dict[str, Dict[str, Optional[dict]]] = {}
        for name, options, k in entries:
            try:
                stats = gradient_stats(vae.model, vae.guide, x, estimator=name, num_draws=config["snr_draws"],
                                       seed=config["seed"], estimator_options=dict(num_particles=k, **options))
                value = {g: stats[g].snr for g in ("guide", "model") if g in stats}
            except ValueError:  # e.g. score's leave-one-out baseline at K = 1
                value = None
            snr.setdefault(label(name, options), {})[str(k)] = value
            bar.update(1)
    return {"snr": snr, "network_test_elbo": history[-1].get("test_elbo"), "history": history}


def run_toy(config: dict, context) -> dict:
    import zoo
    from zoo.evaluation.gradients import gradient_stats

    toy = zoo.GaussianToy(dim=config["toy_dim"], seed=config["seed"])
    x = toy.sample_data(1, seed=config["seed"] + 1)
    n = config["snr_draws"]
    out: Dict[str, Dict[str, dict]] = {name: {} for name in TOY_ESTIMATORS}
    with context.bar(len(config["toy_ks"]) * len(TOY_ESTIMATORS), f"SNR toy seed {config['seed']}") as bar:
        for k in config["toy_ks"]:
            stats = {}
            for i, name in enumerate(TOY_ESTIMATORS):
                stats[name] = gradient_stats(toy.model, toy.guide, x, estimator=name, num_draws=n,
                                             seed=1000 * config["seed"] + i, estimator_options=dict(num_particles=k))
                bar.update(1)
            shared_mean = stats["iwae-dreg"]["guide"].mean
            for name, s in stats.items():
                mean = shared_mean if name in ("iwae", "iwae-dreg") else s["guide"].mean
                keep = s["guide"].var > 0
                guide_snr = (mean.abs()[keep] / s["guide"].var[keep].sqrt()).mean().item()
                out[name][str(k)] = {"guide": guide_snr, "model": s["model"].snr}
    return {"snr": out, "floor": 1 / math.sqrt(n)}


# ---- report ---------------------------------------------------------------------------------


def _by_label(records: List[dict]) -> Dict[str, Dict[str, Dict[int, List[float]]]]:
    """{group: {label: {K: [snr over seeds]}}}."""
    values: Dict[str, Dict[str, Dict[int, List[float]]]] = {"guide": {}, "model": {}}
    for r in records:
        for name, by_k in r["result"]["snr"].items():
            for k, snr in by_k.items():
                for group, v in (snr or {}).items():
                    values[group].setdefault(name, {}).setdefault(int(k), []).append(v)
    return values


def _table(values: Dict[str, Dict[int, List[float]]], ks: List[int], what: str) -> str:
    rows = [[name] + [rep.fmt(rep.mean_std(by_k.get(k, [])), ".3g") for k in ks] for name, by_k in values.items()]
    return rep.table([what] + [f"K = {k}" for k in ks], rows)


def report(fixed: List[dict], toy: List[dict], out) -> (str, list):
    text, figures = "", []
    if fixed:
        c = fixed[0]["config"]
        values = _by_label(fixed)
        text += (f"\n### Gradient SNR on fixed trained networks\n\nOne reference network per seed ({len(fixed)}), "
                 f"trained with the single-sample ELBO for {vae_cells.num_epochs(c)} epochs; every estimator at "
                 f"every K on that same network and the same {c['snr_batch']} test points, {c['snr_draws']} "
                 f"gradient draws (SNR below ~{1 / math.sqrt(c['snr_draws']):.2f} is not resolved). Guide "
                 "gradient:\n\n" + _table(values["guide"], c["snr_ks"], "estimator")
                 + "\n\nModel (decoder) gradient:\n\n" + _table(values["model"], c["snr_ks"], "estimator")
                 + "\n\n![SNR vs K](snr_vs_k.png)\n")
        figures.append(rep.plot_panels(out / "snr_vs_k.png", _panels(values), "Gradient SNR vs K, fixed networks"))
    if toy:
        c = toy[0]["config"]
        values = _by_label(toy)
        text += (f"\n### Gradient SNR on the Gaussian toy (Rainforth et al. 2018)\n\nz ~ N(μ, I), x | z ~ N(z, I), "
                 f"q(z|x) = N(Ax + b, 2/3 I), D = {c['toy_dim']}, parameters at the optimum plus N(0, 0.01²), one "
                 f"datapoint, {c['snr_draws']} draws per estimator and K, {len(toy)} seed(s); IWAE's E g is "
                 "estimated from the DReG draws (same expectation, far smaller variance), STL keeps its own "
                 "(it is biased for the IWAE bound). Guide gradient:\n\n"
                 + _table(values["guide"], c["toy_ks"], "estimator")
                 + "\n\nModel gradient (the same for the three):\n\n"
                 + _table({"iwae": values["model"]["iwae"]}, c["toy_ks"], "estimator")
                 + "\n\n![SNR on the toy](snr_toy.png)\n")
        figures.append(rep.plot_panels(out / "snr_toy.png", _panels(values), "Gradient SNR vs K, Gaussian toy"))
    return text, figures


def _panels(values) -> list:
    panels = []
    for group in ("guide", "model"):
        series = {name: (sorted(by_k), [rep.mean_std(by_k[k])[0] for k in sorted(by_k)])
                  for name, by_k in values[group].items()}
        panels.append({"series": series, "xlabel": "K (particles)", "ylabel": "SNR", "title": f"{group} gradient",
                       "logx": True, "logy": True})
    return panels
