r"""Reweighted wake-sleep [1]: the model climbs the IWAE bound, the guide the wake-phase (and/or
sleep-phase) objective, which are not the same objective.

    model (wake-theta):  sum_k w~_k grad_theta log p_theta(x, h_k)          (= grad_theta L_K)
    guide, wake-phi:     sum_k w~_k grad_phi log q_phi(h_k | x)             (-> KL(p(h|x) || q))
    guide, sleep-phi:    grad_phi log q_phi(h' | x'),   (x', h') ~ p_theta   (-> KL(p || q) on dreams)

with h_1..h_K ~ q(h|x) and w~_k the normalized importance weights, held constant. No path
through the samples is used, so discrete and continuous sites alike work. Unlike Pyro's
``ReweightedWakeSleep`` the terms carry the data scale of a minibatch (N/B), as every estimator
here. The reported value is L_K; the loss's gradient is the sum of the updates above. The sleep
phase draws one dream (x', h') per datapoint of the batch (the observed site unconditioned), and
runs the guide on x' as its first argument: the guide must take the data first.

References:
    [1] Bornschein, Bengio. Reweighted Wake-Sleep. arXiv:1406.2751
    [2] Le, Kosiorek, Siddharth, Teh, Wood. Revisiting Reweighted Wake-Sleep for Models with
        Stochastic Control Flow. arXiv:1805.10469
"""
import torch
from pyro import poutine

from zoo.estimators import weights
from zoo.estimators.bounds import normalized_weights
from zoo.estimators.iwae import IWAE

PHASES = ("wake", "sleep", "wake+sleep")


class RWS(IWAE):
    """Reweighted wake-sleep with K = ``num_particles`` and the guide's ``phase`` in ``PHASES``."""

    name = "rws"
    gradients = ("rws",)

    def __init__(self, num_particles: int = 5, phase: str = "wake", **plates):
        super().__init__(num_particles=num_particles, gradient="rws", **plates)
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r} for rws's guide update; choose from {', '.join(PHASES)}")
        self.phase = phase

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        sampled = self.run(model, guide, args, kwargs)
        fixed = {name: value.detach() for name, value in weights.latents(sampled.guide).items()}
        log_p, log_q = self._leaf_log_densities(sampled, fixed, model, guide, args, kwargs)
        last = lambda t: weights.as_particles_last(t, self.num_particles, sampled)  # noqa: E731
        log_p, log_q = last(log_p), last(log_q)
        log_w = (log_p - log_q).detach()
        w = normalized_weights(log_w)
        surrogate = (w * log_p).sum()  # wake-theta
        if self.phase != "sleep":
            surrogate = surrogate + (w * log_q).sum()  # wake-phi
        if self.phase != "wake":
            surrogate = surrogate + self._sleep(model, guide, args, kwargs, sampled)
        value = self.bound(log_w).sum()
        return -sampled.scale * (value + surrogate - surrogate.detach())

    def _sleep(self, model, guide, args, kwargs, sampled) -> torch.Tensor:
        """sum_n log q(h'_n | x'_n) at one dream (x'_n, h'_n) ~ p per datapoint: the guide alone,
        replayed on the dream's latents with the dreamed data as its first argument."""
        observed = [s for s in weights.sample_sites(sampled.model) if s["is_observed"]]
        if len(observed) != 1 or not args:
            raise ValueError("rws's sleep phase runs the guide on dreamed data as its first argument, so it needs a "
                             f"model with one observed site and the data as first argument; got {len(observed)} "
                             "observed sites")
        with torch.no_grad(), poutine.block():
            dream = poutine.trace(poutine.uncondition(model)).get_trace(*args, **kwargs)
        x_dream = dream.nodes[observed[0]["name"]]["value"].detach()
        latent = {name: dream.nodes[name]["value"].detach() for name in weights.latents(sampled.guide)}
        plates = self.plates(model, guide, args, kwargs)
        guide_fn = poutine.replay(weights.vectorize(guide, 1, plates.particle_dim), trace=weights.replay_trace(latent))
        guide_trace = poutine.trace(guide_fn).get_trace(x_dream, *args[1:], **kwargs)
        return weights.log_density(guide_trace, weights.in_plates(guide_trace, plates)).sum()
