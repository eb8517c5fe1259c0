r"""The Deep Markov Model [1]: a latent state per time step, as a Pyro model/guide pair.

    model:  z_0 learned,  z_t | z_{t-1} ~ N(loc(z_{t-1}), diag scale(z_{t-1})^2)   (gated transition)
            x_t | z_t ~ p(x_t | emitter(z_t))                                    t = 1..T
    guide:  z_t | z_{t-1}, x_{t:T} ~ q(z_t | combiner(z_{t-1}, h_t)),  h_t = backward GRU over x_{t:T}

as in Pyro's ``examples/dmm.py``; each q(z_t | .) is any head from ``guides/`` (``diagonal``, or
``iaf:K`` for the IAF of [1]'s follow-ups). Sites ``z_1 .. z_T`` and ``x_1 .. x_T`` under the
``data`` plate, so every estimator's log-weight sums over the time steps:

    log w = sum_{t <= L} [log p(x_t|z_t) + log p(z_t|z_{t-1}) - log q(z_t|z_{t-1}, x_{t:T})].

Sequences of different lengths: ``model(x, mask)`` with ``mask`` ``(N, T)`` marking each
sequence's first L steps, or ``x`` padded with NaN after its end (the mask is then
``isfinite(x)``, so ``zoo.fit`` and the CLI, which pass ``x`` alone, train on ragged data).
Masked steps are drawn but contribute nothing (``poutine.mask``). Data are ``(N, T)`` (one
value per step, the ``sines`` dataset) or ``(N, T, D)``.

References:
    [1] Krishnan, Shalit, Sontag. Structured Inference Networks for Nonlinear State Space Models.
        AAAI 2017, arXiv:1609.09869
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.poutine.util import is_validation_enabled
from torch import nn

from guides.registry import build_guide, parse_guide
from zoo._utils.checks import positive_int
from zoo._utils.options import freeze_options
from zoo._utils.params import expose_param
from zoo.likelihoods import build_likelihood
from zoo.models.vae import DATA_PLATE, VAE
from zoo.nets.dmm import BackwardRNN, Combiner, GatedTransition
from zoo.nets.mlp import ACTIVATIONS, MLPDecoder, check_sizes


class DMM(VAE):
    """Deep Markov Model; ``encoder`` is the backward RNN, ``guide_head`` the head of every q(z_t|.),
    ``decoder`` the emitter (its likelihood over one step ``(D,)``)."""

    def __init__(self, rnn: BackwardRNN, combiner: Combiner, guide_head: nn.Module, transition: GatedTransition,
                 emitter: nn.Module, likelihood, data_shape, latent_dim: int, config: Optional[dict] = None):
        super().__init__(rnn, guide_head, emitter, likelihood, latent_dim, config=config)
        self.data_shape = tuple(data_shape)  # (T,) or (T, D); the likelihood's is one step's (D,)
        self.combiner, self.transition = combiner, transition
        self.z_0 = nn.Parameter(torch.zeros(latent_dim))
        self.z_q_0 = nn.Parameter(torch.zeros(latent_dim))

    # ---- data and masks ------------------------------------------------------------------

    def steps(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        """``(x (N, T, D) with padding zeroed, mask (N, T) bool, lengths (N,))``."""
        self.check_input(x, mask=mask)
        x = x if len(self.data_shape) == 2 else x.unsqueeze(-1)
        if mask is None:
            mask = torch.isfinite(x).all(-1)
        mask = mask.bool()
        return torch.where(mask[..., None], x, torch.zeros((), dtype=x.dtype, device=x.device)), mask, mask.sum(1)

    def check_input(self, x: torch.Tensor, name: str = "x", mask: Optional[torch.Tensor] = None) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if tuple(x.shape[1:]) != self.data_shape or x.dim() not in (2, 3):
            raise ValueError(f"{name} must be sequences of shape (N, {', '.join(map(str, self.data_shape))}) "
                             f"(N sequences of T steps), got {tuple(x.shape)}")
        valid = torch.isfinite(x) if x.dim() == 2 else torch.isfinite(x).all(-1)
        if mask is not None:
            if not isinstance(mask, torch.Tensor) or mask.shape != x.shape[:2]:
                shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
                raise ValueError(f"mask must have shape (N, T) = {tuple(x.shape[:2])} to match {name}, got {shape}")
            valid = mask.bool()
        if (valid[:, 1:] & ~valid[:, :-1]).any():
            raise ValueError(f"the mask of {name} must mark a prefix of each sequence (its valid steps, then "
                             "padding); found a valid step after a padded one")
        if not valid[:, 0].all():
            raise ValueError(f"every sequence of {name} needs at least one valid step; some have none")
        if is_validation_enabled():
            steps = x if x.dim() == 3 else x.unsqueeze(-1)
            self.likelihood.check(steps[valid], name)

    # ---- Pyro model / guide ----------------------------------------------------------

    def model(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # prod_t p(x_t|z_t) p(z_t|z_{t-1})  (latent terms ^beta with kl_weight, in training)
        x, mask, _ = self.steps(x, mask)
        self._register("decoder", "transition")
        expose_param("z_0", self.z_0)
        z = self.z_0.expand(x.shape[0], -1)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            for t in range(x.shape[1]):
                with poutine.mask(mask=mask[:, t]):
                    with self._latent_scale():
                        z = pyro.sample(f"z_{t + 1}", dist.Normal(*self.transition(z)).to_event(1))
                    pyro.sample(f"x_{t + 1}", self.likelihood.dist(self.decoder(z)), obs=x[:, t])
        return z

    def guide(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        # prod_t q(z_t | z_{t-1}, x_{t:T})
        x, mask, lengths = self.steps(x, mask)
        self._register("encoder", "guide_head", "combiner")
        expose_param("z_q_0", self.z_q_0)
        h = self.encoder(x, lengths)
        z = self.z_q_0.expand(x.shape[0], -1)
        with pyro.plate(DATA_PLATE, x.shape[0]), self._latent_scale():
            for t in range(x.shape[1]):
                with poutine.mask(mask=mask[:, t]):
                    z = pyro.sample(f"z_{t + 1}", self.guide_head(self.combiner(z, h[:, t])))
        return z

    # ---- plain-torch utilities ----------------------------------------------------------

    def encode(self, x: torch.Tensor) -> dist.TorchDistribution:
        """q(z_{1:T}|x) as one distribution over the flattened trajectory ``(N, T * latent_dim)``."""
        return Trajectory(self, x)

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True, length: Optional[int] = None) -> torch.Tensor:
        """``n`` sequences of ``length`` steps (default T) from the model: ``(n, *data_shape)``."""
        positive_int("n", n)
        length = self.data_shape[0] if length is None else positive_int("length", length)
        z, out = self.z_0.expand(n, -1), []
        for _ in range(length):
            z = dist.Normal(*self.transition(z)).sample()
            out.append(self.generate(z, mean))
        x = torch.stack(out, 1)
        return x if len(self.data_shape) == 2 else x.squeeze(-1)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, num_samples: int = 1, mean: bool = True) -> torch.Tensor:
        """``num_samples`` reconstructions: z_{1:T} ~ q(.|x), then E[x_t|z_t] (or draws); padding is NaN."""
        positive_int("num_samples", num_samples)
        z = self.encode(x).sample((num_samples,)).reshape(num_samples, x.shape[0], x.shape[1], -1)
        out = self.generate(z, mean)
        out = out if len(self.data_shape) == 2 else out.squeeze(-1)
        valid = self.steps(x)[1].reshape(x.shape[:2] + (1,) * (x.dim() - 2))
        return torch.where(valid, out, torch.full((), float("nan"), dtype=out.dtype))

    def kl(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """KL(q(z_{1:T}|x) || p(z_{1:T})) per sequence, a Monte Carlo mean over ``num_samples`` trajectories."""
        q = self.encode(x)
        z = q.rsample((num_samples,))
        return (q.log_prob(z) - self.log_prior(z, self.steps(x)[1])).mean(0)

    def log_prior(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log p(z_{1:T}) of flattened trajectories ``(..., N, T * latent_dim)``, masked steps left out."""
        z = z.reshape(z.shape[:-1] + (mask.shape[1], self.latent_dim))
        prev = torch.cat([self.z_0.expand(z.shape[:-2] + (1, self.latent_dim)), z[..., :-1, :]], -2)
        log_p = dist.Normal(*self.transition(prev)).log_prob(z).sum(-1)
        return (log_p * mask).sum(-1)


