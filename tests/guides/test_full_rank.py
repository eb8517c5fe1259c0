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
