"""Experiment logging for ``zoo.fit``: TensorBoard scalars and image grids, one event per epoch.

``zoo.fit(..., logger="tensorboard")`` (``vaezoo train --logger tensorboard``) writes to
``OUT_DIR/tensorboard``; watch it with ``tensorboard --logdir runs``. Any object with
``start(first_epoch)``, ``log_epoch(record, vae, epoch)`` and ``close()`` is a logger too.

Per epoch (step = the epoch number): every number of the history record that is a bound or
a rate (``loss``, ``train_elbo``, ``train_kl``, ``test_elbo``, ``test_kl``, ``lr``, and the
times), as ``train/loss``, ``test/elbo``, ...; and for image models a grid of samples from the
prior and one of test reconstructions (inputs in the top row). A resumed run purges the
events from the first epoch it trains again, so the event file matches ``history.json``.
Only rank 0 of a distributed run logs (``zoo.fit`` calls the logger there only).
"""
import importlib.util
from pathlib import Path
from typing import Optional

import torch

from zoo._utils.contexts import seeded

LOGGERS = ("none", "tensorboard")
TENSORBOARD_DIR = "tensorboard"


def tag(key: str) -> str:
    """A history key as a TensorBoard tag: ``test_elbo`` -> ``test/elbo``, ``lr`` -> ``train/lr``."""
    split, _, name = key.partition("_")
    if split in ("train", "test") and name:
        return f"{split}/{name}"
    return f"train/{key}"


class TensorBoardLogger:
    """Scalars and image grids through ``torch.utils.tensorboard.SummaryWriter``.

    Args:
        log_dir: the event files' folder.
        images: inputs whose reconstructions are drawn (``None``: no reconstructions).
        num_samples: samples from the prior per grid (0: none).
        seed: seeds the draws of the figures (they do not touch the training noise).
    """

    def __init__(self, log_dir, images: Optional[torch.Tensor] = None, num_samples: int = 16, seed: int = 0):
        if importlib.util.find_spec("tensorboard") is None:  # an optional extra
            raise ImportError("logger='tensorboard' needs tensorboard: pip install -e '.[tensorboard]'")
        self.log_dir, self.images, self.num_samples, self.seed = Path(log_dir), images, num_samples, seed
        self.writer = None

    def start(self, first_epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: events from an earlier attempt at these epochs (a resume, an overwrite) are dropped
        self.writer = SummaryWriter(str(self.log_dir), purge_step=first_epoch)

    def log_epoch(self, record: dict, vae, epoch: int) -> None:
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag(key), value, epoch)
        if len(getattr(vae, "data_shape", ())) == 3:  # (C, H, W): image grids
            self._images(vae, epoch)
        self.writer.flush()

    def _images(self, vae, epoch: int) -> None:
        from torchvision.utils import make_grid

        was_training = vae.training
        vae.eval()
        with seeded(self.seed, next(vae.parameters()).device), torch.no_grad():
            if self.num_samples and hasattr(vae, "sample"):
                grid = make_grid(vae.sample(self.num_samples).clamp(0, 1).cpu(), nrow=8)
                self.writer.add_image("samples", grid, epoch)
            if self.images is not None and hasattr(vae, "reconstruct"):
                x = self.images.to(next(vae.parameters()).device)
                pairs = torch.cat([x, vae.reconstruct(x, 1)[0]]).clamp(0, 1).cpu()
                self.writer.add_image("reconstructions", make_grid(pairs, nrow=len(x)), epoch)
        vae.train(was_training)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def make_logger(logger, out_dir, test: Optional[torch.Tensor], seed: int):
    """``None``/``"none"`` -> None; ``"tensorboard"`` -> a :class:`TensorBoardLogger` in
    ``out_dir/tensorboard`` (reconstructing the first 8 test inputs); an object -> itself."""
    if logger is None or logger == "none":
        return None
    if isinstance(logger, str):
        if logger != "tensorboard":
            raise ValueError(f"logger: unknown value {logger!r}; choose from {', '.join(LOGGERS)}, or pass an object "
                             "with start, log_epoch and close")
        if out_dir is None:
            raise ValueError("logger='tensorboard' writes into the run directory: pass out_dir")
        return TensorBoardLogger(Path(out_dir) / TENSORBOARD_DIR, None if test is None else test[:8], seed=seed)
    missing = [m for m in ("start", "log_epoch", "close") if not callable(getattr(logger, m, None))]
    if missing:
        raise TypeError(f"logger must be 'tensorboard', None or an object with start, log_epoch and close; "
                        f"{type(logger).__name__} lacks {', '.join(missing)}")
    return logger
