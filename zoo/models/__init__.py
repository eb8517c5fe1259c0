"""Models as Pyro model/guide pairs, and ``build(name, ...)`` to assemble them by name."""
from zoo.models.autoencoder import Autoencoder
from zoo.models.conv_vae import ConvVAE, ConvVAEConfig
from zoo.models.dmm import DMM, DMMConfig
from zoo.models.factory import MODELS, VAEConfig, build, from_config, list_models
from zoo.models.gaussian_toy import GaussianToy
from zoo.models.hvae import HVAE, HVAEConfig
from zoo.models.linear_chain import LinearGaussianChain
from zoo.models.linear_gaussian import LinearGaussian
from zoo.models.sbn import SBN, SBNConfig
from zoo.models.seq_vae import KLWarmup, SeqVAE, SeqVAEConfig
from zoo.models.vae import DATA_PLATE, LATENT, OBSERVED, VAE

__all__ = ["Autoencoder", "ConvVAE", "ConvVAEConfig", "DATA_PLATE", "DMM", "DMMConfig", "GaussianToy", "HVAE",
           "HVAEConfig", "KLWarmup", "LATENT", "LinearGaussian", "LinearGaussianChain", "MODELS", "OBSERVED",
           "SBN", "SBNConfig", "SeqVAE", "SeqVAEConfig", "VAE", "VAEConfig", "build", "from_config", "list_models"]
