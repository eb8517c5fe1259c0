"""Tests of zoo.likelihoods: p(x|z) families against torch's own formulas."""
import pytest
import torch
import torch.nn.functional as F

from zoo.likelihoods import LIKELIHOODS, BernoulliLikelihood, build_likelihood, check_finite


@pytest.fixture
def bernoulli():
    return BernoulliLikelihood((1, 4, 3))


@pytest.mark.parametrize("batch_shape", [(5,), (2, 5)])
def test_bernoulli_log_prob_is_minus_bce_with_logits(bernoulli, batch_shape):
    torch.manual_seed(0)
    logits = 4 * torch.randn(batch_shape + (1, 1, 4, 3), dtype=torch.float64)
    x = torch.bernoulli(torch.full(batch_shape + (1, 4, 3), 0.4, dtype=torch.float64))
    p = bernoulli.dist(logits)
    assert p.batch_shape == batch_shape and p.event_shape == (1, 4, 3)
    expected = -F.binary_cross_entropy_with_logits(logits.squeeze(-4), x, reduction="none").sum((-3, -2, -1))
    assert torch.allclose(p.log_prob(x), expected, rtol=1e-12)


def test_bernoulli_log_prob_is_stable_for_large_logits(bernoulli):
    logits = torch.full((2, 1, 1, 4, 3), 200.0)
    logits[1] = -200.0
    x = torch.ones(2, 1, 4, 3)
    log_p = bernoulli.dist(logits).log_prob(x)
    assert torch.allclose(log_p, torch.tensor([0.0, -200.0 * 12]))


def test_bernoulli_mean_is_sigmoid(bernoulli):
    logits = torch.linspace(-6, 6, 2 * 12, dtype=torch.float64).reshape(2, 1, 1, 4, 3)
    mean = bernoulli.mean(logits)
    assert mean.shape == (2, 1, 4, 3)
    assert torch.allclose(mean, 1 / (1 + torch.exp(-logits.squeeze(1))), rtol=1e-12)
    assert torch.allclose(bernoulli.dist(logits).mean, mean, rtol=1e-12)


def test_bernoulli_samples_follow_the_probabilities(bernoulli):
    torch.manual_seed(0)
    logits = torch.tensor([-2.0, 0.0, 1.5]).repeat(4).reshape(1, 1, 4, 3)
    draws = bernoulli.dist(logits).sample((20000,))
    assert draws.shape == (20000, 1, 4, 3)
    assert ((draws == 0) | (draws == 1)).all()
    p = bernoulli.mean(logits)
    se = (p * (1 - p) / 20000).sqrt()
    assert ((draws.mean(0) - p).abs() < 4 * se).all()


def test_bernoulli_check_accepts_binary_data(bernoulli):
    bernoulli.check(torch.tensor([0.0, 1.0, 1.0, 0.0]))


@pytest.mark.parametrize("value", [0.5, -1.0, 2.0, 1e-7])
def test_bernoulli_check_rejects_nonbinary_data_and_suggests_binarizing(bernoulli, value):
    x = torch.zeros(3, 1, 4, 3)
    x[2, 0, 1, 1] = value
    message = r"data must be binary \(values in \{0, 1\}\) for the bernoulli.*binarize"
    with pytest.raises(ValueError, match=message):
        bernoulli.check(x, "data")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_check_rejects_nonfinite_data(bernoulli, value):
    x = torch.zeros(3, 1, 4, 3)
    x[0, 0, 0, 0] = x[1, 0, 2, 1] = value
    with pytest.raises(ValueError, match="train contains 2 NaN or infinite values"):
        bernoulli.check(x, "train")
    with pytest.raises(ValueError, match="train contains 2 NaN"):
        check_finite(x, "train")


def test_build_likelihood_by_name():
    lik = build_likelihood("bernoulli", [1, 2, 2])
    assert isinstance(lik, BernoulliLikelihood)
    assert lik.data_shape == (1, 2, 2) and lik.event_dim == 3 and lik.num_params == 1
    assert LIKELIHOODS.names() == ["bernoulli"]
    with pytest.raises(ValueError, match="unknown likelihood 'gaussian'; choose from bernoulli"):
        build_likelihood("gaussian", (1, 2, 2))
