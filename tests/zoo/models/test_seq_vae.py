"""Tests of zoo.models.seq_vae: the sequence VAE as a model/guide pair, teacher forcing, generation
lengths, KL annealing (training objective vs. evaluation), and a short training run on sines."""
import json
import math

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, RenyiELBO, Trace_ELBO, TraceMeanField_ELBO
from pyro.infer.util import site_is_subsample

import zoo
from zoo.estimators import log_weights
from zoo.estimators.bounds import iwae_bound
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.models.seq_vae import DEFAULT_SCALE, KLWarmup, SeqVAE, linear_warmup
from zoo.models.vae import LATENT, OBSERVED

T = 50
GUIDES = ["diagonal", "full-rank", "planar:2", "radial:2", "iaf:2", "sylvester:2"]


@pytest.fixture(scope="module")
def sines():
    return zoo.data.sines(num_train=1000, num_test=200, length=T, seed=0)


def build(seed=0, **kwargs):
    torch.manual_seed(seed)
    return zoo.build("seq-vae", **{"data_shape": (T,), "latent_dim": 3, **kwargs})


def twin(vae, **kwargs):
    """A second model with the same weights and other options."""
    other = build(**{**{k: v for k, v in vae.config.items() if k != "model"}, **kwargs})
    other.load_state_dict(vae.state_dict())
    return other


def traces(vae, x, seed=0):
    pyro.set_rng_seed(seed)
    guide = poutine.trace(vae.guide).get_trace(x)
    model = poutine.trace(poutine.replay(vae.model, trace=guide)).get_trace(x)
    return guide, model


def seeded(fn, *args, seed=0):
    pyro.set_rng_seed(seed)
    return fn(*args)


def loss(vae, x, elbo=None, seed=0):
    pyro.set_rng_seed(seed)
    return (elbo or Trace_ELBO()).loss(vae.model, vae.guide, x)


# ---- a Pyro model/guide pair on any guide -----------------------------------------------


@pytest.mark.parametrize("guide", GUIDES)
def test_every_guide_sites_agree_and_one_svi_step_is_finite(sines, guide):
    vae = build(guide=guide)
    x = sines.train[:8]
    guide_trace, model_trace = traces(vae, x)
    latent = lambda tr: {n for n, s in tr.nodes.items()  # noqa: E731
                         if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)}
    assert latent(guide_trace) == latent(model_trace) == {LATENT}
    assert model_trace.observation_nodes == [OBSERVED]
    assert torch.equal(model_trace.nodes[LATENT]["value"], guide_trace.nodes[LATENT]["value"])
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    assert math.isfinite(svi.step(x))
    assert log_weights(vae.model, vae.guide, x, num_particles=3).shape == (3, 8)


@pytest.mark.parametrize("data_shape", [(T,), (T, 1)])
def test_likelihood_is_a_gaussian_over_the_whole_sequence(sines, data_shape):
    """-log p(x|z) = ||x - mu(z)||^2 / (2 sigma^2) + T (log sigma + log(2 pi) / 2): the L2 loss
    as a log-likelihood, one event over the T samples."""
    vae = build(data_shape=data_shape).double()
    assert dict(vae.config["likelihood_options"]) == {"scale": DEFAULT_SCALE}
    x = sines.test[:4].double().reshape((4,) + data_shape)
    _, model_trace = traces(vae, x)
    site = model_trace.nodes[OBSERVED]
    mu = vae.generate(model_trace.nodes[LATENT]["value"])
    sq = (x - mu).pow(2).reshape(4, -1).sum(-1)
    expected = -sq / (2 * DEFAULT_SCALE**2) - T * (math.log(DEFAULT_SCALE) + 0.5 * math.log(2 * math.pi))
    assert site["fn"].event_shape == data_shape
    assert torch.allclose(site["fn"].log_prob(x), expected)


def test_learned_scale_emits_a_log_sigma_per_sample(sines):
    vae = build(likelihood="gaussian-learned")
    assert vae.decoder.num_params == 2 and vae.config["likelihood_options"] == ()
    p = vae.decode(torch.zeros(2, 3), length=12)
    assert p.event_shape == (12,) and not torch.allclose(p.base_dist.scale, p.base_dist.scale[..., :1])


