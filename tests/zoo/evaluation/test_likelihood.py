"""Importance-sampled log-likelihood and diagnostics, checked against closed forms.

Ground truth is the linear-Gaussian model (exact log p(x), posterior and mutual information)
and a one-dimensional conjugate pair written as plain Pyro functions.
"""
import gc
import json
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.distributions.transforms.planar import ConditionedPlanar

import zoo
from zoo.evaluation import diagnostics
from zoo.evaluation.latent import class_means, interpolate, perturb, posterior_means
from zoo.evaluation.likelihood import elbo_and_kl, log_likelihood
from zoo.evaluation.report import evaluate


def linear_gaussian(latent_dim=2, noise_scale=0.5, guide_scale=None, seed=1):
    """A float64 LinearGaussian (D = 6); with ``guide_scale`` its guide is the exact posterior
    with the Cholesky factor multiplied by ``guide_scale`` (q = N(mu(x), c^2 Sigma))."""
    lg = zoo.LinearGaussian(6, latent_dim, noise_scale=noise_scale, seed=seed).double()
    if guide_scale is not None:
        lg.set_exact_posterior()
        with torch.no_grad():
            L = lg.scale_tril() * guide_scale
            diag = L.diagonal()
            lg.L_raw.copy_(L.tril(-1) + torch.diag_embed(diag + torch.log(-torch.expm1(-diag))))
    return lg


def data(lg, n=40, seed=123):
    return lg.sample_data(n, seed=seed)  # seeds of data and of q's draws must differ


def exact(lg, x):
    return lg.log_marginal(x).detach()


# ---- log_likelihood against the exact log p(x) ------------------------------------------------


@pytest.mark.parametrize("num_samples", [1, 7, 250])
def test_exact_posterior_guide_gives_log_px_for_any_s(num_samples):
    lg = linear_gaussian(guide_scale=1.0)
    x = data(lg)
    r = log_likelihood(lg.model, lg.guide, x, num_samples=num_samples, batch_size=16, chunk_size=30)
    torch.testing.assert_close(r.log_px, exact(lg, x), rtol=0, atol=1e-10)
    torch.testing.assert_close(r.elbo, exact(lg, x), rtol=0, atol=1e-10)
    torch.testing.assert_close(r.ess, torch.full_like(r.ess, float(num_samples)), rtol=1e-9, atol=0)
    assert r.num_samples == num_samples and r.khat is None
    if num_samples > 1:  # every log w is log p(x): the ELBO has no Monte Carlo error
        assert r.elbo_stderr.abs().max() < 1e-5
    else:
        assert r.elbo_stderr.isnan().all()


def test_elbo_standard_error_matches_its_closed_form():
    """q = N(mu(x), c^2 Sigma) around the exact posterior: log w = log p(x) + d log c - (c^2 - 1) u'u / 2
    with u ~ N(0, I_d), so Var(log w) = (c^2 - 1)^2 d / 2 and the ELBO's error is sqrt of that over S."""
    c, d, s = 1.5, 2, 2000
    lg = linear_gaussian(latent_dim=d, guide_scale=c)
    x = data(lg, n=20)
    r = log_likelihood(lg.model, lg.guide, x, num_samples=s)
    expected = math.sqrt((c**2 - 1) ** 2 * d / 2 / s)
    assert abs(r.elbo_stderr.mean().item() / expected - 1) < 0.05
    assert r.summary()["elbo_stderr"] == pytest.approx(r.elbo_stderr.pow(2).sum().sqrt().item() / 20)
    exact_elbo = exact(lg, x) + d * math.log(c) - (c**2 - 1) * d / 2  # E[u'u] = d
    z = (r.elbo - exact_elbo) / r.elbo_stderr
    assert z.abs().max() < 4.5 and abs(z.mean()) < 4.5 / math.sqrt(20)


def test_estimate_within_three_standard_errors_and_error_shrinks_with_s():
    lg = linear_gaussian(guide_scale=1.5)  # wider than the posterior: weights of finite variance
    x = data(lg)
    rms = []
    for s in (10, 100, 1000):
        r = log_likelihood(lg.model, lg.guide, x, num_samples=s)
        err = r.log_px - exact(lg, x)
        rms.append(err.pow(2).mean().sqrt().item())
    assert abs(err.mean()) < 3 * r.stderr.pow(2).sum().sqrt() / len(x)  # the dataset mean, S = 1000
    assert (err.abs() < 3 * r.stderr).double().mean() >= 0.9  # and per datapoint
    assert rms[0] > rms[1] > rms[2]
    assert 2 < rms[0] / rms[1] < 5 and 2 < rms[1] / rms[2] < 5  # ~ sqrt(10) per decade of S


