"""The Gaussian toy of Rainforth et al. 2018 against its closed forms."""
import math

import pytest
import torch

import zoo
from zoo import estimators


@pytest.fixture
def toy():
    return zoo.GaussianToy(dim=5, perturbation=0.01, seed=0).double()


def test_parameters_start_near_the_best_guide_in_the_family(toy):
    d = toy.dim
    assert torch.allclose(toy.A, torch.eye(d, dtype=toy.A.dtype) / 2, atol=0.05)
    assert torch.allclose(toy.b, toy.mu / 2, atol=0.05)


def test_bounds_approach_the_exact_log_marginal_from_below(toy):
    """log p(x) = log N(x; mu, 2 I); the ELBO sits below it by KL(q || p(z|x)), which has the closed
    form for q = N(Ax + b, 2/3 I), p(z|x) = N((x + mu)/2, I/2); IWAE with many particles closes it."""
    x = toy.sample_data(4, seed=1)
    log_px = toy.log_marginal(x)
    with torch.no_grad():
        m_q, m_p = x @ toy.A.T + toy.b, (x + toy.mu) / 2
        d, vq, vp = toy.dim, 2 / 3, 1 / 2
        kl = 0.5 * (d * vq / vp + ((m_q - m_p) ** 2).sum(-1) / vp - d + d * math.log(vp / vq))
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = estimators.log_weights(toy.model, toy.guide, x, num_particles=20000)  # (K, N)
    assert torch.allclose(log_w.mean(0), log_px - kl, atol=0.03)
    iwae = log_w.logsumexp(0) - math.log(log_w.shape[0])
    assert ((log_px - iwae).abs() < 0.01).all()


def test_sample_data_has_the_marginal_moments(toy):
    x = toy.sample_data(20000, seed=2)
    assert torch.allclose(x.mean(0), toy.mu.detach(), atol=0.05)
    assert torch.allclose(x.var(0), torch.full((toy.dim,), 2.0, dtype=x.dtype), rtol=0.05)
