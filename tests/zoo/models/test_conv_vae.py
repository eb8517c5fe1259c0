"""Tests of zoo.models.conv_vae and ``zoo.build("conv-vae")``: every guide, batch norm, the KL weight beta."""
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

import zoo
from zoo.data.images import resize
from zoo.estimators.weights import log_weights
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.models.conv_vae import ConvVAE, ConvVAEConfig, mse_kl_options

GUIDES = ["diagonal", "full-rank", "planar:2", "radial:2", "iaf:2", "sylvester:2"]
TINY = dict(latent_dim=4, channels=(4, 8, 8))


def build(seed=0, **overrides):
    torch.manual_seed(seed)
    return zoo.build("conv-vae", **{**TINY, **overrides})


@pytest.fixture(scope="module")
def digits32(mnist_bin):
    """16 binarized digits at 32x32 (resized, then thresholded)."""
    return (resize(mnist_bin[0][:16]) > 0.5).float()


def svi_step(vae, x, loss=None, lr=1e-2):
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": lr}), loss or Trace_ELBO())
    return svi.step(x)


def buffers(vae):
    return {name: b.clone() for name, b in vae.named_buffers()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- structure and every guide ---------------------------------------------------------


@pytest.mark.parametrize("shape, likelihood, output", [
    ((1, 28, 28), "bernoulli", "linear"),
    ((1, 32, 32), "gaussian", "tanh"),
    ((3, 32, 32), "gaussian-learned", "tanh"),
])
def test_every_input_size_round_trips_and_trains(shape, likelihood, output):
    vae = build(data_shape=shape, likelihood=likelihood, decoder_output=output)
    x = torch.rand(6, *shape)
    x = x.round() if likelihood == "bernoulli" else x * 2 - 1
    assert vae.reconstruct(x, 3).shape == (3, 6) + shape and vae.sample(5).shape == (5,) + shape
    assert math.isfinite(svi_step(vae, x))


@pytest.mark.parametrize("guide", GUIDES)
def test_one_svi_step_is_finite_for_every_guide(guide, digits32):
    vae = build(data_shape=(1, 32, 32), guide=guide, beta=0.5)
    before = {k: v.clone() for k, v in vae.named_parameters()}
    assert math.isfinite(svi_step(vae, digits32))
    changed = [k for k, v in vae.named_parameters() if not torch.equal(v, before[k])]
    assert set(changed) == set(before), set(before) - set(changed)


def test_model_and_guide_sites_and_their_scales():
    vae = build(beta=4.0).double()
    x = torch.rand(5, 1, 32, 32, dtype=torch.float64).round()
    for training, z_scale in ((True, 4.0), (False, 1.0)):
        vae.train(training)
        guide = poutine.trace(vae.guide).get_trace(x)
        model = poutine.trace(poutine.replay(vae.model, trace=guide)).get_trace(x)
        assert guide.nodes["z"]["scale"] == model.nodes["z"]["scale"] == z_scale
        assert model.nodes["x"]["scale"] == 1.0  # beta weights the latent site only


# ---- batch norm: evaluation and figures leave the running statistics alone --------------


def test_evaluation_and_sampling_do_not_update_batch_norm_statistics(digits32):
    vae = build(data_shape=(1, 32, 32), beta=2.0)
    svi_step(vae, digits32)  # away from the initial running averages
    vae.train()
    before = buffers(vae)
    assert any("running_mean" in k for k in before) and any("running_var" in k for k in before)
    elbo_and_kl(vae, digits32, batch_size=8)
    vae.sample(4)
    vae.reconstruct(digits32[:3], 2)
    vae.generate(torch.randn(3, vae.latent_dim))
    assert vae.training  # every one of them restored the mode
    assert same(buffers(vae), before)
    vae.eval()
    log_weights(vae.model, vae.guide, digits32, num_particles=3)
    assert same(buffers(vae), before)
    vae.train()
    svi_step(vae, digits32)  # while training they do move
    assert not same(buffers(vae), before)


# ---- beta ----------------------------------------------------------------------------


def twins(beta, **overrides):
    """A beta-weighted model and a beta = 1 model with the same weights, in float64."""
    weighted, plain = build(beta=beta, **overrides).double(), build(**overrides).double()
    plain.load_state_dict(weighted.state_dict())
    return weighted, plain


def test_beta_changes_the_loss_by_exactly_the_weighted_latent_terms(digits32):
    """Trace_ELBO with the z site scaled by beta in model and guide, for the same draws:
    loss_beta - loss_1 = -(beta - 1) * sum_n (log p(z_n) - log q(z_n | x_n))."""
    beta = 3.0
    weighted, plain = twins(beta)
    x = digits32.double()
    losses = {}
    for name, vae in (("weighted", weighted), ("plain", plain)):
        pyro.set_rng_seed(7)
        losses[name] = Trace_ELBO().loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(7)
    q = plain.encode(x)
    z = q.rsample()  # the draw Trace_ELBO made: the guide's only random step
    log_ratio = (plain.prior().log_prob(z) - q.log_prob(z)).sum().item()
    assert losses["weighted"] - losses["plain"] == pytest.approx(-(beta - 1) * log_ratio, rel=1e-9)


def test_beta_scales_the_closed_form_kl(digits32):
    """With the analytic KL (TraceMeanField_ELBO): loss_beta - loss_1 = (beta - 1) * sum_n KL_n."""
    beta = 0.25
    weighted, plain = twins(beta)
    x = digits32.double()
    losses = {}
    for name, vae in (("weighted", weighted), ("plain", plain)):
        pyro.set_rng_seed(3)
        losses[name] = TraceMeanField_ELBO().loss(vae.model, vae.guide, x)
    kl = plain.kl(x).sum().item()
    assert losses["weighted"] - losses["plain"] == pytest.approx((beta - 1) * kl, rel=1e-9)


def test_evaluation_reports_the_plain_elbo_whatever_beta(digits32):
    weighted = build(data_shape=(1, 32, 32), beta=5.0)
    for _ in range(3):
        svi_step(weighted, digits32)
    plain = build(data_shape=(1, 32, 32))
    plain.load_state_dict(weighted.state_dict())
    results = []
    for vae in (weighted, plain):
        torch.manual_seed(11)
        results.append(elbo_and_kl(vae, digits32, batch_size=8, num_particles=4))
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    weighted.eval()
    pyro.set_rng_seed(2)
    loss = Trace_ELBO().loss(weighted.model, weighted.guide, digits32)
    plain.eval()
    pyro.set_rng_seed(2)
    assert loss == pytest.approx(Trace_ELBO().loss(plain.model, plain.guide, digits32), rel=1e-6)


def test_mse_kl_options_make_the_loss_proportional_to_the_seed_loss():
    """-L = (d / w) (MSE + w KL_mean) + D (log sigma + log(2 pi) / 2) per image, for seed 004's
    loss MSE + w KL_mean (means over pixels and latent dimensions)."""
    shape, d, w = (1, 32, 32), 8, 0.1
    options = mse_kl_options(shape, d, kl_weight=w)
    sigma = options["likelihood_options"]["scale"]
    assert sigma == pytest.approx(math.sqrt(w * 1024 / (2 * d))) and options["beta"] == 1.0
    torch.manual_seed(0)
    vae = zoo.build("conv-vae", data_shape=shape, latent_dim=d, channels=(4, 8, 8), decoder_output="tanh",
                    **options).double()
    x = torch.rand(6, *shape, dtype=torch.float64) * 2 - 1
    pyro.set_rng_seed(5)
    loss = TraceMeanField_ELBO().loss(vae.model, vae.guide, x) / x.shape[0]
    pyro.set_rng_seed(5)
    z = vae.encode(x).rsample()
    mse = F.mse_loss(vae.decoder(z).squeeze(-4), x).item()
    kl_mean = vae.kl(x).sum().item() / (x.shape[0] * d)
    const = 1024 * (math.log(sigma) + 0.5 * math.log(2 * math.pi))
    assert loss - const == pytest.approx(d / w * (mse + w * kl_mean), rel=1e-9)


# ---- config, build, load ---------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(beta=0.0), "beta must be a positive finite number, got 0.0"),
    (dict(beta=-1), "beta"),
    (dict(data_shape=(784,)), r"data_shape must be \(C, H, W\)"),
    (dict(data_shape=(1, 6, 6)), "at least 8"),
    (dict(channels=()), "channels must not be empty"),
    (dict(decoder_output="relu"), "unknown decoder_output 'relu'; choose from linear, tanh"),
    (dict(decoder_output="tanh"), "likelihood='bernoulli'"),
    (dict(latent_dim=0), "latent_dim"),
    (dict(guide="plnar"), "unknown guide 'plnar'"),
    (dict(likelihood="gaussian", likelihood_options={"scal": 1}), "scal"),
])
def test_config_validation_names_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvVAEConfig(**kwargs)


def test_build_records_its_config_and_fit_then_load_round_trips(tmp_path, digits32):
    vae = build(data_shape=(1, 32, 32), beta=2.5, guide="full-rank")
    assert isinstance(vae, ConvVAE) and vae.beta == 2.5 and "conv-vae" in zoo.list_models()
    assert vae.config["model"] == "conv-vae" and vae.config["channels"] == (4, 8, 8)
    zoo.fit(vae, digits32, epochs=1, batch_size=8, out_dir=tmp_path, progress=False)
    loaded = zoo.load(tmp_path)
    assert isinstance(loaded, ConvVAE) and loaded.beta == 2.5 and not loaded.training
    assert same(dict(loaded.state_dict()), dict(vae.state_dict()))