def test_standard_error_matches_spread_over_seeds():
    lg = linear_gaussian(guide_scale=1.5)
    x = data(lg, n=10)
    runs = [log_likelihood(lg.model, lg.guide, x, num_samples=100, seed=seed) for seed in range(30)]
    spread = torch.stack([r.log_px for r in runs]).std(0)
    reported = torch.stack([r.stderr for r in runs]).mean(0)
    ratio = (spread / reported).mean().item()
    assert 0.75 < ratio < 1.3, ratio  # 30 seeds: the sd itself is known to ~13%


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 100, 130, 1000])
def test_result_does_not_depend_on_chunk_size(chunk_size):
    lg = linear_gaussian(guide_scale=1.3)
    x = data(lg, n=16)
    kw = dict(num_samples=130, batch_size=12, psis=True)  # draw blocks of 100 and 30 per batch
    ref = log_likelihood(lg.model, lg.guide, x, chunk_size=100, **kw)
    r = log_likelihood(lg.model, lg.guide, x, chunk_size=chunk_size, **kw)
    for a, b in zip((r.log_px, r.stderr, r.ess, r.elbo, r.elbo_stderr, r.khat),
                    (ref.log_px, ref.stderr, ref.ess, ref.elbo, ref.elbo_stderr, ref.khat)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_seeded_and_leaves_global_rng_alone():
    lg = linear_gaussian(guide_scale=1.3)
    x = data(lg, n=10)
    state = torch.get_rng_state()
    a = log_likelihood(lg.model, lg.guide, x, num_samples=50, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    b = log_likelihood(lg.model, lg.guide, x, num_samples=50, seed=3)
    c = log_likelihood(lg.model, lg.guide, x, num_samples=50, seed=4)
    assert torch.equal(a.log_px, b.log_px) and not torch.equal(a.log_px, c.log_px)


def conjugate_pair(guide_loc_slope, guide_scale, seen=None):
    """z ~ N(0, 1), x | z ~ N(z, 1): p(x) = N(0, 2), p(z|x) = N(x/2, 1/2). Plain Pyro functions."""

    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            if seen is not None:
                seen.append(z.shape[0] if z.dim() == 2 else 1)
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(guide_loc_slope * x, guide_scale))

    return model, guide


def test_plain_pyro_functions_and_bounded_chunks():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    log_px = dist.Normal(0.0, math.sqrt(2.0)).log_prob(x)
    model, guide = conjugate_pair(0.5, math.sqrt(0.5))
    torch.testing.assert_close(log_likelihood(model, guide, x, num_samples=5).log_px, log_px, rtol=0, atol=1e-6)
    seen = []
    model, guide = conjugate_pair(0.4, 1.0, seen)
    r = log_likelihood(model, guide, x, num_samples=3000, chunk_size=128)
    assert max(seen) == 128  # the model never scores more than chunk_size particles at once
    assert (r.log_px - log_px).abs().max() < 4 * r.stderr.max() + 1e-3


def test_scaled_sites_are_refused():
    model, guide = conjugate_pair(0.5, 1.0)
    with pytest.raises(ValueError, match="scale"):
        log_likelihood(poutine.scale(model, scale=2.0), guide, torch.zeros(3), num_samples=4)


@pytest.mark.parametrize("kwargs, name", [
    ({"num_samples": 0}, "num_samples"), ({"batch_size": -1}, "batch_size"), ({"chunk_size": 0}, "chunk_size"),
    ({"seed": -1}, "seed"), ({"num_samples": 10, "psis": True}, "25"),
])
def test_bad_arguments_name_themselves(kwargs, name):
    lg = linear_gaussian(guide_scale=1.0)
    with pytest.raises(ValueError, match=name):
        log_likelihood(lg.model, lg.guide, data(lg, n=3), **kwargs)


# ---- PSIS k-hat ------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 0.95])
def test_khat_matches_analytic_value(sigma):
    """Proposal N(0, sigma^2) for target N(0, 1): w ~ exp(z^2 (1/sigma^2 - 1) / 2), k = 1 - sigma^2.

    Tolerance 0.08: the Gaussian-tail weights converge to a Pareto tail only slowly (a factor
    (log w)^(-1/2)), which with S = 20000 biases k-hat by -0.05 at sigma = 0.5 and +0.03 at
    0.95 (measured; ArviZ's prior adds 10/(M + 10) (0.5 - k)), plus 3 standard errors (~0.03)
    of the mean over 100 fits. Reading -log w (the ArviZ 1.x convention) would give k ~ -1.7.
    """
    g = torch.Generator().manual_seed(0)
    z = sigma * torch.randn(100, 20000, generator=g, dtype=torch.float64)
    log_w = -0.5 * z**2 + 0.5 * (z / sigma) ** 2 + math.log(sigma)
    k = diagnostics.psis_khat(log_w)
    assert k.shape == (100,)
    assert abs(k.mean().item() - (1 - sigma**2)) < 0.08


def test_khat_flags_a_narrow_guide_and_passes_the_exact_posterior():
    x = data(linear_gaussian(), n=20)
    narrow = linear_gaussian(guide_scale=0.3)  # q = N(mu, 0.09 Sigma): k = 1 - 0.09 = 0.91
    k = log_likelihood(narrow.model, narrow.guide, x, num_samples=2000, psis=True).khat
    assert k.median() > 0.7 and (k > 0.5).all()
    exact_guide = linear_gaussian(guide_scale=1.0)
    k = log_likelihood(exact_guide.model, exact_guide.guide, x, num_samples=2000, psis=True).khat
    assert (k < 0.5).all()


def test_constant_weights_are_a_bounded_tail_not_a_failed_fit():
    k = diagnostics.psis_khat(torch.zeros(3, 100))
    assert torch.isneginf(k).all()  # ArviZ alone says inf
    heavy = torch.zeros(1, 100)
    heavy[0, :3] = 800.0  # 3 weights beyond exp(700) dominate: a genuinely failed fit stays inf
    assert torch.isposinf(diagnostics.psis_khat(heavy)).all()


def test_arviz_1x_is_refused(monkeypatch):
    arviz = diagnostics.require_arviz()
    monkeypatch.setattr(arviz, "__version__", "1.0.0")
    with pytest.raises(ImportError, match="arviz>=0.17,<1"):
        diagnostics.psis_khat(torch.zeros(1, 30))


# ---- active units, mutual information, KL ----------------------------------------------------


def test_unit_activity_is_one_minus_posterior_variance_and_ignored_dims_are_inactive():
    """With the exact posterior, Var_x(E[z|x]) = I - Sigma (total variance), and a latent
    dimension whose column of W is zero has E[z_d|x] = 0 for every x."""
    lg = linear_gaussian(latent_dim=4, guide_scale=None)
    with torch.no_grad():
        lg.W[:, 2:] = 0
    lg.set_exact_posterior()
    x = data(lg, n=4000)
    activity = diagnostics.unit_activity(lg.posterior_guess, x)
    expected = (torch.eye(4, dtype=torch.float64) - lg.exact_posterior(x[:1]).covariance_matrix[0]).diagonal()
    torch.testing.assert_close(activity[:2], expected[:2].detach(), rtol=0.1, atol=0)  # sd ~ sqrt(2/N) = 2%
    assert activity[2:].abs().max() < 1e-20
    assert diagnostics.active_units(lg.posterior_guess, x) == 2


def test_trained_vae_whose_decoder_ignores_dims_reports_them_inactive(mnist_bin, make_vae):
    train, test = mnist_bin
    vae = make_vae(latent_dim=4)
    first = vae.decoder.net[0].weight  # (hidden, latent_dim)
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0])
    with torch.no_grad():
        first.mul_(mask)
    first.register_hook(lambda grad: grad * mask)  # the decoder never reads z_3, z_4
    # the closed-form KL pulls the unread dimensions' codes to the prior without sampling noise
    zoo.fit(vae, train, epochs=10, batch_size=50, lr=3e-3, seed=0, progress=False, estimator="elbo-kl")
    activity = diagnostics.unit_activity(vae.encode, test)
    assert (activity[2:] < diagnostics.ACTIVE_THRESHOLD).all() and (activity[:2] > diagnostics.ACTIVE_THRESHOLD).all()


