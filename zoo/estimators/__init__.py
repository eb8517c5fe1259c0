"""ELBO estimators by name: ``SVI(model, guide, optim, loss=zoo.estimators.get(name, **options))``.

Every estimator works on any Pyro model/guide pair whose sample sites sit in one data plate:
several latent sites, sites that depend on each other, inner plates inside the data plate,
the data plate at any dim, models that take more than the data (``weights.py``). The particles
are vectorized at a dim left of the deepest plate, found from one run of guide and model or
given as ``max_plate_nesting=``; ``data_plate=`` names the data plate where the observed
site's outermost plate is not it. ``elbo`` and ``elbo-kl`` are Pyro's; the others are
``LogWeightELBO`` subclasses (``base.py``), whose loss is the negative bound summed over the
batch and multiplied by the data scale, and whose ``per_datapoint`` gives the bound of each
datapoint.

=========== ============================================= ==================================
name        objective per datapoint                       guide gradient
=========== ============================================= ==================================
elbo        ELBO (Trace_ELBO)                             reparameterized
elbo-kl     ELBO, analytic KL (TraceMeanField_ELBO)       reparameterized
elbo-stl    ELBO                                          sticking the landing (unbiased)
score       ELBO                                          score function with a baseline
iwae        L_K                                           reparameterized
iwae-dreg   L_K                                           doubly reparameterized (unbiased)
iwae-stl    L_K                                           sticking the landing (biased, K > 1)
renyi       L_alpha (alpha != 1; alpha = 0 is L_K)        reparameterized
miwae       mean of M bounds L_K (M K particles)          reparameterized (or stl, dreg)
ciwae       beta ELBO + (1 - beta) L_K                    reparameterized (or stl)
vimco       L_K                                           score, leave-one-out baselines
rws         L_K (model); guide: wake/sleep phase          reweighted wake-sleep (not L_K's)
concrete    L_K of a relaxed model (reported: discrete)   reparameterized, relaxed sites
elbo-enum   ELBO, summed over every configuration         exact (discrete sites, few units)
=========== ============================================= ==================================

The last four are for discrete latents (``score`` too); the reparameterized ones refuse a
discrete site, naming it.
"""
import inspect
import logging
from typing import List, Optional

import torch
from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO

from zoo._utils.checks import positive_int
from zoo._utils.contexts import isolated_rng
from zoo._utils.registry import Registry
from zoo.estimators.base import LogWeightELBO
from zoo.estimators.concrete import Concrete
from zoo.estimators.elbo import MonteCarloELBO
from zoo.estimators.enumeration import MAX_CONFIGURATIONS, EnumELBO, exact_log_marginal
from zoo.estimators.iwae import IWAE
from zoo.estimators.miwae import CIWAE, MIWAE
from zoo.estimators.renyi import RenyiBound
from zoo.estimators.rws import RWS
from zoo.estimators.score import ScoreFunctionELBO
from zoo.estimators.vimco import VIMCO
from zoo.estimators.weights import find_plates, log_weights

ESTIMATORS = Registry("estimator")
PLATE_OPTIONS = ("data_plate", "max_plate_nesting")  # every estimator's, given to get()


def _particles(num_particles: int) -> dict:
    positive_int("num_particles", num_particles)
    # One particle needs no particle plate: the same draws, without the plate's overhead. Pyro
    # finds max_plate_nesting from the first run (or get(..., max_plate_nesting=N) sets it).
    return dict(num_particles=num_particles, vectorize_particles=num_particles > 1, max_plate_nesting=float("inf"))


class _IsolatedGuess:
    """Pyro guesses ``max_plate_nesting`` from one run of guide and model, drawing from the global
    RNG; here that run draws from a forked one, so that the noise of a run's steps (and of a
    resumed run's) does not depend on when the guess was made."""

    def _guess_max_plate_nesting(self, model, guide, args, kwargs):
        log = logging.getLogger("pyro.infer.elbo")  # which says "Guessed max_plate_nesting" at INFO
        level = log.level
        log.setLevel(logging.WARNING)
        try:
            with isolated_rng(args, kwargs):
                return super()._guess_max_plate_nesting(model, guide, args, kwargs)
        finally:
            log.setLevel(level)


class TraceELBO(_IsolatedGuess, Trace_ELBO):
    """``pyro.infer.Trace_ELBO`` whose guess of the plates' depth draws from a forked RNG."""


class TraceMeanFieldELBO(_IsolatedGuess, TraceMeanField_ELBO):
    """``pyro.infer.TraceMeanField_ELBO`` whose guess of the plates' depth draws from a forked RNG,
    and which refuses, at its first run, the models and guides it would get wrong: a latent site
    without a closed-form KL (Pyro would fall back to a Monte Carlo term without a word), and a
    guide that samples the latent sites in another order than the model (the closed-form
    KL(q(z) || p(z | parents)) at the guide's draws of the parents is then biased: Pyro warns)."""

    checked = False

    def _get_trace(self, model, guide, args, kwargs):
        model_trace, guide_trace = Trace_ELBO._get_trace(self, model, guide, args, kwargs)
        if not self.checked:
            check_closed_form_kl(model_trace, guide_trace)
            self.checked = True
        return model_trace, guide_trace


