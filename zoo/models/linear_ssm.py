r"""A linear-Gaussian state-space model with the Kalman filter's exact log p(x): ground truth for
estimators on models with a latent site per time step and sequences of different lengths.

    model:  z_0 = 0,  z_t | z_{t-1} ~ N(A z_{t-1}, q^2 I),  x_t | z_t ~ N(C z_t, r^2 I),   t = 1..T
    guide:  z_t | z_{t-1}, x_t ~ N(F z_{t-1} + G x_t, diag s^2)        (a linear filter-like proposal)

with the sites, plate and masks of :class:`~zoo.models.dmm.DMM` (``z_t``, ``x_t``, ``data``;
``model(x, mask)``, the mask marking each sequence's first L steps). The Kalman filter [1]
gives log p(x_{1:L}) = sum_t log N(x_t; C m_{t|t-1}, C P_{t|t-1} C^T + r^2 I) exactly.

References:
    [1] Kalman. A New Approach to Linear Filtering and Prediction Problems. J. Basic Eng. 1960
"""
from typing import Optional

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn
from torch.nn.functional import softplus

from zoo._utils.checks import positive_int
from zoo.models.vae import DATA_PLATE


class LinearGaussianSSM(nn.Module):
    """z_t = A z_{t-1} + noise, x_t = C z_t + noise, as a Pyro model/guide pair.

    Args:
        z_dim, x_dim: state and observation sizes.
        q, r: transition and observation noise scales.
        seed: seed of A (scaled to spectral radius 0.9), C and the guide's starting values.
    """

    def __init__(self, z_dim: int = 2, x_dim: int = 3, q: float = 0.5, r: float = 0.4, seed: int = 0):
        super().__init__()
        self.z_dim, self.x_dim = positive_int("z_dim", z_dim), positive_int("x_dim", x_dim)
        self.q, self.r = q, r
        g = torch.Generator().manual_seed(seed)
        a = torch.randn(z_dim, z_dim, generator=g)
        self.A = nn.Parameter(0.9 * a / torch.linalg.eigvals(a).abs().max())
        self.C = nn.Parameter(torch.randn(x_dim, z_dim, generator=g))
        self.F = nn.Parameter(self.A.detach().clone())
        self.G = nn.Parameter(0.1 * torch.randn(z_dim, x_dim, generator=g))
        self.s_raw = nn.Parameter(torch.zeros(z_dim))

    @staticmethod
    def _mask(x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        return torch.ones(x.shape[:2], dtype=torch.bool) if mask is None else mask.bool()

    def model(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> None:
        mask = self._mask(x, mask)
        z = torch.zeros(x.shape[0], self.z_dim, dtype=x.dtype)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            for t in range(x.shape[1]):
                with poutine.mask(mask=mask[:, t]):
                    z = pyro.sample(f"z_{t + 1}", dist.Normal(z @ self.A.T, self.q).to_event(1))
                    pyro.sample(f"x_{t + 1}", dist.Normal(z @ self.C.T, self.r).to_event(1), obs=x[:, t])

    def guide(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> None:
        mask = self._mask(x, mask)
        z = torch.zeros(x.shape[0], self.z_dim, dtype=x.dtype)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            for t in range(x.shape[1]):
                with poutine.mask(mask=mask[:, t]):
                    loc = z @ self.F.T + x[:, t] @ self.G.T
                    z = pyro.sample(f"z_{t + 1}", dist.Normal(loc, softplus(self.s_raw) + 0.05).to_event(1))

    @torch.no_grad()
    def set_filter_proposal(self) -> "LinearGaussianSSM":
        """The guide at p(z_t | z_{t-1}, x_t) (the locally optimal proposal: it ignores x_{t+1:T}), its
        covariance S = (I / q^2 + C^T C / r^2)^{-1} cut to the diagonal: F = S A / q^2, G = S C^T / r^2."""
        C = self.C
        S = torch.linalg.inv(torch.eye(self.z_dim, dtype=C.dtype) / self.q**2 + C.T @ C / self.r**2)
        self.F.copy_(S @ self.A / self.q**2)
        self.G.copy_(S @ C.T / self.r**2)
        scale = S.diagonal().sqrt() - 0.05
        self.s_raw.copy_(scale + torch.log(-torch.expm1(-scale)))  # softplus^{-1}
        return self

    def sample_data(self, n: int, steps: int, seed: int = 0) -> torch.Tensor:
        """``n`` sequences ``(n, steps, x_dim)`` from the model."""
        g = torch.Generator().manual_seed(seed)
        z, xs = torch.zeros(n, self.z_dim), []
        with torch.no_grad():
            for _ in range(steps):
                z = z @ self.A.T + self.q * torch.randn(n, self.z_dim, generator=g)
                xs.append(z @ self.C.T + self.r * torch.randn(n, self.x_dim, generator=g))
        return torch.stack(xs, 1).to(torch.get_default_dtype())

    @torch.no_grad()
    def log_marginal(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Exact log p(x_{1:L}) per sequence by the Kalman filter ``(N,)``; masked steps left out."""
        mask = self._mask(x, mask)
        n, dtype = x.shape[0], x.dtype
        A, C = self.A.to(dtype), self.C.to(dtype)
        m, P = torch.zeros(n, self.z_dim, dtype=dtype), torch.zeros(n, self.z_dim, self.z_dim, dtype=dtype)
        eye_z, total = torch.eye(self.z_dim, dtype=dtype), torch.zeros(n, dtype=dtype)
        for t in range(x.shape[1]):
            m, P = m @ A.T, A @ P @ A.T + self.q**2 * eye_z  # predict
            S = C @ P @ C.T + self.r**2 * torch.eye(self.x_dim, dtype=dtype)
            total = total + mask[:, t] * dist.MultivariateNormal(m @ C.T, S).log_prob(x[:, t])
            K = P @ C.T @ torch.linalg.inv(S)  # update
            m = m + (K @ (x[:, t] - m @ C.T)[..., None])[..., 0]
            P = (eye_z - K @ C) @ P
        return total
