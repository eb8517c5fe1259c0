r"""VIMCO: the K-sample bound with per-sample leave-one-out baselines [1].

    L_K = log (1/K) sum_k w_k,   w_k = p(x, h_k) / q(h_k | x),   h_1..h_K ~ q(h | x)

    grad L_K = sum_k w~_k grad log w_k  +  sum_k (L_K - L^{-k}) grad log q(h_k | x)

where w~_k = w_k / sum_j w_j and L^{-k} is L_K with w_k replaced by the geometric mean of the
other K - 1 weights (``bounds.vimco_leave_one_out``): a baseline for sample k that does not
depend on h_k, so the second sum keeps its mean and loses most of its variance; the first is
the IWAE gradient [2], which is all the model's parameters get. The score term covers the
guide's sites without a reparameterized sampler (binary or categorical units); sites that have
one (a Gaussian z beside a discrete y) keep their pathwise gradient in the first sum.

References:
    [1] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
    [2] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
"""
import torch

from zoo.estimators import weights
from zoo.estimators.bounds import vimco_leave_one_out
from zoo.estimators.iwae import IWAE


class VIMCO(IWAE):
    """L_K with VIMCO's gradient (module docstring); ``num_particles`` = K >= 2."""

    name = "vimco"
    gradients = ("vimco",)

    def __init__(self, num_particles: int = 5, **plates):
        super().__init__(num_particles=num_particles, gradient="vimco", **plates)
        if num_particles < 2:
            raise ValueError(f"vimco needs num_particles >= 2 (its baseline for each sample is the other samples), "
                             f"got {num_particles}; with one sample use 'score' with a baseline")

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        traces = self.run(model, guide, args, kwargs)
        last = lambda t: weights.as_particles_last(t, self.num_particles, traces)  # noqa: E731
        log_w = last(weights.log_density(traces.model, traces) - weights.log_density(traces.guide, traces))
        bound = self.bound(log_w)  # (N,): its gradient is sum_k w~_k grad log w_k
        signal = (bound.unsqueeze(-1) - vimco_leave_one_out(log_w)).detach()  # (N, K)
        score = (signal * last(weights.score_log_density(traces))).sum()  # value 0, gradient the score term
        return -traces.scale * (bound.sum() + score - score.detach())
