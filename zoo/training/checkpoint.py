"""A run's checkpoint: everything a resumed run needs to continue with the same numbers.

``checkpoint.pt`` holds the model's, the estimator's (for estimators with state, e.g. the
score function's running baseline) and the optimizer's ``state_dict``, the configs, the epoch
and the history: tensors and plain Python values only, so it loads with
``torch.load(weights_only=True)`` and a checkpoint carrying anything else (code to run) is
refused before any of it runs. The random draws of an epoch depend only on ``(seed, epoch)``
(``zoo.training.fit``), so no RNG state is stored.

Every file is written atomically; the checkpoint it replaces is kept as ``checkpoint.prev.pt``,
and a run whose ``checkpoint.pt`` is missing or damaged resumes from that one (saying so).
"""
import os
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

import torch
from tqdm.auto import tqdm

from zoo._utils.io import atomic_write, write_json
from zoo.models import build

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
HISTORY = "history.json"
CONFIG = "config.json"
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
        CheckpointError: one line saying what is wrong with the file and what to do.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "numpy" in str(e):
            raise CheckpointError(
                f"{path} was written by an older pyro-vae-zoo (format 1: it stores NumPy RNG state, which cannot "
                "be loaded safely); retrain it, or if you trust the file, convert it once with "
                "zoo.training.checkpoint.convert_legacy(path)") from None
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values, which could run code when loaded; "
            "refused (nothing in it was run)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise DamagedCheckpoint(f"{path} is damaged or not a checkpoint ({' '.join(str(e).split())[:120]}); "
                              f"resume from {PREVIOUS} if it is there, or start again with --overwrite") from None
    if not isinstance(state, dict) or "format" not in state:
        raise CheckpointError(f"{path} is not a pyro-vae-zoo checkpoint (no format field)")
    if state["format"] != FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {state['format']!r}; this pyro-vae-zoo reads format "
                              f"{FORMAT}")
    return state


def convert_legacy(path) -> Path:
    """Rewrite a format-1 checkpoint (with pickled RNG state) as format 2, in place.

    This unpickles the file with ``weights_only=False``: only for files you trust. The RNG state
    is dropped (format 2 needs none), so the run can be loaded and evaluated; resuming it does not
    reproduce the old run's later epochs.
    """
    path = Path(path)
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("format") != 1:
        raise CheckpointError(f"{path} is not a format-1 checkpoint (format {state.get('format')!r})")
    state = {k: v for k, v in state.items() if k != "rng"}
    state.update(format=FORMAT, estimator={})
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    return path


def restore(out: Optional[Path], vae, estimator, optimizer, cfg, world_size: int = 1) -> List[dict]:
    """Load the run in ``out`` into ``vae``, ``estimator`` and ``optimizer``; its history, or
    ``[]`` if ``out`` holds no checkpoint yet. Refuses a run of another model or config, naming
    the fields that differ."""
    if out is None:
        raise ValueError("resume=True needs out_dir")
    state = _latest(out)
    if state is None:
        tqdm.write(f"no checkpoint at {out / CHECKPOINT}; starting from epoch 1")
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


def _latest(out: Path) -> Optional[dict]:
    """The state of ``checkpoint.pt``, else (missing or damaged) of ``checkpoint.prev.pt``, else None."""
    current, previous = out / CHECKPOINT, out / PREVIOUS
    try:
        return read(current) if current.exists() else (read(previous) if previous.exists() else None)
    except DamagedCheckpoint:
        if not previous.exists():
            raise
        state = read(previous)
        tqdm.write(f"{current} is damaged; resuming from {previous} (epoch {state['epoch']})")
        return state


def refuse_changes(what: str, kind: str, saved: dict, new: dict) -> None:
    """``ValueError`` naming each field whose value differs between ``saved`` and ``new``."""
    keys = sorted(set(saved) | set(new))
    changed = [f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in keys if _normal(saved.get(k)) != _normal(new.get(k))]
    if changed:
        raise ValueError(f"{what}: its {kind} settings differ ({'; '.join(changed)}); use another --out, or "
                         "--overwrite to replace it")


def _normal(value):
    """Lists and tuples alike (JSON turns tuples into lists)."""
    return [_normal(v) for v in value] if isinstance(value, (list, tuple)) else value


def write_config(out: Path, vae, cfg, world_size: int = 1) -> None:
    write_json(out / CONFIG, {"model": vae.config, "fit": asdict(cfg), "world_size": world_size})


def load(out_dir):
    """The trained model of a run directory, in eval mode (refused if its parameters are not finite)."""
    out = Path(out_dir)
    state = _latest(out) if out.is_dir() else None
    if state is None:
        raise FileNotFoundError(f"no checkpoint at {out / CHECKPOINT}: is {out_dir} a training run directory?")
    config = dict(state["model_config"])
    vae = build(config.pop("model"), **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    vae.load_state_dict(state["model"])
    bad = [name for name, t in vae.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise CheckpointError(f"{out / CHECKPOINT} holds non-finite values in {', '.join(bad[:3])}"
                              f"{' ...' if len(bad) > 3 else ''}: the run diverged; retrain with a lower --lr")
    return vae.eval()


__all__ = ["CHECKPOINT", "CONFIG", "FORMAT", "HISTORY", "PREVIOUS", "CheckpointError", "DamagedCheckpoint", "convert_legacy", "load",
           "read", "restore", "save"]
