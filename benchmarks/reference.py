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


class TorchHVAE(nn.Module):
    """The two-stochastic-layer model of ``zoo.build("hvae")``, hand-written: the same networks
    (x -> 200-200 -> z1 (100) -> 100-100 -> z2 (50); z2 -> 100-100 -> z1; z1 -> 200-200 -> x; tanh;
    each Gaussian layer one linear map to loc and softplus scale), the same objectives:

        log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)
    """

    def __init__(self, data_dim: int = 784, latent_dims: Sequence[int] = (100, 50),
                 hidden: Sequence[int] = (200, 100), depth: int = 2):
        super().__init__()
        (d1, d2), (h1, h2) = latent_dims, hidden
        self.analytic_kl = False
        self.encoder, self.head1 = _tanh_mlp(data_dim, [h1] * depth), nn.Linear(h1, 2 * d1)
        self.up, self.head2 = _tanh_mlp(d1, [h2] * depth), nn.Linear(h2, 2 * d2)
        self.conditional, self.cond_head = _tanh_mlp(d2, [h2] * depth), nn.Linear(h2, 2 * d1)
        self.decoder = nn.Sequential(*_tanh_mlp(d1, [h1] * depth), nn.Linear(h1, data_dim))

    def log_weights(self, x: torch.Tensor, num_particles: int, generator: torch.Generator = None) -> torch.Tensor:
        """``(K, N)`` log-weights with K = ``num_particles`` reparameterized draws (the 2 pi terms cancel)."""
        mu1, s1 = _gaussian(self.head1(self.encoder(x)))
        e1 = torch.randn((num_particles,) + mu1.shape, generator=generator, dtype=mu1.dtype)
        z1 = mu1 + s1 * e1
        mu2, s2 = _gaussian(self.head2(self.up(z1)))
        e2 = torch.randn(mu2.shape, generator=generator, dtype=mu2.dtype)
        z2 = mu2 + s2 * e2
        m1, t1 = _gaussian(self.cond_head(self.conditional(z2)))
        log_q = (-0.5 * e1**2 - torch.log(s1)).sum(-1) + (-0.5 * e2**2 - torch.log(s2)).sum(-1)
        log_p = (-0.5 * z2**2).sum(-1) + (-0.5 * ((z1 - m1) / t1) ** 2 - torch.log(t1)).sum(-1)
        log_lik = -F.binary_cross_entropy_with_logits(self.decoder(z1), x.expand(num_particles, *x.shape),
                                                      reduction="none").sum(-1)
        return log_lik + log_p - log_q

    def neg_elbo(self, x: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        return -self.log_weights(x, 1, generator)[0]

    def neg_iwae(self, x: torch.Tensor, num_particles: int, generator: torch.Generator = None) -> torch.Tensor:
        return math.log(num_particles) - torch.logsumexp(self.log_weights(x, num_particles, generator), 0)

    objective = TorchVAE.objective


class TorchSBN(nn.Module):
    """The sigmoid belief net of ``zoo.build("sbn")`` (one layer of binary units, affine maps),
    hand-written, trained with VIMCO [Mnih & Rezende 2016]:

        log w_k = log p(x|h_k) + log p(h_k) - log q(h_k|x),   h_k ~ q(h|x) = Bernoulli(sigmoid(W x + c))
        surrogate = L_K + sum_k (L_K - L^{-k}) log q(h_k|x),   L^{-k}: w_k -> geometric mean of the others
    """

    def __init__(self, data_dim: int = 784, units: int = 200):
        super().__init__()
        self.analytic_kl = False
        self.encoder, self.decoder = nn.Linear(data_dim, units), nn.Linear(units, data_dim)
        self.prior = nn.Parameter(torch.zeros(units))

    def log_weights(self, x: torch.Tensor, num_particles: int, generator: torch.Generator = None):
        """``(K, N)`` log-weights and log q(h_k|x)."""
        logits = self.encoder(x)
        h = torch.bernoulli(torch.sigmoid(logits).expand((num_particles,) + logits.shape), generator=generator)
        log_q = -F.binary_cross_entropy_with_logits(logits.expand_as(h), h, reduction="none").sum(-1)
        log_prior = -F.binary_cross_entropy_with_logits(self.prior.expand_as(h), h, reduction="none").sum(-1)
        log_lik = -F.binary_cross_entropy_with_logits(self.decoder(h), x.expand(num_particles, *x.shape),
                                                      reduction="none").sum(-1)
        return log_lik + log_prior - log_q, log_q

    def neg_vimco(self, x: torch.Tensor, num_particles: int, generator: torch.Generator = None) -> torch.Tensor:
        """-surrogate per datapoint: its value is -L_K, its gradient VIMCO's."""
        log_w, log_q = self.log_weights(x, num_particles, generator)
        k = num_particles
        bound = torch.logsumexp(log_w, 0) - math.log(k)
        lw = log_w.detach()
        others = (lw.sum(0, keepdim=True) - lw) / (k - 1)  # (K, N): mean log-weight of the other K - 1
        # row j of (K, K, N): the log-weights with the j-th replaced by the others' mean
        eye = torch.eye(k, dtype=torch.bool).unsqueeze(-1)
        loo = torch.logsumexp(torch.where(eye, others.unsqueeze(1), lw.unsqueeze(0)), 1)
        signal = bound.detach() - (loo - math.log(k))
        surrogate = bound + (signal * log_q).sum(0)
        return -(bound.detach() + surrogate - surrogate.detach())

    def neg_elbo(self, x: torch.Tensor, generator: torch.Generator = None) -> torch.Tensor:
        return -self.log_weights(x, 1, generator)[0][0]

    def objective(self, estimator: str, num_particles: int = 1):
        if estimator != "vimco":
            raise ValueError(f"the hand-written sigmoid belief net trains with vimco, got {estimator!r}")
        return lambda x, g: self.neg_vimco(x, num_particles, g)


def _tanh_mlp(in_features: int, hidden: Sequence[int]) -> nn.Sequential:
    layers = []
    for h in hidden:
        layers += [nn.Linear(in_features, h), nn.Tanh()]
        in_features = h
    return nn.Sequential(*layers)


def _gaussian(out: torch.Tensor):
    loc, scale = out.chunk(2, -1)
    return loc, F.softplus(scale)


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
