r"""The base of the log-weight estimators: a bound on (N, K) log-weights, and its gradient.

A subclass names a bound ``L(log_w)`` per datapoint (a pure kernel from ``bounds.py``);
the base turns it into a ``pyro.infer.ELBO``:

    loss = -c sum_n L(log w_n1, ..., log w_nK),    c = the data scale (``weights.py``)

and offers these gradient estimators of it (``gradient=``):

``reparam``  the ordinary reparameterized gradient of L: z = z(eps, phi) is differentiated
             through, every term of log w included.
``stl``      "sticking the landing" [1]: for the guide, only the path through z is kept;
             the score term d/dphi log q_phi(z) at fixed z (zero mean for the ELBO) is
             dropped:  g_phi = sum_k (dL/dlog w_k) (d log w_k / dz_k)(dz_k / dphi).
             Unbiased for the ELBO; biased for the IWAE bound [2] (it drops a term whose
             mean is not zero there).
``dreg``     doubly reparameterized [2], for the IWAE bound only:
             g_phi = sum_k w~_k^2 (d log w_k / dz_k)(dz_k / dphi), unbiased for dL_K/dphi.

For ``stl`` and ``dreg`` the model's parameters still get the ordinary gradient
sum_k (dL/dlog w_k) d log p_theta(x, z_k)/dtheta. Both need log q(z|x) at a value that is not
the guide's own sample (a detached copy), so flows without an inverse cannot use them.

References:
    [1] Roeder, Wu, Duvenaud. Sticking the Landing: Simple, Lower-Variance Gradient
        Estimators for Variational Inference. arXiv:1703.09194
    [2] Tucker, Lawson, Gu, Maddison. Doubly Reparameterized Gradient Estimators for Monte
        Carlo Objectives. arXiv:1810.04152
"""
from typing import Dict, Optional

import torch
from pyro.infer import ELBO
from torch import nn

from zoo._utils.checks import positive_int
from zoo._utils.contexts import isolated_rng
from zoo.estimators import weights
from zoo.estimators.bounds import normalized_weights


