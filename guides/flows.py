r"""Normalizing-flow guides: a diagonal Gaussian pushed through K amortized flow steps.

    z_0 ~ q_0(z | x) = N(mu(h), diag sigma(h)^2),      z_k = f_k(z_{k-1}; h),  k = 1..K,
    log q(z_K | x) = log q_0(z_0 | x) - sum_k log |det df_k / dz_{k-1}|

with h the encoder's features; every step's parameters are functions of h (amortized) [1].
The distribution computes log q in the forward pass, with the draw (:class:`FlowDistribution`);
other values are scored through the inverses, which IAF and the spline flows have
(``guides.splines``).

References:
    [1] Rezende, Mohamed. Variational Inference with Normalizing Flows. arXiv:1505.05770
    [2] Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling. Improving Variational
        Inference with Inverse Autoregressive Flow. arXiv:1606.04934
    [3] van den Berg, Hasenclever, Tomczak, Welling. Sylvester Normalizing Flows for
        Variational Inference. arXiv:1803.05649
"""
from typing import List, Sequence, Tuple

import pyro.distributions as dist
import torch
from pyro.distributions.transforms import (
    ConditionalAffineAutoregressive,
    ConditionalPlanar,
    ConditionalRadial,
    Permute,
)
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn
from torch.distributions import Transform, constraints

from guides._utils import positive_int
from guides.gaussian import DiagonalGaussian
from guides.registry import GUIDES
from guides.sylvester import ConditionalHouseholderSylvester, ConditionedHouseholderSylvester  # noqa: F401


