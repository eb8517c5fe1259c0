r"""Datasets stored as MATLAB (or text) files: ``binarized-mnist`` [2, 3] and ``frey`` [5].

Registered with ``zoo.data.DATASETS`` on import (``zoo.data.core`` imports this module); the
references are those of ``zoo.data.core``.
"""
import pathlib
from typing import Optional

import numpy as np
import torch

from zoo.data.core import DATASETS, FIX_ROOT, PIXELS, Dataset, images28, missing_data

# ---------------------------------------------------------------- binarized-mnist


def _check_binary(x: np.ndarray, path) -> np.ndarray:
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise ValueError(f"{path}: expected rows of {PIXELS} pixels, got shape {x.shape}")
    if ((x != 0) & (x != 1)).any():
        raise ValueError(f"{path}: values must be 0 or 1, found {np.unique(x)[:10]}")
    return np.ascontiguousarray(x, dtype=np.uint8)


def _read_amat(path) -> np.ndarray:
    return _check_binary(np.loadtxt(path, ndmin=2), path)


def _read_mat(path) -> np.ndarray:
    import scipy.io  # deferred: only this dataset needs scipy

    contents = scipy.io.loadmat(path)
    if "X" not in contents:
        raise ValueError(f"{path}: no variable 'X' (found {sorted(contents)})")
    return _check_binary(contents["X"], path)


_BINARIZED_READERS = {".mat": _read_mat, ".amat": _read_amat}  # in order of preference


@DATASETS.register("binarized-mnist")
def binarized_mnist(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """Binarized MNIST [2, 3] from ``<root>/binarized_mnist/``; ``.mat`` before ``.amat``."""
    folder = None if root is None else root / "binarized_mnist"
    looked, splits = [], {}
    for split in ("train", "valid", "test"):
        for suffix, reader in _BINARIZED_READERS.items() if folder is not None else ():
            path = folder / f"binarized_mnist_{split}{suffix}"
            looked.append(path)
            if path.is_file():
                splits[split] = images28(reader(path))
                break
        else:
            fix = f"{FIX_ROOT}; this dataset has no download (download=True does not help)"
            raise missing_data("binarized-mnist", looked, fix)
    return Dataset("binarized-mnist", splits["train"], splits["test"], valid=splits["valid"])


# ---------------------------------------------------------------- frey

_FREY_FILE = "frey_rawface.mat"
_FREY_PIXELS = (28, 20)


def _read_frey(path) -> torch.Tensor:
    import scipy.io  # deferred: only the .mat datasets need scipy

    contents = scipy.io.loadmat(path)
    if "ff" not in contents:
        raise ValueError(f"{path}: no variable 'ff' (found {sorted(contents)})")
    pixels = contents["ff"]  # one column per frame, each frame row-major 28x20
    if pixels.ndim != 2 or pixels.shape[0] != np.prod(_FREY_PIXELS) or pixels.dtype != np.uint8:
        raise ValueError(f"{path}: expected uint8 columns of 560 pixels, got {pixels.dtype} {pixels.shape}")
    return torch.from_numpy(np.ascontiguousarray(pixels.T)).reshape(-1, 1, *_FREY_PIXELS).to(torch.float32).div_(255)


@DATASETS.register("frey")
def frey(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """Frey faces [5] from ``<root>/frey_faces/frey_rawface.mat``; 1,769 train / 196 test.

    The frames come from one video, so a frame in test has near-duplicate neighbours in
    train: the test ELBO measures fit to this face, not generalization to new faces.
    """
    path = None if root is None else root / "frey_faces" / _FREY_FILE
    if path is None or not path.is_file():
        fix = f"{FIX_ROOT}; this dataset has no download (download=True does not help)"
        raise missing_data("frey", [] if path is None else [path], fix)
    images = _read_frey(path)
    # Seeded apart from the experiment seed, so every run sees the same test set.
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
    num_test = images.shape[0] // 10
    return Dataset("frey", images[order[:-num_test]], images[order[-num_test:]])