class LogWeightELBO(ELBO, nn.Module):
    """An objective L(log w) per datapoint, summed over the batch and scaled by the data scale.

    It is also an ``nn.Module``, so that an estimator with state (a running baseline, a
    baseline network) keeps it in its ``state_dict``, which ``zoo.fit`` checkpoints.

    Args:
        num_particles: K, the particles per datapoint (vectorized).
        gradient: one of ``gradients``: ``"reparam"``, ``"stl"``, ``"dreg"``.
        data_plate: the name of the plate of the datapoints (default: the outermost plate of the
            model's observed site; ``zoo.estimators.weights``).
        max_plate_nesting: the depth of the deepest plate (default: found from one run of guide
            and model, once per model/guide pair); the particles sit one dim to its left.
    """

    name = "log-weight bound"
    gradients = ("reparam", "stl")

    def __init__(self, num_particles: int = 1, gradient: str = "reparam", data_plate: Optional[str] = None,
                 max_plate_nesting: Optional[int] = None):
        nn.Module.__init__(self)
        positive_int("num_particles", num_particles)
        if gradient not in self.gradients:
            raise ValueError(f"unknown gradient {gradient!r} for {self.name}; choose from {', '.join(self.gradients)}")
        super().__init__(num_particles=num_particles, vectorize_particles=True, max_plate_nesting=float("inf"))
        self.gradient = gradient
        self.set_plates(data_plate, max_plate_nesting)

    def set_plates(self, data_plate: Optional[str] = None, max_plate_nesting: Optional[int] = None) -> "LogWeightELBO":
        """Name the data plate and give the plates' depth (``None``: find them); returns ``self``."""
        if data_plate is not None and not isinstance(data_plate, str):
            raise TypeError(f"data_plate must be a plate's name (str), got {type(data_plate).__name__}")
        if max_plate_nesting is not None:
            weights.find_plates(None, None, (), {}, data_plate, max_plate_nesting)  # checks the value
        self.data_plate, self.given_nesting = data_plate, max_plate_nesting
        self._plates_for = (None, None)  # (the (model, guide) pair, its weights.Plates)
        return self

    def plates(self, model, guide, args, kwargs) -> weights.Plates:
        """Where the particles and the datapoints sit, found once per model/guide pair."""
        key, plates = self._plates_for
        if key is None or key[0] != model or key[1] != guide:
            plates = weights.find_plates(model, guide, args, kwargs, self.data_plate, self.given_nesting)
            self._plates_for = ((model, guide), plates)
        return plates

    def validate(self, model, guide, args, kwargs) -> None:
        """Refuse, in one line, a model/guide pair this estimator cannot handle: the sites and
        plates (``weights.find_plates``), and a latent site without a reparameterized sampler for
        the gradients that differentiate through the draws. One run, from a forked RNG."""
        plates = self.plates(model, guide, args, kwargs)
        if self.gradient in ("reparam", "stl", "dreg"):
            with isolated_rng(args, kwargs), torch.no_grad():
                traces = weights.run(self._training_model(model), self._training_model(guide), args, kwargs, 1,
                                     plates=plates)
            weights.check_reparameterized(traces.guide, self.name)

    def _training_model(self, fn):
        """The model or guide as the training step runs it (a relaxation wraps it)."""
        return fn

    def run(self, model, guide, args, kwargs, values=None) -> weights.Traces:
        """One vectorized run of guide and model (``weights.run``) with this estimator's plates."""
        return weights.run(model, guide, args, kwargs, self.num_particles, values=values,
                           plates=self.plates(model, guide, args, kwargs))

    def bound(self, log_w: torch.Tensor) -> torch.Tensor:
        """The objective per datapoint from log-weights ``(N, K)``; a pure function."""
        raise NotImplementedError

    # ---- the Pyro ELBO interface ---------------------------------------------------------

    def per_datapoint(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """The objective's estimate for each datapoint ``(N,)``, unscaled, without gradients."""
        with torch.no_grad():
            log_w, _ = self._log_weights(model, guide, args, kwargs)
            return self.bound(log_w)

    def loss(self, model, guide, *args, **kwargs) -> float:
        """-c * sum_n L_n, a float (no gradients)."""
        with torch.no_grad():
            log_w, scale = self._log_weights(model, guide, args, kwargs)
            return -scale * self.bound(log_w).sum().item()

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """-c * sum_n L_n as a tensor whose gradient is this estimator's gradient."""
        if self.gradient == "reparam":
            log_w, scale = self._log_weights(model, guide, args, kwargs, reparam=True)
            return -scale * self.bound(log_w).sum()
        return -self._path_surrogate(model, guide, args, kwargs)

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return loss.item()

    def _get_trace(self, model, guide, args, kwargs):
        """(model trace, guide trace) of one vectorized run (``pyro.infer.ELBO``'s hook)."""
        traces = self.run(model, guide, args, kwargs)
        return traces.model, traces.guide

    # ---- plumbing -----------------------------------------------------------------------

    def _log_weights(self, model, guide, args, kwargs, reparam=False):
        traces = self.run(model, guide, args, kwargs)
        if reparam:
            weights.check_reparameterized(traces.guide, self.name)
        log_w = weights.log_density(traces.model, traces) - weights.log_density(traces.guide, traces)
        return weights.as_particles_last(log_w, self.num_particles, traces), traces.scale

    def path_weights(self, log_w: torch.Tensor) -> torch.Tensor:
        """Weights c_k of the path terms (N, K): dL/dlog w_k for ``stl``, w~_k^2 for ``dreg``."""
        if self.gradient == "dreg":
            return normalized_weights(log_w).pow(2)
        leaf = log_w.detach().requires_grad_()
        with torch.enable_grad():
            return torch.autograd.grad(self.bound(leaf).sum(), leaf)[0]

    def _path_surrogate(self, model, guide, args, kwargs) -> torch.Tensor:
        """A tensor whose value is c * sum_n L_n and whose gradient is the ``stl`` / ``dreg``
        estimate: the model's direct term plus the guide's path terms (module docstring)."""
        sampled = self.run(model, guide, args, kwargs)
        weights.check_reparameterized(sampled.guide, self.name)
        z = weights.latents(sampled.guide)
        leaves = {name: value.detach().requires_grad_() for name, value in z.items()}
        log_p, log_q = self._leaf_log_densities(sampled, leaves, model, guide, args, kwargs)
        particles_last = lambda t: weights.as_particles_last(t, self.num_particles, sampled)  # noqa: E731
        log_w = particles_last(log_p - log_q)
        # the model's direct gradient sum_k dL/dlog w_k dlog p/dtheta: L with log q held constant
        model_term = self.bound(particles_last(log_p - log_q.detach())).sum()
        grads = torch.autograd.grad((self.path_weights(log_w.detach()) * log_w).sum(), list(leaves.values()),
                                    retain_graph=True, allow_unused=True)
        path_term = sum((g * z[name]).sum() for name, g in zip(leaves, grads) if g is not None)
        surrogate = model_term + path_term
        value = self.bound(log_w.detach()).sum()
        return sampled.scale * (value + surrogate - surrogate.detach())

    def _leaf_log_densities(self, sampled, leaves: Dict[str, torch.Tensor], model, guide, args, kwargs):
        """log p(x, z) and log q(z|x), shape (K, N), at the leaves (detached copies of the draws)."""
        try:
            if len(leaves) == 1:  # one latent site: its q depends on x only, so score the leaf with it
                name, leaf = next(iter(leaves.items()))
                log_q = weights.site_log_density(dict(sampled.guide.nodes[name], value=leaf), sampled)
                model_trace = weights.replay_model(model, leaves, args, kwargs, self.num_particles,
                                                   sampled.particle_dim)
            else:  # replay the guide too: q(z2 | z1) must see the leaf z1
                traces = self.run(model, guide, args, kwargs, values=leaves)
                log_q, model_trace = weights.log_density(traces.guide, sampled), traces.model
        except (KeyError, NotImplementedError) as e:
            raise ValueError(
                f"{self.name} with gradient={self.gradient!r} needs log q(z|x) at a detached copy of z, which "
                f"this guide cannot evaluate (a flow without an inverse?): {e}") from e
        return weights.log_density(model_trace, sampled), log_q
