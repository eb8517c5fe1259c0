r"""Convolutional encoder and decoder for images (C, H, W). Nothing here knows about Pyro.

The encoder is the convolutional-VAE interpolation tutorial's: L blocks of conv(4x4, stride 2,
padding 1) + batch norm + ReLU, each halving the side (rounding down), so 32x32 -> 16 -> 8 -> 4
and 28x28 -> 14 -> 7 -> 3 for
L = 3 [1, 2]. Its flattened feature map is the ``out_features`` vector every guide head of
``guides/`` reads. The decoder mirrors it: a linear map from z to the smallest feature map,
then L transposed convolutions (4x4, stride 2, padding 1), batch norm and ReLU between them,
each doubling the side (plus one where the encoder rounded down), up to the likelihood's
parameters.

Batch norm and leading dimensions: both networks flatten any leading dimensions (Monte
Carlo particles, plates) into the batch, normalize, and restore them, so the decoder's batch
statistics in training mode pool particles and data points. Train/eval behaviour follows the
module's mode (``module.train()`` / ``.eval()``): batch statistics and running-average
updates in training mode, the running averages alone in eval mode.

References:
    [1] Seed 004, "Variational Autoencoder" (conv VAE on MNIST resized to 32x32).
    [2] Ioffe, Szegedy. Batch Normalization. arXiv:1502.03167
"""
import math
from typing import Sequence, Tuple

import torch
from torch import nn

from zoo.nets.mlp import check_sizes

# the convolutional-VAE interpolation tutorial's conv(4x4, stride 2); padding 1 halves the side
KERNEL, STRIDE, PADDING = 4, 2, 1
DECODER_OUTPUTS = ("linear", "tanh")


