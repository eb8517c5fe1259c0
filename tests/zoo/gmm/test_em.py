"""EM for Gaussian mixtures against ground truth: scikit-learn's GaussianMixture from the same
initial parameters, scipy's Gaussian densities, closed-form M-steps and parameter counts,
and the monotonicity of EM."""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from zoo.gmm import kernels as gmm_kernels
from zoo.gmm.em import ConvergenceWarning, GaussianMixtureEM
from zoo.gmm.init import initial_responsibilities, kmeans_labels, kmeans_plusplus
from zoo.gmm.svi import GaussianMixtureSVI

TYPES = ("full", "tied", "diag", "spherical")


def blobs(n_per=100, d=3, k=3, spread=3.0, seed=0, offset=0.0):
    """Anisotropic clusters: (x float64 (k n_per, d), labels, centers)."""
    rng = np.random.RandomState(seed)
    centers = rng.randn(k, d) * spread + offset
    x = np.vstack([rng.randn(n_per, d) @ (0.3 * rng.randn(d, d) + 0.5 * np.eye(d)) + c for c in centers])
    return x, np.repeat(np.arange(k), n_per), centers


def start(x, k, covariance_type, seed=0, init="kmeans"):
    """Initial parameters, as the *_init arguments of both implementations (numpy)."""
    init = GaussianMixtureEM(k, covariance_type=covariance_type, max_iter=0, init=init, random_state=seed).fit(x)
    return {"weights_init": init.weights_.numpy(), "means_init": init.means_.numpy(),
            "precisions_init": init.precisions_.numpy()}


def full_covariances(model, covariance_type, k, d):
    cov = torch.as_tensor(model.covariances_)
    if covariance_type == "tied":
        return cov.expand(k, d, d)
    if covariance_type == "diag":
        return torch.diag_embed(cov)
    if covariance_type == "spherical":
        return cov[:, None, None] * torch.eye(d, dtype=cov.dtype)
    return cov


@pytest.mark.parametrize("block_elements", [gmm_kernels.BLOCK_ELEMENTS, 100])  # one block; blocks of 11 or 33 rows
@pytest.mark.parametrize("covariance_type", TYPES)
def test_matches_sklearn_from_the_same_start(covariance_type, block_elements, monkeypatch):
    monkeypatch.setattr(gmm_kernels, "BLOCK_ELEMENTS", block_elements)
    x, _, _ = blobs()
    init = start(x, 3, covariance_type, init="random")  # a poor start: many iterations to agree on
    ours = GaussianMixtureEM(3, covariance_type=covariance_type, tol=1e-8, max_iter=1000, **init).fit(x)
    ref = GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, max_iter=1000, **init).fit(x)
    assert ours.converged_ and ref.converged_
    assert ours.n_iter_ == ref.n_iter_ > 5
    assert ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-11)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-10)  # rounding along the whole path
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(ref, name), rtol=1e-9, atol=1e-11,
                                   err_msg=name)
    np.testing.assert_allclose(ours.score_samples(x).numpy(), ref.score_samples(x), rtol=1e-11)
    np.testing.assert_allclose(ours.predict_proba(x).numpy(), ref.predict_proba(x), atol=1e-10)
    assert ours.bic(x) == pytest.approx(ref.bic(x), rel=1e-11)
    assert ours.aic(x) == pytest.approx(ref.aic(x), rel=1e-11)


