r"""A linear-Gaussian latent variable model with exact log p(x): ground truth for estimators.

    model:  z ~ N(0, I_d),   x | z ~ N(W z + b, sigma^2 I_D)
    marginal:   x ~ N(b, W W^T + sigma^2 I_D)
    posterior:  z | x ~ N(mu(x), Sigma),  Sigma = (I_d + W^T W / sigma^2)^{-1},
                mu(x) = Sigma W^T (x - b) / sigma^2

The guide is q(z|x) = N(A x + c, L L^T), a family that contains the exact posterior (its
covariance does not depend on x); ``set_exact_posterior`` puts it there, and then every
importance weight equals p(x), so every bound equals log p(x) with zero variance.
This is the probabilistic PCA model of [1].

References:
    [1] Tipping, Bishop. Probabilistic Principal Component Analysis. JRSS B 1999
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.params import expose_param
from zoo.distributions import StandardNormal
from zoo.models.vae import DATA_PLATE, LATENT, OBSERVED


class LinearGaussian(nn.Module):
    """Probabilistic PCA as a Pyro model/guide pair, with exact marginal and posterior.

    Args:
        data_dim: D, the size of x.
        latent_dim: d, the size of z.
        noise_scale: sigma > 0.
        seed: seed of the random W, b and guide parameters.
    """

    def __init__(self, data_dim: int, latent_dim: int, noise_scale: float = 0.5, seed: int = 0):
        super().__init__()
        self.data_dim, self.latent_dim = positive_int("data_dim", data_dim), positive_int("latent_dim", latent_dim)
        self.noise_scale = positive_float("noise_scale", noise_scale)
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(data_dim, latent_dim, generator=g))
        self.b = nn.Parameter(torch.randn(data_dim, generator=g))
        # guide q(z|x) = N(A x + c, L L^T); L = tril with a positive (softplus) diagonal
        self.A = nn.Parameter(0.1 * torch.randn(latent_dim, data_dim, generator=g))
        self.c = nn.Parameter(torch.zeros(latent_dim))
        self.L_raw = nn.Parameter(torch.zeros(latent_dim, latent_dim))

    # p(x|z) p(z)
    def model(self, x: torch.Tensor) -> None:
        self._register("W", "b")
        with pyro.plate(DATA_PLATE, x.shape[0]):
            z = pyro.sample(LATENT, StandardNormal(self.latent_dim, dtype=self.W.dtype, device=self.W.device))
            pyro.sample(OBSERVED, dist.Normal(z @ self.W.T + self.b, self.noise_scale).to_event(1), obs=x)

    # q(z|x)
    def guide(self, x: torch.Tensor) -> torch.Tensor:
        self._register("A", "c", "L_raw")
        with pyro.plate(DATA_PLATE, x.shape[0]):
            return pyro.sample(LATENT, self.posterior_guess(x))

    def _register(self, *names: str) -> None:
        """Model and guide each register only their own parameters, so that Pyro (and
        ``zoo.evaluation.gradients``) can tell model gradients from guide gradients."""
        for name in names:
            expose_param(name, getattr(self, name))

    def scale_tril(self) -> torch.Tensor:
        return self.L_raw.tril(-1) + torch.diag_embed(nn.functional.softplus(self.L_raw.diagonal()))

    def posterior_guess(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """The guide's q(z|x)."""
        return dist.MultivariateNormal(x @ self.A.T + self.c, scale_tril=self.scale_tril())

    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I)."""
        cov = self.W @ self.W.T + self.noise_scale**2 * torch.eye(self.data_dim, dtype=self.W.dtype)
        return dist.MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per datapoint."""
        return self.marginal().log_prob(x)

    def exact_posterior(self, x: torch.Tensor) -> dist.MultivariateNormal:
        """p(z|x) = N(mu(x), Sigma)."""
        sigma2 = self.noise_scale**2
        precision = torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / sigma2
        cov = torch.linalg.inv(precision)
        loc = (x - self.b) @ (cov @ self.W.T / sigma2).T
        return dist.MultivariateNormal(loc, covariance_matrix=cov)

    @torch.no_grad()
    def set_exact_posterior(self) -> None:
        """Put the guide at the exact posterior: A = Sigma W^T / sigma^2, c = -A b, L L^T = Sigma."""
        sigma2 = self.noise_scale**2
        cov = torch.linalg.inv(torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / sigma2)
        self.A.copy_(cov @ self.W.T / sigma2)
        self.c.copy_(-self.A @ self.b)
        L = torch.linalg.cholesky(cov)
        diag = L.diagonal()
        self.L_raw.copy_(L.tril(-1) + torch.diag_embed(diag + torch.log(-torch.expm1(-diag))))  # softplus^-1

    @torch.no_grad()
    def sample_data(self, n: int, seed: int = 0) -> torch.Tensor:
        """n draws of x from the model."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=g, dtype=self.W.dtype)
        return z @ self.W.T + self.b + self.noise_scale * torch.randn(n, self.data_dim, generator=g, dtype=self.W.dtype)
