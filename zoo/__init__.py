"""pyro-vae-zoo: variational autoencoders as Pyro model/guide pairs.

The layers, bottom up: ``guides`` (q(z|x)), then here ``data``, ``nets``, ``distributions``,
``likelihoods``, ``models``, ``estimators``, ``evaluation``, ``training``, ``gmm``, ``pretrained``,
``plots`` and ``cli``; each imports only those below it.
"""
from guides import list_guides
from zoo import data, estimators, evaluation, pretrained
from zoo.data import list_datasets
from zoo.estimators import list_estimators
from zoo.evaluation import log_likelihood
from zoo.gmm import GaussianMixtureEM
from zoo.models import (
    HVAE,
    VAE,
    ConvVAE,
    ConvVAEConfig,
    GaussianToy,
    KLWarmup,
    LinearGaussian,
    LinearGaussianChain,
    SeqVAE,
    SeqVAEConfig,
    VAEConfig,
    build,
    list_models,
)
from zoo.training import CheckpointError, FitConfig, TrainingDiverged, fit, load

__all__ = [
    "VAE",
    "VAEConfig",
    "ConvVAE",
    "ConvVAEConfig",
    "SeqVAE",
    "SeqVAEConfig",
    "KLWarmup",
    "FitConfig",
    "CheckpointError",
    "TrainingDiverged",
    "GaussianMixtureEM",
    "LinearGaussian",
    "HVAE",
    "LinearGaussianChain",
    "GaussianToy",
    "build",
    "data",
    "estimators",
    "evaluation",
    "pretrained",
    "fit",
    "load",
    "list_datasets",
    "list_estimators",
    "list_guides",
    "list_models",
    "log_likelihood",
]
