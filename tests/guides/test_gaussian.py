"""Tests of guides.gaussian: the diagonal Gaussian head against closed forms."""
import math

import pyro.distributions as dist
import pytest
import torch
from pyro.distributions.kl import kl_divergence

from guides import GUIDES, DiagonalGaussian, build_guide


def closed_form_log_density(z, loc, scale):
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def loc_part(head, tensor):
    """The rows of the fused linear layer (or its gradient) that give the location."""
    return tensor[: head.latent_dim]


def scale_part(head, tensor):
    """The rows that give the scale's pre-activation."""
    return tensor[head.latent_dim :]


@pytest.fixture
def head():
    torch.manual_seed(0)
    return DiagonalGaussian(in_features=6, latent_dim=4).double()


def test_registered_by_name():
    assert "diagonal" in GUIDES.names()
    assert isinstance(build_guide("diagonal", 6, 4), DiagonalGaussian)
    with pytest.raises(ValueError, match="unknown guide 'full'; choose from diagonal, full-rank"):
        build_guide("full", 6, 4)


@pytest.mark.parametrize("batch_shape", [(5,), (2, 3)])
def test_parameters_are_linear_heads_with_softplus_scale(head, batch_shape):
    h = torch.randn(batch_shape + (6,), dtype=torch.float64)
    q = head(h)
    assert q.batch_shape == batch_shape and q.event_shape == (4,)
    w, b = head.linear.weight, head.linear.bias
    assert torch.allclose(q.mean, h @ loc_part(head, w).T + loc_part(head, b), rtol=1e-12)
    pre = h @ scale_part(head, w).T + scale_part(head, b)
    assert torch.allclose(q.stddev, torch.log1p(torch.exp(pre)), rtol=1e-12)


@pytest.mark.parametrize("sample_shape", [(), (7,)])
def test_log_prob_of_rsample_is_the_normal_density(head, sample_shape):
    h = torch.randn(5, 6, dtype=torch.float64)
    q = head(h)
    z = q.rsample(sample_shape)
    assert z.shape == sample_shape + (5, 4)
    expected = closed_form_log_density(z, q.base_dist.loc, q.base_dist.scale)
    assert torch.allclose(q.log_prob(z), expected, rtol=1e-12)


def test_rsample_moments(head):
    h = torch.randn(3, 6, dtype=torch.float64)
    q = head(h)
    z = q.rsample((40000,))
    se = q.stddev / math.sqrt(40000)
    assert ((z.mean(0) - q.mean).abs() < 4 * se).all()
    assert torch.allclose(z.std(0), q.stddev, rtol=0.03)


def _head_with_constant_pre_activation(value: float) -> DiagonalGaussian:
    head = DiagonalGaussian(in_features=3, latent_dim=2)
    with torch.no_grad():
        scale_part(head, head.linear.weight).zero_()
        scale_part(head, head.linear.bias).fill_(value)
    return head


@pytest.mark.parametrize("pre_activation", [-30.0, -80.0, -100.0])
def test_scale_positive_for_very_negative_pre_activations(pre_activation):
    """In float32, as in training, softplus(a) ~ exp(a) stays positive down to a ~ -103."""
    q = _head_with_constant_pre_activation(pre_activation)(torch.randn(4, 3))
    scale = q.base_dist.scale
    assert (scale > 0).all()
    # Near -100 the value is a float32 subnormal, with a few significant bits only.
    assert torch.allclose(scale, torch.full_like(scale, math.exp(pre_activation)), rtol=0.05, atol=0)


def test_density_and_kl_finite_for_a_very_small_scale():
    q = _head_with_constant_pre_activation(-30.0)(torch.randn(4, 3))
    z = q.rsample()
    assert torch.isfinite(q.log_prob(z)).all()
    prior = dist.Normal(torch.zeros(2), torch.ones(2)).to_event(1)
    kl = kl_divergence(q, prior)
    assert torch.isfinite(kl).all() and (kl > 0).all()


def test_scale_is_softplus_not_exp_for_large_pre_activations():
    head = DiagonalGaussian(in_features=3, latent_dim=2)
    with torch.no_grad():
        scale_part(head, head.linear.weight).zero_()
        scale_part(head, head.linear.bias).fill_(100.0)
    scale = head(torch.randn(4, 3)).base_dist.scale
    assert torch.allclose(scale, torch.full_like(scale, 100.0))


def test_rsample_is_differentiable_with_the_reparameterization_gradient(head):
    """z = loc + softplus(pre) * eps, so dz/d(loc bias) = 1 and dz/d(scale bias) = eps * sigmoid(pre)."""
    h = torch.randn(5, 6, dtype=torch.float64)
    q = head(h)
    assert q.has_rsample
    z = q.rsample()
    z.sum().backward()
    w, b = head.linear.weight, head.linear.bias
    pre = (h @ scale_part(head, w).T + scale_part(head, b)).detach()
    eps = ((z - q.mean) / q.stddev).detach()
    assert torch.allclose(loc_part(head, b.grad), torch.full((4,), 5.0, dtype=torch.float64))
    assert torch.allclose(scale_part(head, b.grad), (eps * torch.sigmoid(pre)).sum(0), rtol=1e-10)


def test_rsample_gradient_reaches_the_encoder(make_vae, mnist_bin):
    vae = make_vae()
    z = vae.encode(mnist_bin[0][:10]).rsample()
    (z**2).sum().backward()
    for name, p in vae.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    for name, p in vae.decoder.named_parameters():
        assert p.grad is None, name

