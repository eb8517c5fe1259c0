r"""32x32 image datasets for the convolutional VAEs (registered in ``zoo.data.core``'s registry).

Datasets:
    ``mnist32``: MNIST [1] (``zoo.data.core``'s ``mnist``, 60k/10k) resized to 32x32 by bilinear
        interpolation with half-pixel centres -- the convolutional-VAE interpolation tutorial's
        ``transforms.Resize(32)``, without its rounding back to 8 bits -- so intensities stay in
        [0, 1] (binarizable for the Bernoulli likelihood). Labels kept.
    ``cifar10``: CIFAR-10 [2], 50k/10k 3x32x32, from torchvision's local format
        ``<root>/cifar-10-batches-py/`` (``data_batch_1..5``, ``test_batch``); ``download=True``
        lets torchvision fetch it into the cache. Intensities in [0, 1], labels.
    ``cifar10-subset``: the first 5,000 training and 1,000 test images of CIFAR-10, from
        ``<root>/cifar10_subset/cifar10_5k_1k.npz``, as 3x32x32 in [0, 1], labels.
    ``<name>-centered`` for each of them: the same images mapped to [-1, 1] by x -> 2x - 1, as
        the 2-D and convolutional VAE tutorial centers CIFAR-10 ("it helps the model to fit") and
        the convolutional-VAE interpolation tutorial normalizes MNIST (``Normalize([0.5], [0.5])``);
        for Gaussian likelihoods, e.g. with a tanh decoder mean.
        The map is the same for every channel; :func:`uncenter` inverts it for plotting.

References:
    [1] LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
        recognition. Proc. IEEE 1998
    [2] Krizhevsky. Learning Multiple Layers of Features from Tiny Images. Tech. report, 2009
"""
import pathlib
import pickle
from dataclasses import replace
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from zoo.data.core import DATASETS, FIX_ROOT, Dataset, cache_dir, missing_data
from zoo.data.mnist import mnist

CENTERED = "-centered"
SIDE = 32
_CIFAR_FOLDER = "cifar-10-batches-py"  # torchvision's layout
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)
_CIFAR_PIXELS = 3 * SIDE * SIDE
_SUBSET_FILE = ("cifar10_subset", "cifar10_5k_1k.npz")


def resize(images: torch.Tensor, side: int = SIDE) -> torch.Tensor:
    """Bilinear resize of ``(N, C, H, W)`` to ``(N, C, side, side)`` (half-pixel centres, no
    antialiasing: upsampling 28 -> 32 needs none); convex weights keep [0, 1] in [0, 1]."""
    return F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False).clamp_(0, 1)


