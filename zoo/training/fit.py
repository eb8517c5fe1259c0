r"""Training with ``pyro.infer.SVI``: minibatches, per-epoch history, atomic checkpoints, resume.

The run directory holds ``checkpoint.pt`` (model, optimizer, RNG states, epoch, history),
``history.json`` and ``config.json``. A run resumed from its checkpoint reaches the same
parameters as an uninterrupted run with the same seed: batch order and dynamic binarization
are drawn from generators seeded by ``(seed, epoch)``, and the global RNG state that the
estimators sample from is saved at every epoch end.
"""
import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import torch
import pyro
from pyro.infer import SVI
from tqdm.auto import tqdm

from zoo import estimators
from zoo._utils.checks import positive_float, positive_int
from zoo.data.core import binarize as binarize_data
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.likelihoods import freeze_options
from zoo.training.optim import OPTIMIZERS, module_optim

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"


@dataclass(frozen=True)
class FitConfig:
    """Everything that determines a training run's numbers (checked again on resume)."""

    estimator: str = "elbo"
    num_particles: int = 1
    estimator_options: Tuple[Tuple[str, Any], ...] = ()
    batch_size: int = 100
    lr: float = 1e-3
    optimizer: str = "adam"
    seed: int = 0
    binarize: Optional[str] = None

    def __post_init__(self):
        object.__setattr__(self, "estimator_options", freeze_options(self.estimator_options, "estimator_options"))
        self.make_estimator()  # validates the name and the options
        positive_int("batch_size", self.batch_size)
        positive_float("lr", self.lr)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(sorted(OPTIMIZERS))}")
        if self.binarize not in (None, "dynamic"):
            raise ValueError(
                f"binarize must be None or 'dynamic' during training, got {self.binarize!r} "
                "(static and threshold binarization belong to zoo.data.load)"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__}")

    def make_estimator(self):
        """The estimator by name, e.g. ``iwae-dreg`` with ``num_particles``, or ``renyi`` with
        ``estimator_options={"alpha": 0.5}``."""
        return estimators.get(self.estimator, num_particles=self.num_particles, **dict(self.estimator_options))


def fit(
    vae,
    train: torch.Tensor,
    *,
    epochs: int = 10,
    test: Optional[torch.Tensor] = None,
    out_dir=None,
    resume: bool = False,
    progress: bool = True,
    eval_batch_size: int = 1000,
    before_epoch: Optional[Callable[[int], Optional[dict]]] = None,
    **config,
) -> List[dict]:
    """Train ``vae`` with ``pyro.infer.SVI`` and return the per-epoch history.

    Args:
        vae: a model with ``model(x)``/``guide(x)`` (e.g. from ``zoo.build``).
        train: training data ``(N, *data_shape)``.
        epochs: total number of epochs (with ``resume``, including those already done).
        test: optional held-out data, evaluated at every epoch end.
        out_dir: run directory for checkpoints and history (``None``: keep nothing).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists.
        progress: show tqdm bars.
        eval_batch_size: batch size of the end-of-epoch evaluation.
        before_epoch: called with the epoch number (from 1) before the epoch trains, e.g. to
            set a KL weight (``zoo.models.seq_vae.KLWarmup``); a dict it returns joins that epoch's
            record. Not saved: a resumed run needs the same function (a function of the epoch
            alone resumes exactly).
        **config: fields of :class:`FitConfig` (estimator, num_particles, batch_size, lr,
            optimizer, seed, binarize).

    Returns:
        One record per epoch: ``epoch``, ``loss`` (the training objective per datapoint,
        averaged over the epoch), ``train_elbo``, ``train_kl``, ``test_elbo``, ``test_kl``
        (nats per datapoint), ``train_time_s`` and ``eval_time_s``.
    """
    cfg = FitConfig(**config)
    positive_int("epochs", epochs)
    _check_data(vae, train, "train", cfg.binarize)
    if test is not None:
        _check_data(vae, test, "test", cfg.binarize)
    out = Path(out_dir) if out_dir is not None else None
    optim = module_optim(cfg.optimizer, vae, lr=cfg.lr)
    svi = SVI(vae.model, vae.guide, optim, cfg.make_estimator())
    history = _restore(vae, optim, cfg, out) if resume else []
    if not history:
        pyro.set_rng_seed(cfg.seed)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", {"model": vae.config, "fit": asdict(cfg)})
    # Data are checked once above; per-step support checks would only repeat that work.
    with pyro.validation_enabled(False):
        for epoch in range(len(history) + 1, epochs + 1):
            extra = before_epoch(epoch) if before_epoch is not None else None
            record = _run_epoch(svi, vae, train, test, epoch, cfg, progress, eval_batch_size)
            record.update(extra or {})
            history.append(record)
            if out is not None:
                _save(out, vae, optim, cfg, history)
    return history


