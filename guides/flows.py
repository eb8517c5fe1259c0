r"""Normalizing-flow guides: a diagonal Gaussian pushed through K amortized flow steps.

    z_0 ~ q_0(z | x) = N(mu(h), diag sigma(h)^2),      z_k = f_k(z_{k-1}; h),  k = 1..K,
    log q(z_K | x) = log q_0(z_0 | x) - sum_k log |det df_k / dz_{k-1}|

with h the encoder's features; every step's parameters are functions of h (amortized) [1].
None of these flows has a closed-form inverse, so ``log_prob`` is exact for the guide's own
samples only: each step caches its last (input, output) pair, as Pyro's flows do, so score a
sample before drawing the next one from the same distribution.

References:
    [1] Rezende, Mohamed. Variational Inference with Normalizing Flows. arXiv:1505.05770
    [2] Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling. Improving Variational
        Inference with Inverse Autoregressive Flow. arXiv:1606.04934
    [3] van den Berg, Hasenclever, Tomczak, Welling. Sylvester Normalizing Flows for
        Variational Inference. arXiv:1803.05649
"""
from typing import List, Sequence, Tuple

import torch
import pyro.distributions as dist
from pyro.distributions.conditional import ConditionalTransformModule
from pyro.distributions.transforms import (
    ConditionalAffineAutoregressive,
    ConditionalPlanar,
    ConditionalRadial,
    Permute,
)
from pyro.nn import ConditionalAutoRegressiveNN
from torch import nn
from torch.distributions import Transform, constraints

from guides.gaussian import DiagonalGaussian
from guides.registry import GUIDES
from guides._utils import positive_int


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


class ConditionedHouseholderSylvester(Transform):
    r"""One Householder-Sylvester step with fixed (per-datapoint) parameters [3]:

        f(z) = z + Q R tanh(R~ Q^T z + b),     Q = H_1 ... H_M,   H_m = I - 2 v_m v_m^T / ||v_m||^2,
        log |det df/dz| = sum_i log(1 + r_ii r~_ii tanh'(R~ Q^T z + b)_i)

    R and R~ are upper triangular with diagonals in (-1, 1), so r_ii r~_ii > -1 and, since
    0 < tanh' <= 1, every factor is positive: the map is invertible for all inputs [3]. (Where
    tanh of a raw diagonal rounds to +-1, r_ii r~_ii = -1 and the factor is tanh^2(.), which
    vanishes only at a zero pre-activation.)

    Args:
        R, R_tilde: upper-triangular matrices ``(..., D, D)``.
        v: Householder vectors ``(..., M, D)`` (not necessarily normalized).
        b: bias ``(..., D)``.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, R: torch.Tensor, R_tilde: torch.Tensor, v: torch.Tensor, b: torch.Tensor):
        super().__init__(cache_size=1)
        self.R, self.R_tilde, self.b = R, R_tilde, b
        self.v = v / v.norm(dim=-1, keepdim=True)
        self._cached_log_det = None

    def _reflect(self, z: torch.Tensor, order) -> torch.Tensor:
        for m in order:
            v = self.v[..., m, :]
            z = z - 2 * v * (v * z).sum(-1, keepdim=True)
        return z

    def _preactivation(self, z: torch.Tensor) -> torch.Tensor:
        Qt_z = self._reflect(z, range(self.v.shape[-2]))  # Q^T z = H_M ... H_1 z
        return (self.R_tilde @ Qt_z.unsqueeze(-1)).squeeze(-1) + self.b

    def _log_det(self, preactivation: torch.Tensor) -> torch.Tensor:
        r_diag = self.R.diagonal(dim1=-2, dim2=-1) * self.R_tilde.diagonal(dim1=-2, dim2=-1)
        return torch.log1p(r_diag * (1 - torch.tanh(preactivation).pow(2))).sum(-1)

    def _call(self, z: torch.Tensor) -> torch.Tensor:
        pre = self._preactivation(z)
        R_h = (self.R @ torch.tanh(pre).unsqueeze(-1)).squeeze(-1)
        self._cached_log_det = (z, self._log_det(pre))
        return z + self._reflect(R_h, reversed(range(self.v.shape[-2])))  # Q R h = H_1 ... H_M R h

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise KeyError(
            "ConditionedHouseholderSylvester has no closed-form inverse; it can only score the "
            "output of its latest forward call (cached)"
        )

    def log_abs_det_jacobian(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._cached_log_det is not None and self._cached_log_det[0] is z:
            return self._cached_log_det[1]
        return self._log_det(self._preactivation(z))


class ConditionalHouseholderSylvester(ConditionalTransformModule):
    r"""A Householder-Sylvester step whose parameters are a function of a context h [3].

    ``nn(h)`` returns ``(A, r_diag, r_tilde_diag, v, b)`` of sizes ``(D*D, D, D, M*D, D)``;
    as in the authors' code for [3], one D x D matrix A supplies both strict triangles,

        R = triu(A, 1) + diag(tanh r_diag),     R~ = triu(A^T, 1) + diag(tanh r_tilde_diag),

    so invertibility (r_ii r~_ii > -1) holds for any output of ``nn``.

    Args:
        input_dim: dimension D of z.
        nn: maps the context ``(..., H)`` to the five raw parameter tensors.
        num_householder: number M of Householder reflections composing Q.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, input_dim: int, nn: nn.Module, num_householder: int):
        super().__init__()
        self.input_dim, self.nn, self.num_householder = input_dim, nn, num_householder

    def condition(self, context: torch.Tensor) -> ConditionedHouseholderSylvester:
        A, r_diag, r_tilde_diag, v, b = self.nn(context)
        D = self.input_dim
        A = A.unflatten(-1, (D, D))
        R = A.triu(1) + torch.diag_embed(torch.tanh(r_diag))
        R_tilde = A.transpose(-1, -2).triu(1) + torch.diag_embed(torch.tanh(r_tilde_diag))
        return ConditionedHouseholderSylvester(R, R_tilde, v.unflatten(-1, (self.num_householder, D)), b)


class Reverse(nn.Module):
    """Reverses the order of z's coordinates (log|det| = 0); ignores the context.

    The permutation is a buffer, so it follows the guide across devices.
    """

    def __init__(self, input_dim: int):
        super().__init__()
        self.register_buffer("permutation", torch.arange(input_dim - 1, -1, -1), persistent=False)

    def condition(self, context: torch.Tensor) -> Permute:
        return Permute(self.permutation)


class FlowDistribution(dist.TransformedDistribution):
    """Pyro's ``TransformedDistribution`` that drops its steps' inverses after scoring.

    torch's ``Transform.inv`` keeps a strong reference to the inverse it creates, and the
    inverse refers back to the step, so a step whose ``log_prob`` was taken is a reference cycle
    holding its cached input and output until a full garbage collection: evaluating planar:40
    grew by 150 MB per batch of 100 points. Dropping the inverses lets reference counting free
    the steps with the distribution.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        try:
            return super().log_prob(value)
        finally:
            for transform in self.transforms:
                transform._inv = None


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
