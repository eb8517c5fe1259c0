r"""What the estimators, guides and paper suites share: data, training, and the test numbers.

One cell trains a fresh MLP VAE (initial weights from the cell's seed) with ``zoo.fit`` and
reports on the test split

    -ELBO        (1/N) sum_n -E_q[log p(x_n, z) - log q(z|x_n)]            one draw per point
    -log p(x)    -(1/N') sum_n log (1/S) sum_s w_s,  w_s = p(x_n, z_s) / q(z_s|x_n)   [1]
    gap          log p(x) - ELBO on the same N' points (S-sample mean of log w) ~ KL(q || p(z|x))
    KL, active units (Cov_x E_q[z_d] > 0.01 [1]), PSIS k-hat fractions [2]

Training is ``epochs`` epochs at a constant learning rate, or the schedule of [1, sec. 5]:
stage i = 0, 1, ... trains 3^i epochs at lr * 10^(-i/7) (8 stages: 3280 epochs). Each stage is
one ``zoo.fit`` call, so Adam's moment estimates restart at every stage.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Yao, Vehtari, Simpson, Gelman. Yes, but Did It Work?: Evaluating Variational Inference.
        arXiv:1802.02538
"""
import math
import statistics
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Tuple

import torch

from benchmarks.suite import DataSettings
from zoo._utils.contexts import evaluating, seeded
from zoo.data.spec import DataSpec


@dataclass(frozen=True)
class VAESettings(DataSettings):
    """Data, network and evaluation settings shared by the VAE suites (estimators, guides, paper)."""

    hidden: List[int]
    latent_dim: int
    activation: str
    batch_size: int
    lr: float
    num_samples: int
    ll_size: int


DATA_SEED = 0  # the static binarization (and the test draw of dynamic runs): the same data for every cell
HISTORY_KEYS = ("epoch", "lr", "loss", "train_elbo", "test_elbo", "test_kl", "train_time_s")


@lru_cache(maxsize=4)
def _dataset(spec: DataSpec):
    return spec.load()


def splits(config: dict, context) -> Tuple[torch.Tensor, torch.Tensor]:
    """(train, test) of the cell on its device; dynamically binarized runs get one fixed draw of
    the test images (``zoo.data.DataSpec.fixed``)."""
    spec = DataSpec(config["dataset"], context.data_root, binarize=config.get("binarize") or "none", seed=DATA_SEED,
                    train_size=config.get("train_size"), test_size=config.get("test_size"))
    ds = _dataset(spec)
    return ds.train.to(config["device"]), spec.fixed(ds.test).to(config["device"])


def build(config: dict, data_shape) -> torch.nn.Module:
    """The cell's model (``arch``: ``vae``, ``hvae`` with ``latent_dims``, ``layer_hidden`` and
    ``depth``, or ``sbn`` with ``layers`` and ``sbn_hidden``; ``guide``, ``prior``), its initial
    weights drawn under the cell's seed."""
    import pyro

    import zoo

    pyro.clear_param_store()
    torch.manual_seed(config["seed"])
    common = dict(data_shape=tuple(data_shape), activation=config.get("activation", "tanh"),
                  guide=config.get("guide", "diagonal"), prior=config.get("prior", "standard"))
    if config.get("arch", "vae") == "sbn":  # binary units: layers of units, affine or MLP conditionals
        vae = zoo.build("sbn", data_shape=tuple(data_shape), layers=tuple(config["layers"]),
                        hidden=tuple(config.get("sbn_hidden", ())), activation=common["activation"])
    elif config.get("arch", "vae") == "hvae":  # two stochastic layers: sizes per layer
        vae = zoo.build("hvae", latent_dims=tuple(config["latent_dims"]), hidden=tuple(config["layer_hidden"]),
                        depth=config["depth"], **common)
    else:
        vae = zoo.build("vae", latent_dim=config["latent_dim"], hidden=tuple(config["hidden"]), **common)
    return vae.to(config["device"])


def stages(config: dict) -> List[Tuple[int, float]]:
    """(epochs, learning rate) of each training stage."""
    schedule = config.get("schedule", "constant")
    if schedule == "constant":
        return [(config["epochs"], config["lr"])]
    if schedule == "burda":  # [1, sec. 5]: 3^i passes at 0.001 * 10^(-i/7), i = 0..7
        return [(3**i, config["lr"] * 10 ** (-i / 7)) for i in range(config["num_stages"])]
    raise ValueError(f"unknown schedule {schedule!r}; choose from constant, burda")


