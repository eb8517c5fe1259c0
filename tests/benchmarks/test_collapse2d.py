"""The 2-D posterior-collapse study (seed 003): its data, its outcome, its command."""
import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from benchmarks.studies import collapse2d
from benchmarks.studies.collapse2d import (
    COLLAPSED_KL,
    NOT_COLLAPSED_KL,
    data_covariance,
    exact_log_likelihood,
    generate_2d_data,
    run_case,
)
from zoo.cli import main

# What a z-free decoder loses on the rotated data: KL(N(0, Sigma) || N(0, diag Sigma)).
DIAGONAL_GAP = 0.5 * math.log(25 / 9)


def seed_data(count, mode):
    """Seed 003's generator, global numpy RNG and all (state restored afterwards)."""
    state = np.random.get_state()
    try:
        np.random.seed(42)
        c = np.sqrt(2) / 2
        rotate = [[1.0, 0.0], [0.0, 1.0]] if mode == "univariate" else [[c, c], [-c, c]]
        data = ([[2.0, 3.0]] + (np.random.randn(count, 2) * [[3.0, 1.0]]).dot(rotate)).astype("float32")
    finally:
        np.random.set_state(state)
    split = int(0.7 * count)
    return data[:split], data[split:]


@pytest.mark.parametrize("mode", collapse2d.MODES)
def test_data_are_exactly_the_seeds(mode):
    state = np.random.get_state()
    train, test = generate_2d_data(10000, mode)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG untouched
    seed_train, seed_test = seed_data(10000, mode)
    assert train.dtype == np.float32 and train.shape == (7000, 2) and test.shape == (3000, 2)
    assert np.array_equal(train, seed_train) and np.array_equal(test, seed_test)
    data = np.concatenate([train, test])
    assert np.allclose(data.mean(0), [2, 3], atol=0.1)
    assert np.allclose(np.cov(data.T), data_covariance(mode), atol=0.3)


def test_covariances_and_exact_log_likelihood():
    assert np.allclose(data_covariance("univariate"), [[9, 0], [0, 1]])
    assert np.allclose(data_covariance("multivariate"), [[5, 4], [4, 5]])
    _, test = generate_2d_data(1000, "multivariate")
    reference = multivariate_normal([2, 3], [[5, 4], [4, 5]]).logpdf(test.astype(np.float64)).mean()
    assert exact_log_likelihood(test, "multivariate") == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize("count, mode, message", [(1, "univariate", "count"), (100, "rotated", "unknown mode")])
def test_bad_arguments(count, mode, message):
    with pytest.raises(ValueError, match=message):
        generate_2d_data(count, mode)


def test_axis_aligned_data_collapse_the_posterior():
    """The z-free decoder fits diagonal data exactly, so q(z|x) = p(z): KL below 0.1 nats
    (a tenth of the 1.10 nats a faithful fit of the rotated data needs; module docstring)."""
    r, _ = run_case("univariate")
    assert r["collapsed"] and r["test_kl"] < COLLAPSED_KL
    assert np.allclose(r["mu_z_mean"], 0, atol=0.1) and np.allclose(r["std_z_mean"], 1, atol=0.1)
    assert r["test_elbo"] == pytest.approx(r["exact_test_log_likelihood"], abs=0.05)


def test_rotated_data_use_the_latent():
    """A diagonal decoder must use z to model the correlation: KL above 0.5 nats (half the
    1.10-nat minimum of an exact fit), and an ELBO above the best z-free model's log p(x)."""
    r, points = run_case("multivariate")
    assert r["not_collapsed"] and r["test_kl"] > NOT_COLLAPSED_KL
    active = np.array(r["std_z_mean"]) < 0.6  # a coordinate q pins down, whose mean moves with x
    assert active.any() and (np.array(r["mu_z_std"])[active] > 0.5).all()
    assert r["test_elbo"] > r["exact_test_log_likelihood"] - DIAGONAL_GAP
    # decoder means spread along the data's principal axis (1, 1) instead of sitting at one point
    spread = np.cov(points["nonoise"].numpy().T)
    assert spread[0, 1] > 1 and spread[0, 0] > 1


def test_command_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["experiment", "collapse-2d", "--count", "1000", "--epochs", "1", "--out", str(out),
                 "--no-progress"]) == 0
    result = json.loads((out / "results.json").read_text())
    assert set(result["cases"]) == set(collapse2d.MODES)
    assert result["thresholds_nats"] == {"collapsed_kl_below": COLLAPSED_KL, "not_collapsed_kl_above": NOT_COLLAPSED_KL}
    for mode, case in result["cases"].items():
        assert {"test_kl", "mu_z_mean", "mu_z_std", "std_z_mean", "std_z_std", "history"} <= set(case)
        for name in ("data", "samples_noise", "samples_nonoise", "training_curves"):
            assert (out / mode / f"{name}.png").stat().st_size > 0
    assert (out / "overview.png").stat().st_size > 0
    assert "test KL" in capsys.readouterr().out
