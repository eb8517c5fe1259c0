r"""Training through a continuous relaxation of the discrete sites: Concrete / Gumbel-softmax [1, 2].

Each latent ``Bernoulli(logits=a)`` of model and guide becomes ``RelaxedBernoulli(tau, logits=a)``
and each ``OneHotCategorical(logits=a)`` a ``RelaxedOneHotCategorical(tau, logits=a)``, whose
draws are differentiable functions of the logits:

    h = sigmoid((a + log u - log(1 - u)) / tau),   u ~ U(0, 1)              (binary)
    h = softmax((a + g) / tau),                    g_i ~ Gumbel(0, 1)       (one-hot)

and the relaxed model is trained with the reparameterized K-sample bound (K = 1: the ELBO) of
its relaxed log-weights. The relaxed draw's log-density (``density=``) is either

``discrete``  the discrete log-pmf extended to the relaxed values, y log sigmoid(a) +
              (1 - y) log sigmoid(-a) (sum_i y_i log pi_i for one-hot): as tau -> 0 the
              draws become discrete and the relaxed objective the discrete one (the form of
              [2], whose KL term is the categorical's); the default;
``concrete``  the Concrete density itself [1, eq. 4], the relaxed model's exact density
              (Maddison et al.'s objective), which has no such limit.
 As tau -> 0 the relaxed draws tend to the discrete ones; the relaxed
bound is not a bound on the discrete model's log p(x). So only the training step sees the
relaxation: ``loss`` and ``per_datapoint`` (and every evaluation, which runs the model itself)
give the discrete model's bound L_K. The temperature can be annealed [2]:

    tau_t = max(min_temperature, temperature * exp(-anneal_rate * t)),   t = steps taken

with t a buffer of the estimator, so a resumed run continues the schedule. ``Categorical``
sites (integer values) have no relaxation that the model could consume; use ``OneHotCategorical``.

References:
    [1] Maddison, Mnih, Teh. The Concrete Distribution: A Continuous Relaxation of Discrete
        Random Variables. arXiv:1611.00712
    [2] Jang, Gu, Poole. Categorical Reparameterization with Gumbel-Softmax. arXiv:1611.01144
"""
import math

import pyro.distributions as dist
import torch
from pyro.poutine.messenger import Messenger
from torch.nn.functional import logsigmoid

from zoo._utils.checks import positive_float
from zoo.estimators import weights
from zoo.estimators.iwae import IWAE


class RelaxedBernoulliPMF(dist.RelaxedBernoulli):
    """Concrete draws; log-density the Bernoulli's log-pmf extended to [0, 1]:
    y log sigmoid(a) + (1 - y) log sigmoid(-a)."""

    def log_prob(self, value):
        return value * logsigmoid(self.logits) + (1 - value) * logsigmoid(-self.logits)


class RelaxedOneHotCategoricalPMF(dist.RelaxedOneHotCategorical):
    """Concrete draws; log-density the categorical's log-pmf extended to the simplex: sum_i y_i log pi_i."""

    def log_prob(self, value):
        return (value * self.logits.log_softmax(-1)).sum(-1)


RELAXATIONS = {"concrete": (dist.RelaxedBernoulli, dist.RelaxedOneHotCategorical),
               "discrete": (RelaxedBernoulliPMF, RelaxedOneHotCategoricalPMF)}


def relaxed(fn, temperature: torch.Tensor, name: str, density: str = "concrete"):
    """``fn`` with its Bernoulli or OneHotCategorical relaxed at ``temperature``; other
    distributions as they are. ``density``: the relaxed draw's log-density, ``concrete`` (the
    Concrete density [1]) or ``discrete`` (the discrete log-pmf extended to the relaxed values)."""
    binary, one_hot = RELAXATIONS[density]
    ndims = 0
    base = fn
    while isinstance(base, dist.Independent):
        ndims, base = ndims + base.reinterpreted_batch_ndims, base.base_dist
    if isinstance(base, dist.Bernoulli):
        out = binary(temperature, logits=base.logits, validate_args=False)
    elif isinstance(base, dist.OneHotCategorical):
        out = one_hot(temperature, logits=base.logits, validate_args=False)
    elif isinstance(base, dist.Categorical):
        raise ValueError(f"concrete relaxes one-hot categorical sites, and site {name!r} is a Categorical (integer "
                         "values, which a relaxed one-hot draw cannot replace): write it as OneHotCategorical, or use "
                         "'score', 'vimco' or 'rws'")
    else:  # continuous sites stay; another discrete one is refused by check_reparameterized
        return fn
    return out.to_event(ndims) if ndims else out


class Relax(Messenger):
    """Relax every latent Bernoulli / OneHotCategorical site at ``temperature`` (observed sites stay)."""

    def __init__(self, temperature: torch.Tensor, density: str = "concrete"):
        super().__init__()
        self.temperature, self.density = temperature, density

    def _pyro_sample(self, msg):
        if not msg["is_observed"]:
            msg["fn"] = relaxed(msg["fn"], self.temperature, msg["name"], self.density)


class Concrete(IWAE):
    """Train on the relaxed model's K-sample bound; report the discrete model's (module docstring).

    Args:
        num_particles: K (1: the relaxed ELBO).
        temperature: tau at the start (default 2/3, [1]'s choice for binary units).
        anneal_rate: r in tau_t = max(min_temperature, temperature exp(-r t)) (0: constant).
        min_temperature: the floor of the annealed temperature.
        density: ``discrete`` or ``concrete``, the relaxed draws' log-density (module docstring).
    """

    name = "concrete"
    gradients = ("reparam",)

    def __init__(self, num_particles: int = 1, temperature: float = 2 / 3, anneal_rate: float = 0.0,
                 min_temperature: float = 0.5, density: str = "discrete", **plates):
        super().__init__(num_particles=num_particles, gradient="reparam", **plates)
        self.temperature = positive_float("temperature", temperature)
        rate_ok = isinstance(anneal_rate, (int, float)) and not isinstance(anneal_rate, bool)
        if not rate_ok or not 0 <= anneal_rate < math.inf:
            raise ValueError(f"anneal_rate must be a finite number >= 0, got {anneal_rate!r}")
        self.anneal_rate = float(anneal_rate)
        self.min_temperature = positive_float("min_temperature", min_temperature)
        if density not in RELAXATIONS:
            raise ValueError(f"unknown density {density!r} for concrete; choose from {', '.join(RELAXATIONS)}")
        self.density = density
        self.register_buffer("num_steps", torch.zeros((), dtype=torch.long))

    def current_temperature(self) -> float:
        """tau at the current step."""
        tau = self.temperature * math.exp(-self.anneal_rate * int(self.num_steps))
        return max(self.min_temperature, tau) if self.anneal_rate else self.temperature

    def _training_model(self, fn):
        return Relax(torch.tensor(self.current_temperature()), self.density)(fn)

    def differentiable_loss(self, model, guide, *args, **kwargs) -> torch.Tensor:
        plates = self.plates(model, guide, args, kwargs)  # found on the discrete model
        traces = weights.run(self._training_model(model), self._training_model(guide), args, kwargs,
                             self.num_particles, plates=plates)
        weights.check_reparameterized(traces.guide, self.name)
        log_w = weights.log_density(traces.model, traces) - weights.log_density(traces.guide, traces)
        self.num_steps += 1
        return -traces.scale * self.bound(weights.as_particles_last(log_w, self.num_particles, traces)).sum()
