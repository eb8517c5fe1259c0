r"""Exact enumeration of the discrete latent sites: the ELBO and log p(x) with no Monte Carlo.

Where every latent site is discrete and each datapoint's latent configurations are few, the
expectations over q are finite sums over every joint configuration h of the latent sites:

    ELBO(x)  = sum_h q(h|x) [log p(x, h) - log q(h|x)]          (``elbo-enum``: zero variance)
    log p(x) = log sum_h p(x, h)                                 (:func:`exact_log_marginal`)

and their gradients are exact. The configurations are laid out as particles (the particle dim
of ``weights.py``), each the same for every datapoint, and guide and model are replayed on them.

Why not ``pyro.infer.TraceEnum_ELBO``: Pyro enumerates one value per site and batch element,
which is exact only where the sites downstream of a plate's elements stay in that plate. A
layer of binary units in one site (``Bernoulli(...).to_event(1)``, the sigmoid belief net's),
mixed by a dense weight matrix below, has no ``enumerate_support``; here every element of
every site is enumerated jointly, which is what its exact expectation needs (2^units
configurations, hence the size limit).
"""
import math
from typing import Dict, Tuple

import torch
from pyro import poutine
from pyro.distributions import constraints

from zoo._utils.checks import positive_int
from zoo._utils.contexts import isolated_rng
from zoo.estimators import weights
from zoo.estimators.base import LogWeightELBO

MAX_CONFIGURATIONS = 2 ** 12  # default limit on the joint configurations per datapoint


def element_values(site) -> Tuple[torch.Tensor, int]:
    """The values one element of a discrete site takes, ``(V, *element_shape)``, and the number
    of its event dims that an element spans (1 for one-hot vectors, else 0)."""
    support = site["fn"].support
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    value = site["value"]
    if support is constraints.boolean:
        return torch.tensor([0.0, 1.0], dtype=value.dtype, device=value.device), 0
    if isinstance(support, constraints.integer_interval):
        return torch.arange(support.lower_bound, support.upper_bound + 1, dtype=value.dtype, device=value.device), 0
    if support is constraints.one_hot:
        return torch.eye(value.shape[-1], dtype=value.dtype, device=value.device), 1
    raise ValueError(f"elbo-enum enumerates discrete latent sites, and site {site['name']!r} "
                     f"({type(site['fn']).__name__}, support {support}) is not one: use 'score', 'vimco' or 'rws'")


def _site_grid(site, data_dim: int, index: torch.Tensor, values: torch.Tensor, span: int):
    """The site's values at joint configurations ``index`` (C, elements) of its elements."""
    shape = tuple(site["value"].shape)
    batch_dims = len(shape) - len(site["fn"].event_shape)
    axis = batch_dims + data_dim  # the data plate's position in the value
    if axis < 0:
        raise ValueError(f"site {site['name']!r} has no data-plate dim in its value of shape {shape}")
    element_shape = shape[:axis] + shape[axis + 1:len(shape) - span]
    grid = values[index]  # (C, elements, *span_shape)
    grid = grid.reshape((index.shape[0],) + element_shape + shape[len(shape) - span:])
    grid = grid.unsqueeze(axis + 1).expand((index.shape[0],) + shape)
    return grid


