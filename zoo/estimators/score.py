r"""The score-function (REINFORCE, log-derivative) estimator of the ELBO's gradient.

    grad_phi E_q[f(z)] = E_q[(f(z) - b) grad_phi log q_phi(z)] + E_q[grad_phi f(z)],
    f(z) = log p(x, z) - log q_phi(z | x)

It needs only log q, not a reparameterized sampler, which is why it applies to discrete
latents; its variance is much larger than the reparameterized gradient's, and a baseline b
that does not depend on z reduces it without bias [1, 2]. Baselines (``baseline=``):

``average``        a decaying average of the batch-mean of f over earlier steps (the first step
                   uses its own batch mean, a bias on that one step only) [2];
``leave-one-out``  for K >= 2, b_k = the mean of f over the other K - 1 particles of the same
                   datapoint: unbiased and per datapoint (the VIMCO idea [3] for the ELBO);
``learned``        b(x) from ``baseline_net`` (an ``nn.Module`` mapping the model's first
                   argument to (N,)), trained in the same step on (f - b(x))^2 [2];
``none``           b = 0.

References:
    [1] Williams. Simple Statistical Gradient-Following Algorithms for Connectionist
        Reinforcement Learning. Machine Learning 1992
    [2] Mnih, Gregor. Neural Variational Inference and Learning in Belief Networks. arXiv:1402.0030
    [3] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
"""
import itertools
from typing import Optional

import torch
import pyro
from torch import nn

from zoo._utils.checks import positive_float
from zoo.estimators import weights
from zoo.estimators.elbo import MonteCarloELBO

BASELINES = ("average", "leave-one-out", "learned", "none")
_instances = itertools.count()


class ScoreFunctionELBO(MonteCarloELBO):
    """The ELBO with the score-function gradient for the guide.

    Args:
        num_particles: K draws per datapoint.
        baseline: one of ``BASELINES`` (default: ``leave-one-out`` if K >= 2, else ``average``).
        decay: the decaying average's factor, in (0, 1).
        baseline_net: the network of the ``learned`` baseline.
    """

    name = "score"
    gradients = ("score",)

    def __init__(self, num_particles: int = 1, baseline: Optional[str] = None, decay: float = 0.9,
                 baseline_net: Optional[nn.Module] = None):
        super().__init__(num_particles=num_particles, gradient="score")
        self.baseline = baseline or ("leave-one-out" if num_particles >= 2 else "average")
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown baseline {self.baseline!r}; choose from {', '.join(BASELINES)}")
        if self.baseline == "leave-one-out" and num_particles < 2:
            raise ValueError(f"baseline='leave-one-out' needs num_particles >= 2, got {num_particles}")
        if (self.baseline == "learned") != (baseline_net is not None):
            raise ValueError("baseline='learned' needs a baseline_net, and a baseline_net needs baseline='learned'")
        if not 0 < positive_float("decay", decay) < 1:
            raise ValueError(f"decay must lie in (0, 1), got {decay!r}")
        self.decay, self.baseline_net, self.average = decay, baseline_net, None
        self.baseline_name = f"score_baseline{next(_instances)}"

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        sampled = weights.run(model, guide, args, kwargs, self.num_particles)
        fixed = {name: value.detach() for name, value in weights.latents(sampled.guide).items()}
        log_p, log_q = self._leaf_log_densities(sampled, fixed, model, guide, args, kwargs)
        f = weights.as_particles_last(log_p - log_q, self.num_particles, sampled)  # (N, K)
        log_q = weights.as_particles_last(log_q, self.num_particles, sampled)
        b, baseline_loss = self._baseline(f.detach(), args)
        surrogate = (f + (f.detach() - b) * log_q).mean(-1).sum() - baseline_loss
        value = self.bound(f.detach()).sum()
        return -sampled.scale * (value + surrogate - surrogate.detach())

    def _baseline(self, f: torch.Tensor, args):
        """The baseline (N, K) or a scalar, and the learned baseline's regression loss."""
        zero = f.new_zeros(())
        if self.baseline == "none":
            return zero, zero
        if self.baseline == "leave-one-out":
            k = f.shape[-1]
            return (f.sum(-1, keepdim=True) - f) / (k - 1), zero
        if self.baseline == "average":
            b = f.mean() if self.average is None else self.average
            self.average = self.decay * b + (1 - self.decay) * f.mean()
            return b, zero
        pyro.module(self.baseline_name, self.baseline_net)  # so that SVI optimizes it too
        b = self.baseline_net(args[0]).reshape(-1, 1)
        return b.detach(), (f.mean(-1, keepdim=True) - b).pow(2).sum()
