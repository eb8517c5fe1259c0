"""Log-weight kernels against scipy and against their definitions."""
import math

import pytest
import torch
from scipy.special import logsumexp

from zoo.estimators.bounds import effective_sample_size, elbo_bound, iwae_bound, normalized_weights


def test_iwae_bound_equals_scipy_log_mean_exp():
    log_w = 10 * torch.randn(3, 4, 7, dtype=torch.float64)
    expected = logsumexp(log_w.numpy(), axis=-1) - math.log(7)
    assert torch.allclose(iwae_bound(log_w), torch.as_tensor(expected), rtol=1e-12)


def test_one_particle_bounds_are_the_log_weight():
    log_w = torch.randn(5, 1, dtype=torch.float64)
    assert torch.equal(iwae_bound(log_w), log_w[:, 0]) and torch.equal(elbo_bound(log_w), log_w[:, 0])


def test_stable_for_log_weights_near_minus_ten_thousand():
    log_w = torch.tensor([[-1e4, -1e4 + 1.0, -1e4 - 2.0]], dtype=torch.float32)
    expected = -1e4 + math.log((1 + math.e + math.exp(-2)) / 3)
    assert torch.isfinite(iwae_bound(log_w)).all()
    assert iwae_bound(log_w).item() == pytest.approx(expected, abs=1e-2)
    assert torch.allclose(normalized_weights(log_w).sum(-1), torch.ones(1))


def test_jensen_elbo_below_iwae():
    log_w = 3 * torch.randn(1000, 10, dtype=torch.float64)
    assert (elbo_bound(log_w) <= iwae_bound(log_w) + 1e-12).all()


def _ess(log_w):
    return effective_sample_size(log_w.logsumexp(-1), (2 * log_w).logsumexp(-1))


def test_effective_sample_size_extremes_and_the_normalized_weights():
    assert _ess(torch.zeros(8)).item() == pytest.approx(8.0)
    assert _ess(torch.tensor([0.0, -1e3, -1e3])).item() == pytest.approx(1.0)
    log_w = 3 * torch.randn(100, 20, dtype=torch.float64)
    ess = _ess(log_w)
    assert ((ess >= 1) & (ess <= 20)).all()
    assert torch.allclose(ess, normalized_weights(log_w).pow(2).sum(-1).reciprocal(), rtol=1e-12)  # 1 / sum w~^2


@pytest.mark.parametrize("bad", [torch.tensor(1.0), torch.zeros(3, 0)])
def test_empty_particle_dimension_raises(bad):
    with pytest.raises(ValueError, match="particle"):
        iwae_bound(bad)
