"""Helpers shared by the guide tests."""
import torch

from guides import build_guide


def perturbed_guide(name: str, in_features: int, latent_dim: int, scale: float, seed: int = 0):
    """A float64 guide ``name`` whose flow steps' parameters are moved by ``scale`` * N(0, 1)
    from their initial values (near the identity map, which would test little)."""
    torch.manual_seed(seed)
    guide = build_guide(name, in_features, latent_dim).double()
    with torch.no_grad():
        for p in guide.flows.parameters():
            p.add_(scale * torch.randn_like(p))
    return guide
