r"""The variational autoencoder as a Pyro model/guide pair.

    model:  z ~ N(0, I),  x | z ~ p_theta(x | z)        (decoder + likelihood)
    guide:  z | x ~ q_phi(z | x)                         (encoder + guide head, ``guides/``)

Both run under one ``pyro.plate("data")`` so any ``pyro.infer.ELBO`` applies, including
vectorized particles (the decoder accepts leading batch dimensions).

References:
    [1] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
    [2] Rezende, Mohamed, Wierstra. Stochastic Backpropagation and Approximate Inference
        in Deep Generative Models. arXiv:1401.4082
"""
import contextlib
from typing import Optional

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence
from pyro.poutine.util import is_validation_enabled
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.params import expose
from zoo.likelihoods import Likelihood
from zoo.models.priors import Prior, StandardPrior

LATENT = "z"
OBSERVED = "x"
DATA_PLATE = "data"


class VAE(nn.Module):
    """A VAE assembled from an encoder, a guide head, a decoder and a likelihood.

    Args:
        encoder: maps ``(N, *data_shape)`` to features ``(N, encoder.out_features)``.
        guide_head: maps features to a distribution over z with event shape ``(latent_dim,)``.
        decoder: maps ``(..., latent_dim)`` to likelihood parameters.
        likelihood: turns decoder outputs into p(x|z).
        latent_dim: dimension of z.
        config: the arguments ``zoo.build`` was called with (kept for ``zoo.load``).
        prior: p(z), a :class:`~zoo.models.priors.Prior` (default: the standard normal).
    """

    def __init__(
        self,
        encoder: nn.Module,
        guide_head: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        latent_dim: int,
        config: Optional[dict] = None,
        prior: Optional[Prior] = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.guide_head = guide_head
        self.decoder = decoder
        self.likelihood = likelihood
        self.latent_dim = latent_dim
        self.data_shape = likelihood.data_shape
        self.config = dict(config or {})
        self._kl_weight = 1.0
        self.register_buffer("_zero", torch.zeros(()), persistent=False)
        self.latent_prior = prior if prior is not None else StandardPrior(latent_dim)

    # ---- Pyro model / guide ----------------------------------------------------------

    @property
    def kl_weight(self) -> float:
        """beta, the weight of the latent site's log-densities while training (1: the ELBO).

        With beta != 1, ``poutine.scale(beta)`` on z in both model and guide makes Trace_ELBO
        optimize E_q[log p(x|z)] - beta KL(q || p): a weighted objective, not a bound (beta-VAE
        [Higgins et al. 2017], KL warm-up [Bowman et al. 2016]). In eval mode the sites are
        never scaled, so evaluation always reports the true bounds.
        """
        return self._kl_weight

    @kl_weight.setter
    def kl_weight(self, beta: float) -> None:
        self._kl_weight = positive_float("kl_weight", beta)

    def _latent_scale(self):
        """``poutine.scale(kl_weight)`` while training with kl_weight != 1; no handler otherwise
        (``zoo.estimators.log_weights`` refuses scaled sites)."""
        if self.training and self._kl_weight != 1.0:
            return poutine.scale(scale=self._kl_weight)
        return contextlib.nullcontext()

    def model(self, x: torch.Tensor) -> torch.Tensor:
        # p(x|z) p(z)^beta  (beta = kl_weight, in training mode only)
        self.check_input(x)
        self._register("decoder", "latent_prior")
        with pyro.plate(DATA_PLATE, x.shape[0]):
            with self._latent_scale():
                z = pyro.sample(LATENT, self.prior())
            params = self.decoder(z)
            pyro.sample(OBSERVED, self.likelihood.dist(params), obs=x)
        return z

    def guide(self, x: torch.Tensor) -> torch.Tensor:
        # q(z|x)^beta  (beta = kl_weight, in training mode only)
        self.check_input(x)
        self._register("encoder", "guide_head")
        with pyro.plate(DATA_PLATE, x.shape[0]), self._latent_scale():
            return pyro.sample(LATENT, self.encode(x))

    def _register(self, *children: str) -> None:
        """``param`` sites for the named children's parameters, for plain ``SVI`` with a
        ``pyro.optim`` optimizer; nothing under ``zoo.fit`` (``zoo._utils.params``)."""
        for child in children:
            expose(child, getattr(self, child))

    # ---- plain-torch utilities ----------------------------------------------------------

    def prior(self) -> dist.TorchDistribution:
        """p(z): N(0, I) by default, or the learned prior given (``zoo.models.priors``)."""
        return self.latent_prior(self.encode)

    def encode(self, x: torch.Tensor) -> dist.TorchDistribution:
        """q(z|x) as a distribution with batch shape ``(N,)`` and event shape ``(latent_dim,)``."""
        return self.guide_head(self.encoder(x))

    def decode(self, z: torch.Tensor) -> dist.TorchDistribution:
        """p(x|z) as a distribution."""
        return self.likelihood.dist(self.decoder(z))

    def generate(self, z: torch.Tensor, mean: bool = True) -> torch.Tensor:
        """Data for codes ``z``: the likelihood's mean (e.g. Bernoulli probabilities), or a draw."""
        params = self.decoder(z)
        return self.likelihood.mean(params) if mean else self.likelihood.dist(params).sample()

    def kl(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        r"""KL(q(z|x) || p(z)) per datapoint: analytic where registered, else a Monte Carlo mean."""
        q, prior = self.encode(x), self.prior()
        try:
            return kl_divergence(q, prior)
        except NotImplementedError:
            z = q.rsample((num_samples,))
            return (q.log_prob(z) - prior.log_prob(z)).mean(0)

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True) -> torch.Tensor:
        """Data generated from the prior, x = E[x | z] (or a draw) with z ~ p(z): ``(n, *data_shape)``.

        Args:
            n: number of samples.
            mean: return the likelihood's mean (e.g. Bernoulli probabilities) rather than a draw.
        """
        positive_int("n", n)
        return self.generate(self.prior().sample((n,)), mean)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, num_samples: int = 1, mean: bool = True) -> torch.Tensor:
        """``num_samples`` reconstructions of each input, z ~ q(z|x): ``(num_samples, N, *data_shape)``."""
        positive_int("num_samples", num_samples)
        self.check_input(x)
        return self.generate(self.encode(x).sample((num_samples,)), mean)

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Type and shape checks always; support checks while Pyro validation is enabled."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != len(self.data_shape) + 1 or tuple(x.shape[1:]) != self.data_shape:
            raise ValueError(
                f"{name} must have shape (N, {', '.join(map(str, self.data_shape))}) to match "
                f"data_shape={self.data_shape}, got {tuple(x.shape)}"
            )
        if is_validation_enabled():
            self.likelihood.check(x, name)
