r"""The Gaussian toy of Rainforth et al. 2018 (sec. 4): where the IWAE guide gradient's
signal-to-noise ratio falls like K^{-1/2} and DReG's does not.

    model:  z ~ N(mu, I_D),   x | z ~ N(z, I_D)            (theta = mu)
    guide:  q(z|x) = N(A x + b, (2/3) I_D)                 (phi = A, b)
    exact:  p(x) = N(x; mu, 2 I_D),   p(z|x) = N((x + mu) / 2, I_D / 2)

The guide's variance is fixed at 2/3, not the posterior's 1/2, so the family never holds the
exact posterior and every bound stays below log p(x); the best guide in it has A = I/2,
b = mu/2. As in [1], the parameters are set at that optimum plus N(0, ``perturbation``^2)
noise, and the SNR |E g| / std g of each gradient component is measured at increasing K:
Theorem 1 of [1] gives O(K^{-1/2}) for the IWAE guide gradient and O(K^{1/2}) for the model
gradient; the doubly reparameterized gradient [2] does not decay with K.

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are Not
        Necessarily Better. arXiv:1802.04537
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
"""
import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.params import expose_param
from zoo.models.vae import DATA_PLATE, LATENT, OBSERVED

GUIDE_VARIANCE = 2.0 / 3.0


class GaussianToy(nn.Module):
    """The model/guide pair of the module docstring, with its exact log p(x).

    Args:
        dim: D (20 in [1]).
        perturbation: standard deviation of the noise added to the optimal parameters.
        seed: seed of mu (drawn from N(0, I)) and of the perturbation.
    """

    def __init__(self, dim: int = 20, perturbation: float = 0.01, seed: int = 0):
        super().__init__()
        self.dim = positive_int("dim", dim)
        positive_float("perturbation", perturbation)
        g = torch.Generator().manual_seed(seed)
        mu = torch.randn(dim, generator=g)
        noise = lambda *shape: perturbation * torch.randn(*shape, generator=g)  # noqa: E731
        self.mu = nn.Parameter(mu + noise(dim))
        self.A = nn.Parameter(torch.eye(dim) / 2 + noise(dim, dim))
        self.b = nn.Parameter(mu / 2 + noise(dim))

    def model(self, x: torch.Tensor) -> None:
        expose_param("mu", self.mu)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            z = pyro.sample(LATENT, dist.Normal(self.mu.expand_as(x), 1.0).to_event(1))
            pyro.sample(OBSERVED, dist.Normal(z, 1.0).to_event(1), obs=x)

    def guide(self, x: torch.Tensor) -> torch.Tensor:
        expose_param("A", self.A)
        expose_param("b", self.b)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            return pyro.sample(LATENT, dist.Normal(x @ self.A.T + self.b, math.sqrt(GUIDE_VARIANCE)).to_event(1))

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; mu, 2 I) per datapoint."""
        return dist.Normal(self.mu, math.sqrt(2.0)).to_event(1).log_prob(x)

    @torch.no_grad()
    def sample_data(self, n: int, seed: int = 0) -> torch.Tensor:
        """n draws of x from the model."""
        g = torch.Generator().manual_seed(seed)
        z = self.mu + torch.randn(n, self.dim, generator=g, dtype=self.mu.dtype)
        return z + torch.randn(n, self.dim, generator=g, dtype=self.mu.dtype)
