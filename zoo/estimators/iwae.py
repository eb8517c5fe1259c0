r"""The importance-weighted bound as a Pyro ELBO, with ordinary, STL or DReG gradients.

    L_K(x) = E[log (1/K) sum_k p(x, z_k) / q(z_k | x)],   z_1..z_K ~ q(z | x)  i.i.d.

L_1 is the ELBO; E[L_K] increases with K and tends to log p(x) [1]. With a data scale c (a
minibatch of B out of N: c = N/B) the loss is -c sum_n L_K(x_n): the scale multiplies the
bound, never the log-densities inside it (``pyro.infer.RenyiELBO`` gets this wrong).

Gradients: ``reparam`` (the IWAE paper's), ``dreg`` [2] (unbiased, and its guide-gradient
SNR does not decay with K as the ordinary one does [3]) and ``stl`` [4] (biased for K > 1,
see [2]; kept to show it).

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
    [3] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are
        Not Necessarily Better. arXiv:1802.04537
    [4] Roeder, Wu, Duvenaud. Sticking the Landing. arXiv:1703.09194
"""
import torch

from zoo.estimators.base import LogWeightELBO
from zoo.estimators.bounds import iwae_bound


class IWAE(LogWeightELBO):
    """The IWAE bound L_K with ``num_particles=K`` and ``gradient`` in reparam, stl, dreg."""

    name = "iwae"
    gradients = ("reparam", "stl", "dreg")

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return iwae_bound(log_w)
