"""Gradient estimators against ground truth: analytic ELBO gradients of the linear-Gaussian
model, exactly zero path gradients at the exact posterior, unbiasedness of DReG, the bias of
STL on the IWAE bound, and the variance orderings the estimators claim."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI
from torch import nn

import zoo
from zoo import estimators
from zoo.evaluation.gradients import gradient_stats

PATH_ESTIMATORS = [("elbo-stl", {}), ("iwae-dreg", {}), ("iwae-stl", {}),
                   ("miwae", dict(num_groups=2, gradient="dreg")),
                   ("ciwae", dict(gradient="stl"))]


@pytest.fixture
def lg():
    return zoo.LinearGaussian(data_dim=5, latent_dim=2, noise_scale=0.7, seed=1).double()


@pytest.fixture
def x(lg):
    return lg.sample_data(3, seed=2)


def analytic_elbo(lg, x):
    """sum_n ELBO(x_n) in closed form: q = N(m, S) with m = A x + c, S = L L^T, and
    E_q log p(x|z) = -D/2 log 2 pi s^2 - (|x - W m - b|^2 + tr W S W^T) / 2 s^2,
    E_q log p(z) = -d/2 log 2 pi - (|m|^2 + tr S) / 2,   H[q] = d/2 log 2 pi e + log |L|."""
    m, L = x @ lg.A.T + lg.c, lg.scale_tril()
    S, s2, D, d = L @ L.T, lg.noise_scale**2, lg.data_dim, lg.latent_dim
    r = x - m @ lg.W.T - lg.b
    log_lik = -0.5 * D * math.log(2 * math.pi * s2) - ((r**2).sum(-1) + torch.trace(lg.W @ S @ lg.W.T)) / (2 * s2)
    log_prior = -0.5 * d * math.log(2 * math.pi) - 0.5 * ((m**2).sum(-1) + torch.trace(S))
    entropy = 0.5 * d * math.log(2 * math.pi * math.e) + L.diagonal().log().sum()
    return (log_lik + log_prior + entropy).sum()


def z_scores(stats, reference_mean, reference_var=None):
    """Per-component (mean - reference) / standard error, components with zero variance dropped."""
    var = stats.var / stats.num_draws + (0 if reference_var is None else reference_var)
    keep = var > 0
    return ((stats.mean - reference_mean)[keep] / var[keep].sqrt()).abs()


# ---- exactly zero at the exact posterior -------------------------------------------------


@pytest.mark.parametrize("name, options", PATH_ESTIMATORS)
def test_path_gradients_vanish_at_the_exact_posterior(name, options, lg, x):
    """log w = log p(x) for every z: the path terms are exactly zero on every draw [Roeder et al.]."""
    lg.set_exact_posterior()
    stats = gradient_stats(lg.model, lg.guide, x, estimator=name, num_draws=5, seed=0,
                           estimator_options=dict(num_particles=4, **options))
    assert stats["guide"].mean.abs().max() < 1e-10 and stats["guide"].var.max() < 1e-20


@pytest.mark.parametrize("name", ["elbo", "iwae"])
def test_ordinary_gradients_do_not_vanish_at_the_exact_posterior(name, lg, x):
    lg.set_exact_posterior()
    stats = gradient_stats(lg.model, lg.guide, x, estimator=name, num_draws=5, seed=0,
                           estimator_options=dict(num_particles=4))
    assert stats["guide"].var.max() > 1e-3


# ---- unbiasedness -----------------------------------------------------------------------


SLOW = pytest.mark.slow  # thousands of draws each: the K = 3 cases run in the slow tier


@pytest.mark.parametrize("name, k", [("elbo", 1), ("elbo-stl", 1), pytest.param("elbo-stl", 3, marks=SLOW),
                                     ("score", 1), pytest.param("score", 3, marks=SLOW), ("iwae-dreg", 1)])
def test_elbo_gradients_match_the_analytic_gradient(name, k, lg, x):
    exact = torch.autograd.grad(-analytic_elbo(lg, x), [lg.A, lg.c, lg.L_raw])
    exact = torch.cat([g.reshape(-1) for g in exact])
    stats = gradient_stats(lg.model, lg.guide, x, estimator=name, num_draws=1000, seed=1,
                           estimator_options=dict(num_particles=k))["guide"]
    assert stats.names == ["A", "c", "L_raw"]
    assert z_scores(stats, exact).max() < 4.5  # 15 components: P(max |N(0,1)| > 4.5) < 1e-4


@pytest.mark.slow
def test_dreg_is_unbiased_for_the_iwae_gradient_and_stl_is_not(lg, x):
    """Tucker et al. 2018: DReG has the IWAE gradient's expectation; STL on L_K does not."""
    n, k = 1000, 10
    iwae = gradient_stats(lg.model, lg.guide, x, estimator="iwae", num_draws=n, seed=1,
                          estimator_options=dict(num_particles=k))["guide"]
    dreg = gradient_stats(lg.model, lg.guide, x, estimator="iwae-dreg", num_draws=n, seed=2,
                          estimator_options=dict(num_particles=k))["guide"]
    stl = gradient_stats(lg.model, lg.guide, x, estimator="iwae-stl", num_draws=n, seed=2,
                         estimator_options=dict(num_particles=k))["guide"]
    assert z_scores(dreg, iwae.mean, iwae.var / n).max() < 4.5
    assert z_scores(stl, iwae.mean, iwae.var / n).max() > 20
    # ... and both path estimators have a smaller variance than the ordinary one
    assert dreg.var.mean() < iwae.var.mean() / 3 and stl.var.mean() < iwae.var.mean()


