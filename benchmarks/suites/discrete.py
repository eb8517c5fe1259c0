r"""Discrete suite: a sigmoid belief net trained by the estimators built for discrete latents.

Training cells: ``sbn`` (one layer of 200 binary units, affine maps: the SBN of [1, 2])
on binarized MNIST with ``score`` and NVIL's learned, variance-normalized baseline [1] (K = 1),
``vimco`` [2] and ``rws`` [3] at K = 5 and 50, and ``concrete`` [4] (the relaxed ELBO, the
discrete model's bounds reported). Test -log p(x) by importance sampling (S samples), -ELBO,
active units, and the time of a training step.

Gradient cells, one per seed: one reference network trained with VIMCO (K = 5) for
``reference_epochs``; on that *same* network and the same test batch, every row's estimator at its
own K gives the guide's and the model's gradient over ``snr_draws`` draws: the mean variance
of a component and the SNR = mean_i |E g_i| / std g_i, with ``elbo-enum``-free comparison (the
SBN's 2^200 configurations cannot be enumerated). The rows' expectations differ (the ELBO's
gradient for score and concrete's relaxed one, L_K's for vimco, RWS's own update), so variances
compare noise, not bias.

References:
    [1] Mnih, Gregor. Neural Variational Inference and Learning in Belief Networks. arXiv:1402.0030
    [2] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
    [3] Bornschein, Bengio. Reweighted Wake-Sleep. arXiv:1406.2751
    [4] Maddison, Mnih, Teh. The Concrete Distribution. arXiv:1611.00712
"""
from dataclasses import dataclass
from pathlib import Path
from typing import List

from benchmarks import report as rep
from benchmarks.runner import cell_kind
from benchmarks.suite import DataSettings
from benchmarks.suites import snr, vae_cells

NAME = "discrete"
DEVICES = ("cpu", "cuda")
NVIL = {"baseline": "learned", "normalize": True}
ROWS = [["score", NVIL, 1], ["vimco", {}, 5], ["vimco", {}, 50], ["rws", {}, 5], ["rws", {}, 50],
        ["concrete", {}, 1]]
_NET = dict(layers=[200], sbn_hidden=[], activation="tanh", batch_size=100, lr=1e-3)


@dataclass(frozen=True)
class DiscreteSettings(DataSettings):
    rows: List[list]  # [estimator, options, K]
    layers: List[int]
    sbn_hidden: List[int]
    activation: str
    batch_size: int
    lr: float
    epochs: int
    num_samples: int
    ll_size: int
    reference_epochs: int  # the gradient cells' network: VIMCO K = 5 for these epochs
    snr_batch: int
    snr_draws: int


PROFILES = {
    "smoke": DiscreteSettings(
        description="tiny: 300 embedded digits, 2 epochs, 16 binary units, S = 50; checks the plumbing",
        dataset="mnist5k", binarize="static", train_size=300, test_size=100, rows=ROWS, epochs=2,
        **{**_NET, "layers": [16]}, num_samples=50, ll_size=50, reference_epochs=1, snr_batch=10, snr_draws=5,
        seeds=1),
    "quick": DiscreteSettings(
        description="binarized MNIST, the first 10,000 training images, 10 epochs, S = 5000 on 500 test points",
        dataset="binarized-mnist", binarize=None, train_size=10000, test_size=None, rows=ROWS, epochs=10, **_NET,
        num_samples=5000, ll_size=500, reference_epochs=5, snr_batch=20, snr_draws=200, seeds=2),
    "standard": DiscreteSettings(
        description="binarized MNIST, all 50,000 training images, 50 epochs, S = 5000 on 2,000 test points",
        dataset="binarized-mnist", binarize=None, train_size=None, test_size=None, rows=ROWS, epochs=50, **_NET,
        num_samples=5000, ll_size=2000, reference_epochs=10, snr_batch=20, snr_draws=500, seeds=2),
    "paper": DiscreteSettings(
        description="a long run: all 50,000 training images, 500 epochs, S = 5000 on the whole test set (GPU "
                    "hours; not the papers' own schedules, which differ between them)", dataset="binarized-mnist",
        binarize=None, train_size=None, test_size=None, rows=ROWS, epochs=500, **_NET, num_samples=5000,
        ll_size=10000, reference_epochs=50, snr_batch=20, snr_draws=1000, seeds=1),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "epochs", "layers", "sbn_hidden", "activation",
              "batch_size", "lr", "num_samples", "ll_size")


def cells(settings: DiscreteSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS} | {"arch": "sbn"}
    training = [{**common, "estimator": name, "estimator_options": options, "num_particles": k, "seed": seed}
                for name, options, k in settings.rows for seed in seeds]
    gradients = [{**common, "kind": "gradients", "epochs": settings.reference_epochs, "estimator": "vimco",
                  "estimator_options": {}, "num_particles": 5, "rows": settings.rows, "snr_batch": settings.snr_batch,
                  "snr_draws": settings.snr_draws, "seed": seed} for seed in seeds]
    return training + gradients


def label(name: str, options: dict, k: int) -> str:
    if name == "score" and options == NVIL:
        return "score (NVIL: learned baseline, normalized)"
    return f"{snr.label(name, options)} K = {k}" if k > 1 else snr.label(name, options)


def run_cell(config: dict, context) -> dict:
    if cell_kind(config) == "gradients":
        return run_gradients(config, context)
    c = config
    return vae_cells.run(c, context, f"{label(c['estimator'], c['estimator_options'], c['num_particles'])} "
                                     f"seed {c['seed']}")


