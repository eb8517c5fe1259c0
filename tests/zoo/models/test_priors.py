"""Learned priors: their densities by hand, their place in the log-weights, and the refusals."""
import math

import pytest
import torch
from torch.distributions import Normal

import zoo
from zoo import estimators
from zoo.evaluation import log_likelihood
from zoo.models.priors import MixturePrior, VampPrior, parse_prior

SMALL = dict(data_shape=(1, 28, 28), latent_dim=4, hidden=(32,))


@pytest.fixture
def x(mnist_bin):
    return mnist_bin[0][:16]


def test_the_mixture_density_by_hand():
    torch.manual_seed(0)
    prior = MixturePrior(3, 4)
    with torch.no_grad():
        prior.logits.copy_(torch.randn(4))
        prior.scales_raw.copy_(torch.randn(4, 3))
    z = torch.randn(5, 2, 3)
    weights = prior.logits.log_softmax(0)
    scales = torch.nn.functional.softplus(prior.scales_raw)
    by_hand = torch.logsumexp(weights + Normal(prior.locs, scales).log_prob(z[..., None, :]).sum(-1), -1)
    assert torch.allclose(prior().log_prob(z), by_hand, atol=1e-5)
    assert prior().sample((7,)).shape == (7, 3)


def test_the_vamp_prior_is_the_guides_mixture_at_the_pseudo_inputs(x):
    torch.manual_seed(0)
    vae = zoo.build("vae", **SMALL, prior="vamp:6")
    prior = vae.prior()
    u = vae.latent_prior.inputs()
    assert u.shape == (6, 1, 28, 28) and bool(((u >= 0) & (u <= 1)).all())  # hardtanh for Bernoulli data
    z = torch.randn(5, 4)
    q = vae.encode(u)  # batch (6,)
    by_hand = torch.logsumexp(q.log_prob(z[:, None, :]), -1) - math.log(6)
    assert torch.allclose(prior.log_prob(z), by_hand, atol=1e-5)


def test_the_prior_density_enters_the_log_weights(x):
    """A one-component mixture at N(0, I) is the standard normal: the same log p(x) to float
    precision; moving its mean changes it."""
    torch.manual_seed(0)
    standard = zoo.build("vae", **SMALL)
    mog = zoo.build("vae", **SMALL, prior="mog:1")
    missing = mog.load_state_dict(standard.state_dict(), strict=False)
    assert set(missing.missing_keys) == {"latent_prior.logits", "latent_prior.locs", "latent_prior.scales_raw"}
    with torch.no_grad():
        mog.latent_prior.locs.zero_()
        mog.latent_prior.scales_raw.fill_(math.log(math.e - 1))  # softplus^-1(1)
    a = log_likelihood(standard.model, standard.guide, x, num_samples=20, seed=1, progress=False).log_px
    b = log_likelihood(mog.model, mog.guide, x, num_samples=20, seed=1, progress=False).log_px
    assert torch.allclose(a, b, atol=1e-4)
    with torch.no_grad():
        mog.latent_prior.locs.fill_(1.0)
    c = log_likelihood(mog.model, mog.guide, x, num_samples=20, seed=1, progress=False).log_px
    assert not torch.allclose(a, c, atol=1e-2)


@pytest.mark.parametrize("prior", ["mog:3", "vamp:3"])
def test_the_priors_parameters_learn(x, prior):
    torch.manual_seed(0)
    vae = zoo.build("vae", **SMALL, prior=prior)
    loss = estimators.get("iwae", num_particles=3).differentiable_loss(vae.model, vae.guide, x)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vae.latent_prior.parameters())


def test_the_standard_prior_keeps_the_closed_form_kl_and_the_state_dict(x):
    vae = zoo.build("vae", **SMALL)
    assert not any(k.startswith("latent_prior") for k in vae.state_dict())
    q = vae.encode(x)
    by_hand = 0.5 * (q.base_dist.loc**2 + q.base_dist.scale**2 - 1 - 2 * q.base_dist.scale.log()).sum(-1)
    assert torch.allclose(vae.kl(x), by_hand, atol=1e-5)


def test_elbo_kl_says_it_needs_a_closed_form_and_what_to_use(x):
    vae = zoo.build("vae", **SMALL, prior="mog:2")
    with pytest.raises(ValueError, match="elbo-kl needs KL.* in closed form, and site 'z' has none .* use 'elbo'"):
        estimators.get("elbo-kl").loss(vae.model, vae.guide, x)


@pytest.mark.parametrize("spec,message", [
    ("vamp:0", "prior='vamp:0': the number of components K after ':' must be a positive integer, got '0'"),
    ("vamp", "prior='vamp': the number of components K"),
    ("mog:x", "prior='mog:x': the number of components K"),
    ("gauss", "prior='gauss': unknown prior 'gauss'; expected standard, mog:K or vamp:K"),
    ("standard:3", "takes no number of components"),
])
def test_bad_prior_names_are_refused_in_one_line(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_prior(spec)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        zoo.build("vae", **SMALL, prior=spec)


def test_vamp_needs_a_guide_with_a_density_anywhere_and_ae_has_no_prior_to_learn():
    with pytest.raises(ValueError, match="needs log q\\(z\\|u\\) at any code z, which guide 'iaf:2' cannot give"):
        zoo.build("vae", **SMALL, prior="vamp:5", guide="iaf:2")
    with pytest.raises(ValueError, match="the ae model's prior is flat and fixed"):
        zoo.build("ae", **SMALL, prior="mog:2")
    assert isinstance(zoo.build("vae", **SMALL, prior="vamp:5", guide="full-rank").latent_prior, VampPrior)
