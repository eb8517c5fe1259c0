r"""Observation models p(x|z), by name, and closed-form Gaussian helpers.

A likelihood turns decoder outputs of shape ``(..., num_params, *data_shape)`` into a
distribution whose event covers the whole datum, and checks that data lie in its support.
``build_likelihood(name, data_shape, **options)`` passes a likelihood its options
(``scale`` of ``gaussian``); an option it does not take raises a ``ValueError`` naming it.

Likelihoods:
    ``bernoulli``: logits, for binary data (binarized MNIST).
    ``gaussian``: N(x; mu(z), scale^2 I) with a fixed ``scale``; -log p is the squared error
        / (2 scale^2) plus a constant.
    ``gaussian-learned``: N(x; mu(z), diag sigma(z)^2), the decoder emitting mu and log sigma,
        as for the Frey faces in [1, appendix C.2] and the 2D VAE of the 2-D and convolutional VAE tutorial.

The Gaussians are densities, so log p(x|z) and the ELBO can be positive. With a learned
sigma on data that take finitely many values (8-bit pixels), the density of a pixel the
decoder fits exactly grows without bound as sigma -> 0: an ELBO in nats is comparable
only between Gaussian models on the same data, never with a Bernoulli model's.

References:
    [1] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
"""
import inspect
from typing import Any, Sequence, Tuple

import pyro.distributions as dist
import torch

from zoo._utils.checks import positive_float
from zoo._utils.registry import Registry
from zoo.distributions import BernoulliEvent, BernoulliLogits

LIKELIHOODS = Registry("likelihood")

Options = Tuple[Tuple[str, Any], ...]


def check_finite(x: torch.Tensor, name: str = "x") -> None:
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} contains {bad} NaN or infinite values")


# ---- likelihoods --------------------------------------------------------------------------


class Likelihood:
    """Base class. Subclasses set ``num_params`` and implement ``dist`` and ``mean``; their
    options are keyword arguments of ``__init__`` after ``data_shape``."""

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

    def _params(self, params: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """The ``num_params`` parameter tensors, each ``(..., *data_shape)``."""
        return params.unbind(-self.event_dim - 1)


@LIKELIHOODS.register("bernoulli")
class BernoulliLikelihood(Likelihood):
    r"""Product of Bernoullis, p(x|z) = prod_i Bernoulli(x_i; sigmoid(f_i(z))), from logits.

    The standard choice for binarized MNIST.
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
        return BernoulliEvent(BernoulliLogits(logits=logits, validate_args=False), self.event_dim, validate_args=False)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params.squeeze(-self.event_dim - 1))


@LIKELIHOODS.register("gaussian")
class GaussianLikelihood(Likelihood):
    r"""p(x|z) = prod_i N(x_i; mu_i(z), scale^2) with a fixed ``scale``.

        -log p(x|z) = ||x - mu(z)||^2 / (2 scale^2) + D (log scale + log(2 pi) / 2)

    so maximizing it is least squares: the tutorial's autoencoder MSE, up to scale and constant.

    Args:
        data_shape: shape of one datum.
        scale: the standard deviation sigma, a positive finite number (default 1).
    """

    def __init__(self, data_shape: Sequence[int], scale: float = 1.0):
        super().__init__(data_shape)
        self.scale = positive_float("scale of the gaussian likelihood", scale)

    def dist(self, params: torch.Tensor) -> dist.TorchDistribution:
        (loc,) = self._params(params)
        return dist.Normal(loc, self.scale, validate_args=False).to_event(self.event_dim)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        (loc,) = self._params(params)
        return loc


@LIKELIHOODS.register("gaussian-learned")
class LearnedGaussianLikelihood(Likelihood):
    r"""p(x|z) = prod_i N(x_i; mu_i(z), exp(log_sigma_i(z))^2): the decoder emits mu and log sigma.

    The exponential keeps sigma positive by construction; nothing is clamped, so a decoder
    may drive sigma towards 0 where it fits a pixel exactly (see the module docstring).
    """

    num_params = 2

    def dist(self, params: torch.Tensor) -> dist.TorchDistribution:
        loc, log_scale = self._params(params)
        return dist.Normal(loc, log_scale.exp(), validate_args=False).to_event(self.event_dim)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self._params(params)[0]


# ---- by name ------------------------------------------------------------------------------


def likelihood_options(name: str) -> Tuple[str, ...]:
    """The option names that the likelihood ``name`` takes."""
    signature = inspect.signature(LIKELIHOODS.get(name).__init__)
    return tuple(signature.parameters)[2:]  # after self, data_shape




def build_likelihood(name: str, data_shape: Sequence[int], **options) -> Likelihood:
    """The likelihood ``name`` for data of shape ``data_shape``, with its ``options``.

    Raises:
        ValueError: on an unknown name, an option the likelihood does not take, or a bad value.
    """
    accepted = likelihood_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        choices = f"choose from {', '.join(accepted)}" if accepted else "it takes none"
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for likelihood {name!r}; {choices}")
    return LIKELIHOODS.get(name)(data_shape, **options)
