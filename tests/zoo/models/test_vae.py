"""Tests of zoo.models.vae: the model/guide pair, its densities, KL, sampling and input checks."""
import copy
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.poutine.util import site_is_subsample
from torch import nn

import zoo
from zoo.models.vae import DATA_PLATE, LATENT, OBSERVED, VAE


def traces(model, guide, x):
    guide_trace = poutine.trace(guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(x)
    return model_trace, guide_trace


def sample_sites(trace):
    """Sample and observe sites, without the plates' subsample sites."""
    nodes = trace.nodes.items()
    return {name: site for name, site in nodes if site["type"] == "sample" and not site_is_subsample(site)}


def hand_log_joint(vae, x, z):
    """log p(x, z) from the definitions: N(0, I) prior and Bernoulli(sigmoid(logits)) pixels."""
    log_prior = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    logits = vae.decoder(z).squeeze(-4)
    bce = F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    log_lik = -bce.flatten(-3).sum(-1)
    return log_prior + log_lik


# ---- model / guide structure ------------------------------------------------------------


def test_model_and_guide_sites_agree(make_vae, mnist_bin):
    vae = make_vae()
    x = mnist_bin[0][:7]
    model_trace, guide_trace = traces(vae.model, vae.guide, x)
    model_sites, guide_sites = sample_sites(model_trace), sample_sites(guide_trace)

    assert set(guide_sites) == {LATENT} == {"z"}
    assert set(model_sites) == {LATENT, OBSERVED} == {"z", "x"}
    assert not model_sites["z"]["is_observed"] and model_sites["x"]["is_observed"]
    assert model_sites["x"]["value"] is x
    assert torch.equal(model_sites["z"]["value"], guide_sites["z"]["value"])
    assert guide_sites["z"]["value"].shape == (7, vae.latent_dim)
    for site in (model_sites["z"], model_sites["x"], guide_sites["z"]):
        frames = site["cond_indep_stack"]
        assert [(f.name, f.size, f.dim) for f in frames] == [(DATA_PLATE, 7, -1)]
    assert model_sites["x"]["fn"].batch_shape == (7,)
    assert model_sites["x"]["fn"].event_shape == (1, 28, 28)
    assert model_sites["z"]["fn"].event_shape == guide_sites["z"]["fn"].event_shape == (vae.latent_dim,)


def test_model_log_joint_equals_hand_computation(make_vae, mnist_bin):
    vae = make_vae().double()
    x = mnist_bin[0][:9].double()
    model_trace, guide_trace = traces(vae.model, vae.guide, x)
    z = guide_trace.nodes["z"]["value"]
    model_trace.compute_log_prob()
    log_joint = model_trace.nodes["z"]["log_prob"] + model_trace.nodes["x"]["log_prob"]
    assert torch.allclose(log_joint, hand_log_joint(vae, x, z), rtol=1e-12, atol=1e-9)


def test_guide_log_density_equals_diagonal_normal(make_vae, mnist_bin):
    vae = make_vae().double()
    x = mnist_bin[0][:9].double()
    guide_trace = poutine.trace(vae.guide).get_trace(x)
    guide_trace.compute_log_prob()
    z = guide_trace.nodes["z"]["value"]
    h = vae.encoder(x)
    m, s = vae.guide_head.linear(h).split(vae.latent_dim, -1)
    s = F.softplus(s)
    expected = (-0.5 * ((z - m) / s) ** 2 - s.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    assert torch.allclose(guide_trace.nodes["z"]["log_prob"], expected, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("num_particles", [1, 5])
def test_vectorized_particles(make_vae, mnist_bin, num_particles):
    """Under a particle plate at dim -2 the decoder takes z of shape (K, N, D); each particle's
    log-density equals the unvectorized density of the same z."""
    vae = make_vae().double()
    x = mnist_bin[0][:6].double()

    def vectorized(fn):
        def wrapped(x):
            with pyro.plate("particles", num_particles, dim=-2):
                return fn(x)

        return wrapped

    model_trace, guide_trace = traces(vectorized(vae.model), vectorized(vae.guide), x)
    z = guide_trace.nodes["z"]["value"]
    assert z.shape == (num_particles, 6, vae.latent_dim)
    model_trace.compute_log_prob()
    log_px = model_trace.nodes["x"]["log_prob"]
    assert log_px.shape == (num_particles, 6)
    for k in range(num_particles):
        conditioned = poutine.trace(poutine.condition(vae.model, data={"z": z[k]})).get_trace(x)
        conditioned.compute_log_prob()
        assert torch.allclose(conditioned.nodes["x"]["log_prob"], log_px[k], rtol=1e-12)
    assert torch.allclose(model_trace.nodes["z"]["log_prob"] + log_px, hand_log_joint(vae, x, z), rtol=1e-12)


def test_one_svi_step_is_finite_and_changes_every_parameter(make_vae, mnist_bin):
    vae = make_vae()
    before = {k: v.clone() for k, v in vae.named_parameters()}
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    loss = svi.step(mnist_bin[0][:32])
    assert math.isfinite(loss)
    # At initialization the decoder's logits are near 0, so -log p(x|z) is near 784 log 2 per datum.
    assert 0.8 * 784 * math.log(2) < loss / 32 < 1.2 * 784 * math.log(2)
    for name, p in vae.named_parameters():
        assert not torch.equal(p, before[name]), name


def test_param_sites_are_each_vaes_own_parameters_and_the_store_stays_empty(make_vae, mnist_bin):
    """Plain SVI reads ``site["value"].unconstrained()`` of param sites: for two VAEs in one process
    those are each one's own tensors, under the same names, and Pyro's param store is never used."""
    a, b = make_vae(0), make_vae(1)
    x = mnist_bin[0][:10]
    for vae in (a, b):
        with poutine.trace(param_only=True) as params:
            guide_trace = poutine.trace(vae.guide).get_trace(x)
            poutine.replay(vae.model, trace=guide_trace)(x)
        found = {name: site["value"].unconstrained() for name, site in params.trace.nodes.items()}
        expected = {name: p for name, p in vae.named_parameters()}
        assert set(found) == set(expected)
        assert all(found[name] is p for name, p in expected.items())
    assert len(pyro.get_param_store()) == 0


def test_no_param_sites_under_module_local_params(make_vae, mnist_bin):
    """zoo.fit's route: the torch optimizer holds the parameters, the traces hold none."""
    vae = make_vae()
    with pyro.settings.context(module_local_params=True), poutine.trace(param_only=True) as params:
        poutine.trace(vae.guide).get_trace(mnist_bin[0][:4])
    assert len(params.trace.nodes) == 0


def test_deepcopy_trains_its_own_parameters(make_vae, mnist_bin):
    """A copy of a VAE trained by plain SVI updates its own tensors, never the original's
    (with ``pyro.module`` and fixed names, Pyro's param store would hand it the original's)."""
    original = make_vae()
    x = mnist_bin[0][:20]
    SVI(original.model, original.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO()).step(x)
    clone = copy.deepcopy(original)
    frozen_original = {k: v.clone() for k, v in original.state_dict().items()}
    before = {k: v.clone() for k, v in clone.state_dict().items()}

    SVI(clone.model, clone.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO()).step(x)

    assert all(torch.equal(v, frozen_original[k]) for k, v in original.state_dict().items()), (
        "training the deep copy changed the original's parameters"
    )
    assert not torch.equal(clone.decoder.net[-1].bias, before["decoder.net.2.bias"]), (
        "training the deep copy left its own parameters unchanged"
    )


# ---- KL(q(z|x) || p(z)) -----------------------------------------------------------------


def test_kl_equals_hand_closed_form(trained_vae, mnist_bin):
    vae = trained_vae.double()
    x = mnist_bin[1][:50].double()
    h = vae.encoder(x)
    m, s = vae.guide_head.linear(h).split(vae.latent_dim, -1)
    s = F.softplus(s)
    # The seed's formula for a diagonal Gaussian against N(0, I).
    expected = -0.5 * (1 + torch.log(s**2) - m**2 - s**2).sum(-1)
    kl = vae.kl(x)
    assert kl.shape == (50,)
    assert torch.allclose(kl, expected, rtol=1e-10, atol=1e-10)
    assert (kl > 0).all()


def test_kl_equals_monte_carlo_within_standard_error(trained_vae, mnist_bin):
    vae = trained_vae
    x = mnist_bin[1][:16]
    num_draws = 20000
    with torch.no_grad():
        q = vae.encode(x)
        z = q.sample((num_draws,))
        log_ratio = q.log_prob(z) - vae.prior().log_prob(z)
        kl = vae.kl(x)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(num_draws)
    assert ((mc - kl).abs() < 4 * se).all(), ((mc - kl) / se).tolist()
    # The comparison has power: the trained guide is far from the prior.
    assert (kl > 20 * se).all()


class _UnregisteredKLHead(nn.Module):
    """A diagonal Gaussian written as a transformed distribution, which has no registered KL."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, h):
        base = self.inner(h).base_dist
        identity = dist.transforms.AffineTransform(0.0, 1.0)
        return dist.TransformedDistribution(dist.Normal(base.loc, base.scale), [identity]).to_event(1)


def test_kl_falls_back_to_monte_carlo(trained_vae, mnist_bin):
    vae = trained_vae
    x = mnist_bin[1][:16]
    exact = vae.kl(x).detach()
    other = VAE(vae.encoder, _UnregisteredKLHead(vae.guide_head), vae.decoder, vae.likelihood, vae.latent_dim)
    with torch.no_grad():
        q = other.encode(x)
        z = q.sample((20000,))
        se = (q.log_prob(z) - other.prior().log_prob(z)).std(0) / math.sqrt(20000)
        mc = other.kl(x, num_samples=20000)
    assert mc.shape == (16,)
    assert ((mc - exact).abs() < 4 * se).all()


# ---- sampling and reconstruction --------------------------------------------------------


def test_sample_shape_range_and_definition(trained_vae):
    vae = trained_vae
    torch.manual_seed(3)
    probs = vae.sample(11)
    assert probs.shape == (11, 1, 28, 28)
    assert ((probs >= 0) & (probs <= 1)).all()
    torch.manual_seed(3)
    z = vae.prior().sample((11,))
    assert torch.equal(probs, torch.sigmoid(vae.decoder(z).squeeze(1)).detach())

    draws = vae.sample(500, mean=False)
    assert draws.shape == (500, 1, 28, 28)
    assert ((draws == 0) | (draws == 1)).all()
    # Draws are Bernoulli(probabilities): their mean tracks the mean probability image.
    mean_probs = vae.sample(4000).mean(0)
    assert (draws.mean(0) - mean_probs).abs().mean() < 0.03


@pytest.mark.parametrize("n", [0, -2, 2.0, True, None])
def test_sample_rejects_bad_counts(make_vae, n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        make_vae().sample(n)


@pytest.mark.parametrize("k", [1, 3])
def test_reconstruct_shape_and_determinism(trained_vae, mnist_bin, k):
    vae = trained_vae
    x = mnist_bin[1][:5]
    torch.manual_seed(7)
    recon = vae.reconstruct(x, num_samples=k)
    assert recon.shape == (k, 5, 1, 28, 28)
    assert ((recon >= 0) & (recon <= 1)).all()
    torch.manual_seed(7)
    assert torch.equal(vae.reconstruct(x, num_samples=k), recon)
    torch.manual_seed(7)
    z = vae.encode(x).sample((k,))
    assert torch.equal(recon, torch.sigmoid(vae.decoder(z).squeeze(-4)).detach())
    torch.manual_seed(8)
    assert not torch.equal(vae.reconstruct(x, num_samples=k), recon)


def test_reconstruct_of_trained_model_beats_the_mean_image(trained_vae, mnist_bin):
    train, test = mnist_bin
    recon = trained_vae.reconstruct(test, num_samples=1)[0]
    mean_image = train.mean(0, keepdim=True).expand_as(test)
    bce = lambda p: F.binary_cross_entropy(p.clamp(1e-6, 1 - 1e-6), test)  # noqa: E731
    # The training mean image is (about) the best reconstruction that ignores x; a guide whose
    # z carries information about x must beat it (after 200 steps the gap is about 17%).
    assert bce(recon) < 0.9 * bce(mean_image)


def test_reconstruct_rejects_bad_counts(make_vae, mnist_bin):
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        make_vae().reconstruct(mnist_bin[0][:2], num_samples=0)


# ---- input checks -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["model", "guide"])
def test_nonbinary_data_raises_with_validation(make_vae, mnist_gray, method):
    x = mnist_gray[0][:10]
    with pytest.raises(ValueError, match=r"x must be binary .*bernoulli.*binarize"):
        getattr(make_vae(), method)(x)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("method", ["model", "guide", "reconstruct"])
def test_nonfinite_data_raises(make_vae, mnist_bin, bad, method):
    x = mnist_bin[0][:4].clone()
    x[1, 0, 3, 4] = bad
    with pytest.raises(ValueError, match="x contains 1 NaN or infinite values"):
        getattr(make_vae(), method)(x)


@pytest.mark.parametrize("shape", [(4, 784), (4, 28, 28), (4, 1, 28, 27), (1, 28, 28), (2, 4, 1, 28, 28)])
def test_wrong_shape_raises(make_vae, shape):
    x = torch.zeros(shape)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 28, 28\) to match data_shape"):
        make_vae().model(x)
    with pytest.raises(ValueError, match=r"x must have shape"):
        make_vae().guide(x)


def test_non_tensor_raises(make_vae):
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        make_vae().model([[0.0] * 784])


def test_support_check_follows_pyro_validation_but_shape_check_does_not(make_vae, mnist_gray):
    vae = make_vae()
    x = mnist_gray[0][:10]
    with pyro.validation_enabled(False):
        vae.model(x)  # support checks are skipped, as documented
        with pytest.raises(ValueError, match="x must have shape"):
            vae.model(x.flatten(1))


def test_plain_pyro_svi_learns(make_vae, mnist_bin):
    """Users can train the pair with stock Pyro: SVI + pyro.optim.Adam + Trace_ELBO."""
    train = mnist_bin[0]
    vae = make_vae()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    g = torch.Generator().manual_seed(0)
    losses = torch.tensor([svi.step(train[torch.randperm(500, generator=g)[:100]]) / 100 for _ in range(300)])
    assert torch.isfinite(losses).all()
    first, last = losses[:20].mean(), losses[-20:].mean()
    # Steps start near 784 log 2 = 543 nats per datum and 300 steps reach ~200; step-to-step
    # noise is ~5 nats, so each 20-step mean has a standard error of ~1 nat. A 100-nat drop is
    # far outside noise yet well short of what learning the pixel marginals alone achieves.
    assert last < first - 100, (first.item(), last.item())
    assert (losses[-20:] < first).all()


def test_one_svi_step_on_shared_mnist(make_vae, shared_data):
    """The full MNIST files of the shared data root, where present, feed the same model."""
    train = zoo.data.load("mnist", shared_data, binarize="static").train
    assert train.shape == (60000, 1, 28, 28)
    vae = make_vae()
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 1e-3}), Trace_ELBO())
    assert math.isfinite(svi.step(train[:256]))


def test_kl_weight_scales_the_latent_term_in_training_only(make_vae, mnist_bin):
    """Same draws: loss(beta) = -log p(x|z) + beta (log q - log p) for the plain VAE too, and
    evaluation (eval mode) ignores beta."""
    from zoo.estimators import log_weights

    vae, x = make_vae().double(), mnist_bin[0][:6].double()
    losses = {}
    for beta in (1.0, 0.25):
        vae.kl_weight = beta
        torch.manual_seed(0)
        losses[beta] = Trace_ELBO().loss(vae.model, vae.guide, x)
    torch.manual_seed(0)
    z = vae.encode(x).rsample()
    log_lik = vae.decode(z).log_prob(x).sum().item()
    latent = (vae.encode(x).log_prob(z) - vae.prior().log_prob(z)).sum().item()
    assert losses[1.0] == pytest.approx(-log_lik + latent, rel=1e-10)
    assert losses[0.25] == pytest.approx(-log_lik + 0.25 * latent, rel=1e-10)
    vae.eval()
    pyro.set_rng_seed(1)
    scaled = log_weights(vae.model, vae.guide, x, num_particles=3)
    vae.kl_weight = 1.0
    pyro.set_rng_seed(1)
    assert torch.equal(scaled, log_weights(vae.model, vae.guide, x, num_particles=3))
    with pytest.raises(ValueError, match="kl_weight must be a positive finite number, got 0"):
        vae.kl_weight = 0
