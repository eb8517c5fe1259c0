r"""The networks of the Deep Markov Model [1] (as in Pyro's ``examples/dmm.py``). No Pyro here.

    gated transition:  g = sigmoid(W_2 relu(W_1 z)),  h = W_4 relu(W_3 z)
                       loc = (1 - g) * (A z + b) + g * h,   scale = softplus(W_s relu(h))   (A starts at I)
    combiner:          c_t = (tanh(W z_{t-1} + b) + h_t) / 2       (h_t from the backward RNN over x_{t:T})

References:
    [1] Krishnan, Shalit, Sontag. Structured Inference Networks for Nonlinear State Space Models.
        AAAI 2017, arXiv:1609.09869
"""
from typing import Tuple

import torch
from torch import nn
from torch.nn.functional import softplus


class GatedTransition(nn.Module):
    """(loc, scale) of p(z_t | z_{t-1}) for codes ``(..., z_dim)``."""

    def __init__(self, z_dim: int, transition_dim: int):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(z_dim, transition_dim), nn.ReLU(), nn.Linear(transition_dim, z_dim),
                                  nn.Sigmoid())
        self.proposed = nn.Sequential(nn.Linear(z_dim, transition_dim), nn.ReLU(), nn.Linear(transition_dim, z_dim))
        self.z_to_loc = nn.Linear(z_dim, z_dim)
        self.to_scale = nn.Linear(z_dim, z_dim)
        with torch.no_grad():  # the linear path starts as the identity: z_t ~ z_{t-1} at first
            self.z_to_loc.weight.copy_(torch.eye(z_dim))
            self.z_to_loc.bias.zero_()

    def forward(self, z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        gate, proposed = self.gate(z), self.proposed(z)
        loc = (1 - gate) * self.z_to_loc(z) + gate * proposed
        return loc, softplus(self.to_scale(torch.relu(proposed)))


class Combiner(nn.Module):
    """Features for q(z_t | z_{t-1}, x_{t:T}): the mean of tanh(W z_{t-1} + b) and the RNN state."""

    def __init__(self, z_dim: int, rnn_dim: int):
        super().__init__()
        self.z_to_hidden = nn.Linear(z_dim, rnn_dim)

    def forward(self, z_prev: torch.Tensor, h_rnn: torch.Tensor) -> torch.Tensor:
        return 0.5 * (torch.tanh(self.z_to_hidden(z_prev)) + h_rnn)


class BackwardRNN(nn.Module):
    """h_t = GRU(x_t, h_{t+1}): a summary of x_{t:L} for each step t < L of a sequence of length L.

    Each sequence is reversed within its length before one pass of ``nn.GRU`` and the states put
    back in time order, so the padding after step L never reaches the states of its steps.
    """

    def __init__(self, input_dim: int, rnn_dim: int):
        super().__init__()
        self.rnn = nn.GRU(input_dim, rnn_dim, batch_first=True)
        self.h_0 = nn.Parameter(torch.zeros(rnn_dim))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, T, D)``, ``lengths`` ``(N,)`` -> states ``(N, T, rnn_dim)``."""
        index = reversal_index(lengths, x.shape[1])
        x_rev = x.gather(1, index[..., None].expand_as(x))
        h_0 = self.h_0.expand(1, x.shape[0], -1).contiguous()
        out, _ = self.rnn(x_rev, h_0)
        return out.gather(1, index[..., None].expand_as(out))


def reversal_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``(N, T)`` indices that reverse the first ``lengths[n]`` steps of row n and keep the rest
    (the permutation is its own inverse)."""
    t = torch.arange(steps, device=lengths.device)
    return torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
