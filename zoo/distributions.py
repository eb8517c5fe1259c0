r"""Distributions the zoo needs that Pyro lacks.

``StandardNormal(d)`` is N(0, I_d) as a single event of size d, with no parameters:

    log p(z) = -||z||^2 / 2 - (d / 2) log(2 pi)

``Normal(zeros, ones).to_event(1)`` is the same density, but evaluates ``scale ** 2``,
``log(scale)`` and a division on constant tensors at every call; a VAE's prior is evaluated
at every step, so the parameter-free form is cheaper and its KL divergences are simpler.

``BernoulliLogits(logits)`` is Pyro's ``Bernoulli`` with a cheaper ``log_prob`` in evaluation
(:func:`bernoulli_log_prob`); the Bernoulli term over every pixel is most of the cost of an
importance-sampled log-likelihood.

``DiagonalMixture(mixing, components)`` is Pyro's ``MixtureSameFamily`` whose ``log_prob``, for
diagonal Gaussian components, takes the K component log-densities as matrix products:

    sum_d (z_d - m_kd)^2 / s_kd^2 = (z^2) (1/s_k^2)^T - 2 z (m_k / s_k^2)^T + sum_d m_kd^2 / s_kd^2

in float64 (the three terms cancel where z is near m_k and s_k small), where the default broadcasts
an (..., K, D) tensor: a VampPrior of 500 components costs that per importance sample.
"""
import math

import torch
from pyro.distributions import Bernoulli, MixtureSameFamily, TorchDistribution
from pyro.distributions import Independent as PyroIndependent
from pyro.distributions import Normal as PyroNormal
from torch.distributions import Independent, MultivariateNormal, Normal, constraints
from torch.distributions.kl import register_kl
from torch.nn.functional import binary_cross_entropy_with_logits

from zoo._utils.checks import positive_int

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class StandardNormal(TorchDistribution):
    """N(0, I) over vectors of size ``dim``.

    Args:
        dim: event size.
        batch_shape: batch shape (as from ``expand``).
        dtype, device: of the samples.
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, dim: int, batch_shape=torch.Size(), dtype=torch.float32, device=None):
        positive_int("dim", dim)
        self.dim, self.dtype, self.device = dim, dtype, device
        super().__init__(torch.Size(batch_shape), torch.Size([dim]), validate_args=False)

    def expand(self, batch_shape, _instance=None) -> "StandardNormal":
        return StandardNormal(self.dim, batch_shape, self.dtype, self.device)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        return torch.randn(self._extended_shape(sample_shape), dtype=self.dtype, device=self.device)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        lp = -0.5 * value.pow(2).sum(-1) - self.dim * HALF_LOG_2PI
        return lp.expand(torch.broadcast_shapes(lp.shape, self.batch_shape))

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self._extended_shape(), dtype=self.dtype, device=self.device)

    @property
    def variance(self) -> torch.Tensor:
        return torch.ones(self._extended_shape(), dtype=self.dtype, device=self.device)

    def entropy(self) -> torch.Tensor:
        return torch.full(self.batch_shape, self.dim * (0.5 + HALF_LOG_2PI), dtype=self.dtype, device=self.device)


class DiagonalMixture(MixtureSameFamily):
    """A mixture of K distributions of one family (module docstring); with diagonal Gaussian
    components (``Normal(loc, scale).to_event(1)``, parameters ``(K, D)``, or expanded from them)
    ``log_prob`` uses matrix products, otherwise ``MixtureSameFamily``'s."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        params = _unexpanded_diagonal(self)
        if params is None:
            return super().log_prob(value)
        logits, loc, scale = (t.double() for t in params)
        v, precision = value.double(), scale.pow(-2)
        quad = (v * v) @ precision.T - 2 * v @ (loc * precision).T + (loc * loc * precision).sum(-1)
        log_comp = -0.5 * quad - scale.log().sum(-1) - loc.shape[-1] * HALF_LOG_2PI
        return torch.logsumexp(torch.log_softmax(logits, -1) + log_comp, -1).to(value.dtype)


def _unexpanded_diagonal(mixture):
    """(logits (K,), loc (K, D), scale (K, D)) of a mixture of diagonal Gaussians whose batch dims,
    if any, are expansions (stride 0) of one mixture; else None."""
    comp = mixture.component_distribution
    normal = getattr(comp, "base_dist", None)
    if type(normal) not in (Normal, PyroNormal) or comp.reinterpreted_batch_ndims != 1:
        return None
    tensors = [mixture.mixture_distribution.logits, normal.loc, normal.scale]
    batch = len(mixture.batch_shape)
    if any(t.stride()[:batch] != (0,) * batch for t in tensors if t.dim() > batch):
        return None
    return [t[(0,) * batch] for t in tensors]