def train(vae, train_x, test_x, config: dict, bar) -> List[dict]:
    """Train with ``zoo.fit`` through every stage; the per-epoch history, epochs counted on."""
    import zoo

    history = []
    for i, (epochs, lr) in enumerate(stages(config)):
        done = len(history)
        # stage i draws its batch orders and particles under its own seed (distinct for seeds < 1000)
        part = zoo.fit(vae, train_x, test=test_x, epochs=epochs, lr=lr, batch_size=config["batch_size"],
                       seed=config["seed"] + 1000 * i, estimator=config["estimator"],
                       num_particles=config["num_particles"], estimator_options=config.get("estimator_options", {}),
                       binarize="dynamic" if config.get("binarize") == "dynamic" else None, progress=False,
                       before_epoch=lambda epoch: bar.update(1) and None)  # fit merges a returned dict
        history += [{k: r.get(k) for k in HISTORY_KEYS} | {"epoch": r["epoch"] + done, "lr": lr} for r in part]
    return history


def num_epochs(config: dict) -> int:
    return sum(e for e, _ in stages(config))


def ll_subset(n: int, size: int) -> torch.Tensor:
    """Indices of the ``size`` test points that get -log p(x): a fixed random subset, the same for
    every cell. Not the first ``size``: binarized MNIST's test split is not shuffled (its first 500
    digits carry 19% more ink than the whole split, and a model's ELBO on them is tens of nats lower)."""
    if size >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(DATA_SEED))[:size].sort().values


def evaluate(vae, test_x, config: dict, psis: bool = False) -> dict:
    """Test -ELBO and KL (all of ``test_x``), -log p(x) with S = ``num_samples`` on ``ll_size``
    of them (:func:`ll_subset`; with standard error, gap, ESS and, with ``psis``, k-hat), active units."""
    from zoo.evaluation.diagnostics import active_units
    from zoo.evaluation.likelihood import elbo_and_kl, log_likelihood

    start = time.perf_counter()
    with evaluating(vae):
        ev = elbo_and_kl(vae, test_x)
        ll = log_likelihood(vae.model, vae.guide, test_x[ll_subset(len(test_x), config["ll_size"])],
                            num_samples=config["num_samples"], seed=config["seed"], psis=psis).summary()
        with seeded(config["seed"], test_x.device):  # flows' posterior means are Monte Carlo
            layers = [active_units(encode, test_x) for encode in getattr(vae, "layer_encoders", lambda: [vae.encode])()]
        au = sum(layers)
    out = {"test_neg_elbo": -ev["elbo"], "test_kl": ev.get("kl"), "test_neg_ll": -ll["log_likelihood"],
           "test_neg_ll_stderr": ll["log_likelihood_stderr"], "ll_points": min(config["ll_size"], len(test_x)),
           "gap": ll["posterior_gap"], "ess_mean": ll["ess_mean"], "active_units": au, "active_units_per_layer": layers,
           "eval_time_s": time.perf_counter() - start}
    return out | {k: v for k, v in ll.items() if k.startswith("khat")}


def run(config: dict, context, label: str, psis: bool = False) -> dict:
    """One training cell: build, train (a progress bar of ``label``), evaluate (:func:`evaluate`)."""
    train_x, test_x = splits(config, context)
    vae = build(config, train_x.shape[1:])
    with context.bar(num_epochs(config) + 1, label) as bar:
        history = train(vae, train_x, test_x, config, bar)
        out = evaluate(vae, test_x, config, psis=psis)
        bar.update(1)
    steps = math.ceil(len(train_x) / config["batch_size"])
    return out | timing(history, steps) | {"history": history}


def timing(history: List[dict], steps_per_epoch: int) -> dict:
    """Median seconds per epoch and milliseconds per training step, total training seconds."""
    times = [h["train_time_s"] for h in history]
    return {"epoch_time_s": statistics.median(times), "step_time_ms": 1000 * statistics.median(times) / steps_per_epoch,
            "train_time_s": sum(times), "epochs": len(history)}
