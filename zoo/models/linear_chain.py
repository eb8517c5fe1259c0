r"""A chain of two linear-Gaussian latent layers with exact log p(x): ground truth for estimators
on models with several, dependent latent sites.

    model:  z2 ~ N(0, I),   z1 | z2 ~ N(A z2 + a, s1^2 I),   x | z1 ~ N(B z1 + b, s2^2 I)
    marginals:  z1 ~ N(a, C1),  C1 = A A^T + s1^2 I;   x ~ N(B a + b, B C1 B^T + s2^2 I)
    posterior:  p(z1, z2 | x) = p(z1 | x) p(z2 | z1)       (x is independent of z2 given z1)
        p(z1 | x) = N(S1 (C1^{-1} a + B^T (x - b) / s2^2), S1),   S1 = (C1^{-1} + B^T B / s2^2)^{-1}
        p(z2 | z1) = N(S2 A^T (z1 - a) / s1^2, S2),               S2 = (I + A^T A / s1^2)^{-1}

The guide is bottom-up, q(z1|x) q(z2|z1), each a Gaussian with a mean linear in its input and
a free Cholesky factor: a family that contains the exact posterior, so that with
:meth:`LinearGaussianChain.set_exact_posterior` every importance weight is p(x) and every
bound equals log p(x). Two layouts of the same model: ``inner_plate=False`` puts the data plate
at dim -1 and x in one site with a vector event; ``inner_plate=True`` puts the data plate at
dim -2 and each coordinate of x in a ``features`` plate at dim -1 inside it, so that an
estimator must sum that plate within a datapoint's log-weight.
"""
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.params import expose_param
from zoo.models.vae import DATA_PLATE, OBSERVED

FEATURE_PLATE = "features"
LATENTS = ("z1", "z2")