def check_closed_form_kl(model_trace, guide_trace) -> None:
    """``ValueError`` naming the site, unless every latent site has a registered KL and the guide
    samples the latent sites in the model's order."""
    from pyro.distributions.kl import kl_divergence

    from zoo.estimators.weights import sample_sites

    latent = [s["name"] for s in sample_sites(model_trace) if not s["is_observed"]]
    for name in latent:
        q, p = guide_trace.nodes[name]["fn"], model_trace.nodes[name]["fn"]
        try:
            kl_divergence(q, p)
        except NotImplementedError:
            raise ValueError(f"elbo-kl needs KL(q || p) in closed form, and site {name!r} has none for "
                             f"{type(q).__name__} against {type(p).__name__}; use 'elbo' (the same bound by Monte "
                             "Carlo), 'elbo-stl' or an importance-weighted estimator") from None
    guided = [s["name"] for s in sample_sites(guide_trace) if s["name"] in latent]
    if guided != latent:
        raise ValueError(f"elbo-kl takes each KL(q(z) || p(z | parents)) in closed form at the guide's draws of the "
                         f"parents, which is unbiased only if the guide samples the latent sites in the model's order; "
                         f"the model samples {', '.join(latent)}, the guide {', '.join(guided)}: use 'elbo', "
                         "'elbo-stl' or an importance-weighted estimator")

@ESTIMATORS.register("elbo")
def elbo(num_particles: int = 1) -> ELBO:
    r"""ELBO = E_q[log p(x, z) - log q(z|x)], Monte Carlo over z (``pyro.infer.Trace_ELBO``)."""
    return TraceELBO(**_particles(num_particles))


@ESTIMATORS.register("elbo-kl")
def elbo_kl(num_particles: int = 1) -> ELBO:
    r"""ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the KL in closed form where one is
    registered (``pyro.infer.TraceMeanField_ELBO``)."""
    return TraceMeanFieldELBO(**_particles(num_particles))


@ESTIMATORS.register("elbo-stl")
def elbo_stl(num_particles: int = 1) -> ELBO:
    """The ELBO with "sticking the landing" guide gradients [Roeder et al. 2017]."""
    return MonteCarloELBO(num_particles, gradient="stl")


@ESTIMATORS.register("score")
def score(num_particles: int = 1, data_shape=None, baseline: Optional[str] = None, decay: float = 0.9,
          baseline_net=None, baseline_hidden: int = 100, normalize: bool = False, paths: bool = False) -> ELBO:
    """The ELBO with score-function (REINFORCE) guide gradients and a baseline; ``data_shape``
    sizes the default network of ``baseline="learned"`` (NVIL's); ``normalize`` divides the
    centred signal by its running standard deviation (NVIL's variance normalization);
    ``paths`` keeps the pathwise gradient of reparameterizable sites (``ScoreFunctionELBO``)."""
    return ScoreFunctionELBO(num_particles, baseline=baseline, decay=decay, baseline_net=baseline_net,
                             baseline_hidden=baseline_hidden, data_shape=data_shape, normalize=normalize,
                             paths=paths)


@ESTIMATORS.register("iwae")
def iwae(num_particles: int = 1, gradient: str = "reparam") -> ELBO:
    """The IWAE bound L_K, K = ``num_particles`` [Burda et al. 2015]."""
    return IWAE(num_particles, gradient=gradient)


@ESTIMATORS.register("iwae-dreg")
def iwae_dreg(num_particles: int = 1) -> ELBO:
    """L_K with doubly reparameterized guide gradients [Tucker et al. 2018]."""
    return IWAE(num_particles, gradient="dreg")


@ESTIMATORS.register("iwae-stl")
def iwae_stl(num_particles: int = 1) -> ELBO:
    """L_K with sticking-the-landing guide gradients (biased for K > 1) [Tucker et al. 2018]."""
    return IWAE(num_particles, gradient="stl")


@ESTIMATORS.register("renyi")
def renyi(num_particles: int = 2, alpha: float = 0.0) -> ELBO:
    """The Renyi bound L_alpha [Li & Turner 2016]."""
    return RenyiBound(alpha, num_particles)


@ESTIMATORS.register("miwae")
def miwae(num_particles: int = 1, num_groups: int = 1, gradient: str = "reparam") -> ELBO:
    """MIWAE: ``num_groups`` bounds of ``num_particles`` each [Rainforth et al. 2018]."""
    return MIWAE(num_groups, num_particles, gradient=gradient)