def feature_sides(side: int, num_layers: int) -> Tuple[int, ...]:
    """Sides of the feature maps, input first: each conv(4, 2, 1) maps s to floor(s / 2)."""
    sides = [side]
    for _ in range(num_layers):
        sides.append((sides[-1] + 2 * PADDING - KERNEL) // STRIDE + 1)
    return tuple(sides)


def check_image_shape(data_shape: Sequence[int], num_layers: int) -> Tuple[int, int, int]:
    """``data_shape`` as ``(C, H, W)`` whose sides survive ``num_layers`` halvings (>= 2**num_layers)."""
    shape = check_sizes("data_shape", data_shape, allow_empty=False)
    if len(shape) != 3:
        raise ValueError(f"data_shape must be (C, H, W) for a convolutional network, got {shape!r}")
    smallest = 2**num_layers
    if min(shape[1:]) < smallest:
        raise ValueError(
            f"data_shape {shape!r}: height and width must be at least {smallest} for {num_layers} "
            f"stride-2 convolutions (got {shape[1]}x{shape[2]})"
        )
    return shape


def _flatten_batch(x: torch.Tensor, event_dims: int) -> Tuple[torch.Tensor, torch.Size]:
    """``(..., *event)`` -> ``(prod(...), *event)`` and the leading shape to restore."""
    lead = x.shape[: x.dim() - event_dims]
    return x.reshape((-1,) + tuple(x.shape[x.dim() - event_dims :])), lead


class ConvEncoder(nn.Module):
    """Maps images ``(..., C, H, W)`` to features ``(..., out_features)``.

    Seed 004 ends the encoder with two convolutions whose kernel covers the whole final
    feature map (4x4 for 32x32 inputs), one for the mean and one for the log-variance. A
    convolution whose kernel equals its input's size is a linear map of the flattened input,
    so those heads are exactly a ``Linear(out_features, 2 * latent_dim)``: the diagonal
    guide's head (with a softplus scale in place of exp(log-variance / 2)). Handing the
    flattened map to ``guides/`` lets every other guide (full-rank, flows) use it too.

    Args:
        data_shape: ``(C, H, W)``; H and W at least ``2 ** len(channels)``.
        channels: output channels of the conv blocks (the convolutional-VAE interpolation
            tutorial: ch, 2 ch, 4 ch with ch = 32).
    """

    def __init__(self, data_shape: Sequence[int], channels: Sequence[int] = (32, 64, 128)):
        super().__init__()
        channels = check_sizes("channels", channels, allow_empty=False)
        self.data_shape = check_image_shape(data_shape, len(channels))
        layers, in_channels = [], self.data_shape[0]
        for out_channels in channels:
            # No bias: batch norm's shift replaces it.
            layers += [nn.Conv2d(in_channels, out_channels, KERNEL, STRIDE, PADDING, bias=False),
                       nn.BatchNorm2d(out_channels), nn.ReLU()]
            in_channels = out_channels
        self.net = nn.Sequential(*layers)
        heights = feature_sides(self.data_shape[1], len(channels))
        widths = feature_sides(self.data_shape[2], len(channels))
        self.out_features = channels[-1] * heights[-1] * widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, lead = _flatten_batch(x, 3)
        return self.net(flat).reshape(lead + (self.out_features,))


class ConvDecoder(nn.Module):
    """Maps ``z`` of shape ``(..., latent_dim)`` to likelihood parameters ``(..., num_params, C, H, W)``.

    ``Linear(latent_dim, c_L h_L w_L)`` gives the smallest feature map (the convolutional-VAE
    interpolation tutorial's first transposed convolution, on a 1x1 input with a kernel the size
    of that map, is the same
    linear map); transposed convolutions then double the side, with ``output_padding`` 1
    where the encoder rounded an odd side down (28 -> 14 -> 7 -> 3 comes back 3 -> 7 -> 14 -> 28).

    Args:
        latent_dim: dimension of z.
        data_shape: ``(C, H, W)`` of one datum.
        channels: the encoder's channels; the decoder runs through them in reverse.
        num_params: likelihood parameters per pixel (1: logits or mean; 2: mean and log-scale).
        output: ``"linear"``, or ``"tanh"`` to squash the first parameter (the mean) into
            (-1, 1), the convolutional-VAE interpolation tutorial's output layer for data scaled to [-1, 1].
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        channels: Sequence[int] = (32, 64, 128),
        num_params: int = 1,
        output: str = "linear",
    ):
        super().__init__()
        channels = check_sizes("channels", channels, allow_empty=False)
        self.data_shape = check_image_shape(data_shape, len(channels))
        if output not in DECODER_OUTPUTS:
            raise ValueError(f"unknown decoder output {output!r}; choose from {', '.join(DECODER_OUTPUTS)}")
        self.output, self.num_params = output, num_params
        heights = feature_sides(self.data_shape[1], len(channels))
        widths = feature_sides(self.data_shape[2], len(channels))
        self.base_shape = (channels[-1], heights[-1], widths[-1])
        self.linear = nn.Linear(latent_dim, math.prod(self.base_shape))
        layers = [nn.BatchNorm2d(channels[-1]), nn.ReLU()]
        outs = list(reversed(channels[:-1])) + [num_params * self.data_shape[0]]
        in_channels = channels[-1]
        for i, out_channels in enumerate(outs):
            level = len(channels) - 1 - i  # upsample from level + 1 to level
            pad = (heights[level] - 2 * heights[level + 1], widths[level] - 2 * widths[level + 1])
            last = i == len(outs) - 1
            layers.append(nn.ConvTranspose2d(in_channels, out_channels, KERNEL, STRIDE, PADDING,
                                             output_padding=pad, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(out_channels), nn.ReLU()]
            in_channels = out_channels
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat, lead = _flatten_batch(z, 1)
        out = self.net(self.linear(flat).reshape((-1,) + self.base_shape))
        out = out.reshape(lead + (self.num_params,) + self.data_shape)
        if self.output == "tanh":
            loc, rest = out.split([1, self.num_params - 1], dim=-4)
            out = torch.cat([torch.tanh(loc), rest], dim=-4)
        return out
