r"""Per-datapoint importance log-weights from Pyro traces.

    log w_k(x) = log p(x, z_k) - log q(z_k | x),   z_k ~ q(z | x),   k = 1..K

Their mean is an ELBO estimate per datapoint; their log-mean-exp an IWAE bound [1].

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
"""
import torch
import pyro
from pyro import poutine

from zoo.checks import positive_int
PARTICLE_PLATE = "particles"


def _log_prob_sum(trace) -> torch.Tensor:
    """Sum of all sample sites' log-densities, with their batch dims (particles, data)."""
    total = torch.zeros(())
    for site in trace.nodes.values():
        if site["type"] != "sample":
            continue
        scale = site["scale"]
        if not (isinstance(scale, (int, float)) and scale == 1.0):
            raise ValueError(
                f"site {site['name']!r} carries a scale ({scale}); importance weights need "
                "unscaled log-densities"
            )
        total = total + site["fn"].log_prob(site["value"])
    return total


def log_weights(model, guide, *args, num_particles: int = 1, **kwargs) -> torch.Tensor:
    """Importance log-weights of shape ``(num_particles, N)``.

    Works for any model/guide whose sites sit under one data plate at dim -1; the
    particles are vectorized in an outer plate at dim -2.
    """
    positive_int("num_particles", num_particles)

    def wrap(fn):
        def wrapped(*a, **k):
            with pyro.plate(PARTICLE_PLATE, num_particles, dim=-2):
                return fn(*a, **k)

        return wrapped

    guide_trace = poutine.trace(wrap(guide)).get_trace(*args, **kwargs)
    model_trace = poutine.trace(poutine.replay(wrap(model), trace=guide_trace)).get_trace(*args, **kwargs)
    log_w = _log_prob_sum(model_trace) - _log_prob_sum(guide_trace)
    if not 1 <= log_w.dim() <= 2:
        raise ValueError(
            f"log-weights have shape {tuple(log_w.shape)}; expected (num_particles, N): are all "
            "sites under one data plate at dim -1?"
        )
    return log_w.expand((num_particles,) + log_w.shape[-1:])
