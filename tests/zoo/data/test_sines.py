"""Tests of the generated ``sines`` dataset and of ``Dataset`` holding sequences (N, T)."""
import math

import pytest
import torch

from zoo import data


def test_load_sines_by_name_with_the_seed_defaults():
    ds = data.load("sines")
    assert "sines" in data.list_datasets()
    assert ds.name == "sines" and ds.data_shape == (50,)
    assert ds.train.shape == (1000, 50) and ds.test.shape == (200, 50)
    assert ds.train.dtype == torch.float32
    assert torch.equal(ds.train, data.sines().train)


def test_signals_are_the_stated_sinusoids_of_their_factors():
    """x_t = A sin(2 pi f t + phi) exactly (float32 rounding) without noise, factors in range."""
    ds = data.sines(num_train=30, num_test=20, length=37)
    for split in ("train", "test"):
        f = {k: v.double() for k, v in ds.factors[split].items()}
        t = torch.arange(37, dtype=torch.float64)
        x = f["amplitude"][:, None] * torch.sin(2 * math.pi * f["frequency"][:, None] * t + f["phase"][:, None])
        assert torch.allclose(getattr(ds, split).double(), x, atol=1e-5)
        assert f["amplitude"].min() >= 0.5 and f["amplitude"].max() <= 1.5
        assert f["frequency"].min() >= 0.02 and f["frequency"].max() <= 0.08
        assert f["phase"].min() >= 0 and f["phase"].max() <= 2 * math.pi


def test_factors_are_uniform_and_the_signal_variance_is_as_stated():
    """With 20,000 sequences the means of U(0.5, 1.5), U(0.02, 0.08) and U(0, 2 pi) are within
    4 standard errors (range / sqrt(12 n)); the variance E[A^2] / 2 = (1 + 1/12) / 2 = 0.5417
    holds to about 1% (averaged over phases and 50 samples)."""
    ds = data.sines(num_train=20_000, num_test=1)
    n = 20_000
    for name, (lo, hi) in {"amplitude": (0.5, 1.5), "frequency": (0.02, 0.08), "phase": (0, 2 * math.pi)}.items():
        mean = ds.factors["train"][name].double().mean().item()
        assert abs(mean - (lo + hi) / 2) < 4 * (hi - lo) / math.sqrt(12 * n), name
    assert ds.train.double().pow(2).mean().item() == pytest.approx((1 + 1 / 12) / 2, rel=0.02)


def test_noise_is_gaussian_with_the_given_standard_deviation():
    clean = data.sines(num_train=500, num_test=10, noise=0.0, seed=3)
    noisy = data.sines(num_train=500, num_test=10, noise=0.2, seed=3)
    for name in ("amplitude", "frequency", "phase"):  # the same signals, noise added on top
        assert torch.equal(clean.factors["train"][name], noisy.factors["train"][name])
    residual = (noisy.train - clean.train).double()
    # 25,000 draws: the sample std has a relative standard error of 1 / sqrt(2 n) ~ 0.45%.
    assert residual.std().item() == pytest.approx(0.2, rel=0.02)
    assert abs(residual.mean().item()) < 4 * 0.2 / math.sqrt(residual.numel())


def test_seeded_and_splits_independent():
    a, b = data.sines(num_train=50, num_test=20, seed=1), data.sines(num_train=50, num_test=20, seed=1)
    assert torch.equal(a.train, b.train) and torch.equal(a.test, b.test)
    assert not torch.equal(a.train, data.sines(num_train=50, num_test=20, seed=2).train)
    # Each split has its own generator: one split's size does not move the other.
    assert torch.equal(a.test, data.sines(num_train=80, num_test=20, seed=1).test)
    assert torch.equal(a.train, data.sines(num_train=50, num_test=7, seed=1).train)
    assert not torch.equal(a.train[:20], a.test)


@pytest.mark.parametrize("kwargs, message", [
    ({"length": 0}, "length must be a positive integer, got 0"),
    ({"num_train": -1}, "num_train must be a positive integer, got -1"),
    ({"noise": -0.1}, "noise must be a finite standard deviation >= 0, got -0.1"),
    ({"frequency": (0.1, 0.6)}, r"frequency must be a range \(low, high\) with 0 < low <= high <= 0.5"),
    ({"amplitude": (2.0, 1.0)}, r"amplitude must be a range \(low, high\) with 0 < low <= high"),
    ({"amplitude": 1.0}, r"amplitude must be a range \(low, high\), got 1.0"),
    ({"seed": -1}, "seed must be a non-negative integer, got -1"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.sines(**kwargs)


def test_dataset_holds_sequences_and_checks_factors():
    ds = data.Dataset("s", torch.zeros(4, 10), torch.zeros(2, 10), factors={"test": {"f": torch.zeros(2)}})
    assert ds.data_shape == (10,)
    with pytest.raises(ValueError, match=r"test must be \(N, \*data_shape\) like train"):
        data.Dataset("s", torch.zeros(4, 10), torch.zeros(2, 12))
    with pytest.raises(ValueError, match=r"train must be \(N, \*data_shape\)"):
        data.Dataset("s", torch.zeros(4), torch.zeros(2))  # one number per datum is no sequence
    with pytest.raises(ValueError, match=r"factors\['train'\]\['f'\] must be one value per train example"):
        data.Dataset("s", torch.zeros(4, 10), torch.zeros(2, 10), factors={"train": {"f": torch.zeros(2)}})
    with pytest.raises(ValueError, match="test must be"):  # images are still checked alike
        data.Dataset("x", torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 20))
