r"""Training: a torch optimizer on the estimator's ``differentiable_loss``, minibatches, per-epoch
history, atomic checkpoints, exact resume.

One step is the hand-written PyTorch loop, on Pyro's module route (``pyro.infer.ELBOModule``):

    loss = estimator.differentiable_loss(vae.model, vae.guide, x_batch)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

under ``pyro.settings.context(module_local_params=True)``, so training never touches Pyro's
global param store: the optimizer holds the model's parameters (and those of an estimator
with a network, e.g. the score function's learned baseline) directly.

Every random draw of epoch e is a function of ``(seed, e)``: the batch order and dynamic
binarization come from a generator seeded by them, and the estimator's particles from torch's
global RNG seeded by them for the epoch (the state from before is restored after it). So a
run resumed from its checkpoint (model, estimator and optimizer state) reaches the same
parameters as an uninterrupted one, and runs interleaved in one process do not disturb each other.
"""
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import pyro
import torch
from tqdm.auto import tqdm

from zoo import estimators
from zoo._utils.checks import positive_float, positive_int
from zoo._utils.contexts import seeded
from zoo._utils.devices import check_device
from zoo._utils.options import freeze_options
from zoo.data import binarize as binarize_data
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.training import checkpoint, distributed, loggers
from zoo.training.checks import TrainingDiverged, as_model_data, check_finite
from zoo.training.optim import OPTIMIZERS, make_optimizer
from zoo.training.run import Run


@dataclass(frozen=True)
class FitConfig:
    """Everything that determines a training run's numbers (checked again on resume).

    The estimator's name and option names are checked here; its option values when
    :meth:`make_estimator` builds it (``zoo.fit`` does, once, before it writes anything).
    """

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
        estimators.check(self.estimator, num_particles=self.num_particles, **dict(self.estimator_options))
        positive_int("num_particles", self.num_particles)
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

    def make_estimator(self, data_shape: Optional[Tuple[int, ...]] = None):
        """The estimator by name, e.g. ``iwae-dreg`` with ``num_particles``, or ``renyi`` with
        ``estimator_options={"alpha": 0.5}``; ``data_shape`` goes to estimators that build a
        network on the data (the score function's learned baseline)."""
        return estimators.get(self.estimator, num_particles=self.num_particles, data_shape=data_shape,
                              **dict(self.estimator_options))


