"""zoo.evaluation.gradients.gradient_stats: groups, statistics against a hand computation, reproducibility."""
import pytest
import torch

import zoo
from zoo import estimators
from zoo.evaluation.gradients import gradient_stats, parameter_groups


@pytest.fixture
def lg():
    return zoo.LinearGaussian(data_dim=4, latent_dim=2, noise_scale=0.5, seed=0).double()


def test_vae_groups_are_decoder_and_encoder(make_vae, mnist_bin):
    vae = make_vae()
    groups = parameter_groups(vae.model, vae.guide, mnist_bin[0][:3])
    assert set(groups) == {"model", "guide"}
    assert {p.data_ptr() for p in groups["model"].values()} == {p.data_ptr() for p in vae.decoder.parameters()}
    guide_params = list(vae.encoder.parameters()) + list(vae.guide_head.parameters())
    assert {p.data_ptr() for p in groups["guide"].values()} == {p.data_ptr() for p in guide_params}


def test_statistics_are_those_of_the_draws(lg):
    """Same seed: the reported mean/variance/SNR are those of gradients computed by hand."""
    x = lg.sample_data(3, seed=1)
    stats = gradient_stats(lg.model, lg.guide, x, estimator="iwae", num_draws=20, seed=4,
                           estimator_options=dict(num_particles=3))
    torch.manual_seed(4)
    est = estimators.get("iwae", num_particles=3)
    params = [lg.W, lg.b, lg.A, lg.c, lg.L_raw]
    draws = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        est.differentiable_loss(lg.model, lg.guide, x), params)]) for _ in range(20)])
    model, guide = draws[:, :12], draws[:, 12:]
    assert torch.allclose(stats["model"].mean, model.mean(0), rtol=1e-12)
    assert torch.allclose(stats["guide"].var, guide.var(0), rtol=1e-12)
    std = guide.std(0)
    keep = std > 0  # the strict upper triangle of L_raw is unused: zero gradient, zero variance
    assert keep.sum() == 2 * 4 + 2 + 3
    assert stats["guide"].snr == pytest.approx((guide.mean(0).abs()[keep] / std[keep]).mean().item(), rel=1e-12)
    assert stats["guide"].norm_snr == pytest.approx((guide.mean(0).norm() / guide.var(0).sum().sqrt()).item())


def test_same_seed_same_numbers(lg):
    x = lg.sample_data(3, seed=1)
    a = gradient_stats(lg.model, lg.guide, x, estimator="score", num_draws=5, seed=0,
                       estimator_options=dict(num_particles=2))
    b = gradient_stats(lg.model, lg.guide, x, estimator=estimators.get("score", num_particles=2), num_draws=5, seed=0)
    assert torch.equal(a["guide"].mean, b["guide"].mean) and a["guide"].as_dict() == b["guide"].as_dict()


@pytest.mark.parametrize("n", [0, 1])
def test_needs_two_draws(lg, n):
    with pytest.raises(ValueError, match="num_draws must be"):
        gradient_stats(lg.model, lg.guide, lg.sample_data(2), estimator="elbo", num_draws=n)
