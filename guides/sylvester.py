r"""Householder-Sylvester flow steps [1], amortized: parameters are functions of a context h.

References:
    [1] van den Berg, Hasenclever, Tomczak, Welling. Sylvester Normalizing Flows for
        Variational Inference. arXiv:1803.05649
"""
from typing import Tuple

import torch
from pyro.distributions.conditional import ConditionalTransformModule
from torch import nn
from torch.distributions import Transform, constraints


def matvec(M: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""M z for matrices ``M (*B, D, D)`` and vectors ``z (*S, *B, D)``: the sample dims S are
    folded into the columns of one batched product, ``M (*B, D, D) @ Z (*B, D, prod S)``.

    (``M @ z.unsqueeze(-1)`` would broadcast M to ``(*S, *B, D, D)``, copying it once per
    sample: for S = 100 draws of 100 datapoints with D = 50 that copy was half the time of an
    importance-sampled log p(x).) B may broadcast against z's trailing batch dims.
    """
    batch = torch.broadcast_shapes(M.shape[:-2], z.shape[:-1])
    lead = batch[: len(batch) - (M.dim() - 2)]
    cols = z.expand(*batch, z.shape[-1]).reshape(-1, *batch[len(lead):], z.shape[-1]).movedim(0, -1)
    return (M @ cols).movedim(-1, 0).reshape(*batch, M.shape[-2])


class ConditionedHouseholderSylvester(Transform):
    r"""One Householder-Sylvester step with fixed (per-datapoint) parameters [1]:

        f(z) = z + Q R tanh(R~ Q^T z + b),     Q = H_1 ... H_M,   H_m = I - 2 v_m v_m^T / ||v_m||^2,
        log |det df/dz| = sum_i log(1 + r_ii r~_ii tanh'(R~ Q^T z + b)_i)

    R and R~ are upper triangular with diagonals in (-1, 1), so r_ii r~_ii > -1 and, since
    0 < tanh' <= 1, every factor is positive: the map is invertible for all inputs [1]. (Where
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
        super().__init__(cache_size=0)
        self.R, self.R_tilde, self.b = R, R_tilde, b
        self.v = v / v.norm(dim=-1, keepdim=True)

    def _reflect(self, z: torch.Tensor, order) -> torch.Tensor:
        for m in order:
            v = self.v[..., m, :]
            z = z - 2 * v * (v * z).sum(-1, keepdim=True)
        return z

    def _preactivation(self, z: torch.Tensor) -> torch.Tensor:
        Qt_z = self._reflect(z, range(self.v.shape[-2]))  # Q^T z = H_M ... H_1 z
        return matvec(self.R_tilde, Qt_z) + self.b

    def _log_det(self, preactivation: torch.Tensor) -> torch.Tensor:
        r_diag = self.R.diagonal(dim1=-2, dim2=-1) * self.R_tilde.diagonal(dim1=-2, dim2=-1)
        return torch.log1p(r_diag * (1 - torch.tanh(preactivation).pow(2))).sum(-1)

    def call_and_ladj(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """f(z) and log |det df/dz| from one pre-activation (zuko's one-pass protocol)."""
        pre = self._preactivation(z)
        R_h = matvec(self.R, torch.tanh(pre))
        return z + self._reflect(R_h, reversed(range(self.v.shape[-2]))), self._log_det(pre)  # Q R h = H_1 ... H_M R h

    def _call(self, z: torch.Tensor) -> torch.Tensor:
        return self.call_and_ladj(z)[0]

    def _inverse(self, y: torch.Tensor) -> torch.Tensor:
        raise KeyError("ConditionedHouseholderSylvester has no closed-form inverse; a flow distribution scores "
                       "its own draws in the forward pass (FlowDistribution.rsample_and_log_prob)")

    def log_abs_det_jacobian(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._log_det(self._preactivation(z))


class ConditionalHouseholderSylvester(ConditionalTransformModule):
    r"""A Householder-Sylvester step whose parameters are a function of a context h [1].

    ``nn(h)`` returns ``(A, r_diag, r_tilde_diag, v, b)`` of sizes ``(D*D, D, D, M*D, D)``;
    as in the authors' code for [1], one D x D matrix A supplies both strict triangles,

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