@pytest.mark.parametrize("kwargs, message", [
    ({"likelihood": "bernoulli"}, "needs a Gaussian likelihood"),
    ({"hidden": (10, 20, 30)}, r"hidden must be two GRU sizes \(encoder, decoder\)"),
    ({"data_shape": (T, 2)}, r"data_shape must be \(T,\) or \(T, 1\)"),
    ({"teacher_forcing": 1.5}, r"teacher_forcing must be a probability in \[0, 1\], got 1.5"),
    ({"activation": "relu"}, "activation must be 'tanh', got 'relu'"),
    ({"samples_per_step": 0}, "samples_per_step must be a positive integer, got 0"),
    ({"guide": "plnar"}, "unknown guide 'plnar'"),
])
def test_config_errors_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(**kwargs)


def test_registered_and_config_round_trips_through_json():
    assert "seq-vae" in zoo.list_models()
    vae = build(likelihood_options={"scale": 0.05}, teacher_forcing=0.6, guide="planar:2")
    config = json.loads(json.dumps(vae.config))
    again = zoo.build(config.pop("model"), **{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
    assert again.config == vae.config and again.likelihood.scale == 0.05 and again.teacher_forcing == 0.6


# ---- teacher forcing --------------------------------------------------------------------


def test_teacher_forcing_changes_training_but_not_evaluation(sines):
    x = sines.train[:16]
    free = build()
    forced = twin(free, teacher_forcing=1.0)
    # Training mode: the forced decoder sees true frames, so the same z gives another loss...
    assert loss(free, x) != pytest.approx(loss(forced, x), rel=1e-3)
    # ... and the same SVI steps from the same start lead to other parameters.
    for vae in (free, forced):
        pyro.set_rng_seed(1)
        svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
        for _ in range(3):
            svi.step(x)
    assert not torch.equal(free.decoder.projection.weight, forced.decoder.projection.weight)
    # Evaluation mode: no teacher forcing, so models with equal weights evaluate identically.
    free, forced = free.eval(), twin(free, teacher_forcing=1.0).eval()
    for vae in (free, forced):
        pyro.set_rng_seed(2)
        vae.log_w = log_weights(vae.model, vae.guide, x, num_particles=4)
    assert torch.equal(free.log_w, forced.log_w)
    assert seeded(elbo_and_kl, forced, x) == seeded(elbo_and_kl, free, x)
    z = torch.randn(5, 3)
    assert torch.equal(forced.generate(z), free.generate(z))


# ---- generation lengths and the latent override -----------------------------------------


@pytest.mark.parametrize("data_shape", [(T,), (T, 1)])
@pytest.mark.parametrize("length", [None, 50, 10, 12, 73])
def test_generation_returns_the_requested_number_of_samples(data_shape, length):
    """A length L that is not a multiple of samples_per_step = 5 decodes ceil(L / 5) steps and
    keeps the first L samples; decoding is causal, so shorter generations are prefixes."""
    vae = build(data_shape=data_shape)
    L = length or T
    assert vae.sample(4, length=length).shape == (4, L) + data_shape[1:]
    z = torch.randn(6, 3)
    p = vae.decode(z, length)
    assert p.event_shape == (L,) + data_shape[1:] and p.batch_shape == (6,)
    assert torch.equal(p.mean, vae.generate(z, length=length))
    assert torch.equal(vae.generate(z, length=L), vae.generate(z, length=80)[:, :L])


def test_decode_overrides_the_latent_and_bad_lengths_are_refused():
    vae = build()
    z = torch.tensor([[0.5, -1.0, 2.0]])
    # The same chosen z always decodes to the same sequence, whatever the random state.
    assert torch.equal(vae.decode(z).mean, vae.decode(z.clone()).mean)
    assert vae.generate(torch.randn(2, 7, 3), length=9).shape == (2, 7, 9)  # leading dims
    for bad in (0, -5, 2.5):
        with pytest.raises(ValueError, match=f"length must be a positive integer, got {bad}"):
            vae.sample(2, length=bad)


# ---- KL annealing --------------------------------------------------------------------------


def annealing_terms(vae, x, seed=0):
    """Per-model sums at the z that Trace_ELBO draws with ``seed``: -log p(x|z), log q - log p."""
    guide_trace, model_trace = traces(vae, x, seed)
    unscaled = lambda site: site["fn"].log_prob(site["value"]).sum()  # noqa: E731
    nll = -unscaled(model_trace.nodes[OBSERVED])
    kl = unscaled(guide_trace.nodes[LATENT]) - unscaled(model_trace.nodes[LATENT])
    return nll.item(), kl.item()


def test_annealing_weights_the_latent_term_of_the_training_loss(sines):
    """Trace_ELBO's loss is -log p(x|z) + beta (log q(z|x) - log p(z)) at the same z: linear in
    beta, and at beta = 1 the plain ELBO (no scale on any site)."""
    vae = build().double()
    x = sines.train[:16].double()
    nll, kl = annealing_terms(vae, x)
    for beta in (1.0, 0.25, 0.5, 2.0):
        vae.kl_weight = beta
        assert loss(vae, x) == pytest.approx(nll + beta * kl, rel=1e-10)
    vae.kl_weight = 1.0
    _, model_trace = traces(vae, x)
    assert all(site["scale"] == 1.0 for site in model_trace.nodes.values() if site["type"] == "sample")
    vae.kl_weight = 0.3  # x is never scaled; z by beta in both model and guide
    guide_trace, model_trace = traces(vae, x)
    assert model_trace.nodes[LATENT]["scale"] == guide_trace.nodes[LATENT]["scale"] == 0.3
    assert model_trace.nodes[OBSERVED]["scale"] == 1.0


def test_annealing_scales_the_closed_form_kl(sines):
    vae = build().double()
    x = sines.train[:16].double()
    vae.kl_weight = 1.0
    full = loss(vae, x, TraceMeanField_ELBO())
    kl = vae.kl(x).sum().item()
    vae.kl_weight = 0.2
    assert loss(vae, x, TraceMeanField_ELBO()) == pytest.approx(full - 0.8 * kl, rel=1e-10)


def test_evaluation_ignores_the_annealing_factor(sines):
    """In eval mode the model is the plain model: log-weights, ELBO and IWAE bounds are the
    same whatever beta is (and they are true bounds)."""
    x = sines.test[:16]
    vae = build().eval()
    results = []
    for beta in (1.0, 0.1, 3.0):
        vae.kl_weight = beta
        pyro.set_rng_seed(0)
        results.append(log_weights(vae.model, vae.guide, x, num_particles=5))
        assert loss(vae, x) == loss(build().eval(), x)
    assert all(torch.equal(r, results[0]) for r in results)
    _, model_trace = traces(vae, x)
    assert model_trace.nodes[LATENT]["scale"] == 1.0
    vae.train()
    assert seeded(elbo_and_kl, vae, x) == seeded(elbo_and_kl, build(), x)  # it switches to eval itself
    assert vae.training


@pytest.mark.parametrize("estimator", ["pyro-renyi", "iwae"])
def test_annealing_sits_inside_each_log_weight_never_on_the_bound(sines, estimator):
    """An importance-weighted objective (Pyro's RenyiELBO with alpha = 0, or the zoo's ``iwae``)
    on the annealed training model sees log w_k = log p(x|z_k) + beta (log p(z_k) - log q(z_k|x)):
    the weight on the latent site's log-densities only -- not beta times the whole log-weight,
    not a factor after the log-sum-exp. In eval mode it is exactly the IWAE bound of ``log_weights``."""
    K, beta = 6, 0.4
    if estimator == "pyro-renyi":
        plate, objective = "num_particles_vectorized", RenyiELBO(alpha=0, num_particles=K, vectorize_particles=True,
                                                                  max_plate_nesting=1)
    elif estimator in zoo.list_estimators():
        plate, objective = "particles", zoo.estimators.get(estimator, num_particles=K)
    else:
        pytest.skip(f"no {estimator!r} estimator registered")
    x = sines.test[:8].double()
    vae = build().double()
    vae.kl_weight = beta

    pyro.set_rng_seed(0)  # the estimator's own particle plate at dim -2: the same draws
    with pyro.plate(plate, K, dim=-2):
        guide = poutine.trace(vae.guide).get_trace(x)
    with pyro.plate(plate, K, dim=-2):
        model = poutine.trace(poutine.replay(vae.model, trace=guide)).get_trace(x)
    lp = lambda site: site["fn"].log_prob(site["value"])  # noqa: E731
    log_lik, log_ratio = lp(model.nodes[OBSERVED]), lp(model.nodes[LATENT]) - lp(guide.nodes[LATENT])

    expected = -iwae_bound((log_lik + beta * log_ratio).T).sum().item()
    assert loss(vae, x, objective) == pytest.approx(expected, rel=1e-10)
    assert abs(expected + iwae_bound((beta * (log_lik + log_ratio)).T).sum().item()) > 1.0
    vae.eval()
    pyro.set_rng_seed(0)
    log_w = log_weights(vae.model, vae.guide, x, num_particles=K)
    assert loss(vae, x, objective) == pytest.approx(-iwae_bound(log_w.T).sum().item(), rel=1e-10)


def test_linear_warmup_and_the_fit_hook(sines):
    """beta_t = min(1, t / n) [Bowman et al. 2016]; through zoo.fit the warm-up changes each
    epoch's training loss but none of its evaluations."""
    assert [linear_warmup(t, 4) for t in (1, 2, 3, 4, 5, 9)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="num_steps must be a positive integer, got 0"):
        linear_warmup(1, 0)
    with pytest.raises(ValueError, match="step must be a positive integer, got 0"):
        linear_warmup(0, 3)
    train, test = sines.train[:100], sines.test[:50]
    # lr = 1e-30 keeps the weights put, so both runs evaluate the same networks.
    runs = {}
    for warmup in (None, 3):
        vae = build()
        hook = KLWarmup(vae, epochs=warmup) if warmup else None
        runs[warmup] = zoo.fit(vae, train, test=test, epochs=3, lr=1e-30, batch_size=50, progress=False,
                               before_epoch=hook)
    plain, warm = runs[None], runs[3]
    assert [r["kl_weight"] for r in warm] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert "kl_weight" not in plain[0]
    for p, w in zip(plain, warm):
        assert (p["train_elbo"], p["test_elbo"], p["test_kl"]) == (w["train_elbo"], w["test_elbo"], w["test_kl"])
    # The same z draws: beta = 1/3 removes 2/3 of the summed log q - log p (positive, ~0.3 nats each).
    assert warm[0]["loss"] < plain[0]["loss"]
    assert warm[2]["loss"] == plain[2]["loss"]  # beta = 1: the same objective and draws


# ---- training through zoo.fit -------------------------------------------------------------


@pytest.mark.parametrize("data_shape", [(T,), (T, 1)])
def test_fit_trains_sequence_tensors_and_load_restores(tmp_path, sines, data_shape):
    vae = build(data_shape=data_shape, teacher_forcing=0.5)
    reshape = lambda x: x[:100].reshape((-1,) + data_shape)  # noqa: E731
    history = zoo.fit(vae, reshape(sines.train), test=reshape(sines.test), epochs=2, batch_size=50,
                      progress=False, out_dir=tmp_path)
    assert all(math.isfinite(r[k]) for r in history for k in ("loss", "train_elbo", "test_elbo", "test_kl"))
    loaded = zoo.load(tmp_path)
    assert isinstance(loaded, SeqVAE) and loaded.teacher_forcing == 0.5 and not loaded.training
    z = torch.randn(3, 3)
    assert torch.equal(loaded.generate(z), vae.eval().generate(z))


@pytest.fixture(scope="module")
def trained(sines):
    """A seq-vae trained 40 epochs (800 steps, ~10-25 s on one shared core) on 1,000 sines.

    latent_dim = 4 rather than the seed's 2: a sine has three factors (amplitude, frequency
    and a circular phase), which two dimensions cannot hold without loss.
    """
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    vae = zoo.build("seq-vae", data_shape=(T,), latent_dim=4)
    zoo.fit(vae, sines.train, epochs=40, batch_size=50, lr=2e-2, seed=0, progress=False)
    pyro.clear_param_store()
    return vae.eval()


@pytest.mark.slow
def test_short_training_reconstructs_held_out_sines(trained, sines):
    """A decoder that ignores z can predict at best E[x_t] = 0 (the phase is uniform), an MSE
    equal to the signal variance E[A^2] / 2 = 0.54. Reconstructing held-out sines with less
    than half of it means z carries each sequence's shape. (These 40 epochs reach 0.20-0.29 of
    the variance with seeds 0-2; 300 epochs reach 0.055, ``vaezoo seq``.)"""
    x = sines.test
    with torch.no_grad():
        mse = (trained.reconstruct(x)[0] - x).pow(2).mean().item()
    assert mse < 0.5 * x.var().item()


@pytest.mark.slow
def test_latent_correlates_with_frequency_on_held_out_data(trained, sines):
    """R^2 of a linear regression of the frequency on the posterior means E_q[z|x] of the 200
    test sines. A z unrelated to frequency gives R^2 ~ (d + 1) / n = 0.025 (a standard error of
    about 0.01); these 40 epochs give 0.89-0.95 with seeds 0-2, so 0.5 leaves a wide margin."""
    with torch.no_grad():
        z = trained.encode(sines.test).mean.double().numpy()
    design = np.c_[z, np.ones(len(z))]
    y = sines.factors["test"]["frequency"].double().numpy()
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = 1 - ((design @ coef - y) ** 2).mean() / y.var()
    assert r2 > 0.5
