r"""The sequence VAE of the GRU sequence-VAE tutorial (GRU encoder, frame-emitting GRU decoder)
as a Pyro model/guide pair.

    model:  z ~ N(0, I),  x_{1:T} | z ~ N(mu_theta(z), sigma^2 I_T)      (sigma fixed or sigma_theta(z))
    guide:  z | x ~ q_phi(z | h_T(x))                                     (any head from ``guides/``)

The Gaussian over the whole sequence turns the tutorial's L2 loss into a log-likelihood,

    -log p(x|z) = ||x - mu(z)||^2 / (2 sigma^2) + T (log sigma + log(2 pi) / 2),

so every estimator and the evaluator apply. Teacher forcing (``teacher_forcing`` = p, see
``zoo.nets.seq``) feeds true frames to the decoder, only in training mode.

KL annealing [2]: while training, ``kl_weight`` = beta scales the latent site's log-densities
in both model and guide (``poutine.scale`` on z alone), so ``Trace_ELBO`` maximizes

    E_q[log p(x|z)] - beta KL(q(z|x) || p(z)),

and an importance-weighted objective sees log w = log p(x|z) + beta (log p(z) - log q(z|x)), the
weight inside each log-weight, never a factor on the whole bound. In eval mode the model is the
plain, unscaled one, so ``log_weights``, the ELBO and IWAE bounds are true bounds on log p(x)
whatever beta is. ``linear_warmup``/``KLWarmup`` raise beta from 1/n to 1 over n epochs.

References:
    [1] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
    [2] Bowman, Vilnis, Vinyals, Dai, Jozefowicz, Bengio. Generating Sentences from a
        Continuous Space. CoNLL 2016, arXiv:1511.06349
"""
import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import pyro
import pyro.distributions as dist
import torch

from guides.registry import build_guide, parse_guide
from zoo._utils.checks import positive_int
from zoo._utils.options import freeze_options
from zoo.likelihoods import Likelihood, build_likelihood
from zoo.models.vae import DATA_PLATE, LATENT, OBSERVED, VAE
from zoo.nets.mlp import check_sizes
from zoo.nets.seq import GRUEncoder, GRUFrameDecoder

SEQ_LIKELIHOODS = ("gaussian", "gaussian-learned")
# sigma = 0.1 when none is given. With the Gaussian's default sigma = 1 (above the signal's std
# of 0.73) the posterior collapses on sines: test KL 0.003 nats and an MSE equal to the signal
# variance after 100 epochs (`vaezoo seq --likelihood-scale 1 --epochs 100`).
DEFAULT_SCALE = 0.1


@dataclass(frozen=True)
class SeqVAEConfig:
    """Architecture of the sequence VAE; defaults are the GRU sequence-VAE tutorial's.

    Args:
        data_shape: ``(T,)`` or ``(T, 1)``: one univariate sequence of T samples.
        latent_dim: dimension of z (seed: 2).
        hidden: GRU state sizes ``(encoder, decoder)`` (seed: 10 and 20).
        samples_per_step: frames the decoder emits per step (seed: 5).
        teacher_forcing: probability of feeding a true frame at each decoding step in training
            (0 switches it off; the tutorial's example call uses 0.6).
        likelihood: ``gaussian`` (fixed scale; ``DEFAULT_SCALE`` unless set in
            ``likelihood_options``) or ``gaussian-learned`` (the decoder emits log sigma per sample).
        likelihood_options: the likelihood's options, e.g. ``{"scale": 0.05}``.
        guide: guide name (``guides``), on the encoder's last GRU state.
        activation: the GRUs' own (tanh); accepted only so the CLI's ``--activation`` fits.
    """

    data_shape: Tuple[int, ...] = (50,)
    latent_dim: int = 2
    hidden: Tuple[int, ...] = (10, 20)
    samples_per_step: int = 5
    teacher_forcing: float = 0.0
    likelihood: str = "gaussian"
    likelihood_options: Tuple[Tuple[str, Any], ...] = ()
    guide: str = "diagonal"
    activation: str = "tanh"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        shape = check_sizes("data_shape", self.data_shape, allow_empty=False)
        if len(shape) > 2 or shape[1:] not in ((), (1,)):
            raise ValueError(f"data_shape must be (T,) or (T, 1) for seq-vae, got {shape}")
        set_("data_shape", shape)
        hidden = check_sizes("hidden", self.hidden, allow_empty=False)
        if len(hidden) != 2:
            raise ValueError(f"hidden must be two GRU sizes (encoder, decoder) for seq-vae, got {hidden}")
        set_("hidden", hidden)
        positive_int("latent_dim", self.latent_dim)
        positive_int("samples_per_step", self.samples_per_step)
        _check_probability("teacher_forcing", self.teacher_forcing)
        if self.likelihood not in SEQ_LIKELIHOODS:
            raise ValueError(
                f"seq-vae needs a Gaussian likelihood (the decoder feeds back its mean), got "
                f"likelihood={self.likelihood!r}; choose from {', '.join(SEQ_LIKELIHOODS)}"
            )
        options = dict(freeze_options(self.likelihood_options))
        if self.likelihood == "gaussian":
            options.setdefault("scale", DEFAULT_SCALE)
        set_("likelihood_options", freeze_options(options))
        if self.activation != "tanh":
            raise ValueError(f"seq-vae's GRUs have their own tanh activation; activation must be 'tanh', "
                             f"got {self.activation!r}")
        build_likelihood(self.likelihood, shape, **options)
        parse_guide(self.guide)


