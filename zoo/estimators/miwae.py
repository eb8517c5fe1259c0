r"""MIWAE and CIWAE: the bounds Rainforth et al. [1] propose to trade bound tightness
against the guide gradient's signal-to-noise ratio.

    MIWAE(M, K):  (1/M) sum_m log (1/K) sum_k w_mk         (M K particles)
    CIWAE(beta):  beta ELBO + (1 - beta) L_K                 (the same K particles)

References:
    [1] Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh. Tighter Variational Bounds are
        Not Necessarily Better. arXiv:1802.04537
"""
import torch

from zoo._utils.checks import positive_int
from zoo.estimators.base import LogWeightELBO
from zoo.estimators.bounds import check_unit_interval, ciwae_bound, miwae_bound, normalized_weights


class MIWAE(LogWeightELBO):
    """M groups of K particles (``num_groups=M``, ``num_particles=K``), M K draws in all."""

    name = "miwae"
    gradients = ("reparam", "stl", "dreg")

    def __init__(self, num_groups: int = 1, num_particles: int = 1, gradient: str = "reparam", **plates):
        self.num_groups = positive_int("num_groups", num_groups)
        self.group_size = positive_int("num_particles", num_particles)
        super().__init__(num_particles=num_groups * num_particles, gradient=gradient, **plates)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return miwae_bound(log_w, self.num_groups)

    def path_weights(self, log_w: torch.Tensor) -> torch.Tensor:
        if self.gradient != "dreg":
            return super().path_weights(log_w)
        # DReG within each group [Tucker et al. 2018], averaged over the M groups
        groups = log_w.unflatten(-1, (self.num_groups, self.group_size))
        return (normalized_weights(groups).pow(2) / self.num_groups).flatten(-2)


class CIWAE(LogWeightELBO):
    """beta ELBO + (1 - beta) IWAE on K particles."""

    name = "ciwae"
    gradients = ("reparam", "stl")

    def __init__(self, beta: float = 0.5, num_particles: int = 1, gradient: str = "reparam", **plates):
        self.beta = check_unit_interval("beta", beta)
        super().__init__(num_particles=num_particles, gradient=gradient, **plates)

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        return ciwae_bound(log_w, self.beta)