def fit(
    vae,
    train: torch.Tensor,
    *,
    epochs: int = 10,
    test: Optional[torch.Tensor] = None,
    out_dir=None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    eval_batch_size: int = 1000,
    before_epoch: Optional[Callable[[int], Optional[dict]]] = None,
    device="cpu",
    logger=None,
    **config,
) -> List[dict]:
    """Train ``vae`` and return the per-epoch history.

    Args:
        vae: a model with ``model(x)``/``guide(x)`` (e.g. from ``zoo.build``).
        train: training data ``(N, *data_shape)``.
        epochs: total number of epochs (with ``resume``, including those already done).
        test: optional held-out data, evaluated at every epoch end.
        out_dir: the run directory (a path, or a :class:`~zoo.training.Run`, e.g. one that records
            the data) for checkpoints and history; ``None``: keep nothing. Its lock is held while
            training: a second process writing the same run is refused.
        resume: continue from ``out_dir/checkpoint.pt`` if it exists.
        overwrite: replace the run in ``out_dir``; without it (or ``resume``) a directory that
            holds a run is refused.
        progress: show tqdm bars.
        eval_batch_size: batch size of the end-of-epoch evaluation.
        before_epoch: called with the epoch number (from 1) before the epoch trains, e.g. to
            set a KL weight (``zoo.models.seq_vae.KLWarmup``); a dict it returns joins that epoch's
            record. Not saved: a resumed run needs the same function (a function of the epoch
            alone resumes exactly).
        device: ``cpu``, ``cuda`` or ``cuda:N``: the model, the estimator and the data (kept
            resident there) move to it; refused if torch sees no CUDA device. A seed gives the
            same numbers on a re-run on the same device.
        logger: ``"tensorboard"`` (events in ``out_dir/tensorboard``, ``zoo.training.loggers``),
            ``None``, or an object with ``start``, ``log_epoch`` and ``close``.
        **config: fields of :class:`FitConfig` (estimator, num_particles, batch_size, lr,
            optimizer, seed, binarize).

    Returns:
        One record per epoch: ``epoch``, ``loss`` (the training objective per datapoint,
        averaged over the epoch), ``train_elbo``, ``train_kl``, ``test_elbo``, ``test_kl``
        (nats per datapoint), ``lr``, ``train_time_s`` and ``eval_time_s``.

    Raises:
        TrainingDiverged: at the first non-finite loss or parameter; the checkpoint of the last
            good epoch (``last_good_epoch``) stays in ``out_dir``.
        zoo.training.RunInUse: another process holds ``out_dir``.

    Everything is checked (arguments, data, the estimator's options, the run directory) before
    anything in ``out_dir`` changes. Data are cast to the model's floating dtype (float64 data
    for a float32 model, say) and must be non-empty, finite and of the model's ``data_shape``.
    """
    cfg = FitConfig(**config)
    positive_int("epochs", epochs)
    device = check_device(device)
    if resume and out_dir is None:
        raise ValueError("resume=True needs out_dir")
    world = distributed.setup(device)
    run = out_dir if out_dir is None or isinstance(out_dir, Run) else Run(out_dir)
    with run.writing(world.main) if run is not None else contextlib.nullcontext():
        train = as_model_data(vae, train, "train", cfg.binarize)
        test = None if test is None else as_model_data(vae, test, "test", cfg.binarize)
        estimator = cfg.make_estimator(tuple(vae.data_shape))  # the run's one estimator: bad options refused here
        probe = train[:2].round() if cfg.binarize == "dynamic" else train[:2]
        with pyro.validation_enabled(False):  # and a model/guide pair it cannot handle (checked data)
            estimators.validate(estimator, vae.model, vae.guide, probe)
        log = loggers.make_logger(logger, None if run is None else run.path, test, cfg.seed)
        if run is not None and world.main:  # rank 0 checks and prepares; under torchrun a refusal stops every rank
            run.prepare(resume, overwrite)
        return _train(vae, estimator, train, test, epochs, cfg, run, resume, progress, eval_batch_size, before_epoch,
                      distributed.device_for(device, world), log if world.main else None, world)


def _train(vae, estimator, train, test, epochs, cfg, run, resume, progress, eval_batch_size, before_epoch, device,
           log, world) -> List[dict]:
    vae.to(device)
    if isinstance(estimator, torch.nn.Module):
        estimator.to(device)
    train, test = train.to(device), None if test is None else test.to(device)
    optimizer = make_optimizer(cfg.optimizer, trainable_parameters(vae, estimator), lr=cfg.lr)
    out = None if run is None else run.path
    history = checkpoint.restore(out, vae, estimator, optimizer, cfg, world.size) if resume else []
    world.barrier()  # every rank has read the run before rank 0 writes to it
    writes = out is not None and world.main
    if writes:
        checkpoint.write_config(out, vae, cfg, world.size)
    ddp = distributed.wrap(vae, estimator, world)  # after the restore: DDP broadcasts rank 0's state
    if log is not None:
        log.start(len(history) + 1)
    # Data are checked once above; per-step support checks would only repeat that work.
    with pyro.validation_enabled(False), pyro.settings.context(module_local_params=True), \
            contextlib.closing(log) if log is not None else contextlib.nullcontext():
        for epoch in range(len(history) + 1, epochs + 1):
            extra = before_epoch(epoch) if before_epoch is not None else None
            try:
                record = _run_epoch(vae, estimator, optimizer, train, test, epoch, cfg, progress and world.main,
                                    eval_batch_size, world, ddp)
            except TrainingDiverged as e:
                e.last_good_epoch = len(history)
                raise
            check_finite(vae, estimator, epoch)
            record.update(extra or {})
            history.append(record)
            if writes:
                checkpoint.save(out, vae, estimator, optimizer, cfg, history, world.size)
            if log is not None:
                log.log_epoch(record, vae, epoch)
    return history


