"""A run's checkpoint: everything a resumed run needs to continue with the same numbers.

``checkpoint.pt`` holds the model's, the estimator's (for estimators with state, e.g. the
score function's running baseline) and the optimizer's ``state_dict``, the configs, the epoch
and the history. The random draws of an epoch depend only on ``(seed, epoch)``
(``zoo.training.fit``), so no RNG state is stored. Every file is written atomically.
"""
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

import torch
from tqdm.auto import tqdm

from zoo._utils.io import torch_save, write_json
from zoo.models import build

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.json"
CONFIG = "config.json"
FORMAT = 2


def save(out: Path, vae, estimator, optimizer, cfg, history: List[dict]) -> None:
    """Write ``checkpoint.pt`` and ``history.json`` in ``out`` (atomically)."""
    state = {
        "format": FORMAT,
        "model_config": vae.config,
        "fit_config": asdict(cfg),
        "epoch": len(history),
        "model": vae.state_dict(),
        "estimator": estimator.state_dict() if isinstance(estimator, torch.nn.Module) else {},
        "optim": optimizer.state_dict(),
        "history": history,
    }
    torch_save(out / CHECKPOINT, state)
    write_json(out / HISTORY, history)


def read(path: Path) -> dict:
    """The checkpoint at ``path``, loaded on the CPU."""
    return torch.load(path, map_location="cpu", weights_only=False)


def restore(out: Optional[Path], vae, estimator, optimizer, cfg) -> List[dict]:
    """Load the run in ``out`` into ``vae``, ``estimator`` and ``optimizer``; its history, or
    ``[]`` if ``out`` holds no checkpoint yet. Refuses a run of another model or config."""
    if out is None:
        raise ValueError("resume=True needs out_dir")
    path = out / CHECKPOINT
    if not path.exists():
        tqdm.write(f"no checkpoint at {path}; starting from epoch 1")
        return []
    state = read(path)
    if state.get("format") != FORMAT:
        raise ValueError(f"cannot resume {out}: its checkpoint has format {state.get('format')!r}, written by an "
                         f"older pyro-vae-zoo, and this one resumes format {FORMAT} only (zoo.load still reads it)")
    if state["fit_config"] != asdict(cfg):
        raise ValueError(f"cannot resume {out}: it was trained with {state['fit_config']}, not {asdict(cfg)}")
    if state["model_config"] != vae.config:
        raise ValueError(f"cannot resume {out}: its model is {state['model_config']}, not {vae.config}")
    vae.load_state_dict(state["model"])
    if isinstance(estimator, torch.nn.Module):
        estimator.load_state_dict(state["estimator"])
    optimizer.load_state_dict(state["optim"])
    return list(state["history"])


def write_config(out: Path, vae, cfg) -> None:
    write_json(out / CONFIG, {"model": vae.config, "fit": asdict(cfg)})


def load(out_dir):
    """The trained model of a run directory, in eval mode."""
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: is {out_dir} a training run directory?")
    state = read(path)
    config = dict(state["model_config"])
    vae = build(config.pop("model"), **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    vae.load_state_dict(state["model"])
    return vae.eval()
