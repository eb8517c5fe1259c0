r"""A VAE written by hand in plain PyTorch: the baseline our Pyro models are timed against.

Same networks as ``zoo.build("vae")`` (MLP encoder, linear loc and softplus-scale heads, MLP
decoder with Bernoulli logits), same objective (the single-sample ELBO, or with the KL in
closed form), same optimizer and batch order; no Pyro anywhere.

    -ELBO(x) = -[log p(x|z) + log p(z) - log q(z|x)],   z = mu + sigma * eps
    -L_K(x)  = -log (1/K) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x))   (IWAE)
"""
import math
import time
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class TorchVAE(nn.Module):
    """Bernoulli-MLP VAE with a diagonal Gaussian encoder, hand-written.

    Args:
        data_dim: number of pixels.
        hidden: encoder hidden sizes; the decoder mirrors them.
        latent_dim: dimension of z.
        analytic_kl: use KL(q || p) in closed form instead of log q - log p at the sample.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (200, 200), latent_dim: int = 50,
                 analytic_kl: bool = False):
        super().__init__()
        self.analytic_kl = analytic_kl
        enc, d = [], data_dim
        for h in hidden:
            enc += [nn.Linear(d, h), nn.Tanh()]
            d = h
        self.encoder = nn.Sequential(*enc)
        self.loc, self.scale = nn.Linear(d, latent_dim), nn.Linear(d, latent_dim)
        dec, d = [], latent_dim
        for h in reversed(hidden):
            dec += [nn.Linear(d, h), nn.Tanh()]
            d = h
        self.decoder = nn.Sequential(*dec, nn.Linear(d, data_dim))

    def neg_elbo(self, x: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        """Single-sample -ELBO per datapoint, ``x`` flattened to ``(N, data_dim)``."""
        h = self.encoder(x)
        mu, sigma = self.loc(h), F.softplus(self.scale(h))
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        z = mu + sigma * eps
        nll = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)
        if self.analytic_kl:
            kl = 0.5 * (mu**2 + sigma**2 - 1 - 2 * torch.log(sigma)).sum(-1)
        else:  # log q(z|x) - log p(z) at the sample
            kl = (0.5 * z**2 - 0.5 * eps**2 - torch.log(sigma)).sum(-1)
        return nll + kl


    def neg_iwae(self, x: torch.Tensor, num_particles: int, generator: torch.Generator = None) -> torch.Tensor:
        """-L_K per datapoint with K = ``num_particles`` reparameterized draws, vectorized."""
        h = self.encoder(x)
        mu, sigma = self.loc(h), F.softplus(self.scale(h))
        eps = torch.randn((num_particles,) + mu.shape, generator=generator, dtype=mu.dtype)
        z = mu + sigma * eps
        log_lik = -F.binary_cross_entropy_with_logits(self.decoder(z), x.expand(num_particles, *x.shape),
                                                      reduction="none").sum(-1)
        log_w = log_lik - (0.5 * z**2 - 0.5 * eps**2 - torch.log(sigma)).sum(-1)  # the 2 pi terms cancel
        return math.log(num_particles) - torch.logsumexp(log_w, 0)

    def objective(self, estimator: str, num_particles: int = 1):
        """The per-datapoint loss function ``f(x, generator)`` of zoo's estimator of that name."""
        if estimator == "iwae":
            return lambda x, g: self.neg_iwae(x, num_particles, g)
        if num_particles != 1:
            raise ValueError(f"the hand-written {estimator} uses one particle, got num_particles={num_particles}")
        return self.neg_elbo


def train_epoch(vae: TorchVAE, opt: torch.optim.Optimizer, x: torch.Tensor, order: torch.Tensor,
                batch_size: int, generator: torch.Generator, loss_fn=None) -> Tuple[float, float]:
    """One pass over ``x`` (flattened) in ``order``; returns (mean loss per datapoint, seconds).
    ``loss_fn(x, generator)`` is the per-datapoint loss (default: the single-sample -ELBO)."""
    vae.train()
    loss_fn = loss_fn or vae.neg_elbo
    start, total = time.perf_counter(), 0.0
    for b in range(0, x.shape[0], batch_size):
        loss = loss_fn(x[order[b : b + batch_size]], generator).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total / x.shape[0], time.perf_counter() - start


@torch.no_grad()
def mean_elbo(vae: TorchVAE, x: torch.Tensor, generator: torch.Generator, batch_size: int = 1000) -> float:
    """Dataset mean of the single-sample ELBO (analytic KL off: the same estimator as zoo's)."""
    vae.eval()
    analytic, vae.analytic_kl = vae.analytic_kl, False
    total = sum(vae.neg_elbo(x[b : b + batch_size], generator).sum().item() for b in range(0, x.shape[0], batch_size))
    vae.analytic_kl = analytic
    return -total / x.shape[0]


def gemm_floor_step(vae: TorchVAE, x: torch.Tensor, num_particles: int = 1) -> None:
    """The matrix products of one training step and nothing else: every ``Linear`` of the
    encoder, the two heads and the decoder (on K particles), forward and backward, without the
    activations, the sampling, the log-densities or the optimizer: the floor of a step's time."""
    h = x
    for layer in vae.encoder:
        if isinstance(layer, nn.Linear):
            h = F.linear(h, layer.weight, layer.bias)
    z = F.linear(h, vae.loc.weight, vae.loc.bias) + F.linear(h, vae.scale.weight, vae.scale.bias)
    out = z.expand(num_particles, *z.shape) if num_particles > 1 else z
    for layer in vae.decoder:
        if isinstance(layer, nn.Linear):
            out = F.linear(out, layer.weight, layer.bias)
    out.sum().backward()
