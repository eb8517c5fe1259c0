r"""Per-datapoint importance log-weights from Pyro traces, for any model with local latents.

    log w_k(x_n) = log p(x_n, z_nk) - log q(z_nk | x_n),   z_nk ~ q(z | x_n),   k = 1..K

Their mean is an ELBO estimate per datapoint; their log-mean-exp an IWAE bound [1].

Plates. The *data plate* is the plate of the datapoints: by default the outermost plate of the
model's observed site (or the one named ``data_plate``), at whatever dim it sits; a plate at
its dim and of its size, under another name, holds the same datapoints. Every sample site must
sit in it; a site outside it (a global latent, shared by all datapoints) is refused,
since a per-datapoint bound cannot hold a term that belongs to no one datapoint. Each site's
log-density is summed over every other batch dim (inner plates: features, time steps, pixels)
into one term per datapoint, and the particles are vectorized in a plate at a dim left of the
deepest plate, ``-(max_plate_nesting + 1)``, where ``max_plate_nesting`` is found from one
unvectorized run of guide and model, as Pyro does, or given. Several latent sites, sites that
depend on each other and models that take more than the data (``model(x, mask, lengths)``)
work alike: the weights of one particle are the sums over all sites of one run.

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
from dataclasses import dataclass
from typing import Dict, List, NamedTuple, Optional

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import site_is_subsample

from zoo._utils.checks import positive_int
from zoo._utils.contexts import isolated_rng

PARTICLE_PLATE = "particles"


@dataclass(frozen=True)
class Plates:
    """Where the datapoints and the particles sit among a model's batch dims.

    Attributes:
        data: the data plate's name, or ``None`` to take the observed site's outermost plate.
        particle_dim: the particles' dim, ``-(max_plate_nesting + 1)``.
        data_dim: the data plate's dim where a run found it, else ``None``.
    """

    data: Optional[str]
    particle_dim: int
    data_dim: Optional[int] = None


class Traces(NamedTuple):
    """A vectorized guide trace, the model trace replayed on it, the data scale, the data
    plate's name, dim and size, and the particles' dim."""

    guide: poutine.Trace
    model: poutine.Trace
    scale: float
    data: str
    data_dim: int
    size: int
    particle_dim: int


def vectorize(fn, num_particles: int, dim: int = -2):
    """``fn`` run inside an outer particle plate at ``dim``."""

    def vectorized(*args, **kwargs):
        with pyro.plate(PARTICLE_PLATE, num_particles, dim=dim):
            return fn(*args, **kwargs)

    return vectorized


def sample_sites(trace) -> List[dict]:
    """The trace's sample sites, without the plates' subsample sites."""
    return [site for site in trace.nodes.values() if site["type"] == "sample" and not site_is_subsample(site)]


def find_plates(model, guide, args, kwargs, data_plate: Optional[str] = None,
                max_plate_nesting: Optional[int] = None) -> Plates:
    """The data plate and the particles' dim (left of the deepest plate), from one unvectorized
    run of guide and model, which also checks the sites (:func:`check_sites`); with
    ``max_plate_nesting`` given, nothing is run and the data plate is found at the first
    vectorized run."""
    if max_plate_nesting is not None:
        if isinstance(max_plate_nesting, bool) or not isinstance(max_plate_nesting, int) or max_plate_nesting < 0:
            raise ValueError(f"max_plate_nesting must be a non-negative integer, got {max_plate_nesting!r}")
        return Plates(data_plate, -(max_plate_nesting + 1))
    with poutine.block(), isolated_rng(args, kwargs):  # the global RNG's draws stay those of training
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    frame = check_sites(guide_trace, model_trace, data_plate)
    dims = [-f.dim for t in (guide_trace, model_trace) for s in sample_sites(t)
            for f in s["cond_indep_stack"] if f.vectorized]
    return Plates(frame.name, -(max(dims, default=0) + 1), frame.dim)


def check_sites(guide_trace, model_trace, data_plate: Optional[str] = None):
    """The data plate's frame, after checking that every sample site sits in it and that the
    guide samples every latent site of the model; one-line ``ValueError`` otherwise."""
    frame = _data_frame(model_trace, data_plate)
    latent = {site["name"] for site in sample_sites(guide_trace) if not site["is_observed"]}
    for site in sample_sites(model_trace):
        _check_in_data_plate(site, frame, "model")
        _check_plate_size(site, frame)
        if not site["is_observed"] and site["name"] not in latent:
            raise ValueError(f"model site {site['name']!r} is latent but the guide does not sample it; the guide "
                             f"samples {', '.join(sorted(latent)) or 'nothing'}")
    for site in sample_sites(guide_trace):
        _check_in_data_plate(site, frame, "guide")
    return frame


def _data_frame(model_trace, data_plate: Optional[str]):
    """The data plate's frame: the plate named ``data_plate``, else the observed site's outermost."""
    sites = sample_sites(model_trace)
    if data_plate is not None:
        frame = next((f for s in sites for f in s["cond_indep_stack"] if f.vectorized and f.name == data_plate), None)
        if frame is None:
            raise ValueError(f"data_plate={data_plate!r}: the model has no vectorized plate of that name")
        return frame
    anchor = next((s for s in sites if s["is_observed"]), sites[0] if sites else None)
    frames = [f for f in anchor["cond_indep_stack"] if f.vectorized and f.name != PARTICLE_PLATE] if anchor else []
    if not frames:
        raise ValueError("the model's observed site is in no plate: importance weights are per datapoint, so the "
                         "datapoints must sit in a vectorized pyro.plate (or name it with data_plate=...)")
    return frames[0]


def _check_in_data_plate(site, frame, role: str) -> None:
    """In the data plate: in the plate of that name, or in a plate at its dim and of its size (the
    same datapoints, entered under another name)."""
    if not any(f.name == frame.name or (f.vectorized and f.dim == frame.dim and f.size == frame.size)
               for f in site["cond_indep_stack"]):
        kind = "an observation" if site["is_observed"] else "a global latent"
        raise ValueError(
            f"{role} site {site['name']!r} is outside the data plate {frame.name!r}: {kind} shared by every "
            "datapoint, which a per-datapoint bound (ELBO, IWAE, log p(x) per point) cannot hold; put it inside "
            "the plate, or learn it as a parameter")


def _check_plate_size(site, frame) -> None:
    """An observed value whose extent at the data plate's dim differs from the plate's size (the
    plate was given another number of datapoints than the data holds): one line."""
    if not site["is_observed"]:
        return
    shape = tuple(torch.as_tensor(site["value"]).shape)
    axis = len(shape) - len(site["fn"].event_shape) + frame.dim
    if 0 <= axis < len(shape) and shape[axis] not in (1, frame.size):
        raise ValueError(f"observed site {site['name']!r} holds {shape[axis]} datapoints at the data plate's dim "
                         f"{frame.dim} (value of shape {shape}), but the plate {frame.name!r} has size {frame.size}: "
                         "give the plate the number of datapoints in the batch")


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


def run(model, guide, args, kwargs, num_particles: int, values: Dict[str, torch.Tensor] = None,
        plates: Plates = Plates(None, -2)) -> Traces:
    """Trace the guide with ``num_particles`` vectorized particles (at ``plates.particle_dim``)
    and replay the model on it; check that every site sits in the data plate and that the guide
    samples every latent site of the model.

    With ``values``, the guide is not sampled: both model and guide are replayed on these
    latent values (e.g. detached leaves for path gradients).
    """
    positive_int("num_particles", num_particles)
    guide_fn = vectorize(guide, num_particles, plates.particle_dim)
    if values is not None:
        guide_fn = poutine.replay(guide_fn, trace=replay_trace(values))
    guide_trace = poutine.trace(guide_fn).get_trace(*args, **kwargs)
    model_trace = replay_model(model, guide_trace, args, kwargs, num_particles, plates.particle_dim)
    frame = check_sites(guide_trace, model_trace, plates.data)
    return Traces(guide_trace, model_trace, data_scale(model_trace), frame.name, frame.dim, frame.size,
                  plates.particle_dim)


def replay_model(model, values, args, kwargs, num_particles: int, particle_dim: int = -2) -> poutine.Trace:
    """The model's trace, vectorized, with its latent sites replayed from a trace or a dict of values."""
    trace = values if isinstance(values, poutine.Trace) else replay_trace(values)
    model_fn = vectorize(model, num_particles, particle_dim)
    return poutine.trace(poutine.replay(model_fn, trace=trace)).get_trace(*args, **kwargs)


