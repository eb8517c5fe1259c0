"""pyro-vae-zoo: variational autoencoders as Pyro model/guide pairs."""
from zoo import data, estimators
from zoo.data import list_datasets
from zoo.estimators import list_estimators
from zoo.linear_gaussian import LinearGaussian
from zoo.models import VAEConfig, build, list_models
from zoo.train import FitConfig, fit, load
from zoo.vae import VAE

from guides import list_guides

__all__ = [
    "VAE",
    "VAEConfig",
    "FitConfig",
    "LinearGaussian",
    "build",
    "data",
    "estimators",
    "fit",
    "load",
    "list_datasets",
    "list_estimators",
    "list_guides",
    "list_models",
]