@ESTIMATORS.register("ciwae")
def ciwae(num_particles: int = 1, beta: float = 0.5, gradient: str = "reparam") -> ELBO:
    """CIWAE: beta ELBO + (1 - beta) L_K [Rainforth et al. 2018]."""
    return CIWAE(beta, num_particles, gradient=gradient)


@ESTIMATORS.register("vimco")
def vimco(num_particles: int = 5) -> ELBO:
    """L_K with VIMCO's leave-one-out baselines [Mnih & Rezende 2016]; K >= 2."""
    return VIMCO(num_particles)


@ESTIMATORS.register("rws")
def rws(num_particles: int = 5, phase: str = "wake") -> ELBO:
    """Reweighted wake-sleep [Bornschein & Bengio 2015]: the model by L_K's gradient, the guide
    by the ``wake``, ``sleep`` or ``wake+sleep`` update."""
    return RWS(num_particles, phase=phase)


@ESTIMATORS.register("concrete")
def concrete(num_particles: int = 1, temperature: float = 2 / 3, anneal_rate: float = 0.0,
             min_temperature: float = 0.5, density: str = "discrete") -> ELBO:
    """Train through the Concrete relaxation of the discrete sites [Maddison et al. 2017,
    Jang et al. 2017]; every reported bound is the discrete model's."""
    return Concrete(num_particles, temperature=temperature, anneal_rate=anneal_rate, min_temperature=min_temperature,
                    density=density)


@ESTIMATORS.register("elbo-enum")
def elbo_enum(num_particles: int = 1, max_configurations: int = MAX_CONFIGURATIONS) -> ELBO:
    """The ELBO summed exactly over every configuration of the discrete latent sites."""
    if num_particles != 1:
        raise ValueError(f"elbo-enum draws nothing (it sums over every configuration): num_particles must be 1, "
                         f"got {num_particles}")
    return EnumELBO(max_configurations)


def get(name: str, data_shape=None, data_plate: Optional[str] = None, max_plate_nesting: Optional[int] = None,
        **options) -> ELBO:
    """An estimator by name, e.g. ``get("elbo", num_particles=5)``.

    ``data_shape`` (the shape of one datum) is passed on only to estimators that build a network
    on the data (``score`` with ``baseline="learned"``); the others ignore it. ``data_plate``
    names the plate of the datapoints (the log-weight estimators need one term per datapoint;
    Pyro's ``elbo`` and ``elbo-kl`` sum every site and need none); ``max_plate_nesting`` gives
    the plates' depth instead of finding it from a run.
    """
    if data_shape is not None and "data_shape" in inspect.signature(ESTIMATORS.get(name)).parameters:
        options["data_shape"] = data_shape
    estimator = ESTIMATORS.create(name, **options)
    if isinstance(estimator, LogWeightELBO):
        estimator.set_plates(data_plate, max_plate_nesting)
    elif max_plate_nesting is not None:
        find_plates(None, None, (), {}, None, max_plate_nesting)  # checks the value
        # Pyro counts the particle plate too, when it vectorizes particles
        estimator.max_plate_nesting = max_plate_nesting + int(estimator.vectorize_particles)
    return estimator


def check(name: str, **options) -> None:
    """Refuse an unknown estimator, or options its factory does not take (the plate options are
    every estimator's), without building it."""
    ESTIMATORS.check(name, **{k: v for k, v in options.items() if k not in PLATE_OPTIONS + ("data_shape",)})


def validate(estimator: ELBO, model, guide, *args, **kwargs) -> None:
    """Refuse, before any training, a model/guide pair the estimator cannot handle, in one line: the
    sites and plates (``weights.find_plates``: a guide missing a site, a global latent, a plate that
    does not match the data), a discrete site where the estimator needs a reparameterized one, an
    enumeration too large, for the log-weight estimators (``LogWeightELBO.validate``); closed-form
    KLs and the sites' order for ``elbo-kl``. One run of model and guide on ``args``, drawing from a forked RNG."""
    if isinstance(estimator, LogWeightELBO):
        estimator.validate(model, guide, args, kwargs)
    elif isinstance(estimator, TraceMeanFieldELBO) and not estimator.checked:
        from pyro import poutine

        with isolated_rng(args, kwargs), torch.no_grad():
            guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
            model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
        check_closed_form_kl(model_trace, guide_trace)
        estimator.checked = True


def list_estimators() -> List[str]:
    return ESTIMATORS.names()


__all__ = ["CIWAE", "Concrete", "ESTIMATORS", "EnumELBO", "IWAE", "MIWAE", "PLATE_OPTIONS", "RWS", "VIMCO",
           "LogWeightELBO", "MonteCarloELBO", "RenyiBound", "ScoreFunctionELBO", "TraceELBO", "TraceMeanFieldELBO",
           "check", "exact_log_marginal", "get", "list_estimators", "log_weights", "validate"]
