"""Torch optimizers by name, over the parameters ``zoo.fit`` trains (the model's and the estimator's).

``zoo.fit`` steps one ``torch.optim`` optimizer on ``estimator.differentiable_loss`` (the
hand-written PyTorch loop); there is no ``pyro.optim`` wrapper in between. Adam and AdamW use
torch's fused implementation by default (one kernel over all tensors; torch's own default on a
CPU is a Python loop over them): the same update up to float rounding (``fused=False`` for the loop).
"""
from typing import Iterable

import torch

FUSABLE = ("adam", "adamw")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}


def make_optimizer(name: str, params: Iterable[torch.Tensor], **options) -> torch.optim.Optimizer:
    """The torch optimizer ``name`` (``adam``, ``adamw``, ``sgd``, ``rmsprop``) over ``params``.

    Args:
        name: the optimizer's name.
        params: the tensors to optimize.
        **options: the optimizer's keyword arguments, e.g. ``lr=1e-3``, ``fused=False``.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(sorted(OPTIMIZERS))}")
    params = list(params)
    if name in FUSABLE and "fused" not in options and "foreach" not in options:
        options["fused"] = all(p.is_floating_point() for p in params)
    return OPTIMIZERS[name](params, **options)