def _check_probability(name: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    return float(p)


class SeqVAE(VAE):
    """A VAE over univariate sequences ``(N, T)`` or ``(N, T, 1)``.

    Args:
        encoder: :class:`~zoo.nets.seq.GRUEncoder`.
        guide_head: maps the encoder's features to q(z|x).
        decoder: :class:`~zoo.nets.seq.GRUFrameDecoder`.
        likelihood: a Gaussian over the sequence.
        latent_dim: dimension of z.
        teacher_forcing: per-step probability of feeding true frames, in training mode only.
        config: the arguments ``zoo.build`` was called with.
    """

    def __init__(self, encoder: GRUEncoder, guide_head, decoder: GRUFrameDecoder, likelihood: Likelihood,
                 latent_dim: int, teacher_forcing: float = 0.0, config: Optional[dict] = None):
        super().__init__(encoder, guide_head, decoder, likelihood, latent_dim, config=config)
        self.length = self.data_shape[0]
        self.teacher_forcing = _check_probability("teacher_forcing", teacher_forcing)

    # ---- Pyro model / guide ----------------------------------------------------------

    def model(self, x: torch.Tensor) -> torch.Tensor:
        # p(x|z) p(z), log p(z) weighted by kl_weight while training
        self.check_input(x)
        self._register("decoder")
        target = x.reshape(x.shape[0], self.length) if self.training and self.teacher_forcing > 0 else None
        with pyro.plate(DATA_PLATE, x.shape[0]):
            with self._latent_scale():
                z = pyro.sample(LATENT, self.prior())
            params = self._params(z, self.length, target)
            pyro.sample(OBSERVED, self.likelihood.dist(params), obs=x)
        return z

    def _params(self, z: torch.Tensor, length: int, target: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Likelihood parameters ``(..., num_params, length, *data_shape[1:])``."""
        params = self.decoder(z, length, target, self.teacher_forcing if target is not None else 0.0)
        return params.reshape(params.shape + self.data_shape[1:])

    # ---- plain-torch utilities ----------------------------------------------------------

    def encode(self, x: torch.Tensor) -> dist.TorchDistribution:
        """q(z|x) with batch shape ``(N,)``: the guide head on the encoder's last GRU state."""
        return self.guide_head(self.encoder(x.reshape(x.shape[0], -1)))

    def decode(self, z: torch.Tensor, length: Optional[int] = None) -> dist.TorchDistribution:
        """p(x|z) over ``length`` samples (default T) for a chosen ``z`` (the tutorial's latent override);
        no teacher forcing."""
        return self.likelihood.dist(self._params(z, self._length(length)))

    def generate(self, z: torch.Tensor, mean: bool = True, length: Optional[int] = None) -> torch.Tensor:
        """Sequences ``(..., length, *data_shape[1:])`` for codes ``z``: the mean, or a draw."""
        params = self._params(z, self._length(length))
        return self.likelihood.mean(params) if mean else self.likelihood.dist(params).sample()

    @torch.no_grad()
    def sample(self, n: int, mean: bool = True, length: Optional[int] = None) -> torch.Tensor:
        """``n`` sequences of ``length`` samples (default T) generated from the prior."""
        positive_int("n", n)
        return self.generate(self.prior().sample((n,)), mean, length)

    def _length(self, length: Optional[int]) -> int:
        return self.length if length is None else positive_int("length", length)


# ---- KL warm-up ---------------------------------------------------------------------------


def linear_warmup(step: int, num_steps: int) -> float:
    r"""beta_t = min(1, t / n) for t = 1, 2, ...: the linear KL warm-up of [2], never 0.

    Args:
        step: the current step or epoch t, counted from 1.
        num_steps: n, the length of the warm-up.
    """
    return min(1.0, positive_int("step", step) / positive_int("num_steps", num_steps))


class KLWarmup:
    """Sets ``vae.kl_weight`` (any ``zoo.VAE``) per epoch: ``zoo.fit(vae, x, before_epoch=KLWarmup(vae, epochs=10))``.

    A function of the epoch alone, so a resumed run anneals exactly as an uninterrupted one;
    the weight is added to each epoch's history record as ``kl_weight``.
    """

    def __init__(self, vae: VAE, epochs: int):
        self.vae, self.epochs = vae, positive_int("epochs", epochs)

    def __call__(self, epoch: int) -> dict:
        self.vae.kl_weight = linear_warmup(epoch, self.epochs)
        return {"kl_weight": self.vae.kl_weight}


# ---- zoo.build("seq-vae") -------------------------------------------------------------------


def build_seq_vae(**kwargs) -> SeqVAE:
    """The sequence VAE; keyword arguments are the fields of :class:`SeqVAEConfig`."""
    cfg = SeqVAEConfig(**kwargs)
    likelihood = build_likelihood(cfg.likelihood, cfg.data_shape, **dict(cfg.likelihood_options))
    encoder = GRUEncoder(cfg.hidden[0])
    head = build_guide(cfg.guide, encoder.out_features, cfg.latent_dim)
    decoder = GRUFrameDecoder(cfg.latent_dim, cfg.hidden[1], cfg.samples_per_step, likelihood.num_params)
    config = {"model": "seq-vae", **dataclasses.asdict(cfg)}
    return SeqVAE(encoder, head, decoder, likelihood, cfg.latent_dim, cfg.teacher_forcing, config=config)
