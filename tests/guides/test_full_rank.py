"""The full-rank (Cholesky) Gaussian guide and its closed-form KLs, against ground truth."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.distributions.kl import kl_divergence
from pyro.infer import SVI, Trace_ELBO

import zoo
from guides import FullRankGaussian, build_guide
from zoo.distributions import StandardNormal


@pytest.fixture
def head():
    torch.manual_seed(0)
    head = FullRankGaussian(in_features=6, latent_dim=4).double()
    with torch.no_grad():
        head.linear.weight.mul_(3)  # a far-from-diagonal covariance
    return head


def test_registered_and_parameter_count():
    assert "full-rank" in zoo.list_guides()
    head = build_guide("full-rank", 6, 4)
    assert head.linear.out_features == 4 + 4 + 6  # loc, diagonal, 4*3/2 below it


@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)])
def test_log_prob_equals_the_hand_computed_gaussian_density(head, batch_shape):
    q = head(torch.randn(batch_shape + (6,), dtype=torch.float64))
    z = q.rsample((3,))
    L, mu = q.scale_tril, q.loc
    assert torch.equal(L, L.tril()) and (L.diagonal(dim1=-2, dim2=-1) > 0).all()
    white = torch.linalg.solve_triangular(L, (z - mu).unsqueeze(-1), upper=False).squeeze(-1)
    expected = -0.5 * white.pow(2).sum(-1) - L.diagonal(dim1=-2, dim2=-1).log().sum(-1) - 2 * math.log(2 * math.pi)
    assert torch.allclose(q.log_prob(z), expected, rtol=1e-10)


def test_samples_have_the_covariance_l_lt(head):
    q = head(torch.randn(1, 6, dtype=torch.float64))
    z = q.rsample((200000,))[:, 0]
    cov = torch.cov(z.T)
    target = (q.scale_tril @ q.scale_tril.mT)[0]
    assert torch.allclose(cov, target, atol=0.05 * target.abs().max().item())


def test_diagonal_stays_positive_for_very_negative_pre_activations():
    head = FullRankGaussian(3, 2)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(-50.0)
    diag = head(torch.randn(4, 3)).scale_tril.diagonal(dim1=-2, dim2=-1)
    assert (diag > 0).all()


def test_kl_to_the_prior_matches_torch_mvn_kl_and_monte_carlo(head):
    q = head(torch.randn(5, 6, dtype=torch.float64))
    eye = torch.eye(4, dtype=torch.float64)
    reference = kl_divergence(q, dist.MultivariateNormal(torch.zeros(4, dtype=torch.float64), scale_tril=eye))
    kl = kl_divergence(q, StandardNormal(4, dtype=torch.float64))
    assert torch.allclose(kl, reference, rtol=1e-10)
    z = q.sample((40000,))
    terms = q.log_prob(z) - StandardNormal(4, dtype=torch.float64).log_prob(z)
    se = terms.std(0) / math.sqrt(terms.shape[0])
    assert ((terms.mean(0) - kl).abs() < 4 * se).all()


def test_kl_to_a_diagonal_normal_prior_which_pyro_lacks(head):
    q = head(torch.randn(5, 6, dtype=torch.float64))
    m, s = torch.randn(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64) + 0.2
    reference = kl_divergence(q, dist.MultivariateNormal(m, scale_tril=torch.diag(s)))
    assert torch.allclose(kl_divergence(q, dist.Normal(m, s).to_event(1)), reference, rtol=1e-10)
    with pytest.raises(NotImplementedError, match="MultivariateNormal"):
        kl_divergence(q, dist.Laplace(m, s).to_event(1))


def test_analytic_kl_elbo_works_and_agrees_with_monte_carlo_elbo():
    torch.manual_seed(1)
    vae = zoo.build("vae", latent_dim=3, hidden=(16,), guide="full-rank")
    x = zoo.data.load("mnist5k", binarize="static").train[:20]
    kl_elbo = zoo.estimators.get("elbo-kl", num_particles=2000)
    mc_elbo = zoo.estimators.get("elbo", num_particles=2000)
    a, b = kl_elbo.loss(vae.model, vae.guide, x), mc_elbo.loss(vae.model, vae.guide, x)
    assert math.isfinite(a) and abs(a - b) / abs(b) < 2e-3
    assert torch.allclose(vae.kl(x), kl_divergence(vae.encode(x), vae.prior()))


def test_full_rank_vae_trains_and_handles_particles():
    torch.manual_seed(0)
    vae = zoo.build("vae", latent_dim=4, hidden=(32,), guide="full-rank")
    x = zoo.data.load("mnist5k", binarize="static").train[:500]
    w = zoo.estimators.log_weights(vae.model, vae.guide, x[:7], num_particles=5)
    assert w.shape == (5, 7) and torch.isfinite(w).all()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 3e-3}), Trace_ELBO())
    losses = [svi.step(x[(i % 10) * 50 : (i % 10 + 1) * 50]) for i in range(200)]
    assert all(math.isfinite(v) for v in losses)
    # from ~545 nats/image at initialization; 60 nats is far beyond minibatch noise (~5 nats)
    assert sum(losses[:20]) / 20 / 50 - sum(losses[-20:]) / 20 / 50 > 60


# ---- the parametrization: small correlations at the start, the exact posterior at the end ------


def test_off_diagonal_entries_enter_scaled():
    torch.manual_seed(0)
    plain, scaled = build_guide("full-rank", 6, 4), build_guide("full-rank", 6, 4)
    plain.offdiag_scale = 1.0
    scaled.load_state_dict(plain.state_dict())
    h = torch.randn(3, 6)
    a, b = plain(h).scale_tril, scaled(h).scale_tril
    assert torch.allclose(b.diagonal(dim1=-2, dim2=-1), a.diagonal(dim1=-2, dim2=-1))
    assert torch.allclose(b.tril(-1), 0.1 * a.tril(-1)) and b.tril(-1).abs().max() > 0


def test_offdiag_scale_must_be_positive():
    with pytest.raises(ValueError, match="offdiag_scale"):
        FullRankGaussian(6, 4, offdiag_scale=0.0)


def _fit_head_on_linear_gaussian(guide_name, steps=1500):
    """A guide head on x itself (features = x), trained by the STL ELBO on a fixed
    linear-Gaussian model; returns the head's covariance (it should not depend on x at the
    optimum) and the exact posterior covariance."""
    torch.manual_seed(0)
    lg = zoo.LinearGaussian(data_dim=6, latent_dim=3, noise_scale=1.0, seed=3).double()
    with torch.no_grad():  # W with correlated columns, so that the posterior is correlated
        mix = torch.tensor([[1.0, 0.9, 0.8], [0.0, 0.5, 0.3], [0.0, 0.0, 0.4]], dtype=torch.float64)
        lg.W.copy_(torch.randn(6, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) @ mix)
    for p in lg.parameters():
        p.requires_grad_(False)
    x = lg.sample_data(256, seed=4)
    head = build_guide(guide_name, 6, 3).double()

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", head(x))

    loss_fn = zoo.estimators.get("elbo-stl", num_particles=8)
    opt = torch.optim.Adam(head.parameters(), lr=0.02)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.02 if i > 0.7 * steps else 1.0)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn.differentiable_loss(lg.model, guide, x).backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        q = head(x)
        cov = q.covariance_matrix if guide_name == "full-rank" else torch.diag_embed(q.base_dist.scale**2)
        exact = lg.exact_posterior(x)
        return cov, exact.covariance_matrix[0], q.mean, exact.loc


@pytest.mark.slow
def test_trained_full_rank_guide_reaches_the_exact_posterior_covariance():
    """p(z|x) = N(mu(x), Sigma) with Sigma = (I + W^T W / s^2)^-1 correlated: the full-rank head
    recovers Sigma (and mu(x)); the best diagonal head cannot (its error is Sigma's off-diagonal)."""
    cov, exact, mean, exact_mean = _fit_head_on_linear_gaussian("full-rank")
    off = exact - torch.diag(exact.diagonal())
    assert off.norm() > 0.3 * exact.norm()  # a posterior the diagonal family cannot hold
    err = (cov - exact).norm(dim=(-2, -1)) / exact.norm()
    assert err.max() < 0.03
    assert ((mean - exact_mean).norm(dim=-1) / exact_mean.norm(dim=-1)).median() < 0.03
    diag_cov, *_ = _fit_head_on_linear_gaussian("diagonal", steps=600)
    assert ((diag_cov - exact).norm(dim=(-2, -1)) / exact.norm()).min() > 0.5 * off.norm() / exact.norm()
