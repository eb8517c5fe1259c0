r"""Datasets by name, as float32 tensors: images (N, C, H, W), sequences (N, T).

``load(name)`` returns a :class:`Dataset`; one module per source registers its datasets:
:mod:`zoo.data.mnist` (idx files, the embedded ``mnist5k``), :mod:`zoo.data.mat` (MATLAB
files: ``binarized-mnist``, ``frey``), :mod:`zoo.data.images` (32x32 images: ``mnist32``,
``cifar10``, ``cifar10-subset``, ``*-centered``), :mod:`zoo.data.sines` (generated sinusoids).
See :mod:`zoo.data.core` for roots, binarization and the references; :class:`DataSpec`
(:mod:`zoo.data.spec`) names the data a run used, as its ``data.json`` records it.
"""
from zoo.data import images, mat, mnist  # noqa: F401  (register their datasets)
from zoo.data.core import (
    BINARIZE_METHODS,
    CACHE_ENV,
    DATA_ROOT_ENV,
    DATASETS,
    Dataset,
    binarize,
    cache_dir,
    data_root,
    list_datasets,
    load,
)
from zoo.data.mnist import read_idx, stratified_split
from zoo.data.sines import sines
from zoo.data.spec import DataSpec

__all__ = ["BINARIZE_METHODS", "CACHE_ENV", "DATA_ROOT_ENV", "DATASETS", "DataSpec", "Dataset", "binarize", "cache_dir",
           "data_root", "list_datasets", "load", "read_idx", "sines", "stratified_split"]