def test_model_gradients_are_the_ordinary_ones(lg, x):
    """stl and dreg change only the guide's gradient: same draws, same model gradient."""
    grads = []
    for name in ("iwae", "iwae-dreg", "iwae-stl"):
        torch.manual_seed(0)
        loss = estimators.get(name, num_particles=6).differentiable_loss(lg.model, lg.guide, x)
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, [lg.W, lg.b])]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-10) and torch.allclose(grads[0], grads[2], rtol=1e-10)


# ---- variances and signal-to-noise ratios ---------------------------------------------------


def test_score_function_has_a_larger_variance_than_reparameterization(lg, x):
    score = gradient_stats(lg.model, lg.guide, x, estimator="score", num_draws=400, seed=0,
                           estimator_options=dict(num_particles=2))["guide"]
    reparam = gradient_stats(lg.model, lg.guide, x, estimator="elbo", num_draws=400, seed=0,
                             estimator_options=dict(num_particles=2))["guide"]
    assert score.var.mean() > 2 * reparam.var.mean()


def test_baseline_reduces_the_score_function_variance(lg, x):
    loo = gradient_stats(lg.model, lg.guide, x, estimator="score", num_draws=400, seed=0,
                         estimator_options=dict(num_particles=4))["guide"]
    none = gradient_stats(lg.model, lg.guide, x, estimator="score", num_draws=400, seed=0,
                          estimator_options=dict(num_particles=4, baseline="none"))["guide"]
    assert loo.var.mean() < none.var.mean() / 2


@pytest.mark.slow
def test_iwae_guide_snr_falls_with_k_and_dreg_does_not(lg):
    """Rainforth et al. 2018, Theorem 1: the IWAE guide gradient's SNR is O(1/sqrt(K));
    DReG's is not [Tucker et al. 2018]."""
    x = lg.sample_data(1, seed=2)
    snr = {(name, k): gradient_stats(lg.model, lg.guide, x, estimator=name, num_draws=300, seed=0,
                                     estimator_options=dict(num_particles=k))["guide"].snr
           for name in ("iwae", "iwae-dreg") for k in (1, 100)}
    assert snr["iwae", 100] < snr["iwae", 1] / 2
    assert snr["iwae-dreg", 100] > 4 * snr["iwae", 100]


# ---- a guide with two dependent latent sites -----------------------------------------------


