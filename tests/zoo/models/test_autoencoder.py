"""Tests of zoo.models.autoencoder: the deterministic autoencoder as a model/guide pair whose ELBO is
exactly the reconstruction log-likelihood, training, evaluation and load round trips."""
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from pyro.poutine.util import site_is_subsample

import zoo
from tests.conftest import SMALL
from zoo import estimators
from zoo.estimators import log_weights
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.models.autoencoder import Autoencoder, FlatPrior, PointMassHead
from zoo.models.vae import LATENT, OBSERVED


def make_ae(seed=0, **overrides):
    torch.manual_seed(seed)
    return zoo.build("ae", **{**SMALL, **overrides})


def codes_and_params(ae, x):
    """z_hat = f(x) and the decoder's parameters at z_hat, computed without Pyro."""
    z_hat = ae.guide_head.linear(ae.encoder(x))
    return z_hat, ae.decoder(z_hat)


def pyro_loss(ae, x, estimator="elbo", num_particles=1):
    return estimators.get(estimator, num_particles=num_particles).differentiable_loss(ae.model, ae.guide, x)


# ---- the ELBO is the reconstruction loss --------------------------------------------------


@pytest.mark.parametrize("estimator, num_particles", [("elbo", 1), ("elbo", 3), ("elbo-kl", 1)])
def test_loss_is_the_binary_cross_entropy(mnist_bin, estimator, num_particles):
    ae = make_ae().double()
    x = mnist_bin[0][:20].double()
    _, logits = codes_and_params(ae, x)
    bce = F.binary_cross_entropy_with_logits(logits.squeeze(1), x, reduction="sum")
    loss = pyro_loss(ae, x, estimator, num_particles)
    assert loss.item() == pytest.approx(bce.item(), rel=1e-12)
    # The gradients agree too: a point mass adds no score-function or entropy term.
    grads = torch.autograd.grad(loss, list(ae.parameters()), allow_unused=True)
    expected = torch.autograd.grad(bce, list(ae.parameters()), allow_unused=True)
    for g, e in zip(grads, expected):
        assert (g is None and e is None) or torch.allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_loss_is_the_squared_error_over_two_sigma_squared_plus_a_constant(mnist_gray, scale):
    ae = make_ae(likelihood="gaussian", likelihood_options={"scale": scale}).double()
    x = mnist_gray[0][:20].double()
    _, params = codes_and_params(ae, x)
    sse = F.mse_loss(params.squeeze(1), x, reduction="sum")
    const = x.numel() * (math.log(scale) + 0.5 * math.log(2 * math.pi))
    assert pyro_loss(ae, x).item() == pytest.approx(sse.item() / (2 * scale**2) + const, rel=1e-12)


def test_loss_with_learned_sigma_is_torch_gaussian_nll(mnist_gray):
    ae = make_ae(likelihood="gaussian-learned").double()
    x = mnist_gray[0][:20].double()
    _, params = codes_and_params(ae, x)
    loc, log_scale = params.unbind(1)
    expected = F.gaussian_nll_loss(loc, x, (2 * log_scale).exp(), full=True, eps=0.0, reduction="sum")
    assert pyro_loss(ae, x).item() == pytest.approx(expected.item(), rel=1e-12)


def sample_sites(trace):
    return [n for n, s in trace.nodes.items() if s["type"] == "sample" and not site_is_subsample(s)]


def test_model_and_guide_sites_agree_and_carry_zero_log_density(mnist_bin):
    ae = make_ae()
    x = mnist_bin[0][:7]
    guide_trace = poutine.trace(ae.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(ae.model, trace=guide_trace)).get_trace(x)
    assert sample_sites(guide_trace) == [LATENT] and sample_sites(model_trace) == [LATENT, OBSERVED]
    z = guide_trace.nodes[LATENT]["value"]
    assert z.shape == (7, SMALL["latent_dim"])
    assert torch.equal(z, codes_and_params(ae, x)[0])
    assert torch.equal(guide_trace.nodes[LATENT]["fn"].log_prob(z), torch.zeros(7))
    assert torch.equal(model_trace.nodes[LATENT]["fn"].log_prob(z), torch.zeros(7))


def test_evaluation_reports_the_reconstruction_log_likelihood_and_no_kl(mnist_bin):
    ae = make_ae()
    x = mnist_bin[0][:30]
    result = elbo_and_kl(ae, x, batch_size=7, num_particles=2)
    assert set(result) == {"elbo"}
    _, logits = codes_and_params(ae, x)
    bce = F.binary_cross_entropy_with_logits(logits.squeeze(1), x, reduction="sum").item()
    assert result["elbo"] == pytest.approx(-bce / 30, rel=1e-5)
    assert torch.equal(log_weights(ae.model, ae.guide, x, num_particles=3).std(0), torch.zeros(30))


# ---- the pieces ---------------------------------------------------------------------------


def test_kl_is_undefined():
    with pytest.raises(NotImplementedError, match="point mass.*improper flat prior"):
        make_ae().kl(torch.zeros(2, 1, 28, 28))