def replay_trace(values: Dict[str, torch.Tensor]) -> poutine.Trace:
    """A trace holding only the given latent values, for ``poutine.replay``."""
    trace = poutine.Trace()
    for name, value in values.items():
        trace.add_node(name, type="sample", is_observed=False, value=value, infer={})
    return trace


def in_plates(guide_trace, plates: Plates) -> Traces:
    """Where a vectorized guide trace's datapoints and particles sit (``plates`` from
    :func:`find_plates`): a ``Traces`` with that trace, no model trace, and data scale 1, for
    :func:`log_density` on traces run apart (``zoo.evaluation.likelihood``)."""
    frame = next((f for s in sample_sites(guide_trace) for f in s["cond_indep_stack"] if f.name == plates.data), None)
    if frame is None:
        raise ValueError(f"the guide samples no site in the data plate {plates.data!r}")
    return Traces(guide_trace, None, 1.0, frame.name, frame.dim, frame.size, plates.particle_dim)


def per_datapoint(log_p: torch.Tensor, traces: Traces) -> torch.Tensor:
    """A site's log-density summed over every batch dim but the particles' and the data plate's:
    shape ``(K or 1, N or 1)``."""
    width = -traces.particle_dim
    if log_p.dim() > width:
        raise ValueError(f"a log-density has shape {tuple(log_p.shape)}, more batch dims than the plates "
                         f"({width - 1}) and the particles: are all batch dims declared by plates?")
    log_p = log_p.reshape((1,) * (width - log_p.dim()) + tuple(log_p.shape))
    others = [d for d in range(-width, 0) if d not in (traces.particle_dim, traces.data_dim)]
    return log_p.sum(others) if others else log_p


