r"""Gradient diagnostics: the mean, variance and signal-to-noise ratio of an estimator's
gradient over repeated draws, per parameter group.

    SNR_i = |E[g_i]| / std[g_i]       per gradient component i [1]

summarized per group (``model``: parameters only the model uses, ``guide``: only the guide,
``shared``: both) as the mean SNR over components with nonzero variance, and as the norm
ratio ||E g|| / sqrt(sum_i Var g_i).

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are
        Not Necessarily Better. arXiv:1802.04537
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

import pyro
import torch
from pyro import poutine

from zoo._utils.checks import positive_int


@dataclass
class GradientStats:
    """Statistics of one parameter group's gradient over ``num_draws`` draws.

    Attributes:
        names: the parameters in the group, in the order of the flattened vectors.
        mean, var: per-component mean and (unbiased) variance of the gradient.
        snr: the mean of |mean_i| / std_i over components with std_i > 0 (nan if none).
        norm_snr: ||mean|| / sqrt(sum var).
        num_draws: the number of gradient draws.
    """

    names: List[str]
    mean: torch.Tensor
    var: torch.Tensor
    snr: float
    norm_snr: float
    num_draws: int

    def as_dict(self) -> dict:
        return {"names": self.names, "snr": self.snr, "norm_snr": self.norm_snr, "num_draws": self.num_draws,
                "mean_abs_mean": self.mean.abs().mean().item(), "mean_var": self.var.mean().item()}


def parameter_groups(model, guide, *args, **kwargs) -> Dict[str, Dict[str, torch.Tensor]]:
    """The Pyro parameters that model and guide register, grouped as model / guide / shared."""
    with poutine.trace(param_only=True) as guide_params:
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
    with poutine.trace(param_only=True) as model_params:
        poutine.replay(model, trace=guide_trace)(*args, **kwargs)
    values = lambda t: {n: s["value"].unconstrained() for n, s in t.trace.nodes.items()}  # noqa: E731
    in_model, in_guide = values(model_params), values(guide_params)
    groups = {"model": {n: p for n, p in in_model.items() if n not in in_guide},
              "guide": {n: p for n, p in in_guide.items() if n not in in_model},
              "shared": {n: p for n, p in in_model.items() if n in in_guide}}
    return {g: params for g, params in groups.items() if params}


def gradient_stats(model, guide, *args, estimator: Union[str, "pyro.infer.ELBO"] = "elbo", num_draws: int = 100,
                   seed: Optional[int] = None, estimator_options: Optional[dict] = None,
                   **kwargs) -> Dict[str, GradientStats]:
    """Mean, variance and SNR of ``estimator``'s gradient on one batch, per group.

    Args:
        model, guide: a Pyro model/guide pair, called as ``model(*args, **kwargs)``.
        *args, **kwargs: the batch the gradient is taken on (``x``, or ``x, mask, ...``).
        estimator: a ``pyro.infer.ELBO`` with ``differentiable_loss``, or a name for
            ``zoo.estimators.get`` (with ``estimator_options``, e.g. ``{"num_particles": 5}``).
        num_draws: independent gradient draws (>= 2).
        seed: seeds Pyro's RNGs first, for reproducible statistics.

    Returns:
        ``{"model": GradientStats, "guide": ..., "shared": ...}`` for the groups that exist.
    """
    if positive_int("num_draws", num_draws) < 2:
        raise ValueError(f"num_draws must be at least 2 to estimate a variance, got {num_draws}")
    if isinstance(estimator, str):
        from zoo import estimators

        estimator = estimators.get(estimator, **(estimator_options or {}))
    elif estimator_options:
        raise ValueError("estimator_options go with an estimator's name; this estimator is built already")
    groups = parameter_groups(model, guide, *args, **kwargs)
    if seed is not None:  # after the grouping run, so the draws depend on the seed alone
        pyro.set_rng_seed(seed)
    params = [p for group in groups.values() for p in group.values()]
    draws = []
    for _ in range(num_draws):
        loss = estimator.differentiable_loss(model, guide, *args, **kwargs)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        draws.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1).detach()
                                for g, p in zip(grads, params)]))
    return _summarize(groups, torch.stack(draws))


def _summarize(groups, draws: torch.Tensor) -> Dict[str, GradientStats]:
    stats, start = {}, 0
    for group, params in groups.items():
        size = sum(p.numel() for p in params.values())
        g = draws[:, start : start + size]
        start += size
        mean, var = g.mean(0), g.var(0)
        std = var.sqrt()
        nonzero = std > 0
        snr = (mean.abs()[nonzero] / std[nonzero]).mean().item() if nonzero.any() else float("nan")
        norm_snr = (mean.norm() / var.sum().sqrt()).item() if var.sum() > 0 else float("nan")
        stats[group] = GradientStats(list(params), mean, var, snr, norm_snr, g.shape[0])
    return stats
