"""Guides by name, for ``zoo.build`` and the CLI."""
from typing import List

from torch import nn

from zoo.registry import Registry

GUIDES = Registry("guide")


def build_guide(name: str, in_features: int, latent_dim: int) -> nn.Module:
    """A guide head mapping encoder features ``(N, in_features)`` to a distribution over z."""
    return GUIDES.get(name)(in_features, latent_dim)


def list_guides() -> List[str]:
    return GUIDES.names()
