r"""Estimators suite: estimator x K on binarized MNIST, same networks, same budget.

Each training cell trains a fresh VAE with one estimator and K particles, then reports the
test -ELBO, -log p(x) (S importance samples), KL, active units and the training time per epoch.
The gradient signal-to-noise ratios

    SNR = mean_i |E g_i| / std g_i       over ``snr_draws`` draws of the gradient   [1]

are measured apart from them (``benchmarks.suites.snr``): every estimator at every K on the
*same* fixed trained network per seed, and on the Gaussian toy of [1], where the IWAE guide
SNR falls like 1/sqrt(K) while DReG's does not [2]. (Measuring each cell's own network at its
own K would confound network and K.)

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are Not
        Necessarily Better. arXiv:1802.04537
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List

from benchmarks import report as rep
from benchmarks.runner import cell_kind
from benchmarks.suites import snr, vae_cells

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
    snr_batch: int  # the fixed-network SNR: test points, draws, Ks
    snr_draws: int
    snr_ks: List[int]
    toy_dim: int  # the Gaussian toy's D, Ks and draws
    toy_ks: List[int]
    toy_draws: int


_SNR = dict(snr_batch=20, snr_draws=100, snr_ks=[1, 5, 50, 500], toy_dim=20, toy_ks=[1, 10, 100, 1000],
            toy_draws=500)
PROFILES = {
    "smoke": EstimatorsSettings(
        description="tiny: 300 embedded digits, 2 epochs, a 64-unit network, S = 50; checks the "
                              "plumbing, not the estimators", dataset="mnist5k", binarize="static",
                  train_size=300, test_size=100, grid=[["elbo", {}, [1]], ["iwae", {}, [5]], ["iwae-dreg", {}, [5]]],
                  epochs=2, **{**_NET, "hidden": [64], "latent_dim": 8}, num_samples=50, ll_size=50, snr_batch=10,
                  snr_draws=5, snr_ks=[1, 5], toy_dim=2, toy_ks=[1, 10], toy_draws=10, seeds=1),
    "quick": EstimatorsSettings(
        description="binarized MNIST, the first 10,000 training images, 10 epochs (a short run: the "
                              "bounds are far from converged), S = 5000 on 500 test points",
                  dataset="binarized-mnist", binarize=None, train_size=10000, test_size=None, grid=GRID, epochs=10,
                  **_NET, num_samples=5000, ll_size=500, **_SNR, seeds=2),
    "standard": EstimatorsSettings(
        description="binarized MNIST, all 50,000 training images, 50 epochs (near "
                                     "convergence), S = 5000 on 2,000 test points", dataset="binarized-mnist",
                                     binarize=None, train_size=None, test_size=None, grid=GRID, epochs=50, **_NET,
                                     num_samples=5000, ll_size=2000, **_SNR, seeds=2),
    "paper": EstimatorsSettings(
        description="binarized MNIST, all 50,000 training images, 100 epochs, S = 5000 on the whole "
                              "test set", dataset="binarized-mnist", binarize=None, train_size=None, test_size=None,
                  grid=GRID, epochs=100, **_NET, num_samples=5000, ll_size=10000, **_SNR, seeds=3),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "epochs", "hidden", "latent_dim", "activation",
              "batch_size", "lr", "num_samples", "ll_size")
_SNR_KEYS = ("snr_batch", "snr_draws", "snr_ks")


def cells(settings: EstimatorsSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    training = [{**common, "estimator": name, "estimator_options": options, "num_particles": k, "seed": seed}
                for name, options, ks in settings.grid for k in ks for seed in seeds]
    return training + snr.cells({**common, **{k: getattr(settings, k) for k in _SNR_KEYS}}, settings, seeds)


def run_cell(config: dict, context) -> dict:
    if config.get("kind") == "snr-fixed":
        return snr.run_fixed(config, context)
    if config.get("kind") == "snr-toy":
        return snr.run_toy(config, context)
    return vae_cells.run(config, context, f"{label(config)} seed {config['seed']}")


def label(config: dict) -> str:
    return snr.label(config["estimator"], config["estimator_options"])


COLUMNS = [("test −log p(x)", "test_neg_ll", ".2f"), ("test −ELBO", "test_neg_elbo", ".2f"),
           ("KL", "test_kl", ".2f"), ("active units", "active_units", ".1f"),
           ("time / epoch (s)", "epoch_time_s", ".2f")]


def report(records: list, settings: dict, out: Path):
    kind = lambda r: cell_kind(r["config"])  # noqa: E731
    training = [r for r in records if kind(r) == "training"]
    text = rep.header("Estimators: estimator × K, same networks and budget", settings, records)
    figures = []
    if training:
        groups = rep.by_cell(training)
        rows = [[label(g[0]["config"]), g[0]["config"]["num_particles"]]
                + [rep.aggregate(g, lambda r, k=key: r.get(k), d) for _, key, d in COLUMNS] for g in groups]
        c = training[0]["config"]
        text += (
            f"{c['dataset']}, {c['train_size'] or 'all'} training images, {vae_cells.num_epochs(c)} epochs, batch "
            f"{c['batch_size']}, Adam {c['lr']}, 784-{'-'.join(map(str, c['hidden']))}-{c['latent_dim']} "
            f"{c['activation']}. Test −ELBO and KL on {c['test_size'] or 'all'} test points; −log p(x) with "
            f"S = {c['num_samples']} on {c['ll_size']} of them (a fixed random subset); time / epoch is the median "
            "training time of an epoch (evaluation excluded).\n\n"
            + rep.table(["estimator", "K"] + [name for name, _, _ in COLUMNS], rows)
            + "\n![bound vs epoch](bound_vs_epoch.png)\n")
        figures.append(rep.plot_panels(out / "bound_vs_epoch.png",
                                       rep.bound_panels(groups, lambda c: f"{label(c)} K={c['num_particles']}"),
                                       "Bound vs epoch (mean over seeds)"))
    snr_text, snr_figures = snr.report([r for r in records if kind(r) == "snr-fixed"],
                                       [r for r in records if kind(r) == "snr-toy"], out)
    return text + snr_text, figures + snr_figures
