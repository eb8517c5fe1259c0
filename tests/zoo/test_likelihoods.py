"""Tests of zoo.likelihoods: p(x|z) families against torch's own formulas and closed forms,
seed 003's Gaussian KL/NLL values, and every likelihood training a VAE on real data."""
import json
import math

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

import zoo
from zoo._utils.options import freeze_options
from zoo.likelihoods import (
    LIKELIHOODS,
    BernoulliLikelihood,
    GaussianLikelihood,
    LearnedGaussianLikelihood,
    build_likelihood,
    check_finite,
    likelihood_options,
)
from zoo.models.factory import VAEConfig


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
    assert {"bernoulli", "gaussian", "gaussian-learned"} <= set(LIKELIHOODS.names())
    with pytest.raises(ValueError, match="'gauss'; choose from bernoulli, gaussian, gaussian-learned"):
        build_likelihood("gauss", (1, 2, 2))


# ---- the Gaussian likelihoods -----------------------------------------------------------


def closed_form_log_prob(x, loc, log_scale):
    """sum_i log N(x_i; loc_i, exp(log_scale_i)^2) over the three data dimensions, by hand."""
    scale = torch.as_tensor(log_scale, dtype=x.dtype).exp()
    lp = -((x - loc) ** 2) / (2 * scale**2) - torch.log(scale) - 0.5 * math.log(2 * math.pi)
    return lp.sum((-3, -2, -1))


@pytest.mark.parametrize("batch_shape", [(), (5,), (2, 5)])
@pytest.mark.parametrize("scale", [1.0, 0.1, 3])
def test_gaussian_log_prob_is_the_closed_form_summed_over_pixels(batch_shape, scale):
    torch.manual_seed(0)
    lik = build_likelihood("gaussian", (1, 4, 3), scale=scale)
    params = torch.randn(batch_shape + (1, 1, 4, 3), dtype=torch.float64)
    x = torch.rand(batch_shape + (1, 4, 3), dtype=torch.float64)
    p = lik.dist(params)
    assert p.batch_shape == batch_shape and p.event_shape == (1, 4, 3)
    assert torch.allclose(p.log_prob(x), closed_form_log_prob(x, params[..., 0, :, :, :], math.log(scale)), rtol=1e-12)
    assert torch.equal(lik.mean(params), params.squeeze(-4)) and torch.equal(p.mean, lik.mean(params))
    assert lik.num_params == 1 and isinstance(lik.scale, float)


@pytest.mark.parametrize("batch_shape", [(), (5,), (2, 5)])
def test_learned_gaussian_log_prob_is_the_closed_form_summed_over_pixels(batch_shape):
    torch.manual_seed(0)
    lik = build_likelihood("gaussian-learned", (1, 4, 3))
    assert isinstance(lik, LearnedGaussianLikelihood) and lik.num_params == 2
    params = torch.randn(batch_shape + (2, 1, 4, 3), dtype=torch.float64)
    loc, log_scale = params[..., 0, :, :, :], params[..., 1, :, :, :]
    x = torch.rand(batch_shape + (1, 4, 3), dtype=torch.float64)
    p = lik.dist(params)
    assert p.batch_shape == batch_shape and p.event_shape == (1, 4, 3)
    assert torch.allclose(p.log_prob(x), closed_form_log_prob(x, loc, log_scale), rtol=1e-12)
    assert torch.equal(lik.mean(params), loc) and torch.equal(p.mean, loc)
    assert torch.allclose(p.stddev, log_scale.exp(), rtol=1e-15)


def test_gaussian_densities_exceed_one_so_log_likelihoods_can_be_positive():
    lik = build_likelihood("gaussian-learned", (1, 2, 2))
    params = torch.zeros(2, 1, 2, 2)
    params[1] = -3.0  # sigma = e^-3: a density of e^3 / sqrt(2 pi) ~ 8 at the mean
    log_p = lik.dist(params).log_prob(torch.zeros(1, 2, 2)).item()
    assert log_p == pytest.approx(4 * (3 - 0.5 * math.log(2 * math.pi)))
    assert build_likelihood("gaussian", (1, 2, 2), scale=0.01).dist(params[:1]).log_prob(torch.zeros(1, 2, 2)) > 0