def site_log_density(site, traces: Traces) -> torch.Tensor:
    """log p(value) of one site, masked, weighted by its scale relative to the data scale,
    summed within each datapoint: ``(K or 1, N or 1)``."""
    log_p = scale_and_mask(site["fn"].log_prob(site["value"]), mask=site["mask"])
    weight = _scale(site) / traces.scale
    log_p = log_p if weight == 1.0 else weight * log_p
    return per_datapoint(torch.as_tensor(log_p), traces)


def log_density(trace, traces: Traces) -> torch.Tensor:
    """Sum over the trace's sample sites of their weighted log-densities, shape ``(K, N)``."""
    total = 0.0
    for site in sample_sites(trace):
        total = total + site_log_density(site, traces)
    return torch.as_tensor(total)


def score_log_density(traces: Traces) -> torch.Tensor:
    """Sum of log q over the guide's latent sites without a reparameterized sampler, ``(K, N)``
    (0 where every site has one): the part of log q that score-function terms need."""
    total = 0.0
    for site in sample_sites(traces.guide):
        if not site["is_observed"] and not getattr(site["fn"], "has_rsample", False):
            total = total + site_log_density(site, traces)
    return torch.as_tensor(total)


def latents(guide_trace) -> Dict[str, torch.Tensor]:
    """The guide's sampled latent values by site name."""
    return {site["name"]: site["value"] for site in sample_sites(guide_trace) if not site["is_observed"]}


def check_reparameterized(guide_trace, estimator: str) -> None:
    for site in sample_sites(guide_trace):
        if not site["is_observed"] and not getattr(site["fn"], "has_rsample", False):
            fn = site["fn"]
            while hasattr(fn, "base_dist"):  # Independent(Bernoulli) -> Bernoulli
                fn = fn.base_dist
            raise ValueError(
                f"{estimator} differentiates through z ~ q, but guide site {site['name']!r} "
                f"({type(fn).__name__}) has no reparameterized sampler; use 'score', 'vimco' or 'rws' (or 'concrete' "
                "for binary and one-hot sites, 'elbo-enum' for a few units)"
            )


def as_particles_last(log_w: torch.Tensor, num_particles: int, traces: Traces) -> torch.Tensor:
    """(K, N) log-weights -> (N, K)."""
    return torch.as_tensor(log_w).expand(num_particles, traces.size).transpose(0, 1)


def log_weights(model, guide, *args, num_particles: int = 1, data_plate: Optional[str] = None,
                max_plate_nesting: Optional[int] = None, plates: Optional[Plates] = None, **kwargs) -> torch.Tensor:
    """Importance log-weights of shape ``(num_particles, N)``, for evaluation.

    Works for any model/guide whose sample sites sit in one data plate (see the module
    docstring); the particles are vectorized at a dim left of the deepest plate (``plates``,
    e.g. from an earlier :func:`find_plates`, else found here). Scaled sites are refused: an
    evaluation wants the unweighted model (put weighted models in eval mode).
    """
    plates = plates or find_plates(model, guide, args, kwargs, data_plate, max_plate_nesting)
    traces = run(model, guide, args, kwargs, num_particles, plates=plates)
    refuse_scaled(traces)
    log_w = log_density(traces.model, traces) - log_density(traces.guide, traces)
    return as_particles_last(log_w, num_particles, traces).transpose(0, 1)


def refuse_scaled(traces: Traces) -> None:
    """``ValueError`` for a site with a scale: log p(x) and evaluation need unscaled log-densities."""
    for site in sample_sites(traces.guide) + sample_sites(traces.model):
        if _scale(site) != 1.0:
            raise ValueError(f"site {site['name']!r} carries a scale ({site['scale']}); log p(x) needs unscaled "
                             "log-densities (put a KL-weighted or subsampled model in eval mode)")