def _run_epoch(svi, vae, train, test, epoch, cfg, progress, eval_batch_size) -> dict:
    gen = epoch_generator(cfg.seed, epoch)
    data = binarize_data(train, "dynamic", gen) if cfg.binarize == "dynamic" else train
    order = torch.randperm(data.shape[0], generator=gen)
    n_batches = -(-data.shape[0] // cfg.batch_size)
    vae.train()
    start, total = time.perf_counter(), 0.0
    bar = tqdm(range(n_batches), desc=f"epoch {epoch}", disable=not progress, leave=False)
    for b in bar:
        total += svi.step(data[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]])
        if b % 20 == 0:
            bar.set_postfix(loss=f"{total / min((b + 1) * cfg.batch_size, data.shape[0]):.2f}")
    train_time = time.perf_counter() - start
    record = {"epoch": epoch, "loss": total / data.shape[0], "train_time_s": train_time}
    start = time.perf_counter()
    # Evaluation draws from its own seeded RNG so it neither perturbs nor depends on training noise.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_epoch_seed(cfg.seed, epoch) + 1)
        for split, x in (("train", data), ("test", test)):
            if x is not None:
                x = binarize_data(x, "dynamic", gen) if cfg.binarize == "dynamic" and split == "test" else x
                for k, v in elbo_and_kl(vae, x, eval_batch_size).items():
                    record[f"{split}_{k}"] = v
    record["eval_time_s"] = time.perf_counter() - start
    summary = ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "epoch")
    if progress:
        tqdm.write(f"epoch {epoch}: {summary}")
    return record


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that draws an epoch's batch order (then its dynamic binarization)."""
    return torch.Generator().manual_seed(_epoch_seed(seed, epoch))


def _check_data(vae, x, name: str, binarize: Optional[str]) -> None:
    # Whatever the global validation flag: this one check stands in for all per-step checks.
    with pyro.validation_enabled(True):
        vae.check_input(x, name) if binarize is None else _check_probabilities(vae, x, name)


def _check_probabilities(vae, x, name: str) -> None:
    with pyro.validation_enabled(False):
        vae.check_input(x, name)
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError(f"{name} must hold intensities in [0, 1] for dynamic binarization")


# ---- checkpoints -------------------------------------------------------------------------


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_json(path: Path, obj) -> None:
    _atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2)))


def _save(out: Path, vae, optim, cfg: FitConfig, history: List[dict]) -> None:
    state = {
        "format": 1,
        "model_config": vae.config,
        "fit_config": asdict(cfg),
        "epoch": len(history),
        "model": vae.state_dict(),
        "optim": optim.get_state(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()},
        "history": history,
    }
    _atomic(out / CHECKPOINT, lambda p: torch.save(state, p))
    _write_json(out / HISTORY, history)


def _restore(vae, optim, cfg: FitConfig, out: Optional[Path]) -> List[dict]:
    if out is None:
        raise ValueError("resume=True needs out_dir")
    path = out / CHECKPOINT
    if not path.exists():
        tqdm.write(f"no checkpoint at {path}; starting from epoch 1")
        return []
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["fit_config"] != asdict(cfg):
        raise ValueError(f"cannot resume {out}: it was trained with {state['fit_config']}, not {asdict(cfg)}")
    if state["model_config"] != vae.config:
        raise ValueError(f"cannot resume {out}: its model is {state['model_config']}, not {vae.config}")
    vae.load_state_dict(state["model"])
    optim.set_state(state["optim"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    return list(state["history"])


def load(out_dir):
    """The trained model of a run directory, in eval mode."""
    from zoo.models.factory import build

    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: is {out_dir} a training run directory?")
    state = torch.load(path, map_location="cpu", weights_only=False)
    config = dict(state["model_config"])
    vae = build(config.pop("model"), **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    vae.load_state_dict(state["model"])
    return vae.eval()
