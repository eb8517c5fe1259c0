r"""Estimators suite: estimator x K on binarized MNIST, same networks, same budget.

Each cell trains a fresh VAE with one estimator and K particles, then reports the test -ELBO,
-log p(x) (S importance samples), KL, active units, the training time per epoch, and the
signal-to-noise ratio of the model and guide gradients on a fixed test batch,

    SNR = mean_i |E g_i| / std g_i       over ``snr_draws`` draws of the gradient   [1]

at the cell's own K and, on the same trained network, at every K of ``snr_ks``: the curve of
[1], where the guide SNR of the IWAE bound falls like 1/sqrt(K) while DReG's does not [2].

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are Not
        Necessarily Better. arXiv:1802.04537
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
"""
from collections import defaultdict
from pathlib import Path

from benchmarks import report as rep
from benchmarks.suites import vae_cells
from dataclasses import dataclass
from typing import List

NAME = "estimators"
DEVICES = ("cpu", "cuda")

# (estimator, options, Ks): K = 1 of the IWAE family is the ELBO, so it starts at 5; the
# leave-one-out baseline of ``score`` needs K >= 2; miwae's K is per group (M K particles).
GRID = [["elbo", {}, [1, 5, 50]], ["elbo-stl", {}, [1]], ["iwae", {}, [5, 50]], ["iwae-dreg", {}, [5, 50]],
        ["iwae-stl", {}, [5, 50]], ["renyi", {"alpha": 0.5}, [5, 50]], ["ciwae", {"beta": 0.5}, [5, 50]],
        ["miwae", {"num_groups": 5}, [10]], ["score", {}, [5]]]
_NET = dict(hidden=[200, 200], latent_dim=50, activation="tanh", batch_size=100, lr=1e-3)  # [Burda et al., sec. 5]
@dataclass(frozen=True)
class EstimatorsSettings(vae_cells.VAESettings):
    grid: List[list]  # [estimator, options, [K, ...]]
    epochs: int
    snr_batch: int
    snr_draws: int
    snr_ks: List[int]

PROFILES = {
    "smoke": EstimatorsSettings(description="tiny: 300 embedded digits, 2 epochs, a 64-unit network, S = 50; checks the "
                              "plumbing, not the estimators", dataset="mnist5k", binarize="static",
                  train_size=300, test_size=100, grid=[["elbo", {}, [1]], ["iwae", {}, [5]], ["iwae-dreg", {}, [5]]],
                  epochs=2, **{**_NET, "hidden": [64], "latent_dim": 8}, num_samples=50, ll_size=50, snr_batch=10,
                  snr_draws=5, snr_ks=[1, 5], seeds=1),
    "quick": EstimatorsSettings(description="binarized MNIST, the first 10,000 training images, 10 epochs (a short run: the "
                              "bounds are far from converged), S = 5000 on 500 test points",
                  dataset="binarized-mnist", binarize=None, train_size=10000, test_size=None, grid=GRID, epochs=10,
                  **_NET, num_samples=5000, ll_size=500, snr_batch=20, snr_draws=100, snr_ks=[1, 5, 50], seeds=2),
    "standard": EstimatorsSettings(description="binarized MNIST, all 50,000 training images, 50 epochs (near "
                                     "convergence), S = 5000 on 2,000 test points", dataset="binarized-mnist",
                                     binarize=None, train_size=None, test_size=None, grid=GRID, epochs=50, **_NET,
                                     num_samples=5000, ll_size=2000, snr_batch=20, snr_draws=100,
                                     snr_ks=[1, 5, 50], seeds=2),
    "paper": EstimatorsSettings(description="binarized MNIST, all 50,000 training images, 100 epochs, S = 5000 on the whole "
                              "test set", dataset="binarized-mnist", binarize=None, train_size=None, test_size=None,
                  grid=GRID, epochs=100, **_NET, num_samples=5000, ll_size=10000, snr_batch=20, snr_draws=100,
                  snr_ks=[1, 5, 50], seeds=3),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "epochs", "hidden", "latent_dim", "activation",
              "batch_size", "lr", "num_samples", "ll_size", "snr_batch", "snr_draws", "snr_ks")


