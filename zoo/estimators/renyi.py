r"""The variational Renyi bound [1], correct under data scaling.

    L_alpha(x) = 1/(1 - alpha) log (1/K) sum_k w_k^(1 - alpha),   w_k = p(x, z_k) / q(z_k | x)

alpha = 0 gives the IWAE bound; alpha -> 1 the ELBO (alpha = 1 itself is rejected: use
``elbo``); alpha < 0 gives an upper bound on log p(x) as K grows, not a lower bound [1].

References:
    [1] Li, Turner. Renyi Divergence Variational Inference. arXiv:1602.02311
"""
import torch

from zoo.estimators.base import LogWeightELBO
from zoo.estimators.bounds import check_alpha, renyi_bound


class RenyiBound(LogWeightELBO):
    """L_alpha with ``num_particles=K`` (reparameterized gradients)."""

    name = "renyi"
    gradients = ("reparam",)

    def __init__(self, alpha: float = 0.0, num_particles: int = 2, gradient: str = "reparam", **plates):
        self.alpha = check_alpha(alpha)
        super().__init__(num_particles=num_particles, gradient=gradient, **plates)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return renyi_bound(log_w, self.alpha)