@pytest.mark.parametrize("name", ["gaussian", "gaussian-learned"])
def test_gaussian_samples_have_the_right_moments(name):
    torch.manual_seed(0)
    lik = build_likelihood(name, (1, 2, 3), **({"scale": 0.5} if name == "gaussian" else {}))
    params = torch.randn(lik.num_params, 1, 2, 3)
    p = lik.dist(params)
    draws = p.sample((40000,))
    assert draws.shape == (40000, 1, 2, 3)
    sd = p.stddev
    assert ((draws.mean(0) - p.mean).abs() < 4 * sd / 200).all()  # 200 = sqrt(40000)
    assert ((draws.std(0) / sd - 1).abs() < 4 / math.sqrt(2 * 40000)).all()


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf"), True, "1", None, torch.tensor(1.0)])
def test_gaussian_scale_must_be_a_positive_finite_number(scale):
    with pytest.raises(ValueError, match="scale of the gaussian likelihood must be a positive finite number"):
        GaussianLikelihood((1, 2, 2), scale=scale)


@pytest.mark.parametrize("name", ["gaussian", "gaussian-learned"])
def test_gaussian_check_accepts_any_real_values_and_rejects_nonfinite(name):
    lik = build_likelihood(name, (1, 4, 3))
    lik.check(torch.tensor([-3.0, 0.0, 0.5, 2.5, 1e6]), "data")
    for value in (float("nan"), float("inf"), -float("inf")):
        x = torch.zeros(3, 1, 4, 3)
        x[1, 0, 2, 2] = value
        with pytest.raises(ValueError, match="test contains 1 NaN or infinite values"):
            lik.check(x, "test")


def test_build_likelihood_names_unknown_options():
    assert likelihood_options("gaussian") == ("scale",)
    assert likelihood_options("bernoulli") == () and likelihood_options("gaussian-learned") == ()
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'scal' for likelihood 'gaussian'; choose from scale"):
        build_likelihood("gaussian", (1, 2, 2), scal=0.1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) 'scale' for likelihood 'bernoulli'; it takes none"):
        build_likelihood("bernoulli", (1, 2, 2), scale=0.1)
    with pytest.raises(ValueError, match=r"'a', 'b' for likelihood 'gaussian-learned'"):
        build_likelihood("gaussian-learned", (1, 2, 2), b=1, a=2)
    assert build_likelihood("gaussian", (1, 2, 2), scale=0.25).scale == 0.25
    assert build_likelihood("gaussian", (1, 2, 2)).scale == 1.0


def test_freeze_options_is_sorted_hashable_and_survives_json():
    frozen = freeze_options({"b": 2, "a": 1.5})
    assert frozen == (("a", 1.5), ("b", 2)) and hash(frozen)
    assert freeze_options(None) == freeze_options({}) == freeze_options(()) == ()
    assert freeze_options(json.loads(json.dumps(frozen))) == frozen  # lists of lists
    for bad, match in [({1: 2}, "names must be str"), ([("a", 1), ("a", 2)], "repeat a name"), (5, "dict of name")]:
        with pytest.raises(ValueError, match=match):
            freeze_options(bad)


# ---- likelihood options through zoo.build / VAEConfig ------------------------------------

FREY_SMALL = dict(data_shape=(1, 28, 20), latent_dim=8, hidden=(64,))


def test_likelihood_options_reach_the_likelihood_and_the_config():
    vae = zoo.build("vae", **FREY_SMALL, likelihood="gaussian", likelihood_options={"scale": 0.1})
    assert isinstance(vae.likelihood, GaussianLikelihood) and vae.likelihood.scale == 0.1
    assert vae.config["likelihood_options"] == (("scale", 0.1),)
    cfg = VAEConfig(likelihood="gaussian", likelihood_options={"scale": 0.1})
    assert hash(cfg) == hash(VAEConfig(likelihood="gaussian", likelihood_options=[("scale", 0.1)]))
    assert VAEConfig().likelihood_options == ()
    assert zoo.build("vae", **FREY_SMALL, likelihood="gaussian").likelihood.scale == 1.0
    learned = zoo.build("vae", **FREY_SMALL, likelihood="gaussian-learned")
    assert learned.decoder(torch.zeros(3, 8)).shape == (3, 2, 1, 28, 20)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(likelihood="gaussian", likelihood_options={"scale": 0}), ValueError, "scale of the gaussian"),
        (dict(likelihood="gaussian", likelihood_options={"sigma": 0.1}), ValueError, r"'sigma' for likelihood"),
        (dict(likelihood_options={"scale": 0.1}), ValueError, r"'scale' for likelihood 'bernoulli'; it takes none"),
        (dict(likelihood_scale=0.1), TypeError, r"bad arguments for model 'vae'.*likelihood_scale"),
    ],
)
def test_bad_likelihood_options_raise_naming_them(kwargs, error, message):
    with pytest.raises(error, match=message):
        zoo.build("vae", **FREY_SMALL, **kwargs)


