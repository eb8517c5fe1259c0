"""Tests of zoo.estimators: the ELBO estimators by name and the importance log-weights."""
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

from zoo import estimators
from zoo.estimators import log_weights


def losses(estimator, vae, x, n):
    return torch.tensor([estimator.loss(vae.model, vae.guide, x) for _ in range(n)], dtype=torch.float64)


def hand_log_weight(vae, x, z):
    """log p(x, z) - log q(z|x) from the definitions (Normal prior, Bernoulli pixels, diagonal q)."""
    log_prior = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    logits = vae.decoder(z).squeeze(-4)
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    log_lik = -bce.flatten(-3).sum(-1)
    h = vae.encoder(x)
    m, s = vae.guide_head.linear(h).split(vae.latent_dim, -1)
    s = F.softplus(s)
    log_q = (-0.5 * ((z - m) / s) ** 2 - s.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    return log_prior + log_lik - log_q


# ---- registry ---------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [("elbo", Trace_ELBO), ("elbo-kl", TraceMeanField_ELBO)])
def test_get_builds_vectorized_estimators(name, cls, make_vae, mnist_bin):
    est = estimators.get(name, num_particles=3)
    assert isinstance(est, cls)
    assert est.num_particles == 3 and est.vectorize_particles and est.max_plate_nesting == float("inf")
    vae, x = make_vae(), mnist_bin[1][:4]
    state = torch.get_rng_state()
    est._guess_max_plate_nesting(vae.model, vae.guide, (x,), {})
    assert torch.equal(torch.get_rng_state(), state)  # the guess drew from a forked RNG
    # Pyro counts the particle plate too: the data plate (dim -1) plus particles (dim -2).
    assert est.max_plate_nesting == 2 == estimators.get(name, num_particles=3, max_plate_nesting=1).max_plate_nesting
    assert estimators.get(name).num_particles == 1


def test_list_estimators():
    assert estimators.list_estimators() == [
        "ciwae", "concrete", "elbo", "elbo-enum", "elbo-kl", "elbo-stl", "iwae", "iwae-dreg", "iwae-stl", "miwae",
        "renyi", "rws", "score", "vimco"]


def test_unknown_estimator_lists_choices():
    with pytest.raises(ValueError, match=r"unknown estimator 'nope'; choose from ciwae, concrete, elbo, elbo-enum, "):
        estimators.get("nope")


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_num_particles_raises(k):
    with pytest.raises(ValueError, match=rf"num_particles must be a positive integer, got {k!r}"):
        estimators.get("elbo", num_particles=k)
    with pytest.raises(ValueError, match="num_particles must be a positive integer"):
        estimators.get("elbo-kl", num_particles=k)


def test_unknown_option_names_the_estimator():
    with pytest.raises(TypeError, match=r"bad arguments for estimator 'elbo'.*num_samples"):
        estimators.get("elbo", num_samples=3)


# ---- the estimators agree in expectation ------------------------------------------------


@pytest.mark.slow
def test_elbo_and_elbo_kl_have_the_same_expectation(trained_vae, mnist_bin):
    vae, x = trained_vae, mnist_bin[1][:20]
    n = 1000
    a = losses(estimators.get("elbo"), vae, x, n)
    b = losses(estimators.get("elbo-kl"), vae, x, n)
    se = math.sqrt(a.var() / n + b.var() / n)
    assert abs(a.mean() - b.mean()) < 4 * se
    # Both also agree with a third estimate from many importance weights.
    with torch.no_grad():
        loss_per_particle = -log_weights(vae.model, vae.guide, x, num_particles=n).double().sum(1)
    for c in (a, b):
        se = math.sqrt(c.var() / n + loss_per_particle.var() / n)
        assert abs(c.mean() - loss_per_particle.mean()) < 4 * se


@pytest.mark.slow
def test_elbo_kl_removes_the_kl_noise_exactly(make_vae, mnist_bin):
    """With a decoder that ignores z, log p(x|z) is constant: elbo-kl has zero variance, and
    the variance of elbo is that of log p(z) - log q(z|x). With z = m + s eps, that term is
    -m s eps + (1 - s^2) eps^2 / 2 + const per dimension, of variance m^2 s^2 + (1 - s^2)^2 / 2."""
    vae = make_vae().double()
    x = mnist_bin[1][:10].double()
    with torch.no_grad():
        vae.decoder.net[0].weight.zero_()
        h = vae.encoder(x)
        m, s = vae.guide_head.linear(h).split(vae.latent_dim, -1)
        s = F.softplus(s)
        exact_var = (m**2 * s**2 + 0.5 * (1 - s**2) ** 2).sum()
        log_px = vae.decode(torch.zeros(1, vae.latent_dim, dtype=torch.float64)).log_prob(x)
        exact_mean = -(log_px.sum() - vae.kl(x).sum())
    n = 1500
    a = losses(estimators.get("elbo"), vae, x, n)
    b = losses(estimators.get("elbo-kl"), vae, x, n)
    assert torch.allclose(b, torch.full_like(b, exact_mean.item()), rtol=1e-12)
    assert abs(a.mean() - exact_mean) < 4 * math.sqrt(exact_var / n)
    # The sample variance of n draws of a near-Gaussian sum has relative error sqrt(2 / n) ~ 4%.
    assert abs(a.var() / exact_var - 1) < 0.15


def test_num_particles_averages_the_loss(trained_vae, mnist_bin):
    vae, x = trained_vae, mnist_bin[1][:20]
    one = losses(estimators.get("elbo"), vae, x, 400)
    many = losses(estimators.get("elbo", num_particles=10), vae, x, 400)
    assert abs(one.mean() - many.mean()) < 4 * math.sqrt(one.var() / 400 + many.var() / 400)
    # Averaging 10 independent particles divides the variance by 10.
    assert 0.06 < many.var() / one.var() < 0.15


@pytest.mark.parametrize("name", ["elbo", "elbo-kl"])
def test_svi_step_with_particles_is_finite(make_vae, mnist_bin, name):
    vae = make_vae()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), estimators.get(name, num_particles=4))
    assert math.isfinite(svi.step(mnist_bin[0][:16]))