def run_gradients(config: dict, context) -> dict:
    """Train the reference network, then every row's gradient statistics on it."""
    from zoo.evaluation.gradients import gradient_stats

    train_x, test_x = vae_cells.splits(config, context)
    sbn = vae_cells.build(config, train_x.shape[1:])
    rows = config["rows"]
    with context.bar(config["epochs"] + len(rows), f"gradient network seed {config['seed']}") as bar:
        history = vae_cells.train(sbn, train_x, test_x, config, bar)
        x = test_x[vae_cells.ll_subset(len(test_x), config["snr_batch"])]
        stats = {}
        for name, options, k in rows:
            est = warmed_up(sbn, name, dict(num_particles=k, **options), train_x, config)
            s = gradient_stats(sbn.model, sbn.guide, x, estimator=est, num_draws=config["snr_draws"],
                               seed=config["seed"])
            stats[label(name, options, k)] = {g: {"snr": s[g].snr, "var": s[g].var.mean().item()}
                                              for g in ("guide", "model") if g in s}
            bar.update(1)
    return {"gradients": stats, "network_test_elbo": history[-1].get("test_elbo"), "history": history}


def warmed_up(sbn, name: str, options: dict, train_x, config: dict, steps: int = 200):
    """The estimator; a score estimator's baseline (NVIL's network and running averages) first
    trained for ``steps`` minibatches on the fixed network, whose parameters stay as they are.
    The other estimators' state is a step counter (concrete's schedule) or none: left at zero."""
    import pyro
    import torch

    from zoo import estimators
    from zoo.estimators import ScoreFunctionELBO

    est = estimators.get(name, data_shape=tuple(train_x.shape[1:]), **options)
    if not isinstance(est, ScoreFunctionELBO):
        return est
    params = list(est.parameters())
    opt = torch.optim.Adam(params, lr=config["lr"]) if params else None
    gen = torch.Generator().manual_seed(config["seed"])
    pyro.set_rng_seed(config["seed"])
    with pyro.settings.context(module_local_params=True):
        for _ in range(steps):
            batch = train_x[torch.randint(len(train_x), (config["batch_size"],), generator=gen)]
            loss = est.differentiable_loss(sbn.model, sbn.guide, batch)
            if opt is not None:
                opt.zero_grad()
                torch.autograd.backward(loss, inputs=params)  # the baseline's parameters alone
                opt.step()
    return est


COLUMNS = [("test −log p(x)", "test_neg_ll", ".2f"), ("test −ELBO", "test_neg_elbo", ".2f"),
           ("active units", "active_units", ".1f"), ("ms / step", "step_time_ms", ".1f")]
NOTES = """
Published numbers are not quoted beside these: the tables of the NVIL (Mnih & Gregor 2014), VIMCO
(Mnih & Rezende 2016) and RWS (Bornschein & Bengio 2015) papers could not be read from the machines
these runs were made on (no internet; the stored copies of the papers reachable there hold only their
opening pages), and numbers quoted from memory would not be a source. Their SBN results come from far
longer training: compare orderings with them, not values.
"""


def report(records: list, settings: dict, out: Path):
    training = [r for r in records if cell_kind(r["config"]) == "training"]
    grads = [r for r in records if cell_kind(r["config"]) == "gradients"]
    text = rep.header("Discrete latents: a sigmoid belief net by score (NVIL), VIMCO, RWS and Concrete",
                      settings, records)
    figures = []
    if training:
        groups = rep.by_cell(training)
        name = lambda c: label(c["estimator"], c["estimator_options"], c["num_particles"])  # noqa: E731
        rows = [[name(g[0]["config"])] + [rep.aggregate(g, lambda r, k=key: r.get(k), d) for _, key, d in COLUMNS]
                for g in groups]
        c = training[0]["config"]
        text += (f"{c['dataset']}, {c['train_size'] or 'all'} training images, {c['epochs']} epochs, batch "
                 f"{c['batch_size']}, Adam {c['lr']}; sbn 784-{'-'.join(map(str, c['layers']))} binary units, "
                 f"affine conditionals. −log p(x) with S = {c['num_samples']} on {c['ll_size']} test points (a fixed "
                 "random subset); −ELBO on all test points (the discrete model's, for concrete too).\n\n"
                 + rep.table(["estimator"] + [n for n, _, _ in COLUMNS], rows)
                 + "\n![bound vs epoch](bound_vs_epoch.png)\n")
        figures.append(rep.plot_panels(out / "bound_vs_epoch.png", rep.bound_panels(groups, name),
                                       "Discrete suite: bound vs epoch (mean over seeds)"))
    if grads:
        c = grads[0]["config"]
        names = list(grads[0]["result"]["gradients"])
        cell = lambda n, g, key: rep.fmt(rep.mean_std([r["result"]["gradients"][n].get(g, {}).get(key)  # noqa: E731
                                                       for r in grads]), ".3g")
        rows = [[n, cell(n, "guide", "var"), cell(n, "guide", "snr"), cell(n, "model", "var"), cell(n, "model", "snr")]
                for n in names]
        text += (f"\n### Gradient variance on a fixed network\n\nOne network per seed ({len(grads)}), trained with "
                 f"VIMCO K = 5 for {c['epochs']} epochs; every estimator at its K on that network and the same "
                 f"{c['snr_batch']} test points, {c['snr_draws']} draws. Variance: the mean over components of a "
                 "gradient component's variance; SNR: the mean of |E g_i| / std g_i.\n\n"
                 + rep.table(["estimator", "guide variance", "guide SNR", "model variance", "model SNR"], rows))
    return text + NOTES, figures