def test_lower_bound_and_tol_have_sklearns_meaning():
    """lower_bound_ is the log-likelihood of the parameters before the last M-step, and the
    run stops at the first change below tol (same iteration count as sklearn at tol 1e-3)."""
    x, _, _ = blobs(spread=1.0)
    init = start(x, 3, "full")
    ours = GaussianMixtureEM(3, **init).fit(x)
    ref = GaussianMixture(3, **init).fit(x)
    assert ours.n_iter_ == ref.n_iter_ and ours.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-12)
    changes = np.diff(ours.lower_bounds_)
    assert abs(changes[-1]) < 1e-3 and np.all(np.abs(changes[:-1]) >= 1e-3)
    before_last = GaussianMixtureEM(3, max_iter=ours.n_iter_ - 1, **init)
    with pytest.warns(ConvergenceWarning):
        before_last.fit(x)
    assert before_last.score(x) == pytest.approx(ours.lower_bound_, rel=1e-13)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_stepping_never_decreases_the_log_likelihood_and_matches_fit(covariance_type):
    x, _, _ = blobs(spread=1.0, seed=1)
    gm = GaussianMixtureEM(4, covariance_type=covariance_type, max_iter=0, init="kmeans++").fit(x)
    values = []
    for _ in range(40):
        log_prob_norm, log_resp = gm.e_step(x)
        assert log_prob_norm == pytest.approx(gm.score(x), rel=1e-13)
        np.testing.assert_allclose(log_resp.exp().sum(1).numpy(), 1.0, atol=1e-12)
        gm.m_step(x, log_resp)
        values.append(log_prob_norm)
    assert np.all(np.diff(values) >= -1e-12)
    assert values[-1] - values[0] > 0.1
    fitted = GaussianMixtureEM(4, covariance_type=covariance_type, init="kmeans++", tol=0, max_iter=40)
    with pytest.warns(ConvergenceWarning):
        fitted.fit(x)
    np.testing.assert_allclose(fitted.lower_bounds_, values, rtol=1e-13)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), covariance_type=st.sampled_from(TYPES),
       init=st.sampled_from(["kmeans", "kmeans++", "random"]))
def test_em_is_monotone_on_random_data(seed, k, covariance_type, init):
    x = np.random.RandomState(seed).standard_t(3, size=(60, 2))
    gm = GaussianMixtureEM(k, covariance_type=covariance_type, init=init, tol=0, max_iter=15, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(x)
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-9 * np.abs(gm.lower_bounds_[1:]))