# ---- log-weights ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 6])
def test_log_weights_shape_and_definition(make_vae, mnist_bin, k):
    vae = make_vae().double()
    x = mnist_bin[0][:5].double()
    draws = []

    def guide(x):
        z = vae.guide(x)
        draws.append(z)
        return z

    log_w = log_weights(vae.model, guide, x, num_particles=k)
    assert log_w.shape == (k, 5)
    first, z = draws  # one unvectorized run finds the plates, then the vectorized one
    assert first.shape == (5, vae.latent_dim) and z.shape == (k, 5, vae.latent_dim)
    assert torch.allclose(log_w, hand_log_weight(vae, x, z), rtol=1e-10)


@pytest.mark.parametrize("k", [1, 7])
def test_log_weights_mean_is_minus_trace_elbo_loss_per_datapoint(make_vae, mnist_bin, k):
    """Same seed, same draws: the vectorized Trace_ELBO loss is -sum_n mean_k log w_kn."""
    vae = make_vae().double()
    x = mnist_bin[0][:12].double()
    torch.manual_seed(1)
    with torch.no_grad():
        log_w = log_weights(vae.model, vae.guide, x, num_particles=k)
    torch.manual_seed(1)
    loss = estimators.get("elbo", num_particles=k).loss(vae.model, vae.guide, x)
    assert log_w.mean().item() == pytest.approx(-loss / 12, rel=1e-12)


def test_log_weights_mean_matches_trace_elbo_in_expectation(trained_vae, mnist_bin):
    vae, x = trained_vae, mnist_bin[1][:20]
    n = 1000
    plain = losses(Trace_ELBO(), vae, x, n) / 20
    with torch.no_grad():
        log_w = log_weights(vae.model, vae.guide, x, num_particles=n).double()
    per_particle = log_w.mean(1)  # independent across particles
    se = math.sqrt(plain.var() / n + per_particle.var() / n)
    assert abs(per_particle.mean() + plain.mean()) < 4 * se


def test_log_weights_refuse_scaled_sites(make_vae, mnist_bin):
    vae = make_vae()
    x = mnist_bin[0][:4]
    with pytest.raises(ValueError, match=r"carries a scale \(0.5\); log p\(x\) needs unscaled"):
        log_weights(poutine.scale(vae.model, scale=0.5), vae.guide, x)
    with pytest.raises(ValueError, match=r"carries a scale \(3.0\)"):
        log_weights(vae.model, poutine.scale(vae.guide, scale=3.0), x)


@pytest.mark.parametrize("k", [0, -2, 1.0, True])
def test_log_weights_bad_num_particles(make_vae, mnist_bin, k):
    vae = make_vae()
    with pytest.raises(ValueError, match="num_particles must be a positive integer"):
        log_weights(vae.model, vae.guide, mnist_bin[0][:2], num_particles=k)


def test_log_weights_sum_inner_plates_and_refuse_batch_dims_without_a_plate():
    def program(x):
        with pyro.plate("data", x.shape[0], dim=-3), pyro.plate("inner", 5, dim=-1):
            pyro.sample("z", pyro.distributions.Normal(0.0, 1.0))

    log_w = log_weights(program, program, torch.zeros(3), num_particles=4)
    assert log_w.shape == (4, 3) and torch.equal(log_w, torch.zeros(4, 3))  # q = p: every weight is 1

    def undeclared(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", pyro.distributions.Normal(torch.zeros(2, 1, x.shape[0]), 1.0))

    with pyro.validation_enabled(False), pytest.raises(ValueError, match="more batch dims than the plates"):
        log_weights(undeclared, undeclared, torch.zeros(3), num_particles=4, max_plate_nesting=1)
