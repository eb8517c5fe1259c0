"""ELBO estimators by name: ``SVI(model, guide, optim, loss=zoo.estimators.get(name, **options))``.

Every estimator assumes the model's and guide's sites sit under one data plate (dim -1), so
particles are vectorized on dim -2.
"""
from typing import List

from pyro.infer import ELBO, Trace_ELBO, TraceMeanField_ELBO

from zoo.checks import positive_int
from zoo.estimators.weights import log_weights
from zoo.registry import Registry

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


def get(name: str, **options) -> ELBO:
    """An estimator by name, e.g. ``get("elbo", num_particles=5)``."""
    return ESTIMATORS.create(name, **options)


def list_estimators() -> List[str]:
    return ESTIMATORS.names()


__all__ = ["ESTIMATORS", "get", "list_estimators", "log_weights"]