class LinearGaussianChain(nn.Module):
    """z2 -> z1 -> x, linear and Gaussian, as a Pyro model/guide pair with exact log p(x).

    Args:
        data_dim, z1_dim, z2_dim: the sizes of x, z1 and z2.
        scales: (s1, s2), the noise scales of z1 | z2 and x | z1.
        inner_plate: the data plate at dim -2 with x's coordinates in a plate inside it.
        seed: seed of the random weights and guide parameters.
    """

    def __init__(self, data_dim: int = 4, z1_dim: int = 3, z2_dim: int = 2, scales=(0.6, 0.5),
                 inner_plate: bool = False, seed: int = 0):
        super().__init__()
        self.sizes = tuple(positive_int(n, v) for n, v in (("data_dim", data_dim), ("z1_dim", z1_dim),
                                                             ("z2_dim", z2_dim)))
        self.s1, self.s2 = (positive_float(n, v) for n, v in zip(("s1", "s2"), scales))
        self.inner_plate = bool(inner_plate)
        g = torch.Generator().manual_seed(seed)
        d, d1, d2 = self.sizes
        self.A, self.a = nn.Parameter(torch.randn(d1, d2, generator=g)), nn.Parameter(torch.randn(d1, generator=g))
        self.B, self.b = nn.Parameter(torch.randn(d, d1, generator=g)), nn.Parameter(torch.randn(d, generator=g))
        # q(z1|x) = N(G1 x + g1, L1 L1^T), q(z2|z1) = N(G2 z1 + g2, L2 L2^T); L = tril, softplus diagonal
        self.G1, self.g1 = nn.Parameter(0.1 * torch.randn(d1, d, generator=g)), nn.Parameter(torch.zeros(d1))
        self.G2, self.g2 = nn.Parameter(0.1 * torch.randn(d2, d1, generator=g)), nn.Parameter(torch.zeros(d2))
        self.L1_raw, self.L2_raw = nn.Parameter(torch.zeros(d1, d1)), nn.Parameter(torch.zeros(d2, d2))

    # p(x|z1) p(z1|z2) p(z2)
    def model(self, x: torch.Tensor) -> None:
        self._register("A", "a", "B", "b")
        with self._data_plate(x):
            z2 = pyro.sample("z2", dist.Normal(self.a.new_zeros(self.sizes[2]), 1.0).to_event(1))
            z1 = pyro.sample("z1", dist.Normal(z2 @ self.A.T + self.a, self.s1).to_event(1))
            loc = z1 @ self.B.T + self.b
            if not self.inner_plate:
                pyro.sample(OBSERVED, dist.Normal(loc, self.s2).to_event(1), obs=x)
                return
            with pyro.plate(FEATURE_PLATE, self.sizes[0], dim=-1):
                pyro.sample(OBSERVED, dist.Normal(loc.squeeze(-2), self.s2), obs=x)

    # q(z1|x) q(z2|z1)
    def guide(self, x: torch.Tensor) -> None:
        self._register("G1", "g1", "G2", "g2", "L1_raw", "L2_raw")
        with self._data_plate(x):
            rows = x.unsqueeze(-2) if self.inner_plate else x
            z1 = pyro.sample("z1", dist.MultivariateNormal(rows @ self.G1.T + self.g1, scale_tril=_tril(self.L1_raw)))
            pyro.sample("z2", dist.MultivariateNormal(z1 @ self.G2.T + self.g2, scale_tril=_tril(self.L2_raw)))

    def _data_plate(self, x: torch.Tensor):
        return pyro.plate(DATA_PLATE, x.shape[0], dim=-2 if self.inner_plate else -1)

    def _register(self, *names: str) -> None:
        """Model and guide register only their own parameters (``zoo.evaluation.gradients`` groups)."""
        for name in names:
            expose_param(name, getattr(self, name))

    def _moments(self):
        d, d1, d2 = self.sizes
        eye1, eye2 = torch.eye(d1, dtype=self.A.dtype), torch.eye(d2, dtype=self.A.dtype)
        c1 = self.A @ self.A.T + self.s1**2 * eye1
        s1 = torch.linalg.inv(torch.linalg.inv(c1) + self.B.T @ self.B / self.s2**2)
        s2 = torch.linalg.inv(eye2 + self.A.T @ self.A / self.s1**2)
        return c1, s1, s2

    def marginal(self) -> dist.MultivariateNormal:
        """p(x) = N(B a + b, B C1 B^T + s2^2 I)."""
        c1, _, _ = self._moments()
        cov = self.B @ c1 @ self.B.T + self.s2**2 * torch.eye(self.sizes[0], dtype=self.A.dtype)
        return dist.MultivariateNormal(self.B @ self.a + self.b, covariance_matrix=cov)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per datapoint."""
        return self.marginal().log_prob(x)

    @torch.no_grad()
    def set_exact_posterior(self) -> None:
        """The guide at p(z1 | x) p(z2 | z1): every importance weight is then p(x)."""
        c1, s1, s2 = self._moments()
        self.G1.copy_(s1 @ self.B.T / self.s2**2)
        self.g1.copy_(s1 @ torch.linalg.solve(c1, self.a) - self.G1 @ self.b)
        self.G2.copy_(s2 @ self.A.T / self.s1**2)
        self.g2.copy_(-self.G2 @ self.a)
        for raw, cov in ((self.L1_raw, s1), (self.L2_raw, s2)):
            chol = torch.linalg.cholesky(cov)
            diag = chol.diagonal()
            raw.copy_(chol.tril(-1) + torch.diag_embed(diag + torch.log(-torch.expm1(-diag))))  # softplus^-1

    @torch.no_grad()
    def perturb(self, scale: float, seed: int = 0) -> "LinearGaussianChain":
        """Move every guide parameter by ``scale`` times standard normal noise (returns ``self``)."""
        g = torch.Generator().manual_seed(seed)
        for name in ("G1", "g1", "G2", "g2", "L1_raw", "L2_raw"):
            p = getattr(self, name)
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
        return self

    @torch.no_grad()
    def sample_data(self, n: int, seed: int = 0) -> torch.Tensor:
        """n draws of x from the model, shape (n, data_dim)."""
        g = torch.Generator().manual_seed(seed)
        d, d1, d2 = self.sizes
        z2 = torch.randn(n, d2, generator=g, dtype=self.A.dtype)
        z1 = z2 @ self.A.T + self.a + self.s1 * torch.randn(n, d1, generator=g, dtype=self.A.dtype)
        return z1 @ self.B.T + self.b + self.s2 * torch.randn(n, d, generator=g, dtype=self.A.dtype)


def _tril(raw: torch.Tensor) -> torch.Tensor:
    return raw.tril(-1) + torch.diag_embed(nn.functional.softplus(raw.diagonal()))
