"""The log-weight estimators' values: bounds against the exact log p(x) of the linear-Gaussian
model, the identities between them, data scaling, and their errors."""
import math

import pytest
import torch
from pyro import poutine
from pyro.infer import RenyiELBO

import zoo
from zoo import estimators
from zoo.estimators import log_weights
from zoo.estimators.bounds import iwae_bound

BOUNDS = ["elbo-stl", "iwae", "iwae-dreg", "iwae-stl", "renyi", "miwae", "ciwae", "score"]


@pytest.fixture
def lg():
    return zoo.LinearGaussian(data_dim=5, latent_dim=2, noise_scale=0.7, seed=1).double()


@pytest.fixture
def x(lg):
    return lg.sample_data(4, seed=2)


def per_datapoint(name, lg, x, draws, **options):
    est = estimators.get(name, **options)
    return torch.stack([est.per_datapoint(lg.model, lg.guide, x) for _ in range(draws)])


# ---- values -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", BOUNDS)
def test_loss_is_minus_the_summed_per_datapoint_bound(name, lg, x):
    """Same seed, same draws: loss, differentiable_loss and per_datapoint agree."""
    est = estimators.get(name, num_particles=4)
    values = []
    for f in (est.loss, est.differentiable_loss, est.per_datapoint):
        torch.manual_seed(3)
        values.append(float(torch.as_tensor(f(lg.model, lg.guide, x), dtype=torch.float64).detach().sum()))
    assert values[0] == pytest.approx(values[1], rel=1e-12)
    assert values[0] == pytest.approx(-values[2], rel=1e-12)


@pytest.mark.parametrize("name", ["iwae", "iwae-dreg", "iwae-stl"])
def test_iwae_is_the_log_mean_exp_of_the_log_weights(name, lg, x):
    torch.manual_seed(5)
    log_w = log_weights(lg.model, lg.guide, x, num_particles=6)
    torch.manual_seed(5)
    bound = estimators.get(name, num_particles=6).per_datapoint(lg.model, lg.guide, x)
    expected = torch.logsumexp(log_w, 0) - math.log(6)
    assert torch.allclose(bound, expected, rtol=1e-12)


def test_bounds_are_ordered_and_tend_to_log_px(lg, x):
    """E[ELBO] <= E[L_5] <= E[L_50] <= log p(x), each gap beyond 4 standard errors, and the
    gap to log p(x) shrinks with K [Burda et al. 2015, Theorem 1]."""
    n = 300
    log_px = lg.log_marginal(x).detach()
    means, ses = [], []
    for name, k in [("elbo-stl", 1), ("iwae", 5), ("iwae", 50)]:
        b = per_datapoint(name, lg, x, n, num_particles=k).mean(1)  # the batch mean per draw
        means.append(b.mean().item()), ses.append(b.std().item() / math.sqrt(n))
    means.append(log_px.mean().item()), ses.append(0.0)
    for (m1, s1), (m2, s2) in zip(zip(means, ses), zip(means[1:], ses[1:])):
        assert m1 < m2 + 4 * math.hypot(s1, s2)
    gaps = [means[-1] - m for m in means[:-1]]
    assert gaps[0] > gaps[1] > gaps[2] > 0


def test_renyi_interpolates_between_iwae_and_elbo(lg, x):
    """L_alpha decreases in alpha [Li & Turner 2016, Thm 1]: L_0 = L_K >= L_0.5 >= L_1 = ELBO."""
    n = 300
    l0 = per_datapoint("renyi", lg, x, n, num_particles=10, alpha=0.0).mean()
    lhalf = per_datapoint("renyi", lg, x, n, num_particles=10, alpha=0.5).mean()
    elbo = per_datapoint("elbo-stl", lg, x, n, num_particles=10).mean()
    assert l0 > lhalf > elbo