@pytest.mark.parametrize("covariance_type", TYPES)
def test_log_density_and_responsibilities_against_scipy(covariance_type):
    x, _, _ = blobs(n_per=30)
    gm = GaussianMixtureEM(3, covariance_type=covariance_type).fit(x)
    cov = full_covariances(gm, covariance_type, 3, 3).numpy()
    weighted = np.stack([math.log(w) + multivariate_normal(m, c).logpdf(x)
                         for w, m, c in zip(gm.weights_.tolist(), gm.means_.numpy(), cov)], 1)
    log_p = np.logaddexp.reduce(weighted, axis=1)
    np.testing.assert_allclose(gm.score_samples(x).numpy(), log_p, rtol=1e-12)
    np.testing.assert_allclose(gm.predict_proba(x).numpy(), np.exp(weighted - log_p[:, None]), atol=1e-12)
    np.testing.assert_allclose(gm.predict_proba(x).sum(1).numpy(), 1.0, atol=1e-12)
    assert torch.equal(gm.predict(x), torch.as_tensor(weighted.argmax(1)))
    assert gm.score(x) == pytest.approx(log_p.mean(), rel=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_m_step_is_the_weighted_mle_even_far_from_the_origin(covariance_type):
    """The one-pass scatter about the data mean against the two-pass formula, on data at 1e4."""
    x, _, _ = blobs(n_per=40, offset=1e4)
    resp = np.random.RandomState(0).dirichlet(np.ones(3), size=len(x))
    nk, means, cov = gmm_kernels.gaussian_parameters(torch.from_numpy(x), torch.from_numpy(resp), 1e-6,
                                                     covariance_type)
    n = resp.sum(0)
    mu = resp.T @ x / n[:, None]
    full = np.stack([(resp[:, j, None] * (x - mu[j])).T @ (x - mu[j]) / n[j] for j in range(3)])
    expected = {"full": full, "tied": np.einsum("k,kij->ij", n, full) / n.sum(),
                "diag": np.diagonal(full, axis1=1, axis2=2), "spherical": np.diagonal(full, axis1=1, axis2=2).mean(1)}
    expected = expected[covariance_type] + (1e-6 * np.eye(3) if covariance_type in ("full", "tied") else 1e-6)
    np.testing.assert_allclose(nk.numpy(), n, rtol=1e-14)
    np.testing.assert_allclose(means.numpy(), mu, rtol=1e-14)
    np.testing.assert_allclose(cov.numpy(), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("init", ["kmeans", "kmeans++"])
def test_recovers_well_separated_blobs(init):
    x, labels, centers = blobs(n_per=200, d=2, k=4, spread=6.0)
    gm = GaussianMixtureEM(4, init=init).fit(x)
    order = [int(np.argmin(((gm.means_.numpy() - c) ** 2).sum(1))) for c in centers]
    assert sorted(order) == [0, 1, 2, 3]
    np.testing.assert_allclose(gm.weights_.numpy()[order], 0.25, rtol=0.1)
    np.testing.assert_allclose(gm.means_.numpy()[order], centers, rtol=0.1, atol=0.1)
    assert adjusted_rand_score(labels, gm.predict(x).numpy()) > 0.95


def test_fit_predict_equals_fit_then_predict_and_seeds_reproduce():
    x, _, _ = blobs(spread=1.0)
    a = GaussianMixtureEM(3, init="random", random_state=7)
    labels = a.fit_predict(x)
    b = GaussianMixtureEM(3, init="random", random_state=7).fit(x)
    assert torch.equal(labels, b.predict(x))
    assert torch.equal(a.means_, b.means_) and a.lower_bounds_ == b.lower_bounds_
    c = GaussianMixtureEM(3, init="random", random_state=8).fit(x)
    assert not torch.equal(a.means_, c.means_)


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_more_initializations_never_do_worse(init):
    x, _, _ = blobs(n_per=50, k=5, spread=1.5)
    one = GaussianMixtureEM(5, init=init, n_init=1, random_state=3).fit(x)
    ten = GaussianMixtureEM(5, init=init, n_init=10, random_state=3).fit(x)
    assert ten.lower_bound_ >= one.lower_bound_


@pytest.mark.parametrize("covariance_type, expected", [("spherical", 13), ("diag", 21), ("tied", 26), ("full", 41)])
def test_number_of_free_parameters(covariance_type, expected):
    x = np.random.RandomState(0).randn(20, 5)
    gm = GaussianMixtureEM(2, covariance_type=covariance_type).fit(x)
    assert gm.n_parameters() == gmm_kernels.n_parameters(2, 5, covariance_type) == expected
    bic = -2 * gm.score_samples(x).sum().item() + expected * math.log(20)
    assert gm.bic(x) == pytest.approx(bic, rel=1e-12)
    assert gm.aic(x) == pytest.approx(bic - expected * math.log(20) + 2 * expected, rel=1e-12)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_degenerate_data_fails_without_reg_covar_and_fits_with_it(covariance_type):
    """Two points repeated five times, ten components (scikit-learn's own regularisation test)."""
    x = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    with pytest.raises(ValueError, match="reg_covar"):
        GaussianMixtureEM(10, covariance_type=covariance_type, reg_covar=0).fit(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixtureEM(10, covariance_type=covariance_type, reg_covar=1e-6).fit(x)
    assert math.isfinite(gm.lower_bound_) and torch.isfinite(gm.score_samples(x)).all()


def test_duplicated_points_and_a_component_without_points():
    x, _, _ = blobs(n_per=50)
    x = np.vstack([x, np.repeat(x[:1], 40, axis=0)])  # one point 41 times
    gm = GaussianMixtureEM(4).fit(x)
    assert math.isfinite(gm.lower_bound_)
    # a component started far away loses every point: kept, with weight ~0 and reg_covar I
    init = start(x, 3, "full")
    init = {"weights_init": np.r_[init["weights_init"] * 0.9, 0.1],
            "means_init": np.r_[init["means_init"], [[1e3] * 3]],
            "precisions_init": np.r_[init["precisions_init"], [np.eye(3)]]}
    lost = GaussianMixtureEM(4, max_iter=3, tol=0, **init)
    with pytest.warns(ConvergenceWarning):
        lost.fit(x)
    assert lost.weights_[3] < 1e-15
    np.testing.assert_allclose(lost.means_[3].numpy(), x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(lost.covariances_[3].numpy(), 1e-6 * np.eye(3), rtol=1e-9)


def test_max_iter_zero_returns_the_initialization():
    x, _, _ = blobs()
    init = start(x, 3, "full", seed=5)
    gm = GaussianMixtureEM(3, max_iter=0, **init).fit(x)
    np.testing.assert_array_equal(gm.means_.numpy(), init["means_init"])
    np.testing.assert_array_equal(gm.weights_.numpy(), init["weights_init"])
    np.testing.assert_allclose(gm.precisions_.numpy(), init["precisions_init"], rtol=1e-12)
    assert gm.n_iter_ == 0 and not gm.converged_ and gm.lower_bounds_ == []
    assert gm.lower_bound_ == pytest.approx(gm.score(x), rel=1e-14)
    # with a k-means start: the Gaussian fit of each k-means cluster
    km = GaussianMixtureEM(3, max_iter=0, random_state=2).fit(x)
    labels = kmeans_labels(torch.from_numpy(x), 3, torch.Generator().manual_seed(2)).numpy()
    for j in range(3):
        np.testing.assert_allclose(km.means_[j].numpy(), x[labels == j].mean(0), rtol=1e-12)
        np.testing.assert_allclose(km.covariances_[j].numpy(), np.cov(x[labels == j].T, bias=True) + 1e-6 * np.eye(3),
                                   rtol=1e-10)
        assert km.weights_[j].item() == pytest.approx((labels == j).mean(), rel=1e-12)


def test_bic_picks_the_true_number_of_components():
    x, _, _ = blobs(n_per=150, d=2, k=3, spread=5.0)
    bics = [GaussianMixtureEM(k, n_init=3).fit(x).bic(x) for k in range(1, 7)]
    assert int(np.argmin(bics)) + 1 == 3


def test_kmeans_initializations():
    x, labels, _ = blobs(n_per=100, d=2, k=4, spread=6.0)
    xt, g = torch.from_numpy(x), torch.Generator().manual_seed(0)
    seeds = kmeans_plusplus(xt, 4, g)
    assert len(set(labels[seeds.numpy()])) == 4  # one seed per well-separated cluster
    assert adjusted_rand_score(labels, kmeans_labels(xt, 4, g).numpy()) == 1.0
    for method in ("kmeans", "kmeans++", "random"):
        resp = initial_responsibilities(xt, 4, method, g)
        assert resp.shape == (400, 4) and torch.allclose(resp.sum(1), torch.ones(400, dtype=torch.float64))
    # fewer distinct points than clusters: seeds drawn uniformly once every point is a seed
    twice = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64).repeat(3, 1)
    assert kmeans_plusplus(twice, 4, g).shape == (4,)


def test_sample_follows_the_mixture():
    x, _, _ = blobs(n_per=100)
    gm = GaussianMixtureEM(3).fit(x)
    xs, ys = gm.sample(30_000)
    assert torch.equal(xs, gm.sample(30_000)[0]) and not torch.equal(xs, gm.sample(30_000, random_state=1)[0])
    assert torch.equal(ys, ys.sort().values)
    freq = torch.bincount(ys, minlength=3).double() / 30_000
    np.testing.assert_allclose(freq.numpy(), gm.weights_.numpy(), atol=0.015)
    for j in range(3):
        xj = xs[ys == j]
        np.testing.assert_allclose(xj.mean(0).numpy(), gm.means_[j].numpy(), atol=0.05)
        np.testing.assert_allclose(torch.cov(xj.T).numpy(), gm.covariances_[j].numpy(), atol=0.06)


def test_float32():
    x, _, _ = blobs()
    init = start(x, 3, "full")
    single = GaussianMixtureEM(3, dtype=torch.float32, **init).fit(x)
    double = GaussianMixtureEM(3, **init).fit(x)
    assert single.means_.dtype == torch.float32
    assert single.lower_bound_ == pytest.approx(double.lower_bound_, rel=1e-5)


@pytest.mark.parametrize("kwargs, fit_x, message", [
    (dict(n_components=5), np.zeros((4, 2)), "n_components=5 must not exceed n_samples=4"),
    (dict(n_components=1), np.array([[0.0, np.nan], [1.0, 2.0]]), "NaN"),
    (dict(n_components=1), np.zeros(3), "2-D"),
    (dict(n_components=0), np.zeros((4, 2)), "n_components must be a positive integer, got 0"),
    (dict(n_components=2, covariance_type="ful"), np.zeros((4, 2)), "choose from full, tied, diag, spherical"),
    (dict(n_components=2, init="kmeans+"), np.zeros((4, 2)), "unknown init 'kmeans\\+'"),
    (dict(n_components=2, tol=-1.0), np.zeros((4, 2)), "tol must be a non-negative number, got -1.0"),
    (dict(n_components=2, max_iter=1.5), np.zeros((4, 2)), "max_iter must be a non-negative integer"),
    (dict(n_components=2, weights_init=[0.5, 0.6]), np.zeros((4, 2)), "sum to 1"),
    (dict(n_components=2, means_init=np.zeros((3, 2))), np.zeros((4, 2)), r"means_init must have shape \(2, 2\)"),
    (dict(n_components=2, precisions_init=-np.ones((2, 2, 2))), np.zeros((4, 2)), "positive-definite"),
    (dict(n_components=2, covariance_type="diag", precisions_init=np.zeros((2, 2))), np.zeros((4, 2)), "positive"),
])
def test_clear_errors(kwargs, fit_x, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixtureEM(**kwargs).fit(fit_x)


def test_errors_of_an_unfitted_or_mismatched_model():
    with pytest.raises(ValueError, match="not fitted"):
        GaussianMixtureEM(2).predict(np.zeros((3, 2)))
    gm = GaussianMixtureEM(2).fit(np.random.RandomState(0).randn(10, 2))
    with pytest.raises(ValueError, match="3 features; the mixture was fitted on 2"):
        gm.score(np.zeros((3, 3)))


# ---------------------------------------------------------------- SVI counterpart
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_svi_objective_is_the_exact_mixture_likelihood(covariance_type):
    x, _, _ = blobs(spread=1.5)
    svi = GaussianMixtureSVI(3, covariance_type, num_steps=20, lr=0.05).fit(x)
    em_start = GaussianMixtureEM(3, covariance_type, max_iter=0).fit(x)
    assert svi.lower_bounds_[0] == pytest.approx(em_start.score(x), rel=1e-12)  # the same start, summed out exactly
    assert svi.score(x) == pytest.approx(svi.to_em(x).score(x), rel=1e-12)
    assert svi.lower_bounds_[-1] > svi.lower_bounds_[0]
    again = GaussianMixtureSVI(3, covariance_type, num_steps=20, lr=0.05).fit(x)
    assert again.lower_bounds_ == svi.lower_bounds_


def test_svi_minibatches_and_refit():
    x, _, _ = blobs(spread=1.5)
    svi = GaussianMixtureSVI(3, num_steps=5, batch_size=50, random_state=1).fit(x)
    first = list(svi.lower_bounds_)
    assert all(math.isfinite(v) for v in first)
    assert svi.fit(x).lower_bounds_ == first  # a refit restarts from the initialization
    with pytest.raises(ValueError, match="choose from full, diag"):
        GaussianMixtureSVI(3, "tied")
