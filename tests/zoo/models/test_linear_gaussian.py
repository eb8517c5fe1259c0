"""The linear-Gaussian model against closed forms, and the bounds ordering it certifies."""
import math

import pytest
import torch
from scipy.stats import multivariate_normal

from zoo.estimators import log_weights
from zoo.estimators.bounds import elbo_bound, iwae_bound
from zoo.models.linear_gaussian import LinearGaussian


@pytest.fixture
def lg():
    return LinearGaussian(data_dim=5, latent_dim=2, noise_scale=0.7, seed=1).double()


@pytest.fixture
def x(lg):
    return lg.sample_data(6, seed=2)


def test_log_marginal_equals_scipy(lg, x):
    cov = (lg.W @ lg.W.T + 0.49 * torch.eye(5, dtype=torch.float64)).detach().numpy()
    expected = multivariate_normal(lg.b.detach().numpy(), cov).logpdf(x.numpy())
    assert torch.allclose(lg.log_marginal(x).detach(), torch.as_tensor(expected), rtol=1e-10)


def test_exact_posterior_satisfies_bayes_rule_at_any_z(lg, x):
    """log p(x) = log p(x|z) + log p(z) - log p(z|x) for every z: checks marginal and posterior together."""
    z = 3 * torch.randn(4, 6, 2, dtype=torch.float64)
    lik = torch.distributions.Normal(z @ lg.W.T + lg.b, 0.7).log_prob(x).sum(-1)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    post = lg.exact_posterior(x).log_prob(z)
    assert torch.allclose((lik + prior - post).detach(), lg.log_marginal(x).detach().expand(4, 6), rtol=1e-10)


def test_guide_can_be_set_to_the_exact_posterior(lg, x):
    lg.set_exact_posterior()
    q, p = lg.posterior_guess(x), lg.exact_posterior(x)
    assert torch.allclose(q.loc, p.loc, atol=1e-10)
    assert torch.allclose(q.covariance_matrix, p.covariance_matrix, atol=1e-10)


def test_with_the_exact_posterior_every_bound_is_log_px_with_zero_variance(lg, x):
    lg.set_exact_posterior()
    log_w = log_weights(lg.model, lg.guide, x, num_particles=50).T  # (N, K)
    exact = lg.log_marginal(x).detach()
    assert torch.allclose(log_w.detach(), exact.unsqueeze(-1).expand_as(log_w), atol=1e-9)
    assert torch.allclose(elbo_bound(log_w).detach(), exact, atol=1e-9)
    assert torch.allclose(iwae_bound(log_w).detach(), exact, atol=1e-9)


def test_bounds_are_ordered_and_tend_to_log_px_for_a_mismatched_guide(lg, x):
    """E[ELBO] <= E[L_5] <= E[L_50] <= log p(x), each gap larger than 4 standard errors,
    and the gap to log p(x) shrinks with K."""
    draws = 400
    exact = lg.log_marginal(x).detach()
    with torch.no_grad():
        log_w = log_weights(lg.model, lg.guide, x.repeat(draws, 1), num_particles=50).T.reshape(draws, 6, 50)
    means, ses = [], []
    for bound in (elbo_bound(log_w[..., :1]), iwae_bound(log_w[..., :5]), iwae_bound(log_w)):
        means.append(bound.mean(0))
        ses.append(bound.std(0) / math.sqrt(draws))
    for lo, hi, se_lo, se_hi in zip(means, means[1:] + [exact], ses, ses[1:] + [torch.zeros(6)]):
        assert (hi - lo > -4 * (se_lo + se_hi)).all()
    gaps = [(exact - m).mean().item() for m in means]
    assert gaps[0] > gaps[1] > gaps[2] > 0, gaps


def test_argument_checks():
    with pytest.raises(ValueError, match="latent_dim"):
        LinearGaussian(5, 0)
    with pytest.raises(ValueError, match="noise_scale"):
        LinearGaussian(5, 2, noise_scale=0.0)