@pytest.mark.parametrize("name, options, same_as", [
    ("renyi", dict(alpha=0.0), ("iwae", {})),
    ("miwae", dict(num_groups=1), ("iwae", {})),
    ("ciwae", dict(beta=0.0), ("iwae", {})),
    ("ciwae", dict(beta=1.0), ("elbo-stl", {})),
])
def test_special_cases_are_the_same_bound(name, options, same_as, lg, x):
    torch.manual_seed(7)
    a = estimators.get(name, num_particles=8, **options).per_datapoint(lg.model, lg.guide, x)
    torch.manual_seed(7)
    b = estimators.get(same_as[0], num_particles=8).per_datapoint(lg.model, lg.guide, x)
    assert torch.allclose(a, b, rtol=1e-12)


def test_miwae_with_groups_of_one_is_the_elbo(lg, x):
    torch.manual_seed(7)
    a = estimators.get("miwae", num_groups=8, num_particles=1).per_datapoint(lg.model, lg.guide, x)
    torch.manual_seed(7)
    b = estimators.get("elbo-stl", num_particles=8).per_datapoint(lg.model, lg.guide, x)
    assert torch.allclose(a, b, rtol=1e-12)


def test_ciwae_is_the_convex_combination(lg, x):
    torch.manual_seed(2)
    log_w = log_weights(lg.model, lg.guide, x, num_particles=8)
    torch.manual_seed(2)
    c = estimators.get("ciwae", num_particles=8, beta=0.3).per_datapoint(lg.model, lg.guide, x)
    assert torch.allclose(c, 0.3 * log_w.mean(0) + 0.7 * iwae_bound(log_w.T), rtol=1e-12)


@pytest.mark.parametrize("name", BOUNDS)
def test_every_bound_is_log_px_at_the_exact_posterior(name, lg, x):
    lg.set_exact_posterior()
    b = estimators.get(name, num_particles=5).per_datapoint(lg.model, lg.guide, x)
    assert torch.allclose(b, lg.log_marginal(x).detach(), rtol=1e-10)


# ---- scales -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iwae", "iwae-dreg", "renyi", "miwae", "ciwae"])
def test_data_scale_multiplies_the_bound_not_the_log_densities(name, lg, x):
    """Under poutine.scale(N/B) the loss is N/B times the unscaled loss, gradients too."""
    est = estimators.get(name, num_particles=10)
    scale = 250.0
    torch.manual_seed(0)
    plain = est.differentiable_loss(lg.model, lg.guide, x)
    g_plain = torch.autograd.grad(plain, [lg.A, lg.W])
    torch.manual_seed(0)
    scaled = est.differentiable_loss(poutine.scale(lg.model, scale=scale), poutine.scale(lg.guide, scale=scale), x)
    g_scaled = torch.autograd.grad(scaled, [lg.A, lg.W])
    assert scaled.item() == pytest.approx(scale * plain.item(), rel=1e-12)
    for a, b in zip(g_plain, g_scaled):
        assert torch.allclose(b, scale * a, rtol=1e-10)


def test_pyro_renyi_elbo_scales_inside_the_log_sum_exp(lg, x):
    """What our iwae fixes: Pyro's RenyiELBO(alpha=0) is not N/B times its unscaled value."""
    scale = 250.0
    torch.manual_seed(0)
    renyi = RenyiELBO(alpha=0.0, num_particles=10, vectorize_particles=True, max_plate_nesting=1)
    plain = renyi.loss(lg.model, lg.guide, x)
    torch.manual_seed(0)
    scaled = RenyiELBO(alpha=0.0, num_particles=10, vectorize_particles=True, max_plate_nesting=1).loss(
        poutine.scale(lg.model, scale=scale), poutine.scale(lg.guide, scale=scale), x)
    torch.manual_seed(0)
    ours = estimators.get("iwae", num_particles=10).loss(lg.model, lg.guide, x)
    assert plain == pytest.approx(ours, rel=1e-9)
    assert abs(scaled - scale * plain) > 1e-3 * abs(scale * plain)