def trainable_parameters(vae, estimator) -> List[torch.Tensor]:
    """The model's parameters, then those of an estimator with a network (no duplicates)."""
    params = list(vae.parameters())
    if isinstance(estimator, torch.nn.Module):
        seen = {id(p) for p in params}
        params += [p for p in estimator.parameters() if id(p) not in seen]
    return params


def _run_epoch(vae, estimator, optimizer, train, test, epoch, cfg, progress, eval_batch_size,
               world: distributed.World = distributed.World(), ddp=None) -> dict:
    gen = epoch_generator(cfg.seed, epoch)
    data = binarize_data(train, "dynamic", gen) if cfg.binarize == "dynamic" else train
    start = time.perf_counter()
    with seeded(_epoch_seed(cfg.seed, epoch) + 2 + distributed.RANK_SEED_STRIDE * world.rank, data.device):
        total = train_epoch(vae, estimator, optimizer, data, cfg.batch_size, gen, f"epoch {epoch}", progress,
                            world, ddp)
    record = {"epoch": epoch, "loss": total / data.shape[0], "lr": optimizer.param_groups[0]["lr"],
              "train_time_s": time.perf_counter() - start}
    start = time.perf_counter()
    # Evaluation draws from its own seeded RNG so it neither perturbs nor depends on training noise.
    with seeded(_epoch_seed(cfg.seed, epoch) + 1, data.device):
        for split, x in (("train", data), ("test", test)):
            if x is not None:
                x = binarize_data(x, "dynamic", gen) if cfg.binarize == "dynamic" and split == "test" else x
                for k, v in elbo_and_kl(vae, x, eval_batch_size).items():
                    record[f"{split}_{k}"] = v
    record["eval_time_s"] = time.perf_counter() - start
    if progress:
        tqdm.write(f"epoch {epoch}: " + ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "epoch"))
    return record


def train_epoch(vae, estimator, optimizer, data, batch_size: int, gen: torch.Generator, desc: str = "",
                progress: bool = False, world: distributed.World = distributed.World(), ddp=None) -> float:
    """One pass over ``data`` in the order ``randperm(N, generator=gen)``; the summed loss.

    Under DDP (``world``, ``ddp``) every rank steps on its shard of each global batch; a final
    batch with fewer examples than ranks is skipped by all of them.
    """
    order = torch.randperm(data.shape[0], generator=gen)
    n_batches = -(-data.shape[0] // batch_size)
    vae.train()
    if isinstance(estimator, torch.nn.Module):
        estimator.train()
    total = torch.zeros((), dtype=torch.float64, device=data.device)
    bar = tqdm(range(n_batches), desc=desc, disable=not progress, leave=False)
    for b in bar:
        batch = data[order[b * batch_size : (b + 1) * batch_size]]
        if batch.shape[0] < world.size:
            continue
        loss = step(vae, estimator, optimizer, world.shard(batch), ddp)
        if not torch.isfinite(loss):
            raise TrainingDiverged(desc, b + 1, f"the loss is {loss.item()}")
        total += loss
        if progress and b % 20 == 0:
            bar.set_postfix(loss=f"{total.item() * world.size / min((b + 1) * batch_size, data.shape[0]):.2f}")
    return world.sum(total).item()


def step(vae, estimator, optimizer, x: torch.Tensor, ddp=None) -> torch.Tensor:
    """One optimizer step on ``estimator.differentiable_loss(vae.model, vae.guide, x)`` with the
    parameters module-local (no param store); returns the loss, detached. With ``ddp`` (the
    DistributedDataParallel loss of ``zoo.training.distributed``) ``x`` is this rank's shard and
    the gradients are all-reduced."""
    optimizer.zero_grad(set_to_none=True)
    if ddp is not None:
        loss = ddp(x)
        loss.backward()
        loss = loss / ddp.module.scale
    else:
        with pyro.settings.context(module_local_params=True):
            loss = estimator.differentiable_loss(vae.model, vae.guide, x)
        loss.backward()
    optimizer.step()
    return loss.detach()


def _epoch_seed(seed: int, epoch: int) -> int:
    return (seed * 1_000_003 + epoch) % (2**63)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator that draws an epoch's batch order (then its dynamic binarization)."""
    return torch.Generator().manual_seed(_epoch_seed(seed, epoch))
