"""Amortized variational families q(z|x), each a head on top of an encoder's features."""
from guides import flows, splines  # noqa: F401  (registers the flow guides)
from guides.bernoulli import BernoulliHead
from guides.gaussian import DiagonalGaussian, FullRankGaussian
from guides.registry import GUIDES, build_guide, list_guides

__all__ = ["BernoulliHead", "DiagonalGaussian", "FullRankGaussian", "GUIDES", "build_guide", "list_guides"]