def test_mutual_information_matches_closed_form():
    """Exact posterior, x ~ p(x): I(x; z) = H(z) - H(z|x) = 1/2 log det(I + W^T W / sigma^2).

    N = 2000: over 10 data sets the estimate had sd 0.023 and mean 0.010 below the truth
    (the InfoNCE bias), so 0.08 is > 3 sd."""
    lg = linear_gaussian(guide_scale=1.0)
    x = data(lg, n=2000)
    W = lg.W.detach()
    truth = 0.5 * torch.logdet(torch.eye(2, dtype=torch.float64) + W.T @ W / 0.25).item()
    assert abs(diagnostics.mutual_information(lg.posterior_guess, x) - truth) < 0.08


def test_mutual_information_limits():
    x = data(linear_gaussian(), n=200)
    blind = linear_gaussian(guide_scale=1.0)
    with torch.no_grad():
        blind.A.zero_()  # q(z|x) ignores x
    assert diagnostics.mutual_information(blind.posterior_guess, x) == pytest.approx(0.0, abs=1e-12)
    sharp = linear_gaussian(guide_scale=1e-4)  # every code identifies its datapoint
    assert diagnostics.mutual_information(sharp.posterior_guess, x) == pytest.approx(math.log(200), abs=1e-6)


def test_mutual_information_refuses_flows_without_inverse(make_vae):
    vae = make_vae(latent_dim=4, guide="planar:2")
    with pytest.raises(NotImplementedError, match="cannot score"):
        diagnostics.mutual_information(vae.encode, torch.zeros(5, 1, 28, 28))