def test_likelihood_options_survive_fit_resume_and_load(tmp_path):
    torch.manual_seed(0)
    x = torch.rand(40, 1, 28, 20)
    vae = zoo.build("vae", **FREY_SMALL, likelihood="gaussian", likelihood_options={"scale": 0.2})
    zoo.fit(vae, x, epochs=1, batch_size=20, out_dir=tmp_path, progress=False)
    loaded = zoo.load(tmp_path)
    assert loaded.config == vae.config and loaded.likelihood.scale == 0.2
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in vae.state_dict().items())
    assert json.loads((tmp_path / "config.json").read_text())["model"]["likelihood_options"] == [["scale", 0.2]]
    # Resume compares the saved config with the rebuilt model's: it must accept its own run ...
    pyro.clear_param_store()
    torch.manual_seed(0)
    again = zoo.build("vae", **FREY_SMALL, likelihood="gaussian", likelihood_options={"scale": 0.2})
    assert len(zoo.fit(again, x, epochs=2, batch_size=20, out_dir=tmp_path, resume=True, progress=False)) == 2
    # ... and refuse another scale.
    other = zoo.build("vae", **FREY_SMALL, likelihood="gaussian", likelihood_options={"scale": 0.3})
    with pytest.raises(ValueError, match="cannot resume"):
        zoo.fit(other, x, epochs=3, batch_size=20, out_dir=tmp_path, resume=True, progress=False)


# ---- every likelihood trains a VAE on real data ------------------------------------------

# (likelihood, options, dataset); bernoulli on binarized digits, the Gaussians on Frey faces.
CASES = [
    ("bernoulli", {}, "mnist5k-binary"),
    ("gaussian", {"scale": 0.1}, "frey"),
    ("gaussian-learned", {}, "frey"),
]


@pytest.fixture
def frey_train(shared_data):
    """500 Frey faces from the shared data root (conftest's ``shared_data``; skips without it)."""
    if not (shared_data / "frey_faces" / "frey_rawface.mat").is_file():
        pytest.skip(f"Frey faces not found under the shared data root {shared_data}")
    return zoo.data.load("frey", shared_data).train[:500]


def real_data(dataset, mnist_bin, request):
    return mnist_bin[0] if dataset == "mnist5k-binary" else request.getfixturevalue("frey_train")


def svi_losses(vae, x, steps, batch_size=50, lr=3e-3):
    """Per-datapoint losses of ``steps`` SVI steps on minibatches in a seeded order."""
    svi = SVI(vae.model, vae.guide, Adam({"lr": lr}), Trace_ELBO())
    gen = torch.Generator().manual_seed(0)
    return torch.tensor([
        svi.step(x[torch.randint(0, x.shape[0], (batch_size,), generator=gen)]) / batch_size
        for _ in range(steps)
    ])


@pytest.mark.parametrize("name, options, dataset", CASES)
def test_every_likelihood_one_svi_step_is_finite(name, options, dataset, mnist_bin, request):
    assert {c[0] for c in CASES} == set(LIKELIHOODS.names())
    x = real_data(dataset, mnist_bin, request)
    vae = zoo.build("vae", data_shape=tuple(x.shape[1:]), latent_dim=8, hidden=(64,), likelihood=name,
                    likelihood_options=options)
    (loss,) = svi_losses(vae, x, 1)
    assert math.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in vae.parameters() if p.grad is not None)


@pytest.mark.parametrize("name, options, dataset", CASES)
def test_every_likelihood_trains_a_vae_on_real_data(name, options, dataset, mnist_bin, request):
    """200 Adam steps. Bernoulli starts near 784 log 2 = 543 nats and, as in test_train, falls
    by far more than 100. The Gaussians start above 560 log(sqrt(2 pi)) = 515 nats (sigma ~ 1,
    or a large squared error over sigma = 0.1) and must fall by more than 500, to a positive
    ELBO: that needs sigma(z) below ~0.4 on average, or (fixed sigma = 0.1) a mean squared error
    below 0.028 per pixel, under the faces' pixel variance of 0.031. Observed: -640 and -410
    nats; the per-step noise after 200 steps is ~25 nats, ~6 for a mean over 20 steps."""
    x = real_data(dataset, mnist_bin, request)
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=tuple(x.shape[1:]), latent_dim=8, hidden=(64,), likelihood=name,
                    likelihood_options=options)
    losses = svi_losses(vae, x, 200)
    assert torch.isfinite(losses).all()
    first, last = losses[:20].mean().item(), losses[-20:].mean().item()
    if name == "bernoulli":
        assert last < first - 100
    else:
        assert last < first - 500 and last < 0
