"""A run's checkpoint: everything a resumed run needs to continue with the same numbers.

``checkpoint.pt`` holds the model's, the estimator's (for estimators with state, e.g. the
score function's running baseline) and the optimizer's ``state_dict``, the configs, the epoch
and the history: tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)`` and a checkpoint carrying anything else (code to run) is
refused before any of it runs. The random draws of an epoch depend only on ``(seed, epoch)``
(``zoo.training.fit``), so no RNG state is stored.

Every file is written atomically; the checkpoint it replaces is kept as ``checkpoint.prev.pt``,
and a run whose ``checkpoint.pt`` cannot be used (missing, damaged, not a checkpoint, holding
code) is resumed or loaded from that one, saying so; where neither can be used, one line says
why. The file names are those of :mod:`zoo.training.run`, which owns the run directory.
"""
import os
import pickle
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

import torch
from tqdm.auto import tqdm

from zoo._utils.io import atomic_write, write_json
from zoo.models import from_config
from zoo.training.run import CHECKPOINT, CONFIG, HISTORY, PREVIOUS, refuse_changes

FORMAT = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: damaged, of an old format, or holding unsafe objects."""


class DamagedCheckpoint(CheckpointError):
    """A checkpoint file that is truncated or not a checkpoint at all."""


def save(out: Path, vae, estimator, optimizer, cfg, history: List[dict], world_size: int = 1) -> None:
    """Write ``checkpoint.pt`` (the one before becomes ``checkpoint.prev.pt``) and ``history.json``."""
    state = {
        "format": FORMAT,
        "model_config": vae.config,
        "fit_config": asdict(cfg),
        "epoch": len(history),
        "model": vae.state_dict(),
        "estimator": estimator.state_dict() if isinstance(estimator, torch.nn.Module) else {},
        "optim": optimizer.state_dict(),
        "history": history,
        "world_size": world_size,
    }

    def write(tmp: Path) -> None:
        torch.save(state, tmp)
        if (out / CHECKPOINT).exists():  # the new one is complete on disk: keep the old one as prev
            os.replace(out / CHECKPOINT, out / PREVIOUS)

    atomic_write(out / CHECKPOINT, write)
    write_json(out / HISTORY, history)


def read(path: Path) -> dict:
    """The checkpoint at ``path`` on the CPU, loaded with ``weights_only=True``.

    Raises:
        DamagedCheckpoint: the file is truncated, or not a checkpoint at all (torch writes zip
            archives: anything else is refused before it is unpickled).
        CheckpointError: it holds objects that could run code (refused, nothing of it run), or
            is of another format.
    """
    path = Path(path)
    fix = f"resume from {PREVIOUS} if it is there, or start again with --overwrite"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not zipfile.is_zipfile(path):
        raise DamagedCheckpoint(f"{path} is damaged or not a checkpoint (not a torch archive); {fix}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "GLOBAL" not in str(e):  # weights_only names the global it refuses; anything else is damage
            raise DamagedCheckpoint(f"{path} is damaged ({_last_line(e)}); {fix}") from None
        if "numpy" in str(e):
            raise CheckpointError(f"{path} was written by an older pyro-vae-zoo (format 1: it stores NumPy RNG "
                                  "state, which cannot be loaded safely); retrain it") from None
        raise CheckpointError(f"{path} holds objects other than tensors and plain values, which could run code "
                              "when loaded; refused (nothing in it was run)") from None
    except Exception as e:  # a damaged archive: zip, pickle and storage errors of every kind
        raise DamagedCheckpoint(f"{path} is damaged ({_last_line(e)}); {fix}") from None
    if not isinstance(state, dict) or "format" not in state:
        raise DamagedCheckpoint(f"{path} is not a pyro-vae-zoo checkpoint (no format field); {fix}")
    if state["format"] != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {state['format']!r}; this pyro-vae-zoo reads format "
                              f"{FORMAT}")
    return state


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:120]


def restore(out: Optional[Path], vae, estimator, optimizer, cfg, world_size: int = 1) -> List[dict]:
    """Load the run in ``out`` into ``vae``, ``estimator`` and ``optimizer``; its history, or
    ``[]`` if ``out`` holds no checkpoint yet. Refuses a run of another model or config, naming
    the fields that differ."""
    if out is None:
        raise ValueError("resume=True needs out_dir")
    out = Path(out)
    state = _latest(out, "resuming")
    if state is None:
        tqdm.write(f"no checkpoint at {out / CHECKPOINT}; starting from epoch 1", file=sys.stderr)
        return []
    refuse_changes(f"cannot resume {out}", "fit", state["fit_config"], asdict(cfg))
    refuse_changes(f"cannot resume {out}", "model", state["model_config"], vae.config)
    refuse_changes(f"cannot resume {out}", "process", {"world_size": state.get("world_size", 1)},
                   {"world_size": world_size})
    vae.load_state_dict(state["model"])
    if isinstance(estimator, torch.nn.Module):
        estimator.load_state_dict(state["estimator"])
    optimizer.load_state_dict(state["optim"])
    return list(state["history"])


def _latest(out: Path, action: str) -> Optional[dict]:
    """The state of ``checkpoint.pt``; if it is missing or cannot be used, that of
    ``checkpoint.prev.pt``, saying so (``action``: "resuming", "loading"); None if neither
    exists. Where neither can be used, the first one's error."""
    current, previous = out / CHECKPOINT, out / PREVIOUS
    if not current.exists():
        return read(previous) if previous.exists() else None
    try:
        return read(current)
    except CheckpointError as error:
        if not previous.exists():
            raise
        try:
            state = read(previous)
        except CheckpointError:
            raise error from None
        tqdm.write(f"{current} cannot be used ({str(error).split('; ')[0].removeprefix(str(current) + ' ')}); "
                   f"{action} from {previous} (epoch {state['epoch']})", file=sys.stderr)
        return state


def write_config(out: Path, vae, cfg, world_size: int = 1) -> None:
    write_json(out / CONFIG, {"model": vae.config, "fit": asdict(cfg), "world_size": world_size})


def load(out_dir, action: str = "loading"):
    """The trained model of a run directory, in eval mode (refused if its parameters are not finite)."""
    out = Path(out_dir)
    state = _latest(out, action) if out.is_dir() else None
    if state is None:
        raise FileNotFoundError(f"no checkpoint at {out / CHECKPOINT}: is {out_dir} a training run directory?")
    vae = from_config(state["model_config"])
    vae.load_state_dict(state["model"])
    bad = [name for name, t in vae.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{out / CHECKPOINT} holds non-finite values in {', '.join(bad[:3])}"
                              f"{' ...' if len(bad) > 3 else ''}: the run diverged; retrain with a lower --lr")
    return vae.eval()


__all__ = ["FORMAT", "CheckpointError", "DamagedCheckpoint", "load", "read", "restore", "save", "write_config"]