@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_flat_prior_has_zero_log_density_in_the_dtype_of_z(batch_shape, dtype):
    prior = FlatPrior(4)
    assert prior.event_shape == (4,) and prior.batch_shape == ()
    z = torch.randn(batch_shape + (4,), dtype=dtype)
    lp = prior.log_prob(z)
    assert lp.shape == batch_shape and lp.dtype == dtype and not lp.any()
    expanded = prior.expand((5, 1) + batch_shape[-1:])
    assert isinstance(expanded, FlatPrior) and expanded.event_shape == (4,)
    assert expanded.log_prob(z).shape == torch.broadcast_shapes((5, 1) + batch_shape[-1:], batch_shape)
    with pytest.raises(NotImplementedError):
        prior.sample()
    # The zeros live on z's device (Pyro's ImproperUniform returns CPU zeros).
    assert prior.log_prob(torch.empty(batch_shape + (4,), dtype=dtype, device="meta")).device.type == "meta"


def test_encode_is_a_point_mass_at_the_code(mnist_bin):
    ae = make_ae()
    x = mnist_bin[0][:5]
    q = ae.encode(x)
    assert isinstance(ae.guide_head, PointMassHead)
    assert q.batch_shape == (5,) and q.event_shape == (SMALL["latent_dim"],)
    assert torch.equal(q.mean, codes_and_params(ae, x)[0]) and not q.variance.any()
    recons = ae.reconstruct(x, num_samples=3)
    assert recons.shape == (3, 5, 1, 28, 28)
    # nothing random: equal up to float rounding, which depends on a row's place in the matmul
    # (a random code would change pixels by ~0.1)
    assert torch.allclose(recons[0], recons[2], rtol=0, atol=1e-6)
    assert torch.allclose(recons[0], torch.sigmoid(codes_and_params(ae, x)[1].squeeze(1)))


def test_sample_decodes_standard_normal_noise():
    ae = make_ae()
    torch.manual_seed(3)
    samples = ae.sample(6)
    torch.manual_seed(3)
    z = torch.randn(6, SMALL["latent_dim"])
    assert samples.shape == (6, 1, 28, 28)
    assert torch.allclose(samples, torch.sigmoid(ae.decoder(z).squeeze(1)))
    torch.manual_seed(3)
    assert torch.allclose(ae.sample(6, z_scale=1e-2), torch.sigmoid(ae.decoder(1e-2 * z).squeeze(1)))
    binary = ae.sample(4, mean=False)
    assert ((binary == 0) | (binary == 1)).all()
    for bad in (0, -1.0, float("inf"), True):
        with pytest.raises(ValueError, match="z_scale must be a positive finite number"):
            ae.sample(2, z_scale=bad)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ae.sample(0)


def test_build_has_the_vae_networks_and_a_fixed_guide():
    ae, vae = make_ae(activation="relu"), zoo.build("vae", **SMALL, activation="relu")
    assert isinstance(ae, Autoencoder) and "ae" in zoo.list_models()
    assert ae.config == {**vae.config, "model": "ae", "guide": "delta"}
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(ae.encoder) == shapes(vae.encoder) and shapes(ae.decoder) == shapes(vae.decoder)
    assert ae.guide_head.linear.out_features == SMALL["latent_dim"]
    assert zoo.build("ae", **SMALL, activation="relu", guide="delta").config == ae.config
    with pytest.raises(ValueError, match="guide is fixed to a point mass.*got guide='diagonal'"):
        zoo.build("ae", **SMALL, guide="diagonal")
    with pytest.raises(TypeError, match="bad arguments for model 'ae'.*latent_size"):
        zoo.build("ae", latent_size=3)


# ---- training and load ------------------------------------------------------------------


def test_svi_trains_the_autoencoder(mnist_bin):
    """200 Adam steps: the per-datapoint BCE starts near 784 log 2 = 543 and falls by far more
    than 100 nats (observed: from ~365 over the first 20 steps to ~200 over the last 20)."""
    ae = make_ae()
    x = mnist_bin[0]
    svi = SVI(ae.model, ae.guide, Adam({"lr": 3e-3}), Trace_ELBO())
    gen = torch.Generator().manual_seed(0)
    losses = torch.tensor([svi.step(x[torch.randint(0, 500, (50,), generator=gen)]) / 50 for _ in range(200)])
    assert torch.isfinite(losses).all()
    assert losses[-20:].mean() < losses[:20].mean() - 100


def test_fit_history_and_load_round_trip(mnist_bin, tmp_path):
    train, test = mnist_bin
    ae = make_ae(likelihood="gaussian", likelihood_options={"scale": 0.5})
    history = zoo.fit(ae, train, test=test, epochs=3, batch_size=50, lr=3e-3, out_dir=tmp_path, progress=False)
    keys = {"epoch", "loss", "lr", "train_elbo", "test_elbo", "train_time_s", "eval_time_s"}  # no KL
    assert [set(r) for r in history] == [keys] * 3
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["test_elbo"] > history[0]["test_elbo"]
    loaded = zoo.load(tmp_path)
    assert isinstance(loaded, Autoencoder) and loaded.config == ae.config and not loaded.training
    assert loaded.likelihood.scale == 0.5
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in ae.state_dict().items())
    # The end-of-epoch ELBO is deterministic, so the loaded model reproduces it exactly.
    assert elbo_and_kl(loaded, test)["elbo"] == pytest.approx(history[-1]["test_elbo"], rel=1e-6)
    # Resume accepts the run it wrote.
    pyro.clear_param_store()
    again = make_ae(likelihood="gaussian", likelihood_options={"scale": 0.5})
    resumed = zoo.fit(again, train, test=test, epochs=4, batch_size=50, lr=3e-3, out_dir=tmp_path, resume=True,
                      progress=False)
    assert resumed[:3] == history and len(resumed) == 4
