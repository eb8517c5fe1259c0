"""The two-stochastic-layer VAE: its densities by hand, its one-layer case equal to the VAE,
every estimator, active units per layer, and the pipeline (fit, resume, CLI)."""
import math

import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

import zoo
from zoo import estimators
from zoo.evaluation import evaluate, log_likelihood
from zoo.models.hvae import MEAN_DRAWS, LayerMarginal

TINY = dict(data_shape=(1, 28, 28), latent_dims=(6, 3), hidden=(32, 16))
GRADIENT_ESTIMATORS = [("elbo", 1, {}), ("elbo-stl", 1, {}), ("score", 1, {}), ("iwae", 3, {}),
                       ("iwae-dreg", 3, {}), ("iwae-stl", 3, {}), ("renyi", 3, {"alpha": 0.5}),
                       ("miwae", 2, {"num_groups": 2}), ("ciwae", 3, {"beta": 0.5})]


def build(seed=0, **overrides):
    torch.manual_seed(seed)
    return zoo.build("hvae", **{**TINY, **overrides})


@pytest.fixture
def x(mnist_bin):
    return mnist_bin[0][:20]


def test_defaults_are_burdas_two_layer_network():
    hvae = zoo.build("hvae")
    assert hvae.latent_dims == (100, 50) and hvae.latent_sites() == ["z1", "z2"]
    linears = lambda m: [(n.in_features, n.out_features) for n in m.modules() if isinstance(n, torch.nn.Linear)]  # noqa: E731
    assert linears(hvae.encoder) == [(784, 200), (200, 200)]  # q: x -> 200-200 -> z1
    assert linears(hvae.up_encoders[0]) == [(100, 100), (100, 100)]  # q: z1 -> 100-100 -> z2
    assert linears(hvae.conditionals[0]) == [(50, 100), (100, 100), (100, 200)]  # p: z2 -> 100-100 -> z1
    assert linears(hvae.decoder) == [(100, 200), (200, 200), (200, 784)]  # p: z1 -> 200-200 -> x
    assert all(isinstance(m, torch.nn.Tanh) for m in hvae.encoder.net if not isinstance(m, torch.nn.Linear))


def test_log_weight_is_the_sum_of_the_layers_densities_by_hand(x):
    hvae = build()
    guide = poutine.trace(hvae.guide).get_trace(x)
    model = poutine.trace(poutine.replay(hvae.model, trace=guide)).get_trace(x)
    z1, z2 = guide.nodes["z1"]["value"], guide.nodes["z2"]["value"]

    def normal(net, inputs, z):  # the diagonal heads: one linear layer -> loc and softplus scale
        loc, scale = net(inputs).chunk(2, -1)
        return torch.distributions.Normal(loc, F.softplus(scale)).log_prob(z).sum(-1)

    log_q = normal(lambda v: hvae.guide_head.linear(hvae.encoder(v)), x, z1) + \
        normal(lambda v: hvae.up_heads[0].linear(hvae.up_encoders[0](v)), z1, z2)
    log_p = -0.5 * (z2**2).sum(-1) - 1.5 * math.log(2 * math.pi) + \
        normal(lambda v: hvae.conditionals[0][1].linear(hvae.conditionals[0][0](v)), z2, z1) - \
        F.binary_cross_entropy_with_logits(hvae.decoder(z1).reshape(x.shape), x, reduction="none").flatten(1).sum(-1)
    model.compute_log_prob(), guide.compute_log_prob()
    by_sites = sum(model.nodes[s]["log_prob"] for s in ("x", "z1", "z2")) - \
        sum(guide.nodes[s]["log_prob"] for s in ("z1", "z2"))
    assert torch.allclose(by_sites, log_p - log_q, atol=1e-4)


def test_one_layer_equals_the_vae_with_the_same_weights(x):
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=5, hidden=(16, 16))
    hvae = zoo.build("hvae", data_shape=(1, 28, 28), latent_dims=(5,), hidden=(16,), depth=2)
    hvae.load_state_dict(vae.state_dict())
    a = log_likelihood(vae.model, vae.guide, x, num_samples=30, seed=3, progress=False)
    b = log_likelihood(hvae.model, hvae.guide, x, num_samples=30, seed=3, progress=False)
    assert torch.equal(a.log_px, b.log_px)


@pytest.mark.parametrize("name,k,options", GRADIENT_ESTIMATORS, ids=lambda c: str(c))
def test_every_estimator_reaches_every_layer(x, name, k, options):
    hvae = build()
    loss = estimators.get(name, data_shape=(1, 28, 28), num_particles=k, **options).differentiable_loss(
        hvae.model, hvae.guide, x)
    loss.backward()
    assert torch.isfinite(loss)
    for part in ("encoder", "guide_head", "up_encoders", "up_heads", "conditionals", "decoder"):
        grads = [p.grad for p in getattr(hvae, part).parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads), part