def bernoulli_log_prob(logits: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    r"""log Bernoulli(value; sigmoid(l)), elementwise, for any ``value`` in [0, 1]:

        log p = value * l - softplus(l),   softplus(l) = max(l, 0) - log sigmoid(|l|)

    The same function as torch's ``-binary_cross_entropy_with_logits``, which evaluates softplus
    with ``log1p``; on CPU torch does not vectorize ``log1p`` (about 10-20 ns per element against
    about 2 for ``sigmoid`` and ``log`` together), so this form is 4-5x faster without autograd.
    sigmoid(|l|) lies in [1/2, 1]: its log never underflows and its absolute error stays below
    one float eps per element, like torch's.
    """
    return value * logits - logits.clamp(min=0) + torch.sigmoid(logits.abs()).log()


class BernoulliLogits(Bernoulli):
    """Pyro's ``Bernoulli`` whose ``log_prob`` without autograd (evaluation) is
    :func:`bernoulli_log_prob`; build it with ``logits``.

    Under autograd it keeps torch's kernel: the gradient of :func:`bernoulli_log_prob`,
    1 - sigmoid(|l|), carries an absolute error of about 6e-8 that is large relative to the true
    sigmoid(-|l|) for |l| > 10, and Adam's normalized steps amplify such errors; torch's forward
    and backward together cost the same as this form's.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (self.logits.requires_grad or value.requires_grad):
            return super().log_prob(value)
        if self._validate_args:
            self._validate_sample(value)
        return bernoulli_log_prob(self.logits, value)


class BernoulliEvent(PyroIndependent):
    """``BernoulliLogits(logits).to_event(n)`` whose ``log_prob`` under autograd sums torch's
    binary cross-entropy over the event and negates the sum, as a hand-written loss does
    (``-bce(l, x).sum()``), instead of negating every element before the sum: one pass less over
    the K x N x pixels tensor, forward and backward. Without autograd it is the base's cheaper form."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logits = self.base_dist.logits
        if not (torch.is_grad_enabled() and (logits.requires_grad or value.requires_grad)):
            return super().log_prob(value)
        if value.shape != logits.shape:
            logits, value = torch.broadcast_tensors(logits, value)
        nll = binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -nll.sum(tuple(range(-self.reinterpreted_batch_ndims, 0))) if self.reinterpreted_batch_ndims else -nll


@register_kl(Independent, StandardNormal)
def _kl_diagonal_normal_standard(q: Independent, p: StandardNormal) -> torch.Tensor:
    r"""KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum_i (mu_i^2 + sigma_i^2 - 1 - log sigma_i^2)."""
    if not (isinstance(q.base_dist, Normal) and q.reinterpreted_batch_ndims == 1):
        raise NotImplementedError(f"no closed-form KL from {q} to StandardNormal")
    loc, scale = q.base_dist.loc, q.base_dist.scale
    kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1).sum(-1) - scale.log().sum(-1)
    return kl.expand(torch.broadcast_shapes(kl.shape, p.batch_shape))


@register_kl(MultivariateNormal, StandardNormal)
def _kl_full_rank_standard(q: MultivariateNormal, p: StandardNormal) -> torch.Tensor:
    r"""KL(N(mu, L L^T) || N(0, I)) = 1/2 (||L||_F^2 + ||mu||^2 - d) - sum_i log L_ii."""
    L = q.scale_tril
    kl = 0.5 * (L.pow(2).sum((-2, -1)) + q.loc.pow(2).sum(-1) - p.dim)
    kl = kl - L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return kl.expand(torch.broadcast_shapes(kl.shape, p.batch_shape))


@register_kl(MultivariateNormal, Independent)
def _kl_full_rank_diagonal(q: MultivariateNormal, p: Independent) -> torch.Tensor:
    r"""KL(N(mu, L L^T) || N(m, diag s^2)), which Pyro lacks:

        1/2 [ sum_i ((L L^T)_ii + (mu_i - m_i)^2) / s_i^2 - d ] + sum_i log s_i - sum_i log L_ii
    """
    if not (isinstance(p.base_dist, Normal) and p.reinterpreted_batch_ndims == 1):
        raise NotImplementedError(f"no closed-form KL from MultivariateNormal to {p}")
    L, m, s = q.scale_tril, p.base_dist.loc, p.base_dist.scale
    var_q = L.pow(2).sum(-1)  # diagonal of L L^T
    quad = ((var_q + (q.loc - m).pow(2)) / s.pow(2)).sum(-1)
    return 0.5 * (quad - q.loc.shape[-1]) + s.log().sum(-1) - L.diagonal(dim1=-2, dim2=-1).log().sum(-1)