def cells(settings: EstimatorsSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    return [{**common, "estimator": name, "estimator_options": options, "num_particles": k, "seed": seed}
            for name, options, ks in settings.grid for k in ks for seed in seeds]


def run_cell(config: dict, context) -> dict:
    train_x, test_x = vae_cells.splits(config, context)
    vae = vae_cells.build(config, train_x.shape[1:])
    epochs = vae_cells.num_epochs(config)
    with context.bar(epochs + 2, f"{label(config)} seed {config['seed']}") as bar:
        history = vae_cells.train(vae, train_x, test_x, config, bar)
        out = vae_cells.evaluate(vae, test_x, config)
        bar.update(1)
        out["snr_by_k"] = snr_by_k(vae, test_x[vae_cells.ll_subset(len(test_x), config["snr_batch"])], config)
        bar.update(1)
    own = out["snr_by_k"][str(config["num_particles"])] or {}
    return out | {"guide_snr": own.get("guide"), "model_snr": own.get("model")} | vae_cells.timing(history) \
        | {"history": history}


def snr_by_k(vae, x, config: dict) -> dict:
    """{K: {"guide": SNR, "model": SNR} or None where the estimator refuses that K} on ``x``."""
    from zoo.evaluation.gradients import gradient_stats

    out = {}
    for k in sorted(set(config["snr_ks"]) | {config["num_particles"]}):
        try:
            stats = gradient_stats(vae.model, vae.guide, x, config["estimator"], num_draws=config["snr_draws"],
                                   seed=config["seed"], num_particles=k, **config["estimator_options"])
        except ValueError:  # e.g. score's leave-one-out baseline at K = 1
            out[str(k)] = None
            continue
        out[str(k)] = {group: stats[group].snr for group in ("guide", "model") if group in stats}
    return out


def label(config: dict) -> str:
    opts = ", ".join(f"{a}={v}" for a, v in config["estimator_options"].items())
    return config["estimator"] + (f" ({opts})" if opts else "")


COLUMNS = [("test −log p(x)", "test_neg_ll", ".2f"), ("test −ELBO", "test_neg_elbo", ".2f"),
           ("KL", "test_kl", ".2f"), ("active units", "active_units", ".1f"), ("guide SNR", "guide_snr", ".3f"),
           ("model SNR", "model_snr", ".3f"), ("time / epoch (s)", "epoch_time_s", ".2f")]


def report(records: list, settings: dict, out: Path):
    groups = rep.by_cell(records)
    rows = [[label(g[0]["config"]), g[0]["config"]["num_particles"]]
            + [rep.aggregate(g, lambda r, k=key: r.get(k), d) for _, key, d in COLUMNS] for g in groups]
    c = records[0]["config"]
    text = rep.header("Estimators: estimator × K, same networks and budget", settings, records) + (
        f"{c['dataset']}, {c['train_size'] or 'all'} training images, {vae_cells.num_epochs(c)} epochs, batch "
        f"{c['batch_size']}, Adam {c['lr']}, 784-{'-'.join(map(str, c['hidden']))}-{c['latent_dim']} "
        f"{c['activation']}. Test −ELBO and KL on {c['test_size'] or 'all'} test points; −log p(x) with "
        f"S = {c['num_samples']} on {c['ll_size']} of them (a fixed random subset); gradient SNR (mean over "
        f"components of |E g| / std g, Rainforth et al. 2018) over {c['snr_draws']} draws on {c['snr_batch']} of "
        "them at the trained parameters; time / epoch is the median training time of an epoch (evaluation "
        "excluded).\n\n"
        + rep.table(["estimator", "K"] + [name for name, _, _ in COLUMNS], rows))
    figures = [rep.plot_panels(out / "bound_vs_epoch.png",
                               rep.bound_panels(groups, lambda c: f"{label(c)} K={c['num_particles']}"),
                               "Bound vs epoch (mean over seeds)"),
               rep.plot_panels(out / "snr_vs_k.png", snr_panels(records), "Gradient SNR vs K on trained networks")]
    text += ("\n![bound vs epoch](bound_vs_epoch.png)\n\n![SNR vs K](snr_vs_k.png)\n\nSNR vs K: each trained network "
             "is measured at every K with its own estimator, and the curves are averaged over the cells "
             "(all K, all seeds) of an estimator; the IWAE guide SNR falls with K, DReG's should not.\n")
    return text, figures


def snr_panels(records: list) -> list:
    """Guide and model SNR vs K per estimator, averaged over the estimator's cells."""
    values = defaultdict(lambda: defaultdict(list))  # (group, estimator) -> K -> [snr]
    for r in records:
        for k, snr in r["result"]["snr_by_k"].items():
            for group, v in (snr or {}).items():
                values[group, label(r["config"])][int(k)].append(v)
    panels = []
    for group in ("guide", "model"):
        series = {}
        for (g, name), by_k in values.items():
            if g == group:
                ks = sorted(by_k)
                series[name] = (ks, [rep.mean_std(by_k[k])[0] for k in ks])
        panels.append({"series": series, "xlabel": "K (particles)", "ylabel": "SNR", "title": f"{group} gradient",
                       "logx": True, "logy": True})
    return panels
