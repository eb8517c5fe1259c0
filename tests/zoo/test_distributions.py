"""StandardNormal against Pyro's Normal(0, 1).to_event(1): densities, KL, sampling; the fast
Bernoulli log-density against the float64 closed form."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence

from zoo.distributions import BernoulliLogits, StandardNormal, bernoulli_log_prob


def reference(dim, batch_shape=()):
    zeros = torch.zeros(torch.Size(batch_shape) + (dim,), dtype=torch.float64)
    return dist.Normal(zeros, zeros + 1).to_event(1)


@pytest.mark.parametrize("batch_shape", [(), (1,), (4,), (2, 3)])
def test_log_prob_equals_normal_to_event(batch_shape):
    p = StandardNormal(5, dtype=torch.float64).expand(batch_shape)
    z = 3 * torch.randn(torch.Size(batch_shape) + (5,), dtype=torch.float64)
    assert p.batch_shape == batch_shape and p.event_shape == (5,)
    assert torch.allclose(p.log_prob(z), reference(5, batch_shape).log_prob(z), rtol=1e-12)


def test_log_prob_broadcasts_extra_sample_dims():
    p = StandardNormal(3, batch_shape=(4,), dtype=torch.float64)
    z = torch.randn(7, 4, 3, dtype=torch.float64)
    assert torch.allclose(p.log_prob(z), reference(3, (4,)).log_prob(z), rtol=1e-12)
    assert p.log_prob(torch.zeros(3, dtype=torch.float64)).shape == (4,)


def test_kl_from_diagonal_normal_equals_pyros_normal_kl():
    loc = torch.randn(6, 4, dtype=torch.float64)
    scale = torch.rand(6, 4, dtype=torch.float64) + 0.1
    q = dist.Normal(loc, scale).to_event(1)
    expected = kl_divergence(q, reference(4, (6,)))
    assert torch.allclose(kl_divergence(q, StandardNormal(4, (6,), dtype=torch.float64)), expected, rtol=1e-12)
    # the seed's formula: -1/2 sum(log sigma^2 + 1 - sigma^2 - mu^2)
    seed = -0.5 * (torch.log(scale**2) + 1 - scale**2 - loc**2).sum(-1)
    assert torch.allclose(expected, seed, rtol=1e-12)


def test_kl_is_zero_for_the_prior_itself_and_refuses_other_families():
    q = dist.Normal(torch.zeros(3), torch.ones(3)).to_event(1)
    assert kl_divergence(q, StandardNormal(3)).abs().max() < 1e-7
    with pytest.raises(NotImplementedError, match="StandardNormal"):
        kl_divergence(dist.Laplace(torch.zeros(3), torch.ones(3)).to_event(1), StandardNormal(3))


def test_samples_have_zero_mean_unit_variance():
    z = StandardNormal(3, batch_shape=(2,), dtype=torch.float64).rsample((50000,))
    assert z.shape == (50000, 2, 3)
    se = 1 / math.sqrt(50000)
    assert (z.mean(0).abs() < 4 * se).all()
    assert ((z.var(0) - 1).abs() < 4 * math.sqrt(2) * se).all()


def test_entropy_mean_variance():
    p = StandardNormal(5, batch_shape=(2,), dtype=torch.float64)
    assert torch.allclose(p.entropy(), reference(5, (2,)).entropy())
    assert torch.equal(p.mean, torch.zeros(2, 5, dtype=torch.float64))
    assert torch.equal(p.variance, torch.ones(2, 5, dtype=torch.float64))


def test_under_a_plate_it_expands_to_the_batch():
    def model():
        with pyro.plate("data", 7):
            return pyro.sample("z", StandardNormal(2))

    trace = poutine.trace(model).get_trace()
    site = trace.nodes["z"]
    assert site["value"].shape == (7, 2) and site["fn"].batch_shape == (7,)
    trace.compute_log_prob()
    assert site["log_prob"].shape == (7,)


@pytest.mark.parametrize("dim", [0, -1, 2.0, True])
def test_dim_must_be_a_positive_integer(dim):
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        StandardNormal(dim)


# ---- BernoulliLogits -------------------------------------------------------------------------


def exact_bernoulli(logits, value):
    """value * l - softplus(l) in float64 (torch's softplus, log1p-based)."""
    lg = logits.double()
    return value.double() * lg - torch.nn.functional.softplus(lg, threshold=1000)


@pytest.mark.parametrize("fractional", [False, True])
def test_bernoulli_log_prob_matches_float64_closed_form(fractional):
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.randn(20000, generator=g) * 8, torch.linspace(-100, 100, 2001),
                        torch.tensor([-1e4, -88.0, -17.0, -1e-8, 0.0, 1e-8, 17.0, 88.0, 1e4])])
    value = torch.rand(logits.shape, generator=g) if fractional else \
        torch.randint(0, 2, logits.shape, generator=g).float()
    ours = bernoulli_log_prob(logits, value)
    exact = exact_bernoulli(logits, value)
    assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
    eps = torch.finfo(torch.float32).eps
    assert ((ours.double() - exact).abs() <= 2 * eps * (1 + logits.double().abs())).all()
    torch_f32 = -torch.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")
    # no worse than torch's own float32 kernel, summed as over an image
    assert abs((ours.double() - exact).sum().item()) <= 2 * abs((torch_f32.double() - exact).sum().item()) + 1e-4