class Chain(nn.Module):
    r"""z1 ~ N(0, 1), z2 | z1 ~ N(z1, 1), x | z2 ~ N(z2, s^2); guide q(z1|x) q(z2|z1, x), a
    family holding the exact posterior: p(z1|x) = N(x / (2 + s^2), 1 - 1 / (2 + s^2)),
    p(z2|z1, x) = N((z1 + x / s^2) / (1 + 1 / s^2), 1 / (1 + 1 / s^2))."""

    def __init__(self, s=0.5):
        super().__init__()
        self.s = s
        self.q = nn.Parameter(torch.tensor([0.2, 0.1, 0.0, 0.3, 0.5, 0.1, 0.0], dtype=torch.float64))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z1 = pyro.sample("z1", dist.Normal(torch.zeros_like(x), 1.0))
            z2 = pyro.sample("z2", dist.Normal(z1, 1.0))
            pyro.sample("x", dist.Normal(z2, self.s), obs=x)

    def guide(self, x):
        q = pyro.param("chain_q", self.q)
        a1, c1, log_s1, a2, b2, c2, log_s2 = q
        with pyro.plate("data", x.shape[0]):
            z1 = pyro.sample("z1", dist.Normal(a1 * x + c1, log_s1.exp()))
            pyro.sample("z2", dist.Normal(a2 * x + b2 * z1 + c2, log_s2.exp()))

    @torch.no_grad()
    def set_exact_posterior(self):
        s2 = self.s**2
        prec = 1 + 1 / s2
        self.q.copy_(torch.tensor([1 / (2 + s2), 0.0, 0.5 * math.log(1 - 1 / (2 + s2)),
                                   1 / (s2 * prec), 1 / prec, 0.0, 0.5 * math.log(1 / prec)], dtype=torch.float64))


@pytest.mark.parametrize("name", ["iwae-dreg", "elbo-stl"])
def test_path_gradients_through_a_dependent_guide_vanish_at_the_exact_posterior(name):
    chain, x = Chain(), torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    chain.set_exact_posterior()
    log_px = dist.Normal(torch.zeros((), dtype=torch.float64), math.sqrt(2 + chain.s**2)).log_prob(x)
    est = estimators.get(name, num_particles=5)
    assert torch.allclose(est.per_datapoint(chain.model, chain.guide, x), log_px, rtol=1e-10)
    stats = gradient_stats(chain.model, chain.guide, x, estimator=est, num_draws=4, seed=0)["guide"]
    assert stats.mean.abs().max() < 1e-10


@pytest.mark.slow
def test_dreg_through_a_dependent_guide_is_unbiased():
    chain, x = Chain(), torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    n = 1000
    iwae = gradient_stats(chain.model, chain.guide, x, estimator="iwae", num_draws=n, seed=1,
                          estimator_options=dict(num_particles=5))["guide"]
    dreg = gradient_stats(chain.model, chain.guide, x, estimator="iwae-dreg", num_draws=n, seed=2,
                          estimator_options=dict(num_particles=5))["guide"]
    assert z_scores(dreg, iwae.mean, iwae.var / n).max() < 4.5


# ---- discrete latents: only the score function applies ---------------------------------------


class Coin(nn.Module):
    """z ~ Bernoulli(1/2), x | z ~ N(2 z - 1, 1); guide q(z = 1 | x) = sigmoid(a x + c)."""

    def __init__(self):
        super().__init__()
        self.q = nn.Parameter(torch.tensor([0.3, -0.2], dtype=torch.float64))

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Bernoulli(torch.full_like(x, 0.5)))
            pyro.sample("x", dist.Normal(2 * z - 1, 1.0), obs=x)

    def guide(self, x):
        a, c = pyro.param("coin_q", self.q)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Bernoulli(logits=a * x + c))

    def exact_elbo(self, x):
        """sum_n sum_z q(z|x) [log p(x, z) - log q(z|x)], by enumeration."""
        a, c = self.q
        total = 0.0
        for z in (0.0, 1.0):
            q = dist.Bernoulli(logits=a * x + c)
            zt = torch.full_like(x, z)
            log_p = math.log(0.5) + dist.Normal(2 * zt - 1, 1.0).log_prob(x)
            total = total + (q.log_prob(zt).exp() * (log_p - q.log_prob(zt))).sum()
        return total


def test_score_function_is_unbiased_on_a_discrete_latent():
    coin, x = Coin(), torch.tensor([0.5, -1.0, 1.5, 0.1], dtype=torch.float64)
    exact = torch.autograd.grad(-coin.exact_elbo(x), coin.q)[0]
    stats = gradient_stats(coin.model, coin.guide, x, estimator="score", num_draws=1500, seed=0,
                           estimator_options=dict(num_particles=2))["guide"]
    assert z_scores(stats, exact).max() < 4


