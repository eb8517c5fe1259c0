r"""The deterministic autoencoder, the autoencoder tutorial's baseline, as a Pyro model/guide pair.

    model:  z ~ flat improper prior (log p(z) = 0),  x | z ~ p_theta(x | z)
    guide:  q(z|x) = delta(z - f_phi(x))              (a point mass at the encoder's code)

At the guide's only draw z_hat = f_phi(x) the ELBO's integrand is

    log p(x | z_hat) + log p(z_hat) - log q(z_hat | x) = log p(x | z_hat) + 0 - 0,

so ``zoo.fit``/SVI with any ELBO maximizes exactly the reconstruction log-likelihood: the
loss is the summed binary cross-entropy with logits for ``bernoulli``, and
||x - mu||^2 / (2 sigma^2) + D (log sigma + log(2 pi) / 2) -- the tutorial's mean squared error up
to a factor and a constant -- for ``gaussian``. Nothing is random, so one particle suffices.
The number is no bound on log p(x): an improper prior defines no normalized p(x), and
KL(q(z|x) || p(z)) between a point mass and an improper prior is undefined (``kl`` raises).
"""
from typing import Optional

import pyro.distributions as dist
import torch
from pyro.distributions import ImproperUniform
from torch import nn
from torch.distributions import constraints

from zoo._utils.checks import positive_float, positive_int
from zoo.likelihoods import Likelihood
from zoo.models.vae import VAE

POINT_MASS = "delta"  # the autoencoder's only guide


class PointMassHead(nn.Module):
    r"""q(z|x) = delta(z - (W h + b)): a point mass at a linear map of the encoder features h.

    Args:
        in_features: size of the encoder's feature vector.
        latent_dim: dimension of z.
    """

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_features, latent_dim)

    def forward(self, features: torch.Tensor) -> dist.TorchDistribution:
        return dist.Delta(self.linear(features), event_dim=1)


class FlatPrior(ImproperUniform):
    r"""p(z) proportional to 1 on R^latent_dim: log-density 0, no sampling.

    Pyro's ``ImproperUniform`` returns float32 CPU zeros; these follow ``z``'s dtype and device.
    """

    def __init__(self, latent_dim: int, batch_shape=torch.Size()):
        super().__init__(constraints.real_vector, torch.Size(batch_shape), torch.Size([latent_dim]))

    def expand(self, batch_shape, _instance=None) -> "FlatPrior":
        return FlatPrior(self.event_shape[0], batch_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        shape = torch.broadcast_shapes(value.shape[: value.dim() - 1], self.batch_shape)
        return value.new_zeros(()).expand(shape)


class Autoencoder(VAE):
    """A deterministic autoencoder: a VAE's networks and likelihood, guide fixed to a point mass.

    ``model`` and ``guide`` are the VAE's (one data plate, same site names); only the prior
    and the guide head differ. Build it with ``zoo.build("ae", ...)`` (the VAE's keyword
    arguments; ``guide`` can only be ``"delta"``).

    Args:
        encoder: maps ``(N, *data_shape)`` to features ``(N, encoder.out_features)``.
        decoder: maps ``(..., latent_dim)`` to likelihood parameters.
        likelihood: turns decoder outputs into p(x|z).
        latent_dim: dimension of z.
        config: the arguments ``zoo.build`` was called with (kept for ``zoo.load``).
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        latent_dim: int,
        config: Optional[dict] = None,
    ):
        head = PointMassHead(encoder.out_features, latent_dim)
        super().__init__(encoder, head, decoder, likelihood, latent_dim, config=config)

    def prior(self) -> dist.TorchDistribution:
        """The flat improper prior, log p(z) = 0."""
        return FlatPrior(self.latent_dim)

    def kl(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """Undefined: raises ``NotImplementedError``."""
        raise NotImplementedError(
            "KL(q(z|x) || p(z)) is undefined for the autoencoder: q(z|x) is a point mass and p(z) "
            "an improper flat prior; its ELBO is the reconstruction log-likelihood log p(x|z_hat) alone"
        )

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True, z_scale: float = 1.0) -> torch.Tensor:
        """Decoded latent noise z ~ N(0, z_scale^2 I): ``(n, *data_shape)``.

        The flat prior cannot be sampled; like the autoencoder tutorial, which decodes
        ``np.random.normal(scale=1e-2, size=[1, dimZ])``, this shows that an autoencoder's
        latent space is no generative model -- nothing ties the codes of the data to N(0, I)
        or to any other distribution, so decoded noise need not look like data.

        Args:
            n: number of samples.
            mean: return the likelihood's mean rather than a draw.
            z_scale: standard deviation of the latent noise (the autoencoder tutorial uses 1e-2).
        """
        positive_int("n", n)
        positive_float("z_scale", z_scale)
        z = z_scale * torch.randn(n, self.latent_dim, dtype=self._zero.dtype, device=self._zero.device)
        return self.generate(z, mean)