# ---- evaluate: everything eval.json holds ----------------------------------------------------


def test_evaluate_on_a_trained_vae(trained_vae, mnist_bin):
    x = mnist_bin[1][:30]
    trained_vae.train()
    r = evaluate(trained_vae, x, num_samples=50, batch_size=16, chunk_size=20, progress=False)
    assert trained_vae.training  # mode restored
    json.dumps(r, allow_nan=False)
    assert r["num_datapoints"] == 30 and r["num_samples"] == 50
    assert r["elbo"] <= r["log_likelihood"] < 0  # Jensen, on the same weights
    assert r["kl"] == pytest.approx(elbo_and_kl(trained_vae, x)["kl"], rel=1e-5)
    assert 0 <= r["active_units"] <= 8 and len(r["unit_activity"]) == r["latent_dim"] == 8
    assert 0 <= r["mutual_information"] <= math.log(30) + 1e-9
    assert 0 <= r["khat_frac_above_0.7"] <= r["khat_frac_above_0.5"] <= 1
    assert all(len(v) == 30 for v in r["per_datapoint"].values())
    assert r["log_likelihood"] == pytest.approx(sum(r["per_datapoint"]["log_likelihood"]) / 30, abs=1e-5)


def test_evaluate_refuses_the_autoencoder():
    ae = zoo.build("ae", data_shape=(1, 28, 28), latent_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match="improper"):
        evaluate(ae, torch.zeros(4, 1, 28, 28), num_samples=30, progress=False)


# ---- latent helpers --------------------------------------------------------------------------


def test_latent_helpers():
    z0, z1 = torch.zeros(3), torch.tensor([1.0, 2.0, 4.0])
    path = interpolate(z0, z1, 5)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1) and torch.allclose(path[2], z1 / 2)
    p = perturb(z1, 20000, scale=0.5, generator=torch.Generator().manual_seed(0))
    assert p.shape == (20000, 3) and torch.allclose(p.mean(0), z1, atol=0.02)
    assert torch.allclose(p.std(0), torch.full((3,), 0.5), atol=0.02)
    codes, labels = torch.arange(12.0).reshape(6, 2), torch.tensor([3, 1, 3, 1, 1, 7])
    classes, means = class_means(codes, labels)
    assert classes.tolist() == [1, 3, 7]
    torch.testing.assert_close(means, torch.stack([codes[[1, 3, 4]].mean(0), codes[[0, 2]].mean(0), codes[5]]))
    with pytest.raises(ValueError, match="num_steps"):
        interpolate(z0, z1, 1)


def test_posterior_means_fall_back_to_monte_carlo_for_flows(make_vae):
    vae = make_vae(latent_dim=3, guide="planar:2")
    m = posterior_means(vae.encode, torch.zeros(4, 1, 28, 28), num_samples=500)
    assert m.shape == (4, 3) and torch.isfinite(m).all()


def test_evaluate_with_a_flow_guide_reports_no_mutual_information(make_vae, mnist_bin):
    vae = make_vae(latent_dim=3, guide="planar:2")
    state = torch.get_rng_state()
    r = evaluate(vae, mnist_bin[1][:10], num_samples=30, progress=False)
    assert torch.equal(torch.get_rng_state(), state)  # every draw came from seeded, forked generators
    assert r["mutual_information"] is None and "cannot score" in r["mutual_information_note"]
    assert r["kl"] > 0 and len(r["unit_activity"]) == 3 and math.isfinite(r["log_likelihood"])


# ---- memory: flow steps are reference cycles ------------------------------------------------


def _live_flow_steps() -> int:
    return sum(type(o) is ConditionedPlanar for o in gc.get_objects())


@pytest.mark.parametrize("call", ["log_likelihood", "elbo_and_kl"])
def test_evaluation_frees_the_flow_steps_it_builds(call):
    """torch's Transform.inv makes each conditioned flow step that scored a sample a reference
    cycle holding its cached tensors; guides.flows.FlowDistribution breaks it, so with automatic
    collection off reference counting alone frees every step."""
    vae = zoo.build("vae", data_shape=(6,), latent_dim=2, hidden=(8,), guide="planar:3").eval()
    x = torch.randint(0, 2, (30, 6)).float()
    gc.collect()
    before = _live_flow_steps()
    gc.disable()
    try:
        if call == "log_likelihood":
            log_likelihood(vae.model, vae.guide, x, num_samples=40, batch_size=10)
        else:
            elbo_and_kl(vae, x, batch_size=10)
        assert _live_flow_steps() == before
    finally:
        gc.enable()
