"""Guides by name, for ``zoo.build`` and the CLI.

A name is a registered family, optionally with a number of flow steps: ``diagonal``,
``full-rank``, ``planar:8``, ``iaf:2``. Every factory is called as
``factory(in_features, latent_dim, **options)`` and returns an ``nn.Module`` mapping encoder
features ``(N, in_features)`` to a distribution over z with batch shape ``(N,)`` and event
shape ``(latent_dim,)``, with ``rsample`` and an exact ``log_prob``.
"""
import inspect
from typing import List, Tuple

from torch import nn

from guides._utils import Registry

GUIDES = Registry("guide")


def parse_guide(name: str) -> Tuple[str, dict]:
    """``"planar:8"`` -> ``("planar", {"num_flows": 8})``; ``"diagonal"`` -> ``("diagonal", {})``."""
    if not isinstance(name, str):
        raise TypeError(f"guide must be a str, got {type(name).__name__}")
    family, sep, steps = name.partition(":")
    factory = GUIDES.get(family)
    if not sep:
        return family, {}
    if "num_flows" not in inspect.signature(factory).parameters:
        raise ValueError(f"guide {family!r} does not take a number of steps ({name!r}); write {family!r}")
    if not steps.isdigit() or int(steps) <= 0:
        raise ValueError(f"guide {name!r}: the number of flow steps after ':' must be a positive integer")
    return family, {"num_flows": int(steps)}


def build_guide(name: str, in_features: int, latent_dim: int) -> nn.Module:
    """A guide head mapping encoder features ``(N, in_features)`` to a distribution over z."""
    family, options = parse_guide(name)
    return GUIDES.get(family)(in_features, latent_dim, **options)


def list_guides() -> List[str]:
    return GUIDES.names()
