r"""The ``sines`` dataset: generated sinusoids for the sequence VAE of the GRU sequence-VAE tutorial.

    x_t = A sin(2 pi f t + phi) + noise * eps_t,   t = 0..T-1
"""
import pathlib
from typing import Optional, Tuple

import numpy as np
import torch

from zoo._utils.checks import positive_int
from zoo.data.core import DATASETS, Dataset

SINES_AMPLITUDE = (0.5, 1.5)
SINES_FREQUENCY = (0.02, 0.08)  # cycles per sample: 1 to 4 periods in the tutorial's 50 samples


def sines(num_train: int = 1000, num_test: int = 200, length: int = 50, noise: float = 0.0, seed: int = 0,
          amplitude: Tuple[float, float] = SINES_AMPLITUDE,
          frequency: Tuple[float, float] = SINES_FREQUENCY) -> Dataset:
    r"""Sinusoids x_t = A sin(2 pi f t + phi) + noise * eps_t, t = 0..T-1 (the GRU sequence-VAE tutorial's signals).

    A ~ U(amplitude), f ~ U(frequency) in cycles per sample, phi ~ U(0, 2 pi), eps_t ~ N(0, 1),
    independently per sequence. Train and test come from two generators seeded by ``seed``, so
    neither split depends on the other's size. The signal's variance is E[A^2] / 2 (0.54 with
    the default amplitudes).

    Returns:
        Dataset ``sines``: train ``(num_train, length)``, test ``(num_test, length)``, and
        ``factors[split]`` with the ``amplitude``, ``frequency`` and ``phase`` of each sequence.
    """
    sizes = {"train": positive_int("num_train", num_train), "test": positive_int("num_test", num_test)}
    positive_int("length", length)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < float("inf"):
        raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
    ranges = {"amplitude": _range("amplitude", amplitude), "frequency": _range("frequency", frequency, 0.5),
              "phase": (0.0, 2 * np.pi)}
    t, splits, factors = torch.arange(length, dtype=torch.float64), {}, {}
    for index, (split, n) in enumerate(sizes.items()):
        generator = torch.Generator().manual_seed(2 * seed + index)
        drawn = {name: lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)
                 for name, (lo, hi) in ranges.items()}
        x = drawn["amplitude"][:, None] * torch.sin(2 * np.pi * drawn["frequency"][:, None] * t
                                                     + drawn["phase"][:, None])
        x = x + noise * torch.randn(n, length, generator=generator, dtype=torch.float64)
        splits[split] = x.to(torch.float32)
        factors[split] = {name: value.to(torch.float32) for name, value in drawn.items()}
    return Dataset("sines", splits["train"], splits["test"], factors=factors)


def _range(name: str, bounds, upper: Optional[float] = None) -> Tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a range (low, high), got {bounds!r}") from None
    if not 0 < lo <= hi or (upper is not None and hi > upper):
        limit = "" if upper is None else f" <= {upper}"
        raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high{limit}, got {bounds!r}")
    return lo, hi


@DATASETS.register("sines")
def _sines(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """:func:`sines` with its defaults (generated: no files, no download)."""
    return sines()
