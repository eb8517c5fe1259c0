"""Torch contexts: a module in eval mode for a block, and a block drawing from its own seeded RNG."""
import contextlib
from typing import Iterator, Optional

import torch
from torch import nn


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode inside the block, its previous mode restored after it."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@contextlib.contextmanager
def seeded(seed: Optional[int], device=None) -> Iterator[None]:
    """Inside the block, torch's global RNG (CPU, and ``device``'s if it is a CUDA device) starts
    from ``seed``; after it, the state from before the block is back. ``seed=None``: no change."""
    if seed is None:
        yield
        return
    device = torch.device(device) if device is not None else None
    cuda = [device] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def isolated_rng(*values) -> Iterator[None]:
    """Inside the block, draws leave torch's global RNG as it was (CPU, and the CUDA devices of
    the tensors among ``values``, searched one level into tuples, lists and dicts)."""
    flat = [v for x in values for v in (x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list))
                                        else (x,))]
    cuda = sorted({v.device.index or 0 for v in flat if isinstance(v, torch.Tensor) and v.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        yield
