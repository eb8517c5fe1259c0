"""The sigmoid belief net: its log-weight by hand, its defaults (200 units, affine: the SBN of NVIL and VIMCO),
every discrete-latent estimator on it, and the pipeline (fit, resume, load, CLI)."""
import json

import pytest
import torch
from pyro import poutine

import zoo
from tests.clitools import vaezoo, vaezoo_here
from zoo import estimators

TINY = dict(data_shape=(1, 28, 28), layers=(8, 4))
DATA = ["--dataset", "mnist5k", "--binarize", "static", "--train-size", "200", "--test-size", "50",
        "--epochs", "1", "--no-progress"]


def build(seed=0, **overrides):
    torch.manual_seed(seed)
    return zoo.build("sbn", **{**TINY, **overrides})


@pytest.fixture
def x(mnist_bin):
    return mnist_bin[0][:20]


def test_defaults_are_the_sbn_200_of_nvil_and_vimco():
    sbn = zoo.build("sbn")
    assert sbn.latent_dims == (200,) and sbn.latent_sites() == ["h1"]
    linears = [(m.in_features, m.out_features) for m in sbn.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(784, 200), (200, 784)]  # q: x -> h (affine), p: h -> x (affine); p(h): 200 biases
    assert sbn.latent_prior.logits.shape == (200,)
    deep = zoo.build("sbn", layers=(200, 200, 200), hidden=(100,))
    assert deep.latent_sites() == ["h1", "h2", "h3"] and len(deep.conditionals) == 2


def test_log_weight_is_the_sum_of_the_layers_bernoulli_densities_by_hand(x):
    sbn = build()
    guide = poutine.trace(sbn.guide).get_trace(x)
    model = poutine.trace(poutine.replay(sbn.model, trace=guide)).get_trace(x)
    h1, h2 = guide.nodes["h1"]["value"], guide.nodes["h2"]["value"]
    assert set(h1.unique().tolist()) <= {0.0, 1.0}
    bern = lambda logits, v: (v * torch.nn.functional.logsigmoid(logits)  # noqa: E731
                              + (1 - v) * torch.nn.functional.logsigmoid(-logits)).flatten(1).sum(-1)
    log_p = (bern(sbn.latent_prior.logits.expand(20, 4), h2) + bern(sbn.conditionals[0][1].linear(h2), h1)
             + bern(sbn.decoder(h1).squeeze(1), x))
    log_q = bern(sbn.guide_head.linear(x.flatten(1)), h1) + bern(sbn.up_heads[0].linear(h1), h2)
    by_trace = sum(model.nodes[s]["fn"].log_prob(model.nodes[s]["value"]) for s in ("h2", "h1", "x")) \
        - sum(guide.nodes[s]["fn"].log_prob(guide.nodes[s]["value"]) for s in ("h1", "h2"))
    torch.testing.assert_close(by_trace, log_p - log_q)


@pytest.mark.parametrize("name, k, options", [("score", 1, {"baseline": "learned"}), ("vimco", 3, {}),
                                              ("rws", 3, {"phase": "wake+sleep"}), ("concrete", 2, {}),
                                              ("elbo", 1, {})])
def test_every_discrete_estimator_reaches_every_layer(x, name, k, options):
    sbn = build(layers=(5, 3))
    est = estimators.get(name, num_particles=k, data_shape=(1, 28, 28), **options)
    est.differentiable_loss(sbn.model, sbn.guide, x).backward()
    for n, p in sbn.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, n


def test_sampling_reconstruction_and_kl(x):
    sbn = build()
    assert sbn.sample(5).shape == (5, 1, 28, 28) and sbn.reconstruct(x, 2).shape == (2, 20, 1, 28, 28)
    draws = sbn.sample(3, mean=False)
    assert ((draws == 0) | (draws == 1)).all()
    assert sbn.kl(x).shape == (20,) and (sbn.encode(x, 0).mean >= 0).all()


@pytest.mark.parametrize("bad, message", [
    (dict(likelihood="gaussian"), "likelihood must be 'bernoulli'"),
    (dict(layers=()), "layers must not be empty"),
    (dict(layers=(3, 0)), "layers must be positive integers"),
    (dict(activation="nope"), "unknown activation 'nope'"),
])
def test_bad_configurations_are_refused_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("sbn", **bad)


def test_fit_resumes_exactly_with_vimco_and_concrete(x, tmp_path):
    for name, options in (("vimco", {}), ("concrete", {"estimator_options": {"anneal_rate": 0.01}})):
        config = dict(estimator=name, num_particles=3, seed=4, batch_size=10, progress=False, **options)
        whole = build()
        h_whole = zoo.fit(whole, x, epochs=3, out_dir=tmp_path / f"{name}-whole", **config)
        zoo.fit(build(), x, epochs=1, out_dir=tmp_path / f"{name}-part", **config)
        resumed = build(seed=9)
        h_resumed = zoo.fit(resumed, x, epochs=3, out_dir=tmp_path / f"{name}-part", resume=True, **config)
        for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
            assert torch.equal(a, b), (name, key)
        assert [r["train_elbo"] for r in h_whole] == [r["train_elbo"] for r in h_resumed]
    loaded = zoo.load(tmp_path / "concrete-part")
    assert isinstance(loaded, zoo.models.SBN) and torch.equal(loaded.latent_prior.logits, resumed.latent_prior.logits)


def test_sbn_through_the_cli(tmp_path):
    run = tmp_path / "run"
    vaezoo("train", *DATA, "--model", "sbn", "--layers", "10", "5", "--estimator", "vimco", "--num-particles", "3",
           "--out", run)
    config = json.loads((run / "config.json").read_text())["model"]
    assert (config["model"], config["layers"]) == ("sbn", [10, 5])
    vaezoo("train", *DATA[:-3], "--epochs", "2", "--no-progress", "--model", "sbn", "--layers", "10", "5",
           "--estimator", "vimco", "--num-particles", "3", "--out", run, "--resume")
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]
    out = vaezoo("eval", run, "--num-samples", "30", "--no-progress").stdout
    assert "log p(x)" in out and len(json.loads((run / "eval.json").read_text())["active_units_per_layer"]) == 2
    vaezoo("sample", run, "--num-samples", "4")
    vaezoo("plot", run)


@pytest.mark.parametrize("argv, message", [
    (["--model", "sbn", "--latent-dim", "4"], "--latent-dim does not apply to --model sbn (it takes --layers)"),
    (["--model", "vae", "--layers", "4"], "--layers applies to --model sbn, not 'vae'"),
    (["--model", "sbn", "--estimator", "iwae", "--num-particles", "2"], "guide site 'h1' (Bernoulli) has no "
                                                                          "reparameterized sampler"),
    (["--model", "sbn", "--estimator", "vimco"], "vimco needs num_particles >= 2"),
    (["--model", "sbn", "--estimator", "concrete", "--estimator-option", "temperature=0"],
     "temperature must be a positive finite number"),
    (["--model", "sbn", "--estimator", "elbo-enum"], "elbo-enum would sum over 2^200 joint configurations"),
    (["--model", "sbn", "--binarize", "none", "--dataset", "mnist5k"], "must be binary"),
])
def test_bad_input_is_refused_before_anything_is_written(tmp_path, argv, message):
    proc = vaezoo_here("train", *DATA, *argv, "--out", tmp_path / "run")
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists()