class LinearHypernet(nn.Module):
    """One linear layer from the features to a flow step's parameters, split into chunks.

    Args:
        in_features: size of the encoder's feature vector.
        param_dims: sizes of the parameter vectors, in the order they are returned.
    """

    def __init__(self, in_features: int, param_dims: Sequence[int]):
        super().__init__()
        self.param_dims = list(param_dims)
        self.linear = nn.Linear(in_features, sum(self.param_dims))

    def forward(self, features: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return self.linear(features).split(self.param_dims, dim=-1)


class Reverse(nn.Module):
    """Reverses the order of z's coordinates (log|det| = 0); ignores the context.

    The permutation is a buffer, so it follows the guide across devices.
    """

    def __init__(self, input_dim: int):
        super().__init__()
        self.register_buffer("permutation", torch.arange(input_dim - 1, -1, -1), persistent=False)

    def condition(self, context: torch.Tensor) -> Permute:
        return Permute(self.permutation)


def call_and_ladj(step: Transform, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(y, log|det dy/dz|)`` of a step: from one pass where the step has zuko's
    ``call_and_ladj`` (zuko's steps, the Sylvester step), else as ``y = step(z)`` and
    ``step.log_abs_det_jacobian(z, y)`` (torch's and Pyro's transforms)."""
    method = getattr(step, "call_and_ladj", None)
    if method is not None:
        return method(z)
    y = step(z)
    return y, step.log_abs_det_jacobian(z, y)


class FlowDistribution(dist.TorchDistribution):
    r"""q(z|x) of a flow: a base distribution pushed through steps, scored in the forward pass.

    :meth:`rsample_and_log_prob` draws z_0 ~ q_0 and maps it through the steps once, summing
    the log-determinants as it goes (distrax's ``sample_and_log_prob``): the draw and its
    log-density come out together (:func:`call_and_ladj`: one pass for zuko's steps and the
    Sylvester step, ``y = t(z)`` and ``t.log_abs_det_jacobian(z, y)`` for the others).
    ``rsample`` keeps that pair on the distribution, so that
    Pyro's ``log_prob`` of the site at its own value is the log-density from the draw. Any
    other value is scored through the steps' inverses (IAF; planar, radial and Sylvester steps
    have none, and refuse). Nothing here touches a step's inverse on the forward path, so no
    reference cycle forms and each step is freed with its distribution (torch's ``Transform.inv``
    links a step and its inverse both ways).
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, base: dist.TorchDistribution, transforms: List[Transform], validate_args=None):
        self.base_dist, self.transforms = base, list(transforms)
        self._draw = None
        super().__init__(base.batch_shape, base.event_shape, validate_args=False)

    def expand(self, batch_shape, _instance=None) -> "FlowDistribution":
        # the steps' per-datapoint parameters broadcast against the expanded base's draws
        return FlowDistribution(self.base_dist.expand(batch_shape), self.transforms)

    def rsample_and_log_prob(self, sample_shape=torch.Size()) -> Tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized draw z and log q(z|x), from one pass through the steps."""
        z = self.base_dist.rsample(sample_shape)
        log_q = self.base_dist.log_prob(z)
        for step in self.transforms:
            z, log_det = call_and_ladj(step, z)
            log_q = log_q - log_det
        return z, log_q

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        z, log_q = self.rsample_and_log_prob(sample_shape)
        self._draw = (z, log_q)
        return z

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._draw is not None and value is self._draw[0]:
            return self._draw[1]
        log_det = 0.0
        for step in reversed(self.transforms):  # raises KeyError for steps without an inverse
            x = step.inv(value)
            log_det = log_det + step.log_abs_det_jacobian(x, value)
            value = x
        return self.base_dist.log_prob(value) - log_det


class FlowGuide(nn.Module):
    r"""q(z|x): a ``DiagonalGaussian`` base q_0 pushed through conditional flow steps [1].

    ``forward(h)`` returns ``FlowDistribution(q_0(.|h), [f_1(.; h), ..., f_K(.; h)])``
    with batch shape ``h.shape[:-1]`` and event shape ``(latent_dim,)``; under an outer
    particle plate the per-datapoint parameters broadcast against samples ``(K, N, D)``.

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
        steps: modules with ``.condition(h)`` returning the step's ``Transform``.
    """

    def __init__(self, in_features: int, latent_dim: int, steps: List[nn.Module]):
        super().__init__()
        self.latent_dim = latent_dim
        self.base = DiagonalGaussian(in_features, latent_dim)
        self.flows = nn.ModuleList(steps)

    def transforms(self, features: torch.Tensor) -> List[Transform]:
        """The flow's steps conditioned on ``features``."""
        return [step.condition(features) for step in self.flows]

    def forward(self, features: torch.Tensor) -> FlowDistribution:
        return FlowDistribution(self.base(features), self.transforms(features))


@GUIDES.register("planar")
class PlanarFlowGuide(FlowGuide):
    r"""Planar flow [1, eq. 10]: f(z) = z + u^ tanh(w^T z + b), log|det| = log|1 + u^^T tanh'(.) w|.

    (u, w, b) per datapoint are one linear map of the features (amortized, as in [1]);
    u^ = u + (softplus(w^T u) - 1 - w^T u) w / ||w||^2 keeps w^T u^ > -1 [1, appendix A.1]
    (Pyro's ``ConditionalPlanar``; in floating point, >= -1 up to rounding of order |w^T u| eps).

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
        num_flows: number of planar steps K.
    """

    def __init__(self, in_features: int, latent_dim: int, num_flows: int = 8):
        K, D = positive_int("num_flows", num_flows), latent_dim
        super().__init__(in_features, D, [ConditionalPlanar(LinearHypernet(in_features, [1, D, D])) for _ in range(K)])


@GUIDES.register("radial")
class RadialFlowGuide(FlowGuide):
    r"""Radial flow [1, eq. 14]: f(z) = z + beta (z - z_0) / (alpha + ||z - z_0||).

    (z_0, alpha', beta') per datapoint are one linear map of the features; alpha =
    softplus(alpha') > 0 and beta = -alpha + softplus(beta') > -alpha keep it invertible
    [1, appendix A.2] (Pyro's ``ConditionalRadial``).

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
        num_flows: number of radial steps K.
    """

    def __init__(self, in_features: int, latent_dim: int, num_flows: int = 8):
        K, D = positive_int("num_flows", num_flows), latent_dim
        super().__init__(in_features, D, [ConditionalRadial(LinearHypernet(in_features, [D, 1, 1])) for _ in range(K)])


@GUIDES.register("iaf")
class IAFGuide(FlowGuide):
    r"""Inverse autoregressive flow [2, Algorithm 1], the numerically stable (gated) form:

        [m, s] = MADE(z, h),   sigma = sigmoid(s + 2),   f(z) = sigma * z + (1 - sigma) * m,
        log |det df/dz| = sum_i log sigma_i

    with h the encoder's features as the MADE's context (Pyro's ``ConditionalAffineAutoregressive``
    with ``stable=True``). Each MADE uses the natural variable order and the order is reversed
    between steps, so that every dimension can depend on every other [2]; the gate bias +2
    starts sigma near 1, i.e. near the identity map [2].

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
        num_flows: number of IAF steps K.
        hidden_dims: MADE hidden sizes (default ``[10 * latent_dim]``, Pyro's default).
    """

    def __init__(self, in_features: int, latent_dim: int, num_flows: int = 2, hidden_dims=None):
        K, D = positive_int("num_flows", num_flows), latent_dim
        hidden_dims = list(hidden_dims) if hidden_dims is not None else [10 * D]
        steps = []
        for k in range(K):
            if k > 0:
                steps.append(Reverse(D))
            made = ConditionalAutoRegressiveNN(D, in_features, hidden_dims, permutation=torch.arange(D))
            steps.append(ConditionalAffineAutoregressive(made, stable=True))
        super().__init__(in_features, D, steps)


@GUIDES.register("sylvester")
class SylvesterFlowGuide(FlowGuide):
    r"""Householder Sylvester flow [3]: f(z) = z + Q R tanh(R~ Q^T z + b), Q orthogonal.

    All of R, R~, the Householder vectors and b are amortized (one linear map of the features
    per step), see :class:`ConditionalHouseholderSylvester`.

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
        num_flows: number of Sylvester steps K.
        num_householder: reflections M per step (default 8, as num_flows = 4, from the
            authors' code for [3]).
    """

    def __init__(self, in_features: int, latent_dim: int, num_flows: int = 4, num_householder: int = 8):
        K, D = positive_int("num_flows", num_flows), latent_dim
        positive_int("num_householder", num_householder)
        dims = [D * D, D, D, num_householder * D, D]
        steps = [
            ConditionalHouseholderSylvester(D, LinearHypernet(in_features, dims), num_householder) for _ in range(K)
        ]
        super().__init__(in_features, D, steps)