def test_bernoulli_log_prob_gradient_is_value_minus_sigmoid():
    logits = torch.linspace(-40, 40, 801, dtype=torch.float64).requires_grad_()
    value = (torch.arange(801) % 3 == 0).double()
    bernoulli_log_prob(logits, value).sum().backward()
    assert torch.allclose(logits.grad, value - torch.sigmoid(logits.detach()), atol=1e-12)


def test_bernoulli_logits_uses_torchs_kernel_under_autograd_and_the_fast_one_without():
    g = torch.Generator().manual_seed(2)
    logits = (torch.randn(4, 784, generator=g) * 12).requires_grad_()
    x = torch.randint(0, 2, (4, 784), generator=g).float()
    ours, theirs = BernoulliLogits(logits=logits).log_prob(x), dist.Bernoulli(logits=logits).log_prob(x)
    assert torch.equal(ours, theirs)
    (grad,) = torch.autograd.grad(ours.sum(), logits)
    assert torch.equal(grad, x - torch.sigmoid(logits.detach()))  # full relative precision for any |l|
    with torch.no_grad():
        assert torch.equal(BernoulliLogits(logits=logits).log_prob(x), bernoulli_log_prob(logits, x))


def test_bernoulli_logits_is_pyro_bernoulli_with_the_fast_log_prob():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(3, 784, generator=g) * 5
    x = torch.randint(0, 2, (2, 1, 784), generator=g).float()
    ours = BernoulliLogits(logits=logits).to_event(1)
    pyros = dist.Bernoulli(logits=logits).to_event(1)
    assert ours.log_prob(x).shape == (2, 3)
    assert torch.allclose(ours.log_prob(x), pyros.log_prob(x), atol=1e-4)
    expanded = ours.expand((4, 3))
    assert isinstance(expanded.base_dist, BernoulliLogits) and expanded.batch_shape == (4, 3)
    assert torch.allclose(ours.mean, torch.sigmoid(logits))
    with pytest.raises(ValueError):
        BernoulliLogits(logits=logits, validate_args=True).log_prob(torch.full((3, 784), 0.5))


def test_bernoulli_event_sums_then_negates_with_torchs_values_and_gradients():
    """``BernoulliEvent`` under autograd: the same log-density and gradient as torch's Bernoulli
    summed over the event, broadcasting the data over leading particle dims; expandable by plates."""
    from zoo.distributions import BernoulliEvent

    torch.manual_seed(0)
    logits = torch.randn(3, 5, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    x = torch.bernoulli(torch.full((5, 1, 4, 4), 0.5, dtype=torch.float64))
    ours = BernoulliEvent(BernoulliLogits(logits=logits), 3).log_prob(x)
    theirs = dist.Bernoulli(logits=logits).to_event(3).log_prob(x)
    assert ours.shape == (3, 5) and torch.allclose(ours, theirs, rtol=1e-12)
    g_ours, = torch.autograd.grad(ours.sum(), logits)
    g_theirs, = torch.autograd.grad(theirs.sum(), logits)
    assert torch.allclose(g_ours, g_theirs, rtol=1e-12)
    expanded = BernoulliEvent(BernoulliLogits(logits=logits[0]), 3).expand((2, 5))
    assert isinstance(expanded, BernoulliEvent) and expanded.batch_shape == (2, 5)


def test_diagonal_mixture_log_prob_equals_mixture_same_family_and_its_gradient():
    """The matrix-product log-density of a mixture of diagonal Gaussians equals torch's broadcast
    one (float64: to 1e-10), expanded or not, with small scales near the means, and so do the
    gradients; components of another family take MixtureSameFamily's own path."""
    import pyro.distributions as dist

    from zoo.distributions import DiagonalMixture, _unexpanded_diagonal

    torch.manual_seed(0)
    logits = torch.randn(7, dtype=torch.float64, requires_grad=True)
    loc = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    scale = (torch.rand(7, 5, dtype=torch.float64) * 0.5 + 1e-3).requires_grad_()
    z = torch.cat([torch.randn(3, 4, 5, dtype=torch.float64), loc.detach()[:4].expand(3, 4, 5) + 1e-4])
    make = lambda cls: cls(dist.Categorical(logits=logits), dist.Normal(loc, scale).to_event(1))  # noqa: E731
    for shape in (None, [6, 4]):
        a, b = make(DiagonalMixture), make(dist.MixtureSameFamily)
        a, b = (a, b) if shape is None else (a.expand(shape), b.expand(shape))
        assert isinstance(a, DiagonalMixture) and _unexpanded_diagonal(a) is not None
        la, lb = a.log_prob(z), b.log_prob(z)
        torch.testing.assert_close(la, lb, rtol=0, atol=1e-10)
        ga = torch.autograd.grad(la.sum(), [logits, loc, scale])
        gb = torch.autograd.grad(lb.sum(), [logits, loc, scale])
        for x, y in zip(ga, gb):
            torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-8)
    full = dist.MultivariateNormal(loc.detach(), scale_tril=torch.diag_embed(scale.detach()))
    other = DiagonalMixture(dist.Categorical(logits=logits.detach()), full)
    assert _unexpanded_diagonal(other) is None
    torch.testing.assert_close(other.log_prob(z), make(dist.MixtureSameFamily).log_prob(z).detach(), rtol=0, atol=1e-10)
