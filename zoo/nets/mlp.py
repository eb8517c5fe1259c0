"""Plain ``torch.nn`` building blocks. Nothing here knows about Pyro."""
import math
from typing import Sequence, Tuple

import torch
from torch import nn

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky-relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "selu": nn.SELU,
}


def activation(name: str) -> nn.Module:
    """An activation module by name (``tanh``, ``relu``, ...)."""
    if name not in ACTIVATIONS:
        choices = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; choose from {choices}")
    return ACTIVATIONS[name]()


def check_sizes(name: str, sizes: Sequence[int], allow_empty: bool = True) -> Tuple[int, ...]:
    """Validate a tuple of layer sizes: positive integers."""
    if isinstance(sizes, int):
        sizes = (sizes,)
    sizes = tuple(sizes)
    if not sizes and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) or s <= 0:
            raise ValueError(f"{name} must be positive integers, got {sizes!r}")
    return sizes


def mlp(in_features: int, hidden: Sequence[int], act: str) -> nn.Sequential:
    """``Linear -> act`` for each hidden size; the output has ``hidden[-1]`` features."""
    layers = []
    for size in hidden:
        layers += [nn.Linear(in_features, size), activation(act)]
        in_features = size
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flattens ``x`` of shape ``(N, *data_shape)`` and maps it to features ``(N, out_features)``.

    The features feed a guide head (``guides/``), so any guide works on any encoder. With no
    hidden layer the features are the flattened datum itself (an affine head on it: the logistic
    belief net's conditionals).
    """

    def __init__(self, data_shape: Sequence[int], hidden: Sequence[int] = (200, 200), act: str = "tanh"):
        super().__init__()
        self.data_shape = tuple(data_shape)
        hidden = check_sizes("hidden", hidden)
        self.net = mlp(math.prod(self.data_shape), hidden, act)
        self.out_features = hidden[-1] if hidden else math.prod(self.data_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[: x.dim() - len(self.data_shape)] + (-1,)))


class MLPDecoder(nn.Module):
    """Maps ``z`` of shape ``(..., latent_dim)`` to likelihood parameters ``(..., num_params, *data_shape)``.

    Any number of leading batch dimensions is allowed (particles, plates).
    """

    def __init__(
        self,
        latent_dim: int,
        data_shape: Sequence[int],
        hidden: Sequence[int] = (200, 200),
        act: str = "tanh",
        num_params: int = 1,
    ):
        super().__init__()
        self.out_shape = (num_params,) + tuple(data_shape)
        hidden = check_sizes("hidden", hidden)
        self.net = mlp(latent_dim, hidden, act)
        self.net.append(nn.Linear(hidden[-1] if hidden else latent_dim, math.prod(self.out_shape)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[:-1] + self.out_shape)
