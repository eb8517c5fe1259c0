r"""A factorized Bernoulli guide for layers of binary units.

    q(h|x) = prod_j Bernoulli(h_j; sigmoid(a_j)),   a = W f + c

with f the encoder's features (the layer below, or an MLP of it). There is no reparameterized
sampler: its gradient estimators are the score function's kind (``score``, ``vimco``, ``rws``),
a continuous relaxation (``concrete``) or exact enumeration (``elbo-enum``) [1, 2].

References:
    [1] Mnih, Gregor. Neural Variational Inference and Learning in Belief Networks. arXiv:1402.0030
    [2] Mnih, Rezende. Variational Inference for Monte Carlo Objectives. arXiv:1602.06725
"""
import pyro.distributions as dist
import torch
from torch import nn


class BernoulliHead(nn.Module):
    """Features ``(..., in_features)`` -> independent Bernoulli units, event shape ``(units,)``."""

    def __init__(self, in_features: int, units: int):
        super().__init__()
        self.units = units
        self.linear = nn.Linear(in_features, units)

    def forward(self, features: torch.Tensor) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=self.linear(features), validate_args=False).to_event(1)
