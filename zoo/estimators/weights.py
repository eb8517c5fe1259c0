r"""Per-datapoint importance log-weights from Pyro traces.

    log w_k(x) = log p(x, z_k) - log q(z_k | x),   z_k ~ q(z | x),   k = 1..K

Their mean is an ELBO estimate per datapoint; their log-mean-exp an IWAE bound [1].

Scales. Pyro multiplies a site's log-density by its scale (``poutine.scale``, a subsampled
plate). A bound that is not linear in the log-densities must not be scaled site by site
before its log-sum-exp, which is what ``pyro.infer.RenyiELBO`` does. Here the scale c shared
by the observed sites is the *data scale* (N/B for a minibatch of B out of N), returned
apart from the log-weights so that estimators apply it after the bound; a site whose scale
differs from c (a KL weight beta or an annealing factor on the latent site) enters log w
with the weight s_site / c, which turns the bound into a weighted objective.

References:
    [1] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
"""
from typing import Dict, NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample

from zoo._utils.checks import positive_int

PARTICLE_PLATE = "particles"
DATA_DIM = -1  # the data plate's dim; particles are vectorized at dim -2


class Traces(NamedTuple):
    """A vectorized guide trace, the model trace replayed on it, and the data scale."""

    guide: poutine.Trace
    model: poutine.Trace
    scale: float


def vectorize(fn, num_particles: int):
    """``fn`` run inside an outer particle plate at dim -2."""

    def vectorized(*args, **kwargs):
        with pyro.plate(PARTICLE_PLATE, num_particles, dim=-2):
            return fn(*args, **kwargs)

    return vectorized


def sample_sites(trace):
    """The trace's sample sites, without the plates' subsample sites."""
    return [site for site in trace.nodes.values() if site["type"] == "sample" and not site_is_subsample(site)]


def _scale(site) -> float:
    scale = site["scale"]
    if isinstance(scale, torch.Tensor):
        if scale.numel() != 1:
            raise ValueError(f"site {site['name']!r} has a per-element scale of shape {tuple(scale.shape)}; "
                             "importance-weighted estimators support one scale per site")
        scale = scale.item()
    return float(scale)


def data_scale(model_trace) -> float:
    """The scale shared by the observed sites (1 without observed sites)."""
    scales = {site["name"]: _scale(site) for site in sample_sites(model_trace) if site["is_observed"]}
    if len(set(scales.values())) > 1:
        raise ValueError(f"observed sites carry different scales {scales}; an importance-weighted bound "
                         "needs one data scale")
    return next(iter(scales.values()), 1.0)


def _check_under_data_plate(site) -> None:
    if not any(frame.dim == DATA_DIM for frame in site["cond_indep_stack"]):
        raise ValueError(
            f"site {site['name']!r} is not under a data plate at dim {DATA_DIM}; importance weights "
            "are per datapoint, so every sample site must sit in the data plate"
        )


def run(model, guide, args, kwargs, num_particles: int, values: Dict[str, torch.Tensor] = None) -> Traces:
    """Trace the guide with ``num_particles`` vectorized particles and replay the model on it.

    With ``values``, the guide is not sampled: both model and guide are replayed on these
    latent values (e.g. detached leaves for path gradients).
    """
    positive_int("num_particles", num_particles)
    guide_fn = vectorize(guide, num_particles)
    if values is not None:
        guide_fn = poutine.replay(guide_fn, trace=replay_trace(values))
    guide_trace = poutine.trace(guide_fn).get_trace(*args, **kwargs)
    model_trace = replay_model(model, guide_trace, args, kwargs, num_particles)
    latent = {site["name"] for site in sample_sites(guide_trace) if not site["is_observed"]}
    for site in sample_sites(model_trace):
        _check_under_data_plate(site)
        if not site["is_observed"] and site["name"] not in latent:
            raise ValueError(f"model site {site['name']!r} is latent but the guide does not sample it")
    for site in sample_sites(guide_trace):
        _check_under_data_plate(site)
    return Traces(guide_trace, model_trace, data_scale(model_trace))


def replay_model(model, values, args, kwargs, num_particles: int) -> poutine.Trace:
    """The model's trace, vectorized, with its latent sites replayed from a trace or a dict of values."""
    trace = values if isinstance(values, poutine.Trace) else replay_trace(values)
    return poutine.trace(poutine.replay(vectorize(model, num_particles), trace=trace)).get_trace(*args, **kwargs)


def replay_trace(values: Dict[str, torch.Tensor]) -> poutine.Trace:
    """A trace holding only the given latent values, for ``poutine.replay``."""
    trace = poutine.Trace()
    for name, value in values.items():
        trace.add_node(name, type="sample", is_observed=False, value=value, infer={})
    return trace


def site_log_density(site, scale: float) -> torch.Tensor:
    """log p(value) of one site, masked, weighted by its scale relative to the data scale."""
    log_p = scale_and_mask(site["fn"].log_prob(site["value"]), mask=site["mask"])
    weight = _scale(site) / scale
    return log_p if weight == 1.0 else weight * log_p


def log_density(trace, scale: float) -> torch.Tensor:
    """Sum over the trace's sample sites of their weighted log-densities, shape (K, N)."""
    total = 0.0
    for site in sample_sites(trace):
        total = total + site_log_density(site, scale)
    return total


def latents(guide_trace) -> Dict[str, torch.Tensor]:
    """The guide's sampled latent values by site name."""
    return {site["name"]: site["value"] for site in sample_sites(guide_trace) if not site["is_observed"]}


def check_reparameterized(guide_trace, estimator: str) -> None:
    for site in sample_sites(guide_trace):
        if not site["is_observed"] and not getattr(site["fn"], "has_rsample", False):
            raise ValueError(
                f"{estimator} differentiates through z ~ q, but guide site {site['name']!r} "
                f"({type(site['fn']).__name__}) has no reparameterized sampler; use the 'score' estimator"
            )


def as_particles_last(log_w: torch.Tensor, num_particles: int, traces: Traces) -> torch.Tensor:
    """(K, N) log-weights -> (N, K), checking the shape."""
    if not isinstance(log_w, torch.Tensor) or log_w.dim() > 2:
        shape = tuple(log_w.shape) if isinstance(log_w, torch.Tensor) else ()
        raise ValueError(f"log-weights have shape {shape}; expected (num_particles, N): are all sites "
                         f"under one data plate at dim {DATA_DIM}?")
    n = next(frame.size for site in sample_sites(traces.model) for frame in site["cond_indep_stack"]
             if frame.dim == DATA_DIM)
    return log_w.expand(num_particles, n).transpose(0, 1)


def log_weights(model, guide, *args, num_particles: int = 1, **kwargs) -> torch.Tensor:
    """Importance log-weights of shape ``(num_particles, N)``, for evaluation.

    Works for any model/guide whose sites sit under one data plate at dim -1; the
    particles are vectorized in an outer plate at dim -2. Scaled sites are refused: an
    evaluation wants the unweighted model (put weighted models in eval mode).
    """
    traces = run(model, guide, args, kwargs, num_particles)
    for site in sample_sites(traces.guide) + sample_sites(traces.model):
        if _scale(site) != 1.0:
            raise ValueError(
                f"site {site['name']!r} carries a scale ({site['scale']}); importance weights need "
                "unscaled log-densities"
            )
    log_w = log_density(traces.model, 1.0) - log_density(traces.guide, 1.0)
    return as_particles_last(log_w, num_particles, traces).transpose(0, 1)
