r"""Guides suite: every variational family on the same model, data and budget.

Each cell trains the same MLP VAE with one guide (the single-sample ELBO, as for normalizing
flows in [1]) and reports

    -log p(x)   importance-sampled with the guide as proposal, S samples
    -ELBO       the bound the guide was trained on
    gap         log p(x) - ELBO on the same points ~ E_x KL(q(z|x) || p(z|x)): what the family misses
    k-hat       fractions of test points whose importance weights have PSIS k-hat > 0.5 and > 0.7 [2]

and the training time. A more flexible q should shrink the gap; k-hat > 0.7 flags points where
q is too narrow a proposal and the log p(x) estimate itself is unreliable [2].

References:
    [1] Rezende, Mohamed. Variational Inference with Normalizing Flows. arXiv:1505.05770
    [2] Yao, Vehtari, Simpson, Gelman. Yes, but Did It Work?: Evaluating Variational Inference.
        arXiv:1802.02538
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List

from benchmarks import report as rep
from benchmarks.suites import vae_cells

NAME = "guides"
DEVICES = ("cpu", "cuda")
GUIDES = ["diagonal", "full-rank", "planar:10", "radial:10", "iaf:2", "sylvester:4", "nsf:4"]
_NET = dict(hidden=[200, 200], latent_dim=50, activation="tanh", batch_size=100, lr=1e-3)
@dataclass(frozen=True)
class GuidesSettings(vae_cells.VAESettings):
    guides: List[str]
    epochs: int

PROFILES = {
    "smoke": GuidesSettings(
        description="tiny: 300 embedded digits, 2 epochs, a 64-unit network, S = 50; checks the "
                              "plumbing, not the guides", dataset="mnist5k", binarize="static", train_size=300,
                  test_size=100, guides=["diagonal", "full-rank", "planar:2", "radial:2", "iaf:1", "sylvester:2",
                                              "nsf:2"],
                  epochs=2, **{**_NET, "hidden": [64], "latent_dim": 8}, num_samples=50, ll_size=50, seeds=1),
    "quick": GuidesSettings(
        description="binarized MNIST, the first 10,000 training images, 10 epochs (a short run), "
                              "S = 5000 on 500 test points", dataset="binarized-mnist", binarize=None,
                  train_size=10000, test_size=None, guides=GUIDES, epochs=10, **_NET, num_samples=5000,
                  ll_size=500, seeds=2),
    "standard": GuidesSettings(
        description="binarized MNIST, all 50,000 training images, 50 epochs (near "
                                 "convergence), S = 5000 on 2,000 test points", dataset="binarized-mnist",
                                 binarize=None, train_size=None, test_size=None, guides=GUIDES, epochs=50, **_NET,
                                 num_samples=5000, ll_size=2000, seeds=2),
    "paper": GuidesSettings(
        description="binarized MNIST, all 50,000 training images, 100 epochs, S = 5000 on the whole "
                              "test set", dataset="binarized-mnist", binarize=None, train_size=None, test_size=None,
                  guides=GUIDES, epochs=100, **_NET, num_samples=5000, ll_size=10000, seeds=3),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "epochs", "hidden", "latent_dim", "activation",
              "batch_size", "lr", "num_samples", "ll_size")


def cells(settings: GuidesSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    return [{**common, "guide": guide, "estimator": "elbo", "num_particles": 1, "seed": seed}
            for guide in settings.guides for seed in seeds]


def run_cell(config: dict, context) -> dict:
    return vae_cells.run(config, context, f"{config['guide']} seed {config['seed']}", psis=True)


# van den Berg et al. 2018, their MNIST results (statically binarized MNIST, -log p(x), their gated
# convolutional networks and training): the ordering to compare with, not the values.
PUBLISHED = {"diagonal": 86.55, "planar": 86.06, "iaf": 84.20, "sylvester": 83.32}
COLUMNS = [("test −log p(x)", "test_neg_ll", ".2f"), ("test −ELBO", "test_neg_elbo", ".2f"), ("gap", "gap", ".2f"),
           ("k̂ > 0.5", "khat_frac_above_0.5", ".2f"), ("k̂ > 0.7", "khat_frac_above_0.7", ".2f"),
           ("active units", "active_units", ".1f"), ("time / epoch (s)", "epoch_time_s", ".2f"),
           ("training (s)", "train_time_s", ".1f")]


def report(records: list, settings: dict, out: Path):
    groups = rep.by_cell(records)
    rows = [[g[0]["config"]["guide"]] + [rep.aggregate(g, lambda r, k=key: r.get(k), d) for _, key, d in COLUMNS]
            for g in groups]
    c = records[0]["config"]
    text = rep.header("Guides: every variational family on the same model and budget", settings, records) + (
        f"{c['dataset']}, {c['train_size'] or 'all'} training images, {vae_cells.num_epochs(c)} epochs of the "
        f"single-sample ELBO, batch {c['batch_size']}, Adam {c['lr']}, 784-{'-'.join(map(str, c['hidden']))}-"
        f"{c['latent_dim']} {c['activation']}. Test −ELBO on {c['test_size'] or 'all'} test points; −log p(x) with "
        f"S = {c['num_samples']} on {c['ll_size']} of them (a fixed random subset); gap = log p(x) − ELBO on "
        "those points (S-sample mean of log w), about E KL(q(z|x) || p(z|x)); k̂ columns: fraction of those "
        "points whose PSIS k̂ exceeds "
        "0.5 / 0.7 (Yao et al. 2018: above 0.7 the estimate is unreliable); active units: Cov_x E_q[z_d] > 0.01, "
        "where for flows E_q[z] is a mean of 100 draws whose noise (Var_q(z_d) / 100, about 0.01 for an unused "
        "unit) reaches the threshold, so flows' counts run high; time / epoch: median training time of an "
        "epoch.\n\n" + rep.table(["guide"] + [name for name, _, _ in COLUMNS], rows))
    text += "\n" + published_ordering(groups) + "\n"
    figures = [rep.plot_panels(out / "bound_vs_epoch.png", rep.bound_panels(groups, lambda c: c["guide"]),
                               "Guides: bound vs epoch (mean over seeds)")]
    return text + "\n![bound vs epoch](bound_vs_epoch.png)\n", figures


def published_ordering(groups) -> str:
    """Our mean test -log p(x) beside van den Berg et al.'s, for the families both have, and
    the two orderings (best first)."""
    ours = {}
    for g in groups:
        family = g[0]["config"]["guide"].split(":")[0]
        mean = rep.mean_std([r["result"].get("test_neg_ll") for r in g])[0]
        if family in PUBLISHED and mean is not None:
            ours[family] = (g[0]["config"]["guide"], mean)
    if not ours:
        return ""
    rows = [[ours[f][0], f"{PUBLISHED[f]:.2f}", f"{ours[f][1]:.2f}"] for f in PUBLISHED if f in ours]
    order = lambda values: " < ".join(sorted(values, key=values.get))  # noqa: E731
    return ("Beside the published numbers of van den Berg et al. 2018 (Sylvester normalizing flows, MNIST results: "
            "binarized MNIST, −log p(x) in nats, their larger gated-convolutional networks and longer training, "
            "quoted, not re-run): compare the ordering, not the values.\n\n"
            + rep.table(["guide", "published −log p(x)", "ours"], rows)
            + f"\nOrdering, best first: published {order({f: PUBLISHED[f] for f in ours})}; "
            f"ours {order({f: v for f, (_, v) in ours.items()})}.\n")