def configurations(model, guide, args, kwargs, plates: weights.Plates,
                   max_configurations: int = MAX_CONFIGURATIONS) -> Tuple[Dict[str, torch.Tensor], int]:
    """Every joint configuration of the guide's latent sites, as replay values with the
    configurations at ``plates.particle_dim``; and their number C. One-line ``ValueError`` for a
    continuous site, or when C exceeds ``max_configurations`` (saying how large it would be)."""
    positive_int("max_configurations", max_configurations)
    with poutine.block(), isolated_rng(args, kwargs), torch.no_grad():
        trace = poutine.trace(guide).get_trace(*args, **kwargs)
    sites = [s for s in weights.sample_sites(trace) if not s["is_observed"]]
    if plates.data_dim is None:
        raise ValueError("elbo-enum needs the data plate's dim: give data_plate=..., not max_plate_nesting alone")
    specs, log2_total = [], 0.0
    for site in sites:
        values, span = element_values(site)
        size = site["value"].shape[plates.data_dim - len(site["fn"].event_shape)]
        elements = site["value"][..., 0].numel() // size if span else site["value"].numel() // size
        specs.append((site, values, span, elements))
        log2_total += elements * math.log2(values.shape[0])
    if log2_total > math.log2(max_configurations):
        per_site = ", ".join(f"{s['name']}: {v.shape[0]}^{e}" for s, v, _, e in specs)
        raise ValueError(f"elbo-enum would sum over 2^{log2_total:.0f} joint configurations per datapoint "
                         f"({per_site}), more than max_configurations={max_configurations}: use 'score', 'vimco' "
                         "or 'rws' (or a larger max_configurations, memory permitting)")
    total = round(2 ** log2_total)
    codes = torch.arange(total, device=sites[0]["value"].device) if sites else torch.zeros(1, dtype=torch.long)
    out, stride = {}, 1
    for site, values, span, elements in specs:
        v = values.shape[0]
        powers = v ** torch.arange(elements, device=codes.device)
        index = (codes.unsqueeze(-1) // (stride * powers)) % v  # (C, elements): mixed radix digits
        grid = _site_grid(site, plates.data_dim, index, values, span)
        pad = -plates.particle_dim - 1 - (grid.dim() - 1 - len(site["fn"].event_shape))
        out[site["name"]] = grid.reshape((total,) + (1,) * pad + grid.shape[1:])
        stride *= v ** elements
    return out, total


def enumerated_log_densities(model, guide, args, kwargs, plates: weights.Plates,
                             max_configurations: int = MAX_CONFIGURATIONS):
    """log p(x, h) and log q(h|x) at every configuration h, each ``(N, C)``; and the data scale."""
    values, total = configurations(model, guide, args, kwargs, plates, max_configurations)
    traces = weights.run(model, guide, args, kwargs, total, values=values, plates=plates)
    last = lambda t: weights.as_particles_last(t, total, traces)  # noqa: E731
    return last(weights.log_density(traces.model, traces)), last(weights.log_density(traces.guide, traces)), traces


def exact_log_marginal(model, guide, *args, data_plate=None, max_configurations: int = MAX_CONFIGURATIONS,
                       **kwargs) -> torch.Tensor:
    """log p(x_n) = log sum_h p(x_n, h) per datapoint ``(N,)``, by enumerating the latent sites
    the guide samples (the guide gives only the sites and their supports)."""
    plates = weights.find_plates(model, guide, args, kwargs, data_plate)
    with torch.no_grad():
        log_p, _, traces = enumerated_log_densities(model, guide, args, kwargs, plates, max_configurations)
    weights.refuse_scaled(traces)
    return torch.logsumexp(log_p, -1)


class EnumELBO(LogWeightELBO):
    """The ELBO summed exactly over every joint configuration of the discrete latent sites
    (module docstring); value and gradient have no Monte Carlo error. ``num_particles`` is 1:
    nothing is drawn."""

    name = "elbo-enum"
    gradients = ("exact",)

    def __init__(self, max_configurations: int = MAX_CONFIGURATIONS, **plates):
        super().__init__(num_particles=1, gradient="exact", **plates)
        self.max_configurations = positive_int("max_configurations", max_configurations)

    def validate(self, model, guide, args, kwargs) -> None:
        """The sites and plates, and the number of configurations (one line if too many)."""
        configurations(model, guide, args, kwargs, self.plates(model, guide, args, kwargs), self.max_configurations)

    def exact(self, model, guide, args, kwargs) -> Tuple[torch.Tensor, float]:
        """The ELBO of each datapoint ``(N,)``, differentiable, and the data scale."""
        plates = self.plates(model, guide, args, kwargs)
        log_p, log_q, traces = enumerated_log_densities(model, guide, args, kwargs, plates, self.max_configurations)
        return (log_q.exp() * (log_p - log_q)).sum(-1), traces.scale

    def per_datapoint(self, model, guide, *args, **kwargs) -> torch.Tensor:
        with torch.no_grad():
            return self.exact(model, guide, args, kwargs)[0]

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            elbo, scale = self.exact(model, guide, args, kwargs)
            return -scale * elbo.sum().item()

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        elbo, scale = self.exact(model, guide, args, kwargs)
        return -scale * elbo.sum()
