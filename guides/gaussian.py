r"""Gaussian guides.

References:
    [1] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
"""
import torch
import pyro.distributions as dist
from torch import nn
from torch.distributions.utils import vec_to_tril_matrix
from torch.nn.functional import softplus

from guides.registry import GUIDES


@GUIDES.register("diagonal")
class DiagonalGaussian(nn.Module):
    r"""q(z|x) = N(z; mu(h), diag(sigma(h)^2)) with h the encoder's features [1].

    One linear layer gives both ``mu`` and the scale's pre-activation (a single matmul);
    sigma = softplus(.) keeps the scale positive by construction. Sampling is
    reparameterized: z = mu + sigma * eps, eps ~ N(0, I).

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
    """

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.linear = nn.Linear(in_features, 2 * latent_dim)

    def forward(self, features: torch.Tensor) -> dist.TorchDistribution:
        z_loc, z_scale = self.linear(features).split(self.latent_dim, dim=-1)
        return dist.Normal(z_loc, softplus(z_scale), validate_args=False).to_event(1)


@GUIDES.register("full-rank")
class FullRankGaussian(nn.Module):
    r"""q(z|x) = N(z; mu(h), L(h) L(h)^T) with L lower triangular (a Cholesky factor) [1].

    One linear layer gives mu, the diagonal of L through softplus (positive by
    construction) and the d(d-1)/2 entries below it, unconstrained. Sampling is
    reparameterized: z = mu + L eps. KL(q || N(0, I)) has the closed form registered in
    ``zoo.distributions``.

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
    """

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_offdiag = latent_dim * (latent_dim - 1) // 2
        self.linear = nn.Linear(in_features, 2 * latent_dim + self.num_offdiag)

    def forward(self, features: torch.Tensor) -> dist.TorchDistribution:
        d = self.latent_dim
        z_loc, diag, offdiag = self.linear(features).split([d, d, self.num_offdiag], dim=-1)
        scale_tril = torch.diag_embed(softplus(diag)) + vec_to_tril_matrix(offdiag, diag=-1)
        return dist.MultivariateNormal(z_loc, scale_tril=scale_tril, validate_args=False)
