r"""Observation models p(x|z), by name.

A likelihood turns decoder outputs of shape ``(..., num_params, *data_shape)`` into a
distribution whose event covers the whole datum, and checks that data lie in its support.
"""
from typing import Sequence

import torch
import pyro.distributions as dist

from zoo.registry import Registry

LIKELIHOODS = Registry("likelihood")


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} contains {bad} NaN or infinite values")


class Likelihood:
    """Base class. Subclasses set ``num_params`` and implement ``dist`` and ``mean``."""

    num_params = 1

    def __init__(self, data_shape: Sequence[int]):
        self.data_shape = tuple(data_shape)
        self.event_dim = len(self.data_shape)

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise ``ValueError`` if ``x`` lies outside the support."""
        check_finite(x, name)

    def dist(self, params: torch.Tensor) -> dist.TorchDistribution:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@LIKELIHOODS.register("bernoulli")
class BernoulliLikelihood(Likelihood):
    r"""Product of Bernoullis, p(x|z) = prod_i Bernoulli(x_i; sigmoid(f_i(z))), from logits.

    The seed's ``ProductOfBernoullisGenerator``; the standard choice for binarized MNIST.
    """

    def check(self, x: torch.Tensor, name: str = "x") -> None:
        super().check(x, name)
        if not ((x == 0) | (x == 1)).all():
            raise ValueError(
                f"{name} must be binary (values in {{0, 1}}) for the bernoulli likelihood, got values in "
                f"[{x.min().item():.4g}, {x.max().item():.4g}]; binarize it first "
                "(zoo.data.binarize, or --binarize static|dynamic|threshold on the CLI)"
            )

    def dist(self, params: torch.Tensor) -> dist.TorchDistribution:
        # Support is checked once per batch in check(); skipping torch's per-call validation
        # keeps the hot path cheap.
        logits = params.squeeze(-self.event_dim - 1)
        return dist.Bernoulli(logits=logits, validate_args=False).to_event(self.event_dim)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params.squeeze(-self.event_dim - 1))


def build_likelihood(name: str, data_shape: Sequence[int]) -> Likelihood:
    return LIKELIHOODS.get(name)(data_shape)
