"""Every guide on every kind of likelihood: trains with SVI on real data."""
import math

import pyro
import pytest
import torch
from pyro.infer import SVI

import zoo

GUIDES = ["diagonal", "full-rank", "planar:4", "radial:4", "iaf:2", "sylvester:2", "nsf:2"]
# the two slowest to train in the slow tier (their steps have unit tests of their own in the fast one)
FAST = [g if g not in ("sylvester:2", "nsf:2") else pytest.param(g, marks=pytest.mark.slow) for g in GUIDES]


def train(vae, x, steps=200, batch=50, lr=3e-3):
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": lr}), zoo.estimators.get("elbo"))
    n = x.shape[0] // batch
    return [svi.step(x[(i % n) * batch : (i % n + 1) * batch]) / batch for i in range(steps)]


@pytest.fixture
def frey(shared_data):
    return zoo.data.load("frey", shared_data).train[:500]


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES)
def test_gaussian_learned_likelihood_on_frey_faces(guide, frey):
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 20), latent_dim=4, hidden=(64,), likelihood="gaussian-learned",
                    guide=guide)
    losses = train(vae, frey)
    assert all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    # At initialization log-sigma ~ 0, so -log p(x|z) ~ 560 * (0.92 + (x - mu)^2 / 2) ~ 600 nats;
    # learning the scale alone takes it below 0. A 300-nat drop cannot come from noise.
    assert first - last > 300, (first, last)


@pytest.mark.parametrize("guide", FAST)
def test_bernoulli_likelihood_on_binarized_digits(guide, mnist_bin):
    torch.manual_seed(0)
    vae = zoo.build("vae", latent_dim=4, hidden=(64,), guide=guide)
    losses = train(vae, mnist_bin[0])
    assert all(math.isfinite(v) for v in losses)
    # from ~545 nats per image at initialization; minibatch noise is ~10 nats
    assert sum(losses[:20]) / 20 - sum(losses[-20:]) / 20 > 150
