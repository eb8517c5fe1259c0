"""What the configs of the MLP models (``VAEConfig``, ``HVAEConfig``, ``SBNConfig``) check alike."""
from typing import Sequence

from guides.registry import parse_guide
from zoo._utils.options import freeze_options
from zoo.likelihoods import build_likelihood
from zoo.models.priors import check_prior
from zoo.nets.mlp import ACTIVATIONS, check_sizes


def check_network(cfg) -> None:
    """Check and normalize, in place, ``data_shape`` and ``activation``; one-line ``ValueError``."""
    object.__setattr__(cfg, "data_shape", check_sizes("data_shape", cfg.data_shape, allow_empty=False))
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {cfg.activation!r}; choose from {', '.join(sorted(ACTIVATIONS))}")


def check_mlp_config(cfg, guides: Sequence[str]) -> None:
    """Check and normalize, in place, the fields a frozen MLP-model config shares: ``data_shape``,
    ``activation`` (:func:`check_network`), ``likelihood`` with its ``likelihood_options``, the
    ``guides`` of its latent layers (bottom first) and ``prior`` (of the top layer); one-line
    ``ValueError`` otherwise."""
    check_network(cfg)
    object.__setattr__(cfg, "likelihood_options", freeze_options(cfg.likelihood_options))
    build_likelihood(cfg.likelihood, cfg.data_shape, **dict(cfg.likelihood_options))
    for name in guides:
        parse_guide(name)
    check_prior(cfg.prior, guides[-1])
