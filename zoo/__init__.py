"""pyro-vae-zoo: variational autoencoders as Pyro model/guide pairs."""
from zoo import data, estimators
from zoo.conv_vae import ConvVAE, ConvVAEConfig
from zoo.data import list_datasets
from zoo.estimators import list_estimators
from zoo.evaluate import log_likelihood
from zoo.gmm import GaussianMixtureEM
from zoo.linear_gaussian import LinearGaussian
from zoo.models import VAEConfig, build, list_models
from zoo.seq_vae import KLWarmup, SeqVAE, SeqVAEConfig
from zoo.train import FitConfig, fit, load
from zoo.vae import VAE

from guides import list_guides

__all__ = [
    "VAE",
    "VAEConfig",
    "ConvVAE",
    "ConvVAEConfig",
    "SeqVAE",
    "SeqVAEConfig",
    "KLWarmup",
    "FitConfig",
    "GaussianMixtureEM",
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
    "log_likelihood",
]
