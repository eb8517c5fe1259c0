r"""Which data a run used: a dataset by name, its binarization and the split sizes.

A :class:`DataSpec` is what ``vaezoo train`` writes to a run's ``data.json`` and what
``vaezoo eval``, ``sample`` and ``plot`` read back to reload the same splits. With
``binarize="dynamic"`` the training images are redrawn every epoch (``zoo.fit``); everything
evaluated after training sees one fixed draw of the test images, seeded by ``seed``
(:meth:`DataSpec.fixed`).
"""
import dataclasses
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

from zoo.data.core import DATASETS, Dataset, load
from zoo.data.core import binarize as binarize_data

SPEC_BINARIZE = ("none", "static", "threshold", "dynamic")


@dataclass(frozen=True)
class DataSpec:
    """The data of a run.

    Args:
        dataset: a name of ``zoo.data.list_datasets()``.
        data_root: the data root (None: ``$VAEZOO_DATA``).
        download: let torchvision download MNIST into the cache.
        binarize: ``none``; ``static`` or ``threshold`` (once, at load); ``dynamic`` (every epoch
            in training, one seeded draw of the test images after it).
        seed: seeds the static binarization and the fixed draw of dynamic runs.
        train_size, test_size: the first N examples of each split (None: all).
    """

    dataset: str
    data_root: Optional[str] = None
    download: bool = False
    binarize: str = "none"
    seed: int = 0
    train_size: Optional[int] = None
    test_size: Optional[int] = None

    def __post_init__(self):
        DATASETS.get(self.dataset)  # unknown names list the choices
        if self.binarize not in SPEC_BINARIZE:
            raise ValueError(f"binarize must be one of {', '.join(SPEC_BINARIZE)}, got {self.binarize!r}")
        for name in ("train_size", "test_size"):
            n = getattr(self, name)
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {n!r}")

    @classmethod
    def from_dict(cls, data: dict) -> "DataSpec":
        """The spec a ``data.json`` holds; unknown keys are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown data settings {', '.join(unknown)}; the settings are {', '.join(sorted(names))}")
        return cls(**data)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def load(self, data_root: Optional[str] = None) -> Dataset:
        """The dataset with the static or threshold binarization applied and the splits cut to
        ``train_size`` / ``test_size``; ``data_root`` replaces the spec's (e.g. on another machine)."""
        once = self.binarize if self.binarize in ("static", "threshold") else None
        ds = load(self.dataset, data_root or self.data_root, download=self.download, binarize=once, seed=self.seed)
        sizes, cut = {"train": self.train_size, "test": self.test_size}, {}
        for split, n in sizes.items():
            labels = getattr(ds, f"{split}_labels")
            cut[split], cut[f"{split}_labels"] = getattr(ds, split)[:n], None if labels is None else labels[:n]
        factors = {split: {k: f[: sizes.get(split)] for k, f in named.items()}
                   for split, named in (ds.factors or {}).items()}
        return dataclasses.replace(ds, **cut, factors=factors or None)

    def splits(self, data_root: Optional[str] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(train, test)`` as training sees them (intensities, for dynamic binarization)."""
        ds = self.load(data_root)
        return ds.train, ds.test

    def fixed(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as evaluated after training: for dynamic binarization one Bernoulli draw seeded
        by ``seed``, the same at every call; else ``x`` itself."""
        if self.binarize != "dynamic":
            return x
        return binarize_data(x, "static", torch.Generator().manual_seed(self.seed))
