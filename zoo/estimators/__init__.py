"""ELBO estimators by name: ``SVI(model, guide, optim, loss=zoo.estimators.get(name, **options))``.

Every estimator assumes the model's and guide's sites sit under one data plate (dim -1), so
particles are vectorized on dim -2. ``elbo`` and ``elbo-kl`` are Pyro's; the others are
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
=========== ============================================= ==================================
"""
import inspect
from typing import List, Optional

from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO

from zoo._utils.checks import positive_int
from zoo._utils.registry import Registry
from zoo.estimators.base import LogWeightELBO
from zoo.estimators.elbo import MonteCarloELBO
from zoo.estimators.iwae import IWAE
from zoo.estimators.miwae import CIWAE, MIWAE
from zoo.estimators.renyi import RenyiBound
from zoo.estimators.score import ScoreFunctionELBO
from zoo.estimators.weights import log_weights

ESTIMATORS = Registry("estimator")
MAX_PLATE_NESTING = 1


def _particles(num_particles: int) -> dict:
    positive_int("num_particles", num_particles)
    # One particle needs no particle plate: the same draws, without the plate's overhead.
    return dict(num_particles=num_particles, vectorize_particles=num_particles > 1,
                max_plate_nesting=MAX_PLATE_NESTING)


@ESTIMATORS.register("elbo")
def elbo(num_particles: int = 1) -> ELBO:
    r"""ELBO = E_q[log p(x, z) - log q(z|x)], Monte Carlo over z (``pyro.infer.Trace_ELBO``)."""
    return Trace_ELBO(**_particles(num_particles))


@ESTIMATORS.register("elbo-kl")
def elbo_kl(num_particles: int = 1) -> ELBO:
    r"""ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the KL in closed form where one is
    registered (``pyro.infer.TraceMeanField_ELBO``)."""
    return TraceMeanField_ELBO(**_particles(num_particles))


@ESTIMATORS.register("elbo-stl")
def elbo_stl(num_particles: int = 1) -> ELBO:
    """The ELBO with "sticking the landing" guide gradients [Roeder et al. 2017]."""
    return MonteCarloELBO(num_particles, gradient="stl")


@ESTIMATORS.register("score")
def score(num_particles: int = 1, data_shape=None, baseline: Optional[str] = None, decay: float = 0.9,
          baseline_net=None, baseline_hidden: int = 100) -> ELBO:
    """The ELBO with score-function (REINFORCE) guide gradients and a baseline; ``data_shape``
    sizes the default network of ``baseline="learned"`` (``ScoreFunctionELBO``)."""
    return ScoreFunctionELBO(num_particles, baseline=baseline, decay=decay, baseline_net=baseline_net,
                             baseline_hidden=baseline_hidden, data_shape=data_shape)


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


def get(name: str, data_shape=None, **options) -> ELBO:
    """An estimator by name, e.g. ``get("elbo", num_particles=5)``.

    ``data_shape`` (the shape of one datum) is passed on only to estimators that build a network
    on the data (``score`` with ``baseline="learned"``); the others ignore it.
    """
    if data_shape is not None and "data_shape" in inspect.signature(ESTIMATORS.get(name)).parameters:
        options["data_shape"] = data_shape
    return ESTIMATORS.create(name, **options)


def list_estimators() -> List[str]:
    return ESTIMATORS.names()


__all__ = ["CIWAE", "ESTIMATORS", "IWAE", "LogWeightELBO", "MIWAE", "MonteCarloELBO", "RenyiBound",
           "ScoreFunctionELBO", "get", "list_estimators", "log_weights"]
