"""Tests of guides.splines (``nsf:K``, zuko's rational-quadratic spline couplings): the exact
inverse and log-density against autograd Jacobians, normalization on a 2-D latent, and DReG
with the spline guide unbiased for IWAE's gradient on the linear-Gaussian model."""
import math

import numpy as np
import pyro
import pytest
import torch
from torch.autograd.functional import jacobian

import zoo
from guides import build_guide
from guides.splines import SplineFlowGuide
from tests.guides.helpers import perturbed_guide
from zoo._utils.params import expose
from zoo.evaluation.gradients import gradient_stats
from zoo.models.vae import DATA_PLATE, LATENT

F64 = torch.float64
H, D = 5, 4


def make_guide(num_flows=2, latent_dim=D, in_features=H, scale=0.3, seed=0):
    """A float64 spline guide with its step MLPs moved away from their initialization."""
    return perturbed_guide(f"nsf:{num_flows}", in_features, latent_dim, scale, seed)


def test_registered_with_steps_and_options():
    guide = build_guide("nsf:3", H, D)
    assert isinstance(guide, SplineFlowGuide) and len(guide.flows) == 3
    masks = [step.coupling.mask.tolist() for step in guide.flows]
    assert masks[0] == [True, False, True, False] and masks[1] == [False, True, False, True]


@pytest.mark.parametrize("options, message", [(dict(latent_dim=1), "latent_dim >= 2"), (dict(bins=0), "bins"),
                                              (dict(num_flows=0), "num_flows"), (dict(bound=-1.0), "bound")])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        SplineFlowGuide(H, **{"latent_dim": D, **options})


def test_every_coordinate_is_transformed_by_two_steps():
    guide = make_guide(num_flows=2)
    h, z = torch.randn(H, dtype=F64), torch.randn(D, dtype=F64)
    y = z
    for t in guide.transforms(h):
        y = t(y)
    assert ((y - z).abs() > 1e-6).all()


def test_step_log_det_matches_autograd_jacobian_and_the_inverse_is_exact():
    guide = make_guide(num_flows=2, scale=1.0)
    for step in guide.flows:
        for _ in range(4):
            h, z = torch.randn(H, dtype=F64), 2 * torch.randn(D, dtype=F64)
            t = step.condition(h)
            y, log_det = t.call_and_ladj(z)
            _, expected = torch.linalg.slogdet(jacobian(t, z))
            assert torch.allclose(log_det, expected, atol=1e-10)
            assert torch.allclose(t.inv(y), z, atol=1e-10)


@pytest.mark.parametrize("particles", [(), (2,)])
def test_log_prob_of_any_value_is_base_density_at_the_inverse_minus_the_log_det(particles):
    """For a value the guide did not draw, log q(y) = log q_0(f^-1(y)) - log|det df/dz_0| at f^-1(y),
    with f the composed single-datapoint map and its Jacobian taken by autograd."""
    guide = make_guide(num_flows=3)
    h = torch.randn(3, H, dtype=F64)
    q = guide(h).expand(particles + (3,))
    y = torch.randn(particles + (3, D), dtype=F64)
    log_q = q.log_prob(y)
    for idx in np.ndindex(*particles, 3):
        ts = guide.transforms(h[idx[-1]])

        def f(z, ts=ts):
            for t in ts:
                z = t(z)
            return z

        z0 = y[idx]
        for t in reversed(ts):
            z0 = t.inv(z0)
        assert torch.allclose(f(z0), y[idx], atol=1e-10)
        _, log_det = torch.linalg.slogdet(jacobian(f, z0))
        expected = guide.base(h[idx[-1]]).log_prob(z0) - log_det
        assert torch.allclose(log_q[idx], expected, atol=1e-10)


def test_density_is_normalized_on_a_2d_latent():
    """E_q[p(z) / q(z)] = 1 for p = N(0, 2^2 I), q_0 = N(0, 3^2 I) pushed through 4 spline
    couplings (which move z only inside [-5, 5], so q keeps q_0's tails and the weights have
    finite variance)."""
    guide = make_guide(num_flows=4, latent_dim=2, scale=0.05)
    with torch.no_grad():
        guide.base.linear.weight.zero_()
        guide.base.linear.bias.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0]) * math.log(math.expm1(3.0)))
    q = guide(torch.randn(1, H, dtype=F64))
    num_samples = 200_000
    with torch.no_grad():
        torch.manual_seed(1)
        z, log_q = q.rsample_and_log_prob((num_samples,))
        torch.manual_seed(1)
        log_q0 = q.base_dist.log_prob(q.base_dist.rsample((num_samples,)))
    log_p = torch.distributions.Normal(torch.zeros(2, dtype=F64), 2.0).log_prob(z).sum(-1)
    w = (log_p - log_q).exp().squeeze(-1)
    assert (log_q - log_q0).abs().mean() > 0.05  # the flow changes the density noticeably
    assert w.max() < 1e-3 * w.sum()
    assert abs(w.mean() - 1) < 4 * w.std() / math.sqrt(num_samples)


@pytest.mark.slow
def test_dreg_with_the_spline_guide_is_unbiased_for_the_iwae_gradient():
    """Tucker et al. 2018 for a flow: DReG's guide gradient has IWAE's expectation, STL's does not.

    The ~7,500 gradient components of the step MLPs are heavy-tailed (a few draws dominate a
    component's variance estimate), so a max-|z| test over all of them would flag noise; the test
    reads the whole distribution of z-scores instead: for an unbiased estimator it is close to
    |N(0, 1)| (median 0.67, 0.3% above 3), for a biased one it is not."""
    lg = zoo.LinearGaussian(data_dim=5, latent_dim=2, noise_scale=0.7, seed=1).double()
    x = lg.sample_data(3, seed=2)
    head = make_guide(num_flows=2, latent_dim=2, in_features=5, scale=0.1)

    def guide(x):
        expose("nsf", head)
        with pyro.plate(DATA_PLATE, x.shape[0]):
            pyro.sample(LATENT, head(x))

    n, k = 600, 8
    iwae = gradient_stats(lg.model, guide, x, estimator="iwae", num_draws=n, seed=1,
                          estimator_options=dict(num_particles=k))["guide"]

    def z_scores(name):
        stats = gradient_stats(lg.model, guide, x, estimator=name, num_draws=n, seed=2,
                               estimator_options=dict(num_particles=k))["guide"]
        var = stats.var / n + iwae.var / n
        keep = var > 0
        return ((stats.mean - iwae.mean)[keep] / var[keep].sqrt()).abs(), stats

    dreg, _ = z_scores("iwae-dreg")
    assert len(dreg) > 5000 and dreg.median() < 1.0 and (dreg > 3).float().mean() < 0.02
    stl, _ = z_scores("iwae-stl")
    assert stl.median() > 3


def test_nsf_trains_a_vae_with_iwae_dreg(mnist_bin):
    """100 steps of iwae-dreg (K = 4) with an nsf:2 guide on 500 real binarized digits."""
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=4, hidden=(32,), guide="nsf:2")
    loss = zoo.estimators.get("iwae-dreg", num_particles=4)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    train, losses = mnist_bin[0], []
    for i in range(100):
        batch = train[(i % 10) * 50:(i % 10 + 1) * 50]
        opt.zero_grad()
        value = loss.differentiable_loss(vae.model, vae.guide, batch)
        value.backward()
        opt.step()
        losses.append(value.item() / 50)
    assert np.isfinite(losses).all() and np.mean(losses[-10:]) < np.mean(losses[:10]) - 50
