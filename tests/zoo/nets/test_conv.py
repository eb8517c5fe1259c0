"""Tests of zoo.nets.conv: shapes for every input size, leading dimensions, batch norm modes."""
import inspect

import pytest
import torch
from torch import nn

from zoo.nets import conv as nets_conv
from zoo.nets.conv import ConvDecoder, ConvEncoder, check_image_shape, feature_sides

SHAPES = [(1, 28, 28), (1, 32, 32), (3, 32, 32)]
SMALL = (4, 8, 8)  # channels narrow enough for a CPU test budget


def test_feature_sides_halve_rounding_down():
    assert feature_sides(32, 3) == (32, 16, 8, 4)
    assert feature_sides(28, 3) == (28, 14, 7, 3)
    assert feature_sides(20, 2) == (20, 10, 5)


@pytest.mark.parametrize("shape", SHAPES)
def test_encoder_features_and_decoder_round_trip(shape):
    torch.manual_seed(0)
    enc = ConvEncoder(shape, SMALL)
    side = 4 if shape[1] == 32 else 3
    assert enc.out_features == SMALL[-1] * side * side
    x = torch.rand(5, *shape)
    assert enc(x).shape == (5, enc.out_features)
    for num_params in (1, 2):
        dec = ConvDecoder(6, shape, SMALL, num_params=num_params)
        for lead in [(), (5,), (2, 5)]:
            out = dec(torch.randn(*lead, 6))
            assert out.shape == lead + (num_params,) + shape


@pytest.mark.parametrize("shape", SHAPES)
def test_encoder_accepts_leading_dimensions(shape):
    enc = ConvEncoder(shape, SMALL).eval()
    x = torch.rand(2, 3, *shape)
    assert torch.allclose(enc(x), enc(x.reshape(6, *shape)).reshape(2, 3, -1))


def test_decoder_flattens_particles_into_the_batch_in_both_modes():
    torch.manual_seed(0)
    dec = ConvDecoder(6, (1, 28, 28), SMALL)
    z = torch.randn(3, 4, 6)  # (particles, data, latent)
    # Training mode: batch statistics pool particles and data, as for one batch of 12.
    assert torch.allclose(dec(z), dec(z.reshape(12, 6)).reshape(3, 4, 1, 1, 28, 28), atol=1e-6)
    dec.eval()  # running averages: every code decodes on its own
    per_particle = torch.stack([dec(z[i]) for i in range(3)])
    assert torch.allclose(dec(z), per_particle, atol=1e-6)


def test_batch_norm_updates_running_stats_only_in_training_mode():
    dec = ConvDecoder(6, (1, 32, 32), SMALL)
    bn = [m for m in dec.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bn) == len(SMALL)  # after the linear map and after each inner transposed conv
    before = [m.running_mean.clone() for m in bn]
    dec.eval()
    dec(torch.randn(8, 6))
    assert all(torch.equal(m.running_mean, b) for m, b in zip(bn, before))
    dec.train()
    dec(torch.randn(8, 6))
    assert not any(torch.equal(m.running_mean, b) for m, b in zip(bn, before))


def test_tanh_output_squashes_the_mean_only():
    torch.manual_seed(0)
    dec = ConvDecoder(6, (3, 32, 32), SMALL, num_params=2, output="tanh")
    with torch.no_grad():
        dec.net[-1].bias.fill_(5.0)  # pre-activations far outside (-1, 1)
        out = dec(torch.randn(4, 6))
    loc, log_scale = out.unbind(-4)
    assert loc.abs().max() < 1 and log_scale.max() > 1


def test_seed_conv_heads_are_a_linear_map_of_the_flattened_features():
    """Seed 004's mean/log-variance heads: conv with a kernel the size of the final 4x4 map.
    Its weights, flattened, give a Linear on the encoder's features with the same outputs."""
    torch.manual_seed(0)
    enc = ConvEncoder((1, 32, 32), SMALL).eval()
    x = torch.rand(5, 1, 32, 32)
    feature_map = enc.net(x)  # (5, 8, 4, 4)
    head = nn.Conv2d(SMALL[-1], 2 * 3, kernel_size=feature_map.shape[-1])
    linear = nn.Linear(enc.out_features, 2 * 3)
    with torch.no_grad():
        linear.weight.copy_(head.weight.reshape(6, -1))
        linear.bias.copy_(head.bias)
    assert torch.allclose(head(feature_map).flatten(1), linear(enc(x)), atol=1e-5)


@pytest.mark.parametrize("shape, message", [
    ((28, 28), "(C, H, W)"),
    ((1, 4, 32), "at least 8"),
    ((1, 0, 32), "positive"),
])
def test_bad_shapes_are_refused(shape, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_image_shape(shape, 3)
    with pytest.raises(ValueError):
        ConvEncoder(shape, SMALL)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown decoder output 'sigmoid'"):
        ConvDecoder(4, (1, 32, 32), SMALL, output="sigmoid")
    with pytest.raises(ValueError, match="channels"):
        ConvEncoder((1, 32, 32), ())


def test_networks_know_nothing_of_pyro():
    source = inspect.getsource(nets_conv)
    assert "import pyro" not in source and "from pyro" not in source
