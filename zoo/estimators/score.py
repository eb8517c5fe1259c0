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
``learned``        b(x) = c + n(x): the decaying average c centres the signal and the network
                   n (``baseline_net``, an ``nn.Module`` mapping the model's first argument to
                   (N,); by default an MLP on the flattened datum with one tanh hidden layer of
                   ``baseline_hidden`` units, which needs ``data_shape``) learns the
                   input-dependent rest, trained in the same step on (f - c - n(x))^2 [2, sec. 3.3];
``none``           b = 0.

With ``normalize=True`` the centred signal f - b is divided by max(1, sqrt(v)), v a decaying
average of its batch mean square: NVIL's variance normalization [2, sec. 3.3], which keeps the
guide's step size steady while the signal's scale changes during training.

With ``paths=True`` the sites that have a reparameterized sampler (a Gaussian z beside a discrete
y) keep their pathwise gradient and the score term covers only the others, as Pyro's
``Trace_ELBO`` does (without a baseline); by default every site gets the score function, the
estimator to compare with the reparameterized ones.

References:
    [1] Williams. Simple Statistical Gradient-Following Algorithms for Connectionist
        Reinforcement Learning. Machine Learning 1992
    [2] Mnih, Gregor. Neural Variational Inference and Learning in Belief Networks. arXiv:1402.0030
    [3] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
"""
import math
from typing import Optional, Sequence

import torch
from torch import nn

from zoo._utils.checks import positive_float, positive_int
from zoo._utils.params import expose
from zoo.estimators import weights
from zoo.estimators.elbo import MonteCarloELBO

BASELINES = ("average", "leave-one-out", "learned", "none")


class ScoreFunctionELBO(MonteCarloELBO):
    """The ELBO with the score-function gradient for the guide.

    Args:
        num_particles: K draws per datapoint.
        baseline: one of ``BASELINES`` (default: ``leave-one-out`` if K >= 2, else ``average``).
        decay: the decaying average's factor, in (0, 1).
        baseline_net: the network of the ``learned`` baseline (default: an MLP, see above).
        baseline_hidden: hidden units of the default baseline network.
        data_shape: the shape of one datum, for the default baseline network.
        normalize: divide the centred signal by its running standard deviation (at least 1) [2].
        paths: keep the pathwise gradient of reparameterizable sites (above).

    The running average and its step count are buffers and the baseline network a submodule,
    so ``state_dict`` holds all of the estimator's state (``zoo.fit`` checkpoints it).
    """

    name = "score"
    gradients = ("score",)

    def __init__(self, num_particles: int = 1, baseline: Optional[str] = None, decay: float = 0.9,
                 baseline_net: Optional[nn.Module] = None, baseline_hidden: int = 100,
                 data_shape: Optional[Sequence[int]] = None, normalize: bool = False, paths: bool = False,
                 **plates):
        super().__init__(num_particles=num_particles, gradient="score", **plates)
        self.baseline = baseline or ("leave-one-out" if num_particles >= 2 else "average")
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown baseline {self.baseline!r}; choose from {', '.join(BASELINES)}")
        if self.baseline == "leave-one-out" and num_particles < 2:
            raise ValueError(f"baseline='leave-one-out' needs num_particles >= 2, got {num_particles}")
        if baseline_net is not None and self.baseline != "learned":
            raise ValueError(f"a baseline_net needs baseline='learned', got baseline={self.baseline!r}")
        if not 0 < positive_float("decay", decay) < 1:
            raise ValueError(f"decay must lie in (0, 1), got {decay!r}")
        if self.baseline == "learned" and baseline_net is None:
            baseline_net = default_baseline_net(data_shape, positive_int("baseline_hidden", baseline_hidden))
        for name, flag in (("normalize", normalize), ("paths", paths)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        self.paths = paths
        self.decay, self.baseline_net, self.normalize = decay, baseline_net, normalize
        # The decaying average b and the number of steps that updated it (b is unset at 0).
        self.register_buffer("average", torch.zeros((), dtype=torch.float64))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        if normalize:  # NVIL's running mean square of the centred signal (unset until the first step)
            self.register_buffer("signal_var", torch.zeros((), dtype=torch.float64))
            self.register_buffer("num_var_updates", torch.zeros((), dtype=torch.long))

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        sampled = self.run(model, guide, args, kwargs)
        if self.paths:  # the draws as sampled: reparameterized ones carry their path
            log_p, log_q = weights.log_density(sampled.model, sampled), weights.log_density(sampled.guide, sampled)
            score_q = weights.score_log_density(sampled)
        else:  # every draw held fixed: the score function for every site
            fixed = {name: value.detach() for name, value in weights.latents(sampled.guide).items()}
            log_p, log_q = self._leaf_log_densities(sampled, fixed, model, guide, args, kwargs)
            score_q = log_q
        f = weights.as_particles_last(log_p - log_q, self.num_particles, sampled)  # (N, K)
        log_q = weights.as_particles_last(score_q, self.num_particles, sampled)
        b, baseline_loss = self._baseline(f.detach(), args)
        signal = f.detach() - b
        if self.normalize:
            signal = signal / self._running_scale(signal)
        surrogate = (f + signal * log_q).mean(-1).sum() - baseline_loss
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
        c = self._running_average(f)
        if self.baseline == "average":
            return c, zero
        expose("score_baseline", self.baseline_net)  # so that plain SVI optimizes it too
        b = c + self.baseline_net(args[0]).reshape(-1, 1)
        return b.detach(), (f.mean(-1, keepdim=True) - b).pow(2).sum()

    def _running_scale(self, signal: torch.Tensor) -> torch.Tensor:
        """max(1, sqrt(v)) with v the decaying average of the mean square of the centred signal
        (this batch's at the first step), then updated with this batch [2]."""
        square = signal.pow(2).mean().to(self.signal_var.dtype)
        v = torch.where(self.num_var_updates > 0, self.signal_var, square)
        self.signal_var.copy_(self.decay * v + (1 - self.decay) * square)
        self.num_var_updates += 1
        return v.sqrt().clamp(min=1.0).to(signal.dtype)

    def _running_average(self, f: torch.Tensor) -> torch.Tensor:
        """The decaying average of the batch means of f before this step (this batch's mean at
        the first step), then updated with this batch."""
        # torch.where, not a Python branch on the count: no device sync per step
        mean = f.mean().to(self.average.dtype)
        c = torch.where(self.num_updates > 0, self.average, mean)
        self.average.copy_(self.decay * c + (1 - self.decay) * mean)
        self.num_updates += 1
        return c.to(f.dtype)


def default_baseline_net(data_shape: Optional[Sequence[int]], hidden: int) -> nn.Module:
    """b(x): flatten, ``hidden`` tanh units, one output [2]."""
    if data_shape is None:
        raise ValueError("baseline='learned' needs a baseline_net, or data_shape (the shape of one datum) for the "
                         "default network; zoo.fit passes the model's")
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data_shape), hidden), nn.Tanh(), nn.Linear(hidden, 1))