@pytest.mark.parametrize("name", ["iwae", "iwae-dreg", "elbo-stl"])
def test_reparameterized_estimators_refuse_discrete_latents(name):
    coin = Coin()
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"guide site 'z' \(Bernoulli\) has no reparameterized sampler; use 'score', "
                                         r"'vimco' or 'rws'"):
        estimators.get(name, num_particles=2).differentiable_loss(coin.model, coin.guide, x)


# ---- baselines ----------------------------------------------------------------------------


def test_learned_baseline_is_trained_by_svi(lg, x):
    net = nn.Linear(5, 1).double()
    before = net.weight.detach().clone()
    est = estimators.get("score", num_particles=2, baseline="learned", baseline_net=net)
    svi = SVI(lg.model, lg.guide, pyro.optim.Adam({"lr": 0.05}), est)
    for _ in range(5):
        assert math.isfinite(svi.step(x))
    assert not torch.equal(before, net.weight)


@pytest.mark.parametrize("options, message", [
    (dict(num_particles=1, baseline="leave-one-out"), "needs num_particles >= 2"),
    (dict(baseline="learned"), "baseline='learned' needs a baseline_net"),
    (dict(baseline="nope"), "unknown baseline 'nope'; choose from average, leave-one-out, learned, none"),
    (dict(decay=1.0), r"decay must lie in \(0, 1\)"),
])
def test_bad_baselines(options, message):
    with pytest.raises(ValueError, match=message):
        estimators.get("score", **options)


# ---- with the zoo's VAEs under SVI -----------------------------------------------------------


ALL = ["elbo", "elbo-kl", "elbo-stl", "score", "iwae", "iwae-dreg", "iwae-stl", "renyi", "miwae", "ciwae"]


@pytest.mark.parametrize("guide", ["diagonal", "full-rank"])
@pytest.mark.parametrize("name", ALL)
def test_svi_step_is_finite_for_every_estimator(make_vae, mnist_bin, name, guide):
    vae = make_vae(guide=guide)
    est = estimators.get(name, num_particles=3)
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), est)
    assert math.isfinite(svi.step(mnist_bin[0][:16]))
    assert all(torch.isfinite(p).all() for p in vae.parameters())


def test_path_gradients_need_a_guide_that_scores_any_value(make_vae, mnist_bin):
    vae = make_vae(guide="planar:2")
    with pytest.raises(ValueError, match="needs log q\\(z\\|x\\) at a detached copy of z"):
        estimators.get("iwae-dreg", num_particles=2).differentiable_loss(vae.model, vae.guide, mnist_bin[0][:4])


def test_iaf_guides_support_dreg(make_vae, mnist_bin):
    """IAF has an inverse, so it can score a detached z; DReG's bound equals IWAE's."""
    vae = make_vae(guide="iaf:1")
    x = mnist_bin[0][:4]
    torch.manual_seed(0)
    dreg = estimators.get("iwae-dreg", num_particles=3).differentiable_loss(vae.model, vae.guide, x)
    torch.manual_seed(0)
    iwae = estimators.get("iwae", num_particles=3).loss(vae.model, vae.guide, x)
    assert dreg.item() == pytest.approx(iwae, rel=1e-4)


def test_svi_with_dreg_fits_the_linear_gaussian_guide(lg):
    """Training only the guide with iwae-dreg closes most of the gap L_K - log p(x)."""
    x = lg.sample_data(64, seed=3)
    iwae = estimators.get("iwae", num_particles=5)
    gap = lambda: (lg.log_marginal(x).sum() + iwae.loss(lg.model, lg.guide, x)).item()
    torch.manual_seed(0)
    before = gap()
    for p in (lg.W, lg.b):
        p.requires_grad_(False)
    svi = SVI(lg.model, lg.guide, pyro.optim.Adam({"lr": 0.05}), estimators.get("iwae-dreg", num_particles=5))
    for _ in range(300):
        svi.step(x)
    assert gap() < 0.05 * before