def test_elbo_kl_is_refused_naming_the_sites_order(x):
    hvae = build()
    with pytest.raises(ValueError, match="the model samples z2, z1, the guide z1, z2: use 'elbo'"):
        estimators.get("elbo-kl").loss(hvae.model, hvae.guide, x)


def test_the_marginal_of_the_top_layer_is_sampled_ancestrally_and_its_mean_is_rao_blackwellized(x):
    hvae = build()
    q = hvae.encode(x[:3])
    assert isinstance(q, LayerMarginal) and q.batch_shape == (3,) and q.event_shape == (3,)
    torch.manual_seed(0)
    draws = q.sample((4000,))
    assert torch.allclose(q.mean, draws.mean(0), atol=5 * draws.std(0).max().item() / math.sqrt(MEAN_DRAWS))
    with pytest.raises(NotImplementedError, match="no closed-form density"):
        q.log_prob(draws[0])
    assert torch.equal(hvae.encode(x[:3], layer=0).mean, hvae.layer_guide(0, x[:3]).mean)


def test_active_units_per_layer(x):
    hvae = build()
    with torch.no_grad():  # z2's guide ignores z1: no unit of layer 2 can be active
        hvae.up_encoders[0].net[0].weight.zero_()
        hvae.encoder.net[0].weight.mul_(20.0)  # layer 1 follows x strongly
    result = evaluate(hvae, x, num_samples=30, progress=False)
    assert result["latent_dims"] == [6, 3] and result["latent_dim"] == 9
    assert result["active_units_per_layer"][1] == 0 and result["active_units_per_layer"][0] > 0
    assert result["active_units"] == sum(result["active_units_per_layer"])
    assert result["mutual_information"] is None and "no closed-form density" in result["mutual_information_note"]


def test_sampling_generation_and_reconstruction(x):
    hvae = build()
    assert hvae.sample(5).shape == (5, 1, 28, 28)
    z = torch.randn(4, 3)
    assert torch.equal(hvae.generate(z), hvae.generate(z))  # through the conditional means
    assert hvae.reconstruct(x[:2], 3).shape == (3, 2, 1, 28, 28)
    assert hvae.kl(x[:2], num_samples=5).shape == (2,)


def test_kl_and_the_reconstruction_term_add_up_to_the_elbo(x):
    """E_q[log p(x|z1)] - KL(q(z1, z2|x) || p(z1, z2)) = ELBO, both by Monte Carlo (same model)."""
    hvae = build()
    torch.manual_seed(1)
    with torch.no_grad():
        kl = hvae.kl(x, num_samples=2000)
        recon = hvae.decode(hvae.layer_guide(0, x).sample((2000,))).log_prob(x).mean(0)
    elbo = log_likelihood(hvae.model, hvae.guide, x, num_samples=2000, seed=2, progress=False).elbo
    assert (recon - kl).mean().item() == pytest.approx(elbo.mean().item(), abs=0.5)


@pytest.mark.parametrize("bad,message", [
    (dict(hidden=(32,)), "hidden=(32,) must give one width per latent layer"),
    (dict(guide="diagonal,iaf:2,planar:1"), "names 3 guides for 2 latent layers"),
    (dict(prior="vamp:0"), "prior='vamp:0': the number of components K"),
    (dict(prior="vamp:5", guide="diagonal,planar:2"), "needs log q(z|u) at any code z, which guide 'planar:2'"),
    (dict(latent_dims=(6, 0)), "latent_dims must be positive integers"),
    (dict(depth=0), "depth"),
])
def test_bad_configurations_are_refused_in_one_line(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        zoo.build("hvae", **{**TINY, **bad})


def test_a_guide_per_layer(x):
    hvae = build(guide="diagonal,iaf:1")
    assert type(hvae.up_heads[0]).__name__ == "IAFGuide"
    assert math.isfinite(estimators.get("iwae", num_particles=2).loss(hvae.model, hvae.guide, x))


def test_fit_resumes_exactly(x, tmp_path):
    config = dict(estimator="iwae", num_particles=3, seed=4, batch_size=10, progress=False)
    whole = build(prior="mog:3")
    h_whole = zoo.fit(whole, x, epochs=3, out_dir=tmp_path / "whole", **config)
    zoo.fit(build(prior="mog:3"), x, epochs=1, out_dir=tmp_path / "part", **config)
    resumed = build(seed=9, prior="mog:3")
    h_resumed = zoo.fit(resumed, x, epochs=3, out_dir=tmp_path / "part", resume=True, **config)
    for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    assert [r["train_elbo"] for r in h_whole] == [r["train_elbo"] for r in h_resumed]
    loaded = zoo.load(tmp_path / "part")
    assert isinstance(loaded, zoo.HVAE) and torch.equal(loaded.latent_prior.locs, resumed.latent_prior.locs)
