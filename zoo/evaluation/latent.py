r"""Codes in latent space: posterior means, class means, interpolation and perturbation.

    m(x)  = E_{q(z|x)}[z]                          closed form, else a Monte Carlo mean
    m_c   = (1/|C_c|) sum_{x in class c} m(x)      class-mean codes
    z(t)  = (1 - t) z_0 + t z_1,  t in [0, 1]      straight-line interpolation
    z_k   = z + scale * eps_k,  eps_k ~ N(0, I)     random perturbations around a code

(the last three from the convolutional-VAE interpolation tutorial)

``encode`` is any callable mapping a batch ``(N, ...)`` to q(z|x) with batch shape ``(N,)``
and event shape ``(latent_dim,)``, e.g. ``VAE.encode`` or ``LinearGaussian.posterior_guess``.
"""
from typing import Callable, Optional, Tuple

import torch

from zoo._utils.checks import positive_float, positive_int

MEAN_SAMPLES = 100  # Monte Carlo draws for E_q[z] when q has no closed-form mean (flows)
MEAN_BLOCK = 10  # draws per call for that mean


def batches(x: torch.Tensor, batch_size: int):
    """Consecutive slices of ``x`` along dim 0, ``batch_size`` rows each (the last may be short)."""
    positive_int("batch_size", batch_size)
    for start in range(0, x.shape[0], batch_size):
        yield x[start : start + batch_size]


@torch.no_grad()
def posterior_means(encode: Callable, x: torch.Tensor, batch_size: int = 1000,
                    num_samples: int = MEAN_SAMPLES) -> torch.Tensor:
    """E_{q(z|x)}[z] for every row of ``x``: ``(N, latent_dim)``.

    Args:
        encode: maps a batch of data to q(z|x).
        x: data ``(N, ...)``.
        batch_size: rows encoded at once.
        num_samples: draws of the Monte Carlo mean, used only where q has no ``mean``
            (normalizing-flow guides); they come from the global torch RNG, ``MEAN_BLOCK``
            at a time: every flow step caches its last input and output, so one call for all
            draws held K x 2 x num_samples x batch_size x latent_dim floats (2.4 GB for planar:40).
    """
    positive_int("num_samples", num_samples)
    means = []
    for xb in batches(x, batch_size):
        q = encode(xb)
        try:
            means.append(q.mean)
        except NotImplementedError:
            sizes = [min(MEAN_BLOCK, num_samples - start) for start in range(0, num_samples, MEAN_BLOCK)]
            means.append(sum(q.sample((size,)).sum(0) for size in sizes) / num_samples)
    return torch.cat(means)


def class_means(codes: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean code of each class present in ``labels``.

    Args:
        codes: ``(N, latent_dim)``, e.g. from :func:`posterior_means`.
        labels: ``(N,)`` integer class labels.

    Returns:
        ``(classes, means)``: the sorted distinct labels ``(K,)`` and their means ``(K, latent_dim)``.
    """
    if codes.dim() != 2 or labels.shape != codes.shape[:1]:
        raise ValueError(f"codes must be (N, latent_dim) and labels (N,), got {tuple(codes.shape)} "
                         f"and {tuple(labels.shape)}")
    classes, index = torch.unique(labels, sorted=True, return_inverse=True)
    sums = torch.zeros(len(classes), codes.shape[1], dtype=codes.dtype).index_add_(0, index, codes)
    counts = torch.bincount(index, minlength=len(classes)).to(codes.dtype)
    return classes, sums / counts[:, None]


def interpolate(z_start: torch.Tensor, z_end: torch.Tensor, num_steps: int = 10) -> torch.Tensor:
    """``num_steps`` codes on the segment from ``z_start`` to ``z_end`` (both ends included).

    Returns:
        ``(num_steps, *z_start.shape)``.
    """
    if positive_int("num_steps", num_steps) < 2:
        raise ValueError(f"num_steps must be at least 2 to include both ends, got {num_steps}")
    if z_start.shape != z_end.shape:
        raise ValueError(f"z_start and z_end must have one shape, got {tuple(z_start.shape)} and {tuple(z_end.shape)}")
    t = torch.linspace(0, 1, num_steps, dtype=z_start.dtype).reshape((-1,) + (1,) * z_start.dim())
    return (1 - t) * z_start + t * z_end


def perturb(z: torch.Tensor, num: int, scale: float = 1.0, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``num`` random codes z + scale * eps, eps ~ N(0, I) (the convolutional-VAE interpolation tutorial uses scale 1).

    Returns:
        ``(num, *z.shape)``.
    """
    positive_int("num", num)
    positive_float("scale", scale)
    return z + scale * torch.randn((num,) + tuple(z.shape), generator=generator, dtype=z.dtype)
