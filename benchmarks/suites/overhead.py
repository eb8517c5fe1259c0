"""Overhead suite: ``zoo.fit`` (Pyro SVI) against a hand-written PyTorch VAE, same process.

Cells time the one-layer ``vae`` against ``TorchVAE``, the two-layer ``hvae`` against
``TorchHVAE`` and the sigmoid belief net ``sbn`` trained with VIMCO against ``TorchSBN``
(``benchmarks.reference``). Both train the same architecture with the same
objective, optimizer, batch size, batch order and seed. Their epochs are interleaved
(alternating which goes first) so that both see the same machine state; reported are the test
-ELBO of each and the ratio of the median training time per epoch (zoo / hand-written).
"""
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import List

import torch

from benchmarks import report as rep
from benchmarks.reference import TorchHVAE, TorchSBN, TorchVAE, gemm_floor_step, mean_elbo, train_epoch
from benchmarks.report import DASH
from benchmarks.suite import DataSettings


def _zoo_epoch(vae, train, test, epoch, run_dir, args) -> dict:
    import zoo

    history = zoo.fit(vae, train, test=test, epochs=epoch, out_dir=run_dir, resume=True, progress=False,
                      estimator=args.estimator, num_particles=args.num_particles, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed)
    return history[-1]


def _ref_epoch(ref, opt, train, test, epoch, noise, args) -> dict:
    from zoo.training.fit import epoch_generator

    order = torch.randperm(train.shape[0], generator=epoch_generator(args.seed, epoch))
    loss, seconds = train_epoch(ref, opt, train, order, args.batch_size, noise,
                                ref.objective(args.estimator, args.num_particles))
    test_elbo = mean_elbo(ref, test, torch.Generator().manual_seed(args.seed + epoch))
    return {"epoch": epoch, "loss": loss, "train_time_s": seconds, "test_elbo": test_elbo}


