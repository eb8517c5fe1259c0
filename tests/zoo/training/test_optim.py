"""Tests of zoo.training.optim.ModuleOptim: one torch optimizer over a module, as SVI's optimizer."""
import io

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from zoo.training.optim import OPTIMIZERS, ModuleOptim, module_optim

NUM_STEPS = 25


def batches(x, num_steps=NUM_STEPS, batch_size=32):
    g = torch.Generator().manual_seed(0)
    return [x[torch.randint(0, x.shape[0], (batch_size,), generator=g)] for _ in range(num_steps)]


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
def test_svi_with_module_optim_equals_the_hand_written_loop(make_vae, mnist_bin, fused):
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    start = {k: v.clone() for k, v in a.state_dict().items()}
    svi_losses = train_svi(a, module_optim("adam", a, lr=1e-3, fused=fused), data)
    hand_losses = train_by_hand(b, data, fused=fused)
    assert svi_losses == pytest.approx(hand_losses, rel=1e-6)
    assert_same_parameters(a, b, exact=True)
    assert not torch.equal(a.decoder.net[0].weight, start["decoder.net.0.weight"])


def test_adam_is_fused_by_default_and_equals_the_loop_up_to_rounding(make_vae, mnist_bin):
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    optim = module_optim("adam", a, lr=1e-3)
    assert optim.optimizer.defaults["fused"] is True
    train_svi(a, optim, data)
    train_by_hand(b, data)  # torch's default on a CPU: the per-tensor loop
    assert_same_parameters(a, b, exact=False)


def test_module_optim_equals_pyro_per_parameter_adam(make_vae, mnist_bin):
    """Adam acts elementwise, so one optimizer over all tensors equals one per tensor."""
    data = batches(mnist_bin[0])
    a, b = make_vae(0), make_vae(0)
    train_svi(a, module_optim("adam", a, lr=1e-3), data)
    train_svi(b, pyro.optim.Adam({"lr": 1e-3}), data)
    assert_same_parameters(a, b, exact=False)


def test_module_optim_differs_from_a_different_optimizer(make_vae, mnist_bin):
    """The comparisons above can fail: SGD with the same learning rate lands elsewhere."""
    data = batches(mnist_bin[0], num_steps=5)
    a, b = make_vae(0), make_vae(0)
    train_svi(a, module_optim("adam", a, lr=1e-3), data)
    train_svi(b, module_optim("sgd", b, lr=1e-3), data)
    assert not torch.allclose(a.decoder.net[0].weight, b.decoder.net[0].weight, rtol=1e-5, atol=1e-7)


def test_step_leaves_gradients_cleared(make_vae, mnist_bin):
    vae = make_vae()
    train_svi(vae, module_optim("adam", vae, lr=1e-3), batches(mnist_bin[0], num_steps=1))
    assert all(p.grad is None or not p.grad.any() for p in vae.parameters())


def test_parameter_outside_the_module_raises(make_vae, mnist_bin):
    vae = make_vae()

    def model(x):
        pyro.param("extra", torch.zeros(3))
        return vae.model(x)

    svi = SVI(model, vae.guide, module_optim("adam", vae, lr=1e-3), Trace_ELBO())
    with pytest.raises(ValueError, match=r"used 1 parameter\(s\) outside the optimized module \(shapes \(3,\)\)"):
        svi.step(mnist_bin[0][:8])


def test_get_state_set_state_round_trip(make_vae, mnist_bin):
    data = batches(mnist_bin[0], num_steps=10)
    a = make_vae(0)
    opt_a = module_optim("adam", a, lr=1e-3)
    train_svi(a, opt_a, data[:5])
    # Through bytes, as in a checkpoint: torch's state_dict holds live references to the moments.
    buffer = io.BytesIO()
    torch.save(opt_a.get_state(), buffer)
    buffer.seek(0)
    state = torch.load(buffer)
    assert len(state["state"]) == len(list(a.parameters()))

    b = make_vae(1)  # other weights, fresh optimizer: everything comes from the state
    b.load_state_dict(a.state_dict())
    opt_b = module_optim("adam", b, lr=1e-3)
    opt_b.set_state(state)
    for key, s in opt_b.get_state()["state"].items():
        for name, value in s.items():
            assert torch.equal(value, state["state"][key][name]), (key, name)

    train_svi(a, opt_a, data[5:], seed=3)
    train_svi(b, opt_b, data[5:], seed=3)
    assert_same_parameters(a, b, exact=True)

    # The test can fail: a fresh optimizer (Adam's moments and step count lost) lands elsewhere.
    c = make_vae(0)
    train_svi(c, module_optim("adam", c, lr=1e-3), data[:5])
    train_svi(c, module_optim("adam", c, lr=1e-3), data[5:], seed=3)
    assert not torch.equal(c.decoder.net[0].weight, a.decoder.net[0].weight)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_module_optim_by_name(make_vae, name):
    vae = make_vae()
    opt = module_optim(name, vae, lr=0.01)
    assert isinstance(opt, ModuleOptim) and isinstance(opt.optimizer, OPTIMIZERS[name])
    assert opt.optimizer.param_groups[0]["lr"] == 0.01
    assert [id(p) for p in opt.optimizer.param_groups[0]["params"]] == [id(p) for p in vae.parameters()]


def test_unknown_optimizer_lists_choices(make_vae):
    with pytest.raises(ValueError, match=r"unknown optimizer 'adma'; choose from adam, adamw, rmsprop, sgd"):
        module_optim("adma", make_vae(), lr=1e-3)
