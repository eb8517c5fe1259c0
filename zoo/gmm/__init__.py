"""Gaussian mixtures: EM in torch with scikit-learn's API (:mod:`zoo.gmm.em`) and its Pyro SVI
counterpart (:mod:`zoo.gmm.svi`); kernels, initializations and plots beside them."""
from zoo.gmm.em import ConvergenceWarning, GaussianMixtureEM
from zoo.gmm.svi import GaussianMixtureSVI

__all__ = ["ConvergenceWarning", "GaussianMixtureEM", "GaussianMixtureSVI"]
