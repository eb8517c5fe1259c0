"""Tests of the 32x32 image datasets (zoo.data.images): mnist32, cifar10, cifar10-subset, *-centered."""
import pathlib
import pickle

import numpy as np
import pytest
import torch

import zoo
from zoo import data
from zoo.data.images import center, read_cifar_batch, resize, uncenter

# Per-channel means of the first 5,000 CIFAR-10 training images (those of all 50,000 are the
# well-known 0.4914, 0.4822, 0.4465).
SUBSET_MEANS = (0.4913, 0.4814, 0.4445)


@pytest.fixture(autouse=True)
def hermetic_env(hermetic_data_env):
    """Every test here runs without a data root from the environment (``tests/conftest.py``)."""


@pytest.fixture(scope="module")
def root(shared_root):
    return shared_root


def snapshot(folder):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def write_cifar(folder: pathlib.Path, per_batch: int = 2) -> dict:
    """Tiny CIFAR-10 batches in torchvision's pickled format; pixel values encode batch and row."""
    folder.mkdir(parents=True)
    written = {}
    for b, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        pixels = np.full((per_batch, 3072), 10 * b, dtype=np.uint8) + np.arange(per_batch, dtype=np.uint8)[:, None]
        pixels[:, 1024:2048] += 100  # the green plane
        labels = [(b + i) % 10 for i in range(per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": pixels, "labels": labels, "batch_label": name}, f)
        written[name] = (pixels, labels)
    return written


def test_registry_names_every_new_dataset():
    names = set(zoo.list_datasets())
    assert {"mnist32", "cifar10", "cifar10-subset"} <= names
    assert {"mnist32-centered", "cifar10-centered", "cifar10-subset-centered"} <= names


# ---------------------------------------------------------------- resize and centering


def test_resize_matches_seed_004_resize_up_to_8_bit_rounding():
    import torchvision.transforms as T
    from PIL import Image

    pixels = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)  # rougher than any digit
    seed = torch.stack([T.ToTensor()(T.Resize(32)(Image.fromarray(p[0].numpy()))) for p in pixels])
    ours = resize(pixels.float() / 255)
    assert ours.shape == (20, 1, 32, 32)
    assert (ours - seed).abs().max() <= 1 / 255 + 1e-6  # one 8-bit level: PIL stores bytes, we keep floats


def test_resize_keeps_constants_and_the_unit_interval():
    assert torch.allclose(resize(torch.full((2, 3, 28, 28), 0.3)), torch.full((2, 3, 32, 32), 0.3))
    x = resize(torch.rand(4, 1, 28, 28))
    assert x.min() >= 0 and x.max() <= 1


def test_center_maps_the_unit_interval_to_minus_one_one_and_back():
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(center(x), torch.tensor([-1.0, -0.5, 1.0]))
    assert torch.equal(uncenter(center(x)), x)


# ---------------------------------------------------------------- mnist32


@pytest.fixture(scope="module")
def loaded(root):
    """mnist and mnist32 loaded once, with snapshots of the data root before and after."""
    before = snapshot(root)
    mnist, mnist32 = data.load("mnist", root), data.load("mnist32", root)
    return before, mnist, mnist32, snapshot(root)


def test_mnist32_is_mnist_resized(loaded):
    _, mnist, mnist32, _ = loaded
    assert mnist32.train.shape == (60000, 1, 32, 32) and mnist32.test.shape == (10000, 1, 32, 32)
    assert mnist32.train.dtype == torch.float32 and mnist32.data_shape == (1, 32, 32)
    assert torch.equal(mnist32.train_labels, mnist.train_labels) and torch.equal(mnist32.test_labels, mnist.test_labels)
    assert torch.equal(mnist32.test[:50], resize(mnist.test[:50]))
    assert mnist32.train.min() == 0 and mnist32.train.max() == 1
    # Bilinear upsampling nearly preserves the mean intensity (0.1307 at 28x28) ...
    assert mnist32.train.mean().item() == pytest.approx(0.1307, abs=0.003)
    # ... and binarization works on it, for the Bernoulli likelihood.
    assert set(torch.unique(data.binarize(mnist32.test[:100], "threshold")).tolist()) == {0.0, 1.0}


def test_centered_variants_lie_in_minus_one_one(root):
    plain, centered = data.load("cifar10-subset", root), data.load("cifar10-subset-centered", root)
    assert centered.name == "cifar10-subset-centered"
    assert torch.equal(centered.train, plain.train * 2 - 1) and torch.equal(centered.test_labels, plain.test_labels)
    assert centered.train.min() == -1 and centered.train.max() == 1
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.load("cifar10-subset-centered", root, binarize="threshold")


# ---------------------------------------------------------------- cifar10-subset


def test_cifar10_subset_shapes_values_and_statistics(root):
    ds = data.load("cifar10-subset", root)
    assert ds.train.shape == (5000, 3, 32, 32) and ds.test.shape == (1000, 3, 32, 32)
    assert ds.train.dtype == torch.float32 and ds.train_labels.dtype == torch.int64
    assert ds.train.min() == 0 and ds.train.max() == 1
    assert set(ds.train_labels.tolist()) == set(range(10))
    raw = np.load(root / "cifar10_subset" / "cifar10_5k_1k.npz")
    assert torch.equal(ds.test[3] * 255, torch.from_numpy(raw["x_test"][3]).permute(2, 0, 1).float())
    means = ds.train.mean((0, 2, 3))
    assert means.tolist() == pytest.approx(SUBSET_MEANS, abs=2e-4)


def test_loaders_never_write_into_the_data_root(root, loaded):
    before, _, _, after = loaded
    assert after == before
    data.load("cifar10-subset-centered", root)
    assert snapshot(root) == before


# ---------------------------------------------------------------- cifar10 (torchvision's format)


def test_cifar10_reads_torchvisions_local_format(tmp_path):
    written = write_cifar(tmp_path / "root" / "cifar-10-batches-py")
    ds = data.load("cifar10", tmp_path / "root")
    assert ds.train.shape == (10, 3, 32, 32) and ds.test.shape == (2, 3, 32, 32)
    # batches concatenate in order; each row is (R, G, B) planes of 32x32
    assert ds.train[2, 0, 0, 0] * 255 == pytest.approx(10) and ds.train[3, 1, 5, 5] * 255 == pytest.approx(111)
    assert ds.train_labels.tolist() == [label for i in range(1, 6) for label in written[f"data_batch_{i}"][1]]
    assert ds.test_labels.tolist() == written["test_batch"][1]
    centered = data.load("cifar10-centered", tmp_path / "root")
    assert torch.equal(centered.test, ds.test * 2 - 1)


def test_cifar10_bad_batch_names_the_file(tmp_path):
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), dtype=np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="expected uint8 data"):
        read_cifar_batch(path)
    with open(path, "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        read_cifar_batch(path)


# ---------------------------------------------------------------- missing data


@pytest.mark.parametrize("name, looked, fix", [
    ("cifar10", "cifar-10-batches-py/data_batch_1", "download=True"),
    ("cifar10-centered", "cifar-10-batches-py/data_batch_1", "download=True"),
    ("cifar10-subset", "cifar10_subset/cifar10_5k_1k.npz", "no download"),
    ("mnist32", "MNIST/raw/train-images-idx3-ubyte", "download=True"),
])
def test_missing_data_names_the_paths_and_the_fix(tmp_path, name, looked, fix):
    with pytest.raises(FileNotFoundError) as error:
        data.load(name, tmp_path)
    message = str(error.value)
    assert name.removesuffix("-centered") in message and str(tmp_path) in message and looked in message
    assert fix in message and data.DATA_ROOT_ENV in message


def test_missing_root_says_none_was_given():
    with pytest.raises(FileNotFoundError, match="no data root"):
        data.load("cifar10-subset")
