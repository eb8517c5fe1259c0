r"""Priors over a VAE's (top) latent layer, by name: ``standard``, ``mog:K``, ``vamp:K``.

    standard:  p(z) = N(z; 0, I)
    mog:K      p(z) = sum_k pi_k N(z; mu_k, diag(sigma_k^2))          pi, mu, sigma learned
    vamp:K     p(z) = (1/K) sum_k q_phi(z | u_k)                        u_k learned pseudo-inputs [1]

The VampPrior is the guide's own posterior at K pseudo-inputs u_k: the mixture that the
aggregate posterior (1/N) sum_n q(z|x_n) is approximated by, learned jointly with the model.
Its pseudo-inputs live where the guide's input does: the data space for ``vae`` (passed through
a hardtanh into [0, 1] for the Bernoulli likelihood, as in [1]'s code), and the input of the top
layer's guide, z_{L-1}, for ``hvae``. Its density needs log q(z|u_k) at codes drawn for other
datapoints, so the guide must have an exact density anywhere (``diagonal``, ``full-rank``).

Every prior enters the model's log-density, so every estimator applies; only the standard
normal has a closed-form KL against a Gaussian guide (``elbo-kl`` refuses the others).

References:
    [1] Tomczak, Welling. VAE with a VampPrior. AISTATS 2018, arXiv:1705.07120
"""
from typing import Callable, Optional, Sequence, Tuple

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import hardtanh, softplus

from zoo.distributions import DiagonalMixture, StandardNormal

PRIORS = ("standard", "mog", "vamp")
VAMP_GUIDES = ("diagonal", "full-rank")  # guides with an exact density at any code
# The pseudo-inputs of [0, 1] data start at N(0.05, 0.01^2): [1]'s code draws them with std 0.01 around a
# mean of -0.05 by default, where its hardtanh has zero gradient; +0.05 lies inside the hardtanh's linear range.
PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD = 0.05, 0.01


def parse_prior(spec: str) -> Tuple[str, int]:
    """``"vamp:500"`` -> ``("vamp", 500)``, ``"standard"`` -> ``("standard", 0)``; one-line errors."""
    if not isinstance(spec, str):
        raise TypeError(f"prior must be a str (standard, mog:K or vamp:K), got {type(spec).__name__}")
    name, sep, k = spec.partition(":")
    if name not in PRIORS:
        raise ValueError(f"prior={spec!r}: unknown prior {name!r}; expected standard, mog:K or vamp:K")
    if name == "standard":
        if sep:
            raise ValueError(f"prior={spec!r}: the standard normal takes no number of components; write 'standard'")
        return name, 0
    if not k.isdigit() or int(k) <= 0:
        raise ValueError(f"prior={spec!r}: the number of components K after ':' must be a positive integer, "
                         f"got {k!r}; e.g. {name}:500")
    return name, int(k)


def check_prior(spec: str, guide: str) -> None:
    """Refuse a prior the guide cannot support, in one line, before anything is built."""
    name, _ = parse_prior(spec)
    family = guide.partition(":")[0]
    if name == "vamp" and family not in VAMP_GUIDES:
        raise ValueError(f"prior={spec!r} needs log q(z|u) at any code z, which guide {guide!r} cannot give "
                         f"(a flow has no density off its own draws here); use guide "
                         f"{' or '.join(map(repr, VAMP_GUIDES))}, or prior 'mog:K'")


class Prior(nn.Module):
    """p(z) over codes of size ``dim``: ``prior(encode)`` returns the distribution, with batch
    shape ``()`` and event shape ``(dim,)``. ``encode`` maps guide inputs to q(z|.) (VampPrior)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("_zero", torch.zeros(()), persistent=False)  # dtype and device


class StandardPrior(Prior):
    """N(0, I); no parameters, so a model's state dict is the same as without a prior module."""

    def forward(self, encode: Optional[Callable] = None) -> dist.TorchDistribution:
        return StandardNormal(self.dim, dtype=self._zero.dtype, device=self._zero.device)


class MixturePrior(Prior):
    """A learned mixture of K diagonal Gaussians; the means start as N(0, I) draws, the scales at 1,
    the weights equal."""

    def __init__(self, dim: int, num_components: int):
        super().__init__(dim)
        self.logits = nn.Parameter(torch.zeros(num_components))
        self.locs = nn.Parameter(torch.randn(num_components, dim))
        self.scales_raw = nn.Parameter(torch.full((num_components, dim), 0.5413))  # softplus^-1(1)

    def forward(self, encode: Optional[Callable] = None) -> dist.TorchDistribution:
        components = dist.Normal(self.locs, softplus(self.scales_raw), validate_args=False).to_event(1)
        return DiagonalMixture(dist.Categorical(logits=self.logits), components, validate_args=False)


class VampPrior(Prior):
    """(1/K) sum_k q(z|u_k) [1] at K learned pseudo-inputs of shape ``input_shape``.

    Args:
        dim: code size.
        num_components: K.
        input_shape: shape of one guide input (one datum, or one code of the layer below).
        unit_interval: pass the pseudo-inputs through hardtanh into [0, 1] (data in [0, 1]) and
            start them at N(0.05, 0.01^2); else start them at N(0, I).
    """

    def __init__(self, dim: int, num_components: int, input_shape: Sequence[int], unit_interval: bool = False):
        super().__init__(dim)
        self.unit_interval = unit_interval
        u = torch.randn(num_components, *input_shape)
        self.pseudo_inputs = nn.Parameter(PSEUDO_INPUT_MEAN + PSEUDO_INPUT_STD * u if unit_interval else u)

    def inputs(self) -> torch.Tensor:
        return hardtanh(self.pseudo_inputs, 0.0, 1.0) if self.unit_interval else self.pseudo_inputs

    def forward(self, encode: Optional[Callable] = None) -> dist.TorchDistribution:
        if encode is None:
            raise ValueError("the VampPrior is the guide's posterior at its pseudo-inputs: pass the guide's encode")
        components = encode(self.inputs())  # batch (K,), event (dim,)
        mixing = dist.Categorical(logits=torch.zeros(components.batch_shape, dtype=self._zero.dtype,
                                                     device=self._zero.device))
        return DiagonalMixture(mixing, components, validate_args=False)


def build_prior(spec: str, dim: int, input_shape: Sequence[int] = (), unit_interval: bool = False) -> Prior:
    """The prior named ``spec`` over codes of size ``dim`` (``input_shape``: the VampPrior's pseudo-inputs)."""
    name, k = parse_prior(spec)
    if name == "standard":
        return StandardPrior(dim)
    if name == "mog":
        return MixturePrior(dim, k)
    return VampPrior(dim, k, input_shape, unit_interval)
