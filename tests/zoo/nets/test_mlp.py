"""Tests of zoo.nets.mlp: plain torch building blocks."""
import pytest
import torch
from torch import nn

from zoo.nets.mlp import ACTIVATIONS, MLPDecoder, MLPEncoder, activation, check_sizes, mlp

REFERENCE_ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky-relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "elu": lambda x: torch.where(x > 0, x, torch.expm1(x)),
    "softplus": lambda x: torch.log1p(torch.exp(x)),
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / 2**0.5)),
    "selu": lambda x: 1.0507009873554805 * torch.where(x > 0, x, 1.6732632423543772 * torch.expm1(x)),
}


@pytest.mark.parametrize("batch_shape", [(), (1,), (3,), (2, 4)])
def test_decoder_accepts_leading_batch_dims(batch_shape):
    torch.manual_seed(0)
    decoder = MLPDecoder(latent_dim=5, data_shape=(1, 4, 3), hidden=(7, 6), act="tanh", num_params=2)
    z = torch.randn(batch_shape + (5,))
    out = decoder(z)
    assert out.shape == batch_shape + (2, 1, 4, 3)
    # Batch dims are independent: the output for each z equals the output for that z alone.
    flat_z, flat_out = z.reshape(-1, 5), out.reshape(-1, 2, 1, 4, 3)
    for z_i, out_i in zip(flat_z, flat_out):
        assert torch.allclose(decoder(z_i), out_i, atol=1e-6)


def test_decoder_is_the_composition_of_its_layers():
    torch.manual_seed(0)
    decoder = MLPDecoder(latent_dim=3, data_shape=(2, 2), hidden=(4,), act="relu")
    z = torch.randn(6, 3)
    first, last = decoder.net[0], decoder.net[-1]
    expected = (torch.relu(z @ first.weight.T + first.bias) @ last.weight.T + last.bias).reshape(6, 1, 2, 2)
    assert torch.allclose(decoder(z), expected, atol=1e-6)


def test_decoder_without_hidden_layers_is_linear():
    torch.manual_seed(0)
    decoder = MLPDecoder(latent_dim=3, data_shape=(5,), hidden=())
    assert [type(m) for m in decoder.net] == [nn.Linear]
    z = torch.randn(4, 3)
    assert torch.allclose(decoder(z)[:, 0], z @ decoder.net[0].weight.T + decoder.net[0].bias, atol=1e-6)


@pytest.mark.parametrize("batch_shape", [(3,), (2, 4)])
def test_encoder_flattens_each_datum(batch_shape):
    torch.manual_seed(0)
    encoder = MLPEncoder(data_shape=(1, 4, 3), hidden=(6, 5), act="tanh")
    assert encoder.out_features == 5
    x = torch.rand(batch_shape + (1, 4, 3))
    h = encoder(x)
    assert h.shape == batch_shape + (5,)
    # By hand: flatten each datum (C, H, W) -> C*H*W, then tanh(W x + b) twice.
    first, second = encoder.net[0], encoder.net[2]
    flat = x.reshape(batch_shape + (12,))
    expected = torch.tanh(torch.tanh(flat @ first.weight.T + first.bias) @ second.weight.T + second.bias)
    assert torch.allclose(h, expected, atol=1e-6)


def test_encoder_without_a_hidden_layer_flattens():
    encoder = MLPEncoder((1, 2, 2), hidden=())
    x = torch.randn(3, 5, 1, 2, 2)
    assert encoder.out_features == 4 and torch.equal(encoder(x), x.reshape(3, 5, 4))


def test_mlp_layer_sizes():
    net = mlp(10, (7, 3), "relu")
    assert [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)] == [(10, 7), (7, 3)]
    assert sum(isinstance(m, nn.ReLU) for m in net) == 2


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_compute_their_functions(name):
    x = torch.linspace(-4, 4, 81, dtype=torch.float64)
    assert torch.allclose(activation(name)(x), REFERENCE_ACTIVATIONS[name](x), atol=1e-6)


def test_activation_names_are_exactly_the_documented_ones():
    assert set(ACTIVATIONS) == set(REFERENCE_ACTIVATIONS)
    assert isinstance(activation("relu"), nn.ReLU)
    assert activation("tanh") is not activation("tanh")  # a fresh module each call


def test_unknown_activation_lists_choices():
    with pytest.raises(ValueError, match=r"unknown activation 'swish'; choose from elu, gelu, leaky-relu, relu"):
        activation("swish")


def test_check_sizes_accepts_positive_ints():
    assert check_sizes("hidden", (3, 1)) == (3, 1)
    assert check_sizes("hidden", [4]) == (4,)
    assert check_sizes("hidden", 5) == (5,)
    assert check_sizes("hidden", ()) == ()


@pytest.mark.parametrize("sizes", [(0,), (-3,), (4, 0), (True,), (False, 3), (2.0,), ("8",), (None,)])
def test_check_sizes_rejects_non_positive_or_non_int(sizes):
    with pytest.raises(ValueError, match=r"layers must be positive integers"):
        check_sizes("layers", sizes)


def test_check_sizes_rejects_empty_when_asked():
    with pytest.raises(ValueError, match="data_shape must not be empty"):
        check_sizes("data_shape", (), allow_empty=False)
