"""The hand-written reference VAE computes the same objectives as zoo's estimators."""
import pytest
import torch

import zoo
from benchmarks.reference import TorchVAE


def copy_weights(vae, ref):
    """zoo's MLP VAE weights into the hand-written one (its guide head splits into loc and scale)."""
    s = vae.state_dict()
    d = vae.latent_dim
    with torch.no_grad():
        ref.encoder[0].weight.copy_(s["encoder.net.0.weight"]), ref.encoder[0].bias.copy_(s["encoder.net.0.bias"])
        ref.loc.weight.copy_(s["guide_head.linear.weight"][:d]), ref.loc.bias.copy_(s["guide_head.linear.bias"][:d])
        ref.scale.weight.copy_(s["guide_head.linear.weight"][d:]), ref.scale.bias.copy_(s["guide_head.linear.bias"][d:])
        for i in (0, 2):
            ref.decoder[i].weight.copy_(s[f"decoder.net.{i}.weight"])
            ref.decoder[i].bias.copy_(s[f"decoder.net.{i}.bias"])


@pytest.mark.parametrize("k", [1, 7])
def test_hand_written_iwae_equals_zoo_iwae(mnist_bin, k):
    """Same weights, same noise (the global RNG): the two -L_K agree, and so do their gradients."""
    torch.manual_seed(0)
    vae = zoo.build("vae", data_shape=(1, 28, 28), latent_dim=4, hidden=(16,)).double()
    ref = TorchVAE(784, (16,), 4).double()
    copy_weights(vae, ref)
    x = mnist_bin[0][:5].double()
    torch.manual_seed(1)
    ours = zoo.estimators.get("iwae", num_particles=k).differentiable_loss(vae.model, vae.guide, x)
    torch.manual_seed(1)
    theirs = ref.neg_iwae(x.reshape(5, -1), k).sum()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    g_ours = torch.autograd.grad(ours, vae.decoder.net[0].weight)[0]
    g_theirs = torch.autograd.grad(theirs, ref.decoder[0].weight)[0]
    assert torch.allclose(g_ours, g_theirs, rtol=1e-8, atol=1e-12)


def copy_hvae_weights(hvae, ref):
    """zoo's two-layer model into the hand-written one: the same layers under other names."""
    pairs = [(hvae.encoder.net, ref.encoder), (hvae.guide_head.linear, ref.head1), (hvae.up_encoders[0].net, ref.up),
             (hvae.up_heads[0].linear, ref.head2), (hvae.conditionals[0][0].net, ref.conditional),
             (hvae.conditionals[0][1].linear, ref.cond_head), (hvae.decoder.net, ref.decoder)]
    with torch.no_grad():
        for ours, theirs in pairs:
            theirs.load_state_dict(ours.state_dict())


@pytest.mark.parametrize("name,k", [("elbo", 1), ("iwae", 6)])
def test_hand_written_hvae_equals_zoo_hvae(mnist_bin, name, k):
    """Same weights, same noise: the two-layer objectives and their gradients agree."""
    from benchmarks.reference import TorchHVAE

    torch.manual_seed(0)
    hvae = zoo.build("hvae", data_shape=(1, 28, 28), latent_dims=(6, 3), hidden=(16, 8)).double()
    ref = TorchHVAE(784, (6, 3), (16, 8)).double()
    copy_hvae_weights(hvae, ref)
    x = mnist_bin[0][:5].double()
    torch.manual_seed(1)
    ours = zoo.estimators.get(name, num_particles=k).differentiable_loss(hvae.model, hvae.guide, x)
    torch.manual_seed(1)
    theirs = ref.objective(name, k)(x.reshape(5, -1), None).sum()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    for a, b in [(hvae.conditionals[0][0].net[0].weight, ref.conditional[0].weight),
                 (hvae.up_heads[0].linear.weight, ref.head2.weight)]:
        assert torch.allclose(torch.autograd.grad(ours, a, retain_graph=True)[0],
                              torch.autograd.grad(theirs, b, retain_graph=True)[0], rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("k", [2, 7])
def test_hand_written_vimco_equals_zoo_vimco_on_the_sbn(mnist_bin, k):
    """Same weights, same Bernoulli draws: VIMCO's value (-L_K) and gradients agree."""
    from benchmarks.reference import TorchSBN

    torch.manual_seed(0)
    sbn = zoo.build("sbn", data_shape=(1, 28, 28), layers=(12,)).double()
    ref = TorchSBN(784, 12).double()
    with torch.no_grad():
        ref.encoder.load_state_dict(sbn.guide_head.linear.state_dict())
        ref.decoder.load_state_dict(sbn.decoder.net[0].state_dict())
        ref.prior.copy_(sbn.latent_prior.logits)
    x = mnist_bin[0][:5].double()
    torch.manual_seed(1)
    ours = zoo.estimators.get("vimco", num_particles=k).differentiable_loss(sbn.model, sbn.guide, x)
    torch.manual_seed(1)
    theirs = ref.objective("vimco", k)(x.reshape(5, -1), None).sum()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-10)
    for a, b in [(sbn.guide_head.linear.weight, ref.encoder.weight), (sbn.decoder.net[0].weight, ref.decoder.weight),
                 (sbn.latent_prior.logits, ref.prior)]:
        torch.testing.assert_close(torch.autograd.grad(ours, a, retain_graph=True)[0],
                                   torch.autograd.grad(theirs, b, retain_graph=True)[0], rtol=1e-7, atol=1e-10)
