r"""Sigmoid belief networks: layers of binary units, as a Pyro model/guide pair.

    model:  h_L ~ prod_j Bernoulli(sigmoid(b_j)),   h_l | h_{l+1} ~ Bernoulli(sigmoid(f_l(h_{l+1}))),
            x | h_1 ~ Bernoulli(sigmoid(f_0(h_1)))
    guide:  h_1 | x ~ Bernoulli(sigmoid(g_1(x))),   h_l | h_{l-1} ~ Bernoulli(sigmoid(g_l(h_{l-1})))

Each f and g is affine (the logistic belief net of [1, 2, 3]: one weight matrix and a bias per
layer) or an MLP (``hidden``). The default, one layer of 200 units with affine maps, is the
SBN of [1, 2]; ``layers=(200, 200, 200)`` gives a deep one. The guide mirrors the model
bottom-up, as the recognition networks of [1, 2]. The sites are ``h1`` ...
``hL`` under the ``data`` plate; they are discrete, so the reparameterized estimators do not
apply: train with ``score`` (NVIL's baselines [1]), ``vimco`` [2], ``rws`` [3], ``concrete``
[4] or, for a few units, ``elbo-enum``.

It is an :class:`~zoo.models.hvae.HVAE` with Bernoulli layers: ``encode``, ``sample``,
``reconstruct``, ``kl`` and active units per layer work as there.

References:
    [1] Mnih, Gregor. Neural Variational Inference and Learning in Belief Networks. arXiv:1402.0030
    [2] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
    [3] Bornschein, Bengio. Reweighted Wake-Sleep. arXiv:1406.2751
    [4] Maddison, Mnih, Teh. The Concrete Distribution. arXiv:1611.00712
"""
import dataclasses
from dataclasses import dataclass
from typing import Tuple

import pyro.distributions as dist
import torch
from torch import nn

from guides.bernoulli import BernoulliHead
from zoo.likelihoods import build_likelihood
from zoo.models.configs import check_network
from zoo.models.hvae import HVAE
from zoo.models.priors import Prior
from zoo.nets.mlp import MLPDecoder, MLPEncoder, check_sizes


class BernoulliPrior(Prior):
    """p(h_L) = prod_j Bernoulli(sigmoid(b_j)), the top layer's learned biases (zero at start)."""

    def __init__(self, dim: int):
        super().__init__(dim)
        self.logits = nn.Parameter(torch.zeros(dim))

    def forward(self, encode=None) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=self.logits, validate_args=False).to_event(1)


class SBN(HVAE):
    """A sigmoid belief network (module docstring); arguments as :class:`~zoo.models.hvae.HVAE`'s."""

    site_prefix = "h"
    reparameterized = False  # binary units: no path through the draws


@dataclass(frozen=True)
class SBNConfig:
    """Architecture of :class:`SBN`; the default is the SBN of [1, 2]: 200 units, affine maps.

    Args:
        data_shape: shape of one (binary) datum.
        layers: units per stochastic layer, bottom first, e.g. ``(200, 200, 200)``.
        hidden: deterministic hidden layers of every conditional and recognition network
            (empty: affine, the logistic belief net).
        activation: their activation.
        likelihood: ``bernoulli`` (the visible layer is binary).
    """

    data_shape: Tuple[int, ...] = (1, 28, 28)
    layers: Tuple[int, ...] = (200,)
    hidden: Tuple[int, ...] = ()
    activation: str = "tanh"
    likelihood: str = "bernoulli"

    def __post_init__(self):
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen dataclass)
        check_network(self)
        set_("layers", check_sizes("layers", self.layers, allow_empty=False))
        set_("hidden", check_sizes("hidden", self.hidden))
        if self.likelihood != "bernoulli":
            raise ValueError(f"the sigmoid belief net's visible units are binary: likelihood must be 'bernoulli', "
                             f"got {self.likelihood!r}")


def build_sbn(**kwargs) -> SBN:
    """A sigmoid belief net; keyword arguments are the fields of :class:`SBNConfig`."""
    cfg = SBNConfig(**kwargs)
    likelihood = build_likelihood(cfg.likelihood, cfg.data_shape)
    units, act = cfg.layers, cfg.activation
    inputs = [cfg.data_shape] + [(u,) for u in units[:-1]]
    encoders = [MLPEncoder(shape, cfg.hidden, act) for shape in inputs]
    heads = [BernoulliHead(e.out_features, u) for e, u in zip(encoders, units)]
    conditionals = []
    for k in range(len(units) - 1):
        features = MLPEncoder((units[k + 1],), cfg.hidden, act)
        conditionals.append(nn.Sequential(features, BernoulliHead(features.out_features, units[k])))
    decoder = MLPDecoder(units[0], cfg.data_shape, tuple(reversed(cfg.hidden)), act, likelihood.num_params)
    config = {"model": "sbn", **dataclasses.asdict(cfg)}
    return SBN(encoders, heads, conditionals, decoder, likelihood, units, config=config,
               prior=BernoulliPrior(units[-1]))