def center(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]: x -> 2x - 1 (the 2-D and convolutional VAE tutorial's centering)."""
    return x * 2 - 1


def uncenter(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the inverse of :func:`center` (e.g. before plotting)."""
    return (x + 1) / 2


def _uint8_images(pixels: np.ndarray, channels_last: bool) -> torch.Tensor:
    """uint8 pixels (N, 32, 32, 3) or (N, 3, 32, 32) -> float32 (N, 3, 32, 32) in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32).div_(255)
    return x.permute(0, 3, 1, 2).contiguous() if channels_last else x


# ---------------------------------------------------------------- mnist32


@DATASETS.register("mnist32")
def mnist32(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """MNIST resized to 32x32 (bilinear), intensities in [0, 1]."""
    try:
        ds = mnist(root, download)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"dataset 'mnist32' is MNIST resized to 32x32, and {e}") from None
    return Dataset("mnist32", resize(ds.train), resize(ds.test),
                   train_labels=ds.train_labels, test_labels=ds.test_labels)


# ---------------------------------------------------------------- cifar10


def read_cifar_batch(path) -> Tuple[torch.Tensor, torch.Tensor]:
    """One pickled CIFAR-10 batch (torchvision's format): images (N, 3, 32, 32) in [0, 1], labels.

    Raises:
        ValueError: if the file lacks ``data``/``labels`` or their shapes disagree.
    """
    with open(path, "rb") as f:
        contents = pickle.load(f, encoding="latin1")  # the python-2 pickles of the original release
    if not isinstance(contents, dict) or "data" not in contents or "labels" not in contents:
        found = sorted(contents) if isinstance(contents, dict) else type(contents).__name__
        raise ValueError(f"{path}: not a CIFAR-10 batch (expected keys 'data' and 'labels', found {found})")
    pixels, labels = np.asarray(contents["data"]), np.asarray(contents["labels"], dtype=np.int64)
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != _CIFAR_PIXELS or len(labels) != len(pixels):
        raise ValueError(
            f"{path}: expected uint8 data (N, {_CIFAR_PIXELS}) and N labels, "
            f"got {pixels.dtype} {pixels.shape} and {labels.shape}"
        )
    return _uint8_images(pixels.reshape(-1, 3, SIDE, SIDE), channels_last=False), torch.from_numpy(labels)


def _cifar_from(folder: pathlib.Path, looked: list):
    """The CIFAR-10 splits in ``folder``, else None (noting the first missing file in ``looked``)."""
    paths = [folder / name for name in _CIFAR_TRAIN + _CIFAR_TEST]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        looked.append(missing[0] if len(missing) == 1 else f"{missing[0]} (and {len(missing) - 1} more batches)")
        return None
    batches = [read_cifar_batch(p) for p in paths]
    train = [torch.cat(parts) for parts in zip(*batches[: len(_CIFAR_TRAIN)])]
    return train, batches[-1]


@DATASETS.register("cifar10")
def cifar10(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """CIFAR-10 [2] from ``<root>/cifar-10-batches-py/`` or the cache; downloads only if asked."""
    cache = cache_dir()
    folders = ([root / _CIFAR_FOLDER] if root is not None else []) + [cache / _CIFAR_FOLDER]
    looked: list = []
    splits = None
    for folder in folders:
        splits = splits or _cifar_from(folder, looked)
    if splits is None and download:
        import torchvision  # deferred: only the download path needs it

        cache.mkdir(parents=True, exist_ok=True)
        torchvision.datasets.CIFAR10(str(cache), train=True, download=True)
        splits = _cifar_from(cache / _CIFAR_FOLDER, [])
    if splits is None:
        fix = (f"{FIX_ROOT} (a folder holding {_CIFAR_FOLDER}/), or pass download=True / --download to fetch it "
               f"into {cache}")
        raise missing_data("cifar10", looked, fix)
    (train, train_labels), (test, test_labels) = splits
    return Dataset("cifar10", train, test, train_labels=train_labels, test_labels=test_labels)


# ---------------------------------------------------------------- cifar10-subset


@DATASETS.register("cifar10-subset")
def cifar10_subset(root: Optional[pathlib.Path], download: bool) -> Dataset:
    """The first 5,000 train / 1,000 test CIFAR-10 images, from ``<root>/cifar10_subset/cifar10_5k_1k.npz``."""
    path = None if root is None else root.joinpath(*_SUBSET_FILE)
    if path is None or not path.is_file():
        fix = f"{FIX_ROOT}; this dataset has no download (download=True does not help; 'cifar10' has one)"
        raise missing_data("cifar10-subset", [] if path is None else [path], fix)
    with np.load(path) as npz:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
        if missing:
            raise ValueError(f"{path}: missing arrays {sorted(missing)} (found {sorted(npz.files)})")
        arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    for split in ("train", "test"):
        x = arrays[f"x_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (SIDE, SIDE, 3):
            raise ValueError(f"{path}: x_{split} must be uint8 (N, 32, 32, 3), got {x.dtype} {x.shape}")
    return Dataset(
        "cifar10-subset",
        _uint8_images(arrays["x_train"], channels_last=True), _uint8_images(arrays["x_test"], channels_last=True),
        train_labels=torch.from_numpy(arrays["y_train"].astype(np.int64)),
        test_labels=torch.from_numpy(arrays["y_test"].astype(np.int64)),
    )


# ---------------------------------------------------------------- centered variants


def centered(dataset: Dataset, name: Optional[str] = None) -> Dataset:
    """``dataset`` with every split mapped to [-1, 1] by :func:`center`."""
    splits = {s: None if getattr(dataset, s) is None else center(getattr(dataset, s))
              for s in ("train", "test", "valid")}
    return replace(dataset, name=name or dataset.name + CENTERED, **splits)


def _register_centered(names: Sequence[str]) -> None:
    for name in names:
        loader = DATASETS.get(name)

        def load_centered(root, download, _loader=loader, _name=name + CENTERED):
            return centered(_loader(root, download), _name)

        load_centered.__doc__ = f"``{name}`` mapped to [-1, 1] (x -> 2x - 1)."
        DATASETS.register(name + CENTERED)(load_centered)


_register_centered(("mnist32", "cifar10", "cifar10-subset"))
