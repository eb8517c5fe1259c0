"""Amortized variational families q(z|x), each a head on top of an encoder's features."""
from guides.gaussian import DiagonalGaussian
from guides.registry import GUIDES, build_guide, list_guides

__all__ = ["DiagonalGaussian", "GUIDES", "build_guide", "list_guides"]