def step_ratios(vae, ref, x: torch.Tensor, args, rounds: int = 30, steps: int = 20) -> dict:
    """Per-round ratios of zoo to hand-written step time, alternating blocks of ``steps``.

    Alternating short blocks cancels the slow drifts of a shared machine that epoch
    timings pick up; the median of the ratios is the robust summary.
    """
    import pyro

    import zoo
    from zoo import training

    estimator = zoo.estimators.get(args.estimator, num_particles=args.num_particles)
    optimizer = training.make_optimizer("adam", training.trainable_parameters(vae, estimator), lr=args.lr)
    opt = torch.optim.Adam(ref.parameters(), lr=args.lr)
    noise, flat = torch.Generator().manual_seed(args.seed), x.reshape(x.shape[0], -1)
    loss_fn = ref.objective(args.estimator, args.num_particles)
    steps = min(steps, x.shape[0] // args.batch_size)
    if steps < 1:
        raise ValueError(f"the step-time comparison needs at least one full batch of {args.batch_size}, "
                         f"got {x.shape[0]} examples")
    batches = [slice(i * args.batch_size, (i + 1) * args.batch_size) for i in range(steps)]

    def zoo_block():
        for b in batches:  # zoo.fit's step: a torch optimizer on differentiable_loss
            training.step(vae, estimator, optimizer, x[b]).item()

    def ref_block():
        for b in batches:
            loss = loss_fn(flat[b], noise).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()

    def floor_block():
        for b in batches:
            opt.zero_grad()
            gemm_floor_step(ref, flat[b], args.num_particles)

    blocks = (("zoo", zoo_block), ("torch", ref_block)) + ((("floor", floor_block),) if isinstance(ref, TorchVAE)
                                                           else ())
    ms = {name: [] for name, _ in blocks}
    with pyro.validation_enabled(False):  # as in zoo.fit
        for _, block in blocks:  # warm-up
            block()
        for _ in range(rounds):
            for name, block in blocks:
                start = time.perf_counter()
                block()
                ms[name].append(1000 * (time.perf_counter() - start) / len(batches))
    return {"ratios": [z / t for z, t in zip(ms["zoo"], ms["torch"])], "step_ms": ms}


NAME = "overhead"
DEVICES = ("cpu",)  # the hand-written loop draws its noise with a CPU generator
_SETUP = dict(hidden=[200, 200], latent_dim=50, batch_size=100, lr=1e-3)  # the IWAE paper's 1-layer network
@dataclass(frozen=True)
class OverheadSettings(DataSettings):
    objectives: List[list]  # [estimator, K] or [estimator, K, "hvae"] (Burda's two-layer network) or [.., "sbn"]
    epochs: int
    step_rounds: int
    hidden: List[int]
    latent_dim: int
    batch_size: int
    lr: float

PROFILES = {
    "smoke": OverheadSettings(
        description="tiny: 200 embedded digits, 2 epochs, a 32-unit network, 3 rounds of step timing",
                  dataset="mnist5k", binarize="static", train_size=200, test_size=100,
                  objectives=[["elbo", 1], ["iwae", 5], ["iwae", 5, "hvae"], ["vimco", 5, "sbn"]], epochs=2,
                  step_rounds=3,
                  **{**_SETUP, "hidden": [32], "latent_dim": 4}, seeds=1),
    "quick": OverheadSettings(
        description="binarized MNIST, all 50,000 training images, 3 epochs of each, 30 rounds of step "
                              "timing", dataset="binarized-mnist", binarize=None, train_size=None, test_size=None,
                  objectives=[["elbo", 1], ["iwae", 50], ["elbo", 1, "hvae"], ["iwae", 50, "hvae"], ["vimco", 5, "sbn"],
                              ["vimco", 50, "sbn"]], epochs=3,
                  step_rounds=30, **_SETUP, seeds=1),
    "paper": OverheadSettings(
        description="binarized MNIST, all 50,000 training images, 10 epochs of each, 50 rounds of step "
                              "timing", dataset="binarized-mnist", binarize=None, train_size=None, test_size=None,
                  objectives=[["elbo", 1], ["elbo-kl", 1], ["iwae", 50], ["elbo", 1, "hvae"], ["iwae", 50, "hvae"],
                              ["vimco", 5, "sbn"], ["vimco", 50, "sbn"]],
                  epochs=10, step_rounds=50, **_SETUP,
                  seeds=3),
}
_CELL_KEYS = ("dataset", "binarize", "train_size", "test_size", "epochs", "step_rounds", *_SETUP)


def cells(settings: OverheadSettings, seeds) -> list:
    common = {k: getattr(settings, k) for k in _CELL_KEYS}
    return [{**common, "estimator": o[0], "num_particles": o[1], "arch": o[2] if len(o) > 2 else "vae", "seed": seed}
            for o in settings.objectives for seed in seeds]


def run_cell(config: dict, context) -> dict:
    """Train both for ``epochs`` epochs, interleaved, then time alternating blocks of steps."""
    import zoo

    args = SimpleNamespace(**config)
    ds = zoo.data.load(args.dataset, context.data_root, binarize=args.binarize, seed=args.seed)
    train, test = ds.train[: args.train_size], ds.test[: args.test_size]
    vae, ref = _models(args, tuple(train.shape[1:]))
    opt = torch.optim.Adam(ref.parameters(), lr=args.lr)
    noise = torch.Generator().manual_seed(args.seed)
    flat_train, flat_test = train.reshape(train.shape[0], -1), test.reshape(test.shape[0], -1)
    rows = {"zoo": [], "torch": []}
    with tempfile.TemporaryDirectory() as run_dir, context.bar(args.epochs + 1, f"{args.estimator} K="
                                                                f"{args.num_particles} seed {args.seed}") as bar:
        for epoch in range(1, args.epochs + 1):
            jobs = [("zoo", lambda epoch=epoch: _zoo_epoch(vae, train, test, epoch, run_dir, args)),
                    ("torch", lambda epoch=epoch: _ref_epoch(ref, opt, flat_train, flat_test, epoch, noise, args))]
            for name, job in jobs if epoch % 2 else reversed(jobs):
                rows[name].append(job())
            bar.update(1)
        result = _summarize(rows)
        if args.step_rounds:
            steps = step_ratios(vae, ref, train[: 20 * args.batch_size], args, rounds=args.step_rounds)
            result["step_time_ratio"] = {"median": statistics.median(steps["ratios"]), "ratios": steps["ratios"]}
            result["step_ms"] = {name: statistics.median(v) for name, v in steps["step_ms"].items()}
        bar.update(1)
    return result


def _models(args, data_shape):
    """zoo's model and its hand-written twin (``arch``: ``vae``, or ``hvae`` at its default sizes,
    scaled down with the smoke profile's network)."""
    import zoo

    torch.manual_seed(args.seed)
    small = args.hidden != _SETUP["hidden"]
    if getattr(args, "arch", "vae") == "sbn":  # SBN 200, or 16 units with the smoke profile's network
        vae = zoo.build("sbn", data_shape=data_shape, layers=(16,) if small else (200,))
        torch.manual_seed(args.seed)
        return vae, TorchSBN(math.prod(data_shape), vae.latent_dims[0])
    if getattr(args, "arch", "vae") == "hvae":
        sizes = dict(latent_dims=(8, 4), hidden=(32, 16)) if small else {}
        vae = zoo.build("hvae", data_shape=data_shape, **sizes)
        torch.manual_seed(args.seed)
        return vae, TorchHVAE(math.prod(data_shape), vae.latent_dims, vae.config["hidden"], vae.config["depth"])
    vae = zoo.build("vae", data_shape=data_shape, hidden=tuple(args.hidden), latent_dim=args.latent_dim)
    torch.manual_seed(args.seed)
    return vae, TorchVAE(math.prod(data_shape), args.hidden, args.latent_dim, analytic_kl=args.estimator == "elbo-kl")


def _summarize(rows: dict) -> dict:
    med = {k: statistics.median(r["train_time_s"] for r in v) for k, v in rows.items()}
    final = {k: -v[-1]["test_elbo"] for k, v in rows.items()}
    return {
        "final_test_neg_elbo": final,
        "neg_elbo_difference": final["zoo"] - final["torch"],
        "median_epoch_time_s": med,
        "time_ratio": med["zoo"] / med["torch"],
        "paired_epoch_ratio_median": statistics.median(
            z["train_time_s"] / t["train_time_s"] for z, t in zip(rows["zoo"], rows["torch"])),
        "epochs": rows,
    }


def _quartiles(record: dict) -> str:
    r = sorted(record["result"].get("step_time_ratio", {}).get("ratios", []))
    return f"{r[len(r) // 4]:.3f}–{r[3 * len(r) // 4]:.3f}" if r else DASH


def report(records: list, settings: dict, out: Path):
    """The table of ratios (mean ± std over seeds) and the per-seed step-time quartiles."""
    rows = []
    for g in rep.by_cell(records):
        c = g[0]["config"]
        rows.append([c.get("arch", "vae"), c["estimator"], c["num_particles"],
                     rep.aggregate(g, lambda r: r["final_test_neg_elbo"]["zoo"]),
                     rep.aggregate(g, lambda r: r["final_test_neg_elbo"]["torch"]),
                     rep.aggregate(g, lambda r: r["median_epoch_time_s"]["zoo"], ".3f"),
                     rep.aggregate(g, lambda r: r["median_epoch_time_s"]["torch"], ".3f"),
                     rep.aggregate(g, lambda r: r["time_ratio"], ".3f"),
                     rep.aggregate(g, lambda r: r.get("step_time_ratio", {}).get("median"), ".3f"),
                     ", ".join(_quartiles(r) for r in g),
                     *(rep.aggregate(g, lambda r, k=k: r.get("step_ms", {}).get(k), ".2f")
                       for k in ("zoo", "torch", "floor"))])
    c = records[0]["config"]
    text = rep.header("Overhead: zoo.fit (Pyro SVI) vs hand-written PyTorch", settings, records) + (
        f"{c['dataset']}, {c['train_size'] or 'all'} training / {c['test_size'] or 'all'} test images, "
        f"vae 784-{'-'.join(map(str, c['hidden']))}-{c['latent_dim']} tanh (hvae: Burda et al.'s two-layer network, "
        "the defaults of zoo.build('hvae'); sbn: one layer of 200 binary units, affine, trained with VIMCO), "
        f"Adam {c['lr']}, batch {c['batch_size']}, "
        f"{c['epochs']} epochs of each, interleaved in one process (alternating which goes first), same seed and "
        "batch order. Epoch ratio: zoo / torch median training time of an epoch; step ratio: median over "
        f"{c['step_rounds']} rounds of alternating blocks of up to 20 steps (quartiles per seed). "
        "Targets: ratios ≤ 1.05 (vae), ≤ 1.10 (hvae, sbn). Step ms: median time of a step in those rounds for zoo, "
        "the hand-written step, and the GEMM floor of the vae (the same matrix products, forward and backward, "
        "and nothing else).\n\n"
        + rep.table(["model", "estimator", "K", "zoo test −ELBO", "torch test −ELBO", "zoo s / epoch",
                     "torch s / epoch", "epoch ratio", "step ratio", "step ratio quartiles", "zoo ms / step",
                     "torch ms / step",
                     "GEMM floor ms / step"], rows))
    return text, []
