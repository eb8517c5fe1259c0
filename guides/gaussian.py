r"""Gaussian guides.

References:
    [1] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
"""
import torch
import pyro.distributions as dist
from torch import nn
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
