"""Models by name: ``zoo.build("vae", ...)`` assembles networks, guide and likelihood."""
import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from torch import nn

from guides.registry import build_guide
from zoo._utils.checks import positive_int
from zoo._utils.registry import Registry
from zoo.likelihoods import build_likelihood
from zoo.models.autoencoder import POINT_MASS, Autoencoder
from zoo.models.configs import check_mlp_config
from zoo.models.conv_vae import ConvVAE, ConvVAEConfig
from zoo.models.dmm import DMMConfig, build_dmm
from zoo.models.hvae import HVAEConfig, build_hvae
from zoo.models.priors import build_prior
from zoo.models.sbn import SBNConfig, build_sbn
from zoo.models.seq_vae import SeqVAEConfig, build_seq_vae
from zoo.models.vae import VAE
from zoo.nets.conv import ConvDecoder, ConvEncoder
from zoo.nets.mlp import MLPDecoder, MLPEncoder, check_sizes

MODELS = Registry("model")


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of an MLP VAE; defaults are the IWAE paper's 1-layer setting
    (784-200-200-50, tanh) [Burda et al. 2015, sec. 5].

    Args:
        data_shape: shape of one datum, e.g. ``(1, 28, 28)``.
        latent_dim: dimension of z.
        hidden: encoder hidden sizes; the decoder mirrors them unless ``decoder_hidden`` is set.
        decoder_hidden: decoder hidden sizes (``None``: ``reversed(hidden)``).
        activation: hidden activation name.
        likelihood: likelihood name (``zoo.likelihoods``).
        guide: guide name (``guides``).
        likelihood_options: the likelihood's options, e.g. ``{"scale": 0.1}`` for ``gaussian``;
            a dict or pairs, stored as a sorted tuple of ``(name, value)`` pairs.
        prior: p(z): ``standard``, ``mog:K`` or ``vamp:K`` (``zoo.models.priors``).
    """

    data_shape: Tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 50
    hidden: Tuple[int, ...] = (200, 200)
    decoder_hidden: Optional[Tuple[int, ...]] = None
    activation: str = "tanh"
    likelihood: str = "bernoulli"
    guide: str = "diagonal"
    likelihood_options: Tuple[Tuple[str, Any], ...] = ()
    prior: str = "standard"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_mlp_config(self, [self.guide])
        set_("hidden", check_sizes("hidden", self.hidden, allow_empty=False))
        if self.decoder_hidden is not None:
            set_("decoder_hidden", check_sizes("decoder_hidden", self.decoder_hidden))
        positive_int("latent_dim", self.latent_dim)


def _takes(config):
    """Give a ``**kwargs`` factory the signature of its config, so that the registry checks the
    names it is called with (``Registry.check``) before anything is built."""
    def decorate(factory):
        factory.__signature__ = inspect.signature(config)
        return factory

    return decorate


@MODELS.register("vae")
@_takes(VAEConfig)
def build_vae(**kwargs) -> VAE:
    """An MLP VAE; keyword arguments are the fields of :class:`VAEConfig`."""
    cfg = VAEConfig(**kwargs)
    likelihood, encoder, decoder = _networks(cfg)
    head = build_guide(cfg.guide, encoder.out_features, cfg.latent_dim)
    prior = build_prior(cfg.prior, cfg.latent_dim, cfg.data_shape, unit_interval=cfg.likelihood == "bernoulli")
    config = {"model": "vae", **dataclasses.asdict(cfg)}
    return VAE(encoder, head, decoder, likelihood, cfg.latent_dim, config=config, prior=prior)


def _networks(cfg: VAEConfig):
    """The likelihood and the MLP encoder and decoder that ``cfg`` describes."""
    likelihood = build_likelihood(cfg.likelihood, cfg.data_shape, **dict(cfg.likelihood_options))
    encoder = MLPEncoder(cfg.data_shape, cfg.hidden, cfg.activation)
    decoder_hidden = cfg.decoder_hidden if cfg.decoder_hidden is not None else tuple(reversed(cfg.hidden))
    decoder = MLPDecoder(cfg.latent_dim, cfg.data_shape, decoder_hidden, cfg.activation, likelihood.num_params)
    return likelihood, encoder, decoder


@MODELS.register("conv-vae")
@_takes(ConvVAEConfig)
def build_conv_vae(**kwargs) -> ConvVAE:
    """The convolutional VAE of the convolutional-VAE tutorials (``zoo.models.conv_vae``), with an optional KL weight
    ``beta``; keyword arguments are the fields of :class:`~zoo.models.conv_vae.ConvVAEConfig`."""
    cfg = ConvVAEConfig(**kwargs)
    likelihood = build_likelihood(cfg.likelihood, cfg.data_shape, **dict(cfg.likelihood_options))
    encoder = ConvEncoder(cfg.data_shape, cfg.channels)
    decoder = ConvDecoder(cfg.latent_dim, cfg.data_shape, cfg.channels, likelihood.num_params, cfg.decoder_output)
    head = build_guide(cfg.guide, encoder.out_features, cfg.latent_dim)
    config = {"model": "conv-vae", **dataclasses.asdict(cfg)}
    return ConvVAE(encoder, head, decoder, likelihood, cfg.latent_dim, beta=cfg.beta, config=config)


@MODELS.register("ae")
@_takes(VAEConfig)
def build_ae(guide: str = POINT_MASS, **kwargs) -> Autoencoder:
    """The deterministic autoencoder (``zoo.models.autoencoder``): the MLP VAE's networks and
    likelihood, keyword arguments as for ``"vae"``, the guide fixed to a point mass."""
    if guide != POINT_MASS:
        raise ValueError(
            f"the ae model's guide is fixed to a point mass, guide={POINT_MASS!r}; got guide={guide!r} "
            "(use model 'vae' for a distributional guide)"
        )
    cfg = VAEConfig(**kwargs)
    if cfg.prior != "standard":
        raise ValueError(f"the ae model's prior is flat and fixed; got prior={cfg.prior!r} (use model 'vae' for a "
                         "learned prior)")
    likelihood, encoder, decoder = _networks(cfg)
    config = {**dataclasses.asdict(cfg), "model": "ae", "guide": POINT_MASS}
    return Autoencoder(encoder, decoder, likelihood, cfg.latent_dim, config=config)


# zoo.models.hvae: two (or more) stochastic layers
MODELS.register("hvae")(_takes(HVAEConfig)(build_hvae))
# zoo.models.dmm: the Deep Markov Model, a latent state per time step
MODELS.register("dmm")(_takes(DMMConfig)(build_dmm))
# zoo.models.sbn: sigmoid belief nets, layers of binary units
MODELS.register("sbn")(_takes(SBNConfig)(build_sbn))
# zoo.models.seq_vae: GRU encoder and decoder for sequences
MODELS.register("seq-vae")(_takes(SeqVAEConfig)(build_seq_vae))


def build(name: str = "vae", **kwargs) -> nn.Module:
    """Build a model by name (``list_models()``); keyword arguments are its config's fields.

    Example:
        >>> vae = build("vae", data_shape=(1, 28, 28), latent_dim=50, hidden=(200, 200),
        ...             activation="tanh", likelihood="bernoulli", guide="diagonal")
    """
    return MODELS.create(name, **kwargs)


def from_config(config: dict) -> nn.Module:
    """The model a ``vae.config`` dict describes (as a checkpoint or a pretrained card stores it,
    JSON lists for tuples), untrained: ``from_config(vae.config)`` has ``vae``'s architecture."""
    options = dict(config)
    name = options.pop("model")
    return build(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})


def list_models() -> List[str]:
    return MODELS.names()
