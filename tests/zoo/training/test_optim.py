"""Tests of zoo.training's step: a torch optimizer on differentiable_loss equals the hand-written
loop and plain SVI, leaves the param store empty, and checkpoints its state exactly."""
import io

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from zoo import estimators
from zoo.training import OPTIMIZERS, make_optimizer, step, trainable_parameters

NUM_STEPS = 25


def batches(x, num_steps=NUM_STEPS, batch_size=32):
    g = torch.Generator().manual_seed(0)
    return [x[torch.randint(0, x.shape[0], (batch_size,), generator=g)] for _ in range(num_steps)]


def train_zoo(vae, optimizer, data, seed=1, estimator=None):
    pyro.set_rng_seed(seed)
    estimator = estimator or Trace_ELBO()
    return [step(vae, estimator, optimizer, x).item() for x in data]


def train_svi(vae, optim, data, seed=1):
    pyro.set_rng_seed(seed)
    svi = SVI(vae.model, vae.guide, optim, Trace_ELBO())
    return [svi.step(x) for x in data]


def train_by_hand(vae, data, seed=1, lr=1e-3, **adam_options):
    """The plain PyTorch loop with the same objective and the same draws."""
    pyro.set_rng_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr, **adam_options)
    losses = []
    for x in data:
        loss = Trace_ELBO().differentiable_loss(vae.model, vae.guide, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def assert_same_parameters(a, b, exact=True):
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        if exact:
            assert torch.equal(p, q), name
        else:
            assert torch.allclose(p, q, rtol=1e-6, atol=1e-8), name


@pytest.mark.parametrize("fused", [True, False])
def test_step_equals_the_hand_written_loop(make_vae, mnist_bin, fused):
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    start = {k: v.clone() for k, v in a.state_dict().items()}
    zoo_losses = train_zoo(a, make_optimizer("adam", a.parameters(), lr=1e-3, fused=fused), data)
    hand_losses = train_by_hand(b, data, fused=fused)
    assert zoo_losses == pytest.approx(hand_losses, rel=1e-6)
    assert_same_parameters(a, b, exact=True)
    assert not torch.equal(a.decoder.net[0].weight, start["decoder.net.0.weight"])


def test_step_never_touches_the_param_store(make_vae, mnist_bin):
    vae = make_vae()
    train_zoo(vae, make_optimizer("adam", vae.parameters(), lr=1e-3), batches(mnist_bin[0], num_steps=2))
    assert len(pyro.get_param_store()) == 0


def test_adam_is_fused_by_default_and_equals_the_loop_up_to_rounding(make_vae, mnist_bin):
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    optimizer = make_optimizer("adam", a.parameters(), lr=1e-3)
    assert optimizer.defaults["fused"] is True
    train_zoo(a, optimizer, data)
    train_by_hand(b, data)  # torch's default on a CPU: the per-tensor loop
    assert_same_parameters(a, b, exact=False)


def test_step_equals_plain_svi_with_pyro_adam(make_vae, mnist_bin):
    """Adam acts elementwise, so one optimizer over all tensors equals Pyro's one per tensor;
    plain SVI finds the parameters through the model's and guide's param sites."""
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    train_zoo(a, make_optimizer("adam", a.parameters(), lr=1e-3), data)
    train_svi(b, pyro.optim.Adam({"lr": 1e-3}), data)
    assert_same_parameters(a, b, exact=False)
    assert len(pyro.get_param_store()) == 0


def test_a_different_optimizer_lands_elsewhere(make_vae, mnist_bin):
    """The comparisons above can fail: SGD with the same learning rate lands elsewhere."""
    data = batches(mnist_bin[0], num_steps=5)
    a, b = make_vae(0), make_vae(0)
    train_zoo(a, make_optimizer("adam", a.parameters(), lr=1e-3), data)
    train_zoo(b, make_optimizer("sgd", b.parameters(), lr=1e-3), data)
    assert not torch.allclose(a.decoder.net[0].weight, b.decoder.net[0].weight, rtol=1e-5, atol=1e-7)


def test_optimizer_state_round_trip(make_vae, mnist_bin):
    data = batches(mnist_bin[0], num_steps=10)
    a = make_vae(0)
    opt_a = make_optimizer("adam", a.parameters(), lr=1e-3)
    train_zoo(a, opt_a, data[:5])
    # Through bytes, as in a checkpoint: torch's state_dict holds live references to the moments.
    buffer = io.BytesIO()
    torch.save(opt_a.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert len(state["state"]) == len(list(a.parameters()))

    b = make_vae(1)  # other weights, fresh optimizer: everything comes from the state
    b.load_state_dict(a.state_dict())
    opt_b = make_optimizer("adam", b.parameters(), lr=1e-3)
    opt_b.load_state_dict(state)
    train_zoo(a, opt_a, data[5:], seed=3)
    train_zoo(b, opt_b, data[5:], seed=3)
    assert_same_parameters(a, b, exact=True)

    # The test can fail: a fresh optimizer (Adam's moments and step count lost) lands elsewhere.
    c = make_vae(0)
    train_zoo(c, make_optimizer("adam", c.parameters(), lr=1e-3), data[:5])
    train_zoo(c, make_optimizer("adam", c.parameters(), lr=1e-3), data[5:], seed=3)
    assert not torch.equal(c.decoder.net[0].weight, a.decoder.net[0].weight)


def test_trainable_parameters_include_a_learned_baseline(make_vae):
    vae = make_vae()
    score = estimators.get("score", num_particles=1, baseline="learned", data_shape=vae.data_shape)
    params = trainable_parameters(vae, score)
    assert len(params) == len(list(vae.parameters())) + len(list(score.baseline_net.parameters()))
    assert {id(p) for p in score.baseline_net.parameters()} <= {id(p) for p in params}
    assert trainable_parameters(vae, Trace_ELBO()) == list(vae.parameters())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_make_optimizer_by_name(make_vae, name):
    vae = make_vae()
    opt = make_optimizer(name, vae.parameters(), lr=0.01)
    assert isinstance(opt, OPTIMIZERS[name]) and opt.param_groups[0]["lr"] == 0.01
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in vae.parameters()]


def test_unknown_optimizer_lists_choices(make_vae):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'; choose from adam, adamw, rmsprop, sgd"):
        make_optimizer("adma", make_vae().parameters(), lr=1e-3)