def test_a_latent_site_weight_enters_the_log_weights(lg, x):
    """A KL weight beta on the latent site (model and guide) gives
    log w = log p(x|z) + beta (log p(z) - log q(z|x)) inside the log-mean-exp."""
    beta = 0.3

    class Weighted(poutine.messenger.Messenger):
        def _pyro_sample(self, msg):
            if msg["name"] == "z":
                msg["scale"] = beta * msg["scale"]

    torch.manual_seed(4)
    bound = estimators.get("iwae", num_particles=6).per_datapoint(Weighted()(lg.model), Weighted()(lg.guide), x)
    torch.manual_seed(4)
    q = lg.posterior_guess(x)
    z = q.rsample((6,))
    prior = torch.distributions.Normal(torch.zeros(2, dtype=x.dtype), 1.0)
    log_lik = torch.distributions.Normal(z @ lg.W.T + lg.b, lg.noise_scale).log_prob(x).sum(-1)
    log_w = log_lik + beta * (prior.log_prob(z).sum(-1) - q.log_prob(z))
    assert torch.allclose(bound, iwae_bound(log_w.T).detach(), rtol=1e-10)


def test_observed_sites_with_different_scales_are_refused(lg, x):
    def model(x):
        lg.model(x)
        with poutine.scale(scale=2.0):
            import pyro

            with pyro.plate("rows", x.shape[0]):
                pyro.sample("x2", pyro.distributions.Normal(0.0, 1.0), obs=x[:, 0])

    with pytest.raises(ValueError, match="observed sites carry different scales"):
        estimators.get("iwae", num_particles=2).loss(model, lg.guide, x)


# ---- stability --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["iwae", "iwae-dreg", "renyi", "miwae", "ciwae", "elbo-stl", "score"])
@pytest.mark.parametrize("k", [1, 2000])
def test_finite_loss_and_gradients_at_log_weights_near_minus_1e4(name, k):
    """Data far from the model: log w ~ -1e4, where exp underflows; log-sum-exp does not."""
    lg = zoo.LinearGaussian(data_dim=5, latent_dim=2, noise_scale=0.1, seed=1).double()
    x = torch.full((3, 5), 14.0, dtype=torch.float64)
    log_w = log_weights(lg.model, lg.guide, x, num_particles=4)
    assert (log_w < -5e3).all()
    if name in ("renyi",) and k == 1:
        pytest.skip("the Renyi bound with one particle is the ELBO for every alpha; tested with K > 1")
    loss = estimators.get(name, num_particles=k).differentiable_loss(lg.model, lg.guide, x)
    grads = torch.autograd.grad(loss, [lg.A, lg.W, lg.L_raw])
    assert math.isfinite(loss.item()) and all(torch.isfinite(g).all() for g in grads)


# ---- errors -----------------------------------------------------------------------------


def test_renyi_alpha_one_points_to_elbo():
    with pytest.raises(ValueError, match="alpha=1 makes the Renyi bound the ELBO.*use the 'elbo' estimator"):
        estimators.get("renyi", alpha=1)


@pytest.mark.parametrize("alpha", [float("nan"), float("inf"), "0.5", True])
def test_renyi_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        estimators.get("renyi", alpha=alpha)


@pytest.mark.parametrize("beta", [-0.1, 1.5, "0.5"])
def test_ciwae_bad_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\]"):
        estimators.get("ciwae", beta=beta)


def test_miwae_bad_groups():
    with pytest.raises(ValueError, match="num_groups must be a positive integer, got 0"):
        estimators.get("miwae", num_groups=0)


def test_unknown_gradient_lists_the_choices():
    with pytest.raises(ValueError, match="unknown gradient 'dreg' for elbo; choose from reparam, stl"):
        estimators.MonteCarloELBO(2, gradient="dreg")


def test_sites_outside_the_data_plate_are_refused(lg, x):
    import pyro

    def model(x):
        pyro.sample("global", pyro.distributions.Normal(0.0, 1.0))
        lg.model(x)

    def guide(x):
        pyro.sample("global", pyro.distributions.Normal(0.0, 1.0))
        lg.guide(x)

    with pytest.raises(ValueError, match="model site 'global' is outside the data plate 'data': a global latent"):
        estimators.get("iwae", num_particles=2).loss(model, guide, x)


def test_model_latents_missing_from_the_guide_are_refused(lg, x):
    import pyro

    def model(x):
        lg.model(x)
        with pyro.plate("rows", x.shape[0]):
            pyro.sample("extra", pyro.distributions.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="model site 'extra' is latent but the guide does not sample it"):
        estimators.get("iwae", num_particles=2).loss(model, lg.guide, x)
