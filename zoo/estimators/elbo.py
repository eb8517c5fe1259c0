r"""The Monte Carlo ELBO on log-weights, with ordinary or "sticking the landing" gradients.

    ELBO(x) = (1/K) sum_k [log p(x, z_k) - log q(z_k | x)],   z_k ~ q(z | x)

With ``gradient="stl"`` the guide's gradient keeps only the path through z [1]; its
expectation is the ELBO's gradient (the dropped score term has mean zero), and at the exact
posterior it is exactly zero, where the ordinary estimator's is zero only on average.

References:
    [1] Roeder, Wu, Duvenaud. Sticking the Landing: Simple, Lower-Variance Gradient
        Estimators for Variational Inference. arXiv:1703.09194
"""
import torch

from zoo.estimators.base import LogWeightELBO
from zoo.estimators.bounds import elbo_bound


class MonteCarloELBO(LogWeightELBO):
    """The ELBO as the mean of K log-weights, ``gradient`` in reparam, stl."""

    name = "elbo"
    gradients = ("reparam", "stl")

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return elbo_bound(log_w)