class Trajectory(dist.TorchDistribution):
    """q(z_{1:T}|x) of a :class:`DMM`'s guide, flattened to event shape ``(T * latent_dim,)``: drawn
    step by step, its density the product of the steps' (exact wherever each q(z_t|.) is); the
    padded steps of a sequence are drawn but carry no density. No closed-form mean."""

    arg_constraints = {}
    support = dist.constraints.real_vector
    has_rsample = True

    def __init__(self, dmm: DMM, x: torch.Tensor):
        self.dmm = dmm
        self.x, self.mask, lengths = dmm.steps(x)
        self.h = dmm.encoder(self.x, lengths)
        super().__init__(torch.Size([x.shape[0]]), torch.Size([x.shape[1] * dmm.latent_dim]), validate_args=False)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        z, out = self.dmm.z_q_0.expand(torch.Size(sample_shape) + (self.x.shape[0], self.dmm.latent_dim)), []
        for t in range(self.x.shape[1]):
            z = self.dmm.guide_head(self.dmm.combiner(z, self.h[:, t])).rsample()
            out.append(z)
        return torch.cat(out, -1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        n = self.x.shape[0]
        if value.dim() >= 2 and value.shape[-2] != n and not bool(self.mask.all()):
            raise NotImplementedError("q(z_{1:T}|x) of sequences of different lengths cannot score one another's "
                                      "trajectories: they have different numbers of valid steps")
        z = value.reshape(value.shape[:-1] + (self.x.shape[1], self.dmm.latent_dim))
        total, prev = 0.0, self.dmm.z_q_0
        for t in range(self.x.shape[1]):
            q = self.dmm.guide_head(self.dmm.combiner(prev, self.h[:, t]))
            total = total + q.log_prob(z[..., t, :]) * self.mask[:, t]
            prev = z[..., t, :]
        return total


@dataclass(frozen=True)
class DMMConfig:
    """Architecture of :class:`DMM`; defaults are those of Pyro's ``examples/dmm.py``.

    Args:
        data_shape: ``(T,)`` (one value per step) or ``(T, D)``.
        latent_dim: z_dim.
        emission_dim, transition_dim, rnn_dim: widths of the emitter's two hidden layers, of the
            gated transition, and of the backward GRU.
        activation: the emitter's hidden activation.
        likelihood: of one step (``zoo.likelihoods``): ``gaussian`` (default; for the sines) or ``bernoulli``
            (polyphonic music in [1]); ``likelihood_options`` its options (default scale 0.1 for ``gaussian``).
        guide: the head of each q(z_t|.): ``diagonal``, ``iaf:K``, ...
    """

    data_shape: Tuple[int, ...] = (50,)
    latent_dim: int = 100
    emission_dim: int = 100
    transition_dim: int = 200
    rnn_dim: int = 600
    activation: str = "relu"
    likelihood: str = "gaussian"
    guide: str = "diagonal"
    likelihood_options: Tuple[Tuple[str, Any], ...] = ()

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        shape = check_sizes("data_shape", self.data_shape, allow_empty=False)
        if len(shape) not in (1, 2):
            raise ValueError(f"dmm needs sequences: data of shape (N, T) or (N, T, D), got one datum of shape {shape} "
                             "(images have no time axis; use vae or conv-vae)")
        set_("data_shape", shape)
        for name in ("latent_dim", "emission_dim", "transition_dim", "rnn_dim"):
            positive_int(name, getattr(self, name))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose from {', '.join(sorted(ACTIVATIONS))}")
        options = dict(freeze_options(self.likelihood_options))
        if self.likelihood == "gaussian" and "scale" not in options:
            options["scale"] = 0.1
        set_("likelihood_options", freeze_options(options))
        build_likelihood(self.likelihood, self.data_shape[1:] or (1,), **options)
        parse_guide(self.guide)


def build_dmm(**kwargs) -> DMM:
    """A Deep Markov Model; keyword arguments are the fields of :class:`DMMConfig`."""
    cfg = DMMConfig(**kwargs)
    step = cfg.data_shape[1:] or (1,)
    likelihood = build_likelihood(cfg.likelihood, step, **dict(cfg.likelihood_options))
    emitter = MLPDecoder(cfg.latent_dim, step, (cfg.emission_dim, cfg.emission_dim), cfg.activation,
                         likelihood.num_params)
    return DMM(BackwardRNN(step[0], cfg.rnn_dim), Combiner(cfg.latent_dim, cfg.rnn_dim),
               build_guide(cfg.guide, cfg.rnn_dim, cfg.latent_dim), GatedTransition(cfg.latent_dim, cfg.transition_dim),
               emitter, likelihood, cfg.data_shape, cfg.latent_dim, config={"model": "dmm", **dataclasses.asdict(cfg)})
