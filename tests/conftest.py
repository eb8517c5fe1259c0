"""Shared fixtures: a clean, validated, seeded Pyro for every test, and small real data.

Real data are 28x28 MNIST digits from the embedded ``mnist5k`` dataset, so every test runs
without a data root; ``shared_data`` points at the larger shared datasets when they exist.
"""
import os
import pathlib

import pyro
import pytest
import torch

import zoo

REPO = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")  # commands run in this process draw figures headless

# A small MLP VAE: the real 784-pixel data, but layers narrow enough for a CPU test budget.
SMALL = dict(data_shape=(1, 28, 28), latent_dim=8, hidden=(64,))
NUM_TRAIN, NUM_TEST = 500, 200


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """The tests use small tensors, for which torch's thread pool costs more than it gives,
    and it makes run times swing on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def clean_pyro():
    """Every test starts from an empty param store, with validation on and seeded RNGs."""
    pyro.clear_param_store()
    pyro.enable_validation(True)
    pyro.set_rng_seed(0)
    yield
    pyro.clear_param_store()
    pyro.enable_validation(True)


# Read at import, before a test's ``hermetic_data_env`` removes the variable.
SHARED = pathlib.Path(os.environ.get(zoo.data.DATA_ROOT_ENV) or REPO.parent / "shared" / "data")


@pytest.fixture
def shared_data() -> pathlib.Path:
    """The shared data root: ``$VAEZOO_DATA``, else ``<repo>/../shared/data``."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data root {SHARED} does not exist")
    return SHARED


@pytest.fixture(scope="module")
def shared_root() -> pathlib.Path:
    """``shared_data`` for module-scoped fixtures."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data folder {SHARED} does not exist")
    return SHARED


@pytest.fixture
def hermetic_data_env(tmp_path, monkeypatch):
    """No data root from the environment; downloads would land in an empty tmp cache."""
    monkeypatch.delenv(zoo.data.DATA_ROOT_ENV, raising=False)
    monkeypatch.setenv(zoo.data.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def mnist5k_gray():
    """The embedded 5k MNIST digits as intensities in [0, 1] (loaded once)."""
    return zoo.data.load("mnist5k")


@pytest.fixture(scope="session")
def mnist_bin():
    """Statically binarized real MNIST digits: (train (500, 1, 28, 28), test (200, 1, 28, 28))."""
    ds = zoo.data.load("mnist5k", binarize="static", seed=0)
    return ds.train[:NUM_TRAIN].clone(), ds.test[:NUM_TEST].clone()


@pytest.fixture(scope="session")
def mnist_gray(mnist5k_gray):
    """Grayscale real MNIST digits in [0, 1]: (train (500, ...), test (200, ...))."""
    return mnist5k_gray.train[:NUM_TRAIN].clone(), mnist5k_gray.test[:NUM_TEST].clone()


@pytest.fixture
def make_vae():
    """``make_vae(seed=0, **overrides)``: a small VAE whose initial weights depend only on ``seed``."""

    def make(seed: int = 0, **overrides):
        torch.manual_seed(seed)
        return zoo.build("vae", **{**SMALL, **overrides})

    return make


@pytest.fixture(scope="session")
def trained_state(mnist_bin):
    """State dict of a small VAE trained 20 epochs (200 steps) on the binarized subset, once."""
    train, _ = mnist_bin
    torch.manual_seed(0)
    vae = zoo.build("vae", **SMALL)
    with pyro.validation_enabled(True):
        zoo.fit(vae, train, epochs=20, batch_size=50, lr=3e-3, seed=0, progress=False)
    pyro.clear_param_store()
    return {k: v.clone() for k, v in vae.state_dict().items()}


@pytest.fixture
def trained_vae(trained_state, make_vae):
    """A fresh copy of the trained small VAE (safe to modify within a test)."""
    vae = make_vae()
    vae.load_state_dict(trained_state)
    return vae
