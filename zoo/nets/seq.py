r"""Recurrent ``torch.nn`` blocks for univariate sequences (the GRU sequence-VAE tutorial). Nothing here knows about
Pyro.

Encoder: a one-layer GRU [1] reads x_1..x_T; its last hidden state h_T is the sequence's
feature vector, which a guide head (``guides/``) maps to q(z|x).

Decoder: a GRU cell that emits S = ``samples_per_step`` frames per step,

    h_k = GRUCell([z, f_{k-1}], h_{k-1}),   (theta_k) = W h_k + b,   h_0 = 0,  f_0 = 0,

where the fed-back frame f_{k-1} is the previous step's predicted mean (the first
likelihood parameter) or, under teacher forcing [2], the true frame x_{(k-2)S+1..(k-1)S}
(chosen by one Bernoulli(p) draw per step k >= 2, shared by the batch, as in the seed).
A length L that is not a multiple of S runs ceil(L / S) steps and keeps the first L samples.

References:
    [1] Cho et al. Learning Phrase Representations using RNN Encoder-Decoder for Statistical
        Machine Translation. arXiv:1406.1078
    [2] Williams, Zipser. A Learning Algorithm for Continually Running Fully Recurrent
        Neural Networks. Neural Computation 1989
"""
import math
from typing import Optional

import torch
from torch import nn

from zoo._utils.checks import positive_int


def teacher_steps(num_steps: int, p: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Which decoding steps feed the true previous frame: bools ``(num_steps,)``.

    Step 0 has no previous frame and never does; each later step does with probability ``p``,
    independently (the tutorial's per-step coin). ``p == 0`` draws nothing, so switching teacher
    forcing off leaves the random stream exactly as in evaluation.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"teacher forcing probability must lie in [0, 1], got {p!r}")
    steps = torch.zeros(num_steps, dtype=torch.bool)
    if p > 0 and num_steps > 1:
        steps[1:] = torch.rand(num_steps - 1, generator=generator) < p
    return steps


class GRUEncoder(nn.Module):
    """Univariate sequences ``(N, T)`` -> the GRU's last hidden state ``(N, hidden)``.

    Args:
        hidden: size of the hidden state, i.e. of the features (seed: 10).
    """

    def __init__(self, hidden: int = 10):
        super().__init__()
        self.rnn = nn.GRU(1, positive_int("hidden", hidden), batch_first=True)
        self.out_features = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2:
            raise ValueError(f"x must have shape (N, T), got {tuple(x.shape)}")
        _, h_last = self.rnn(x.unsqueeze(-1))  # h_last: (num_layers=1, N, hidden)
        return h_last[-1]


class GRUFrameDecoder(nn.Module):
    """Codes ``(..., latent_dim)`` -> parameters ``(..., num_params, length)``, S frames a step.

    Any number of leading batch dimensions is allowed (particles, plates).

    Args:
        latent_dim: dimension of z.
        hidden: size of the GRU cell's state (seed: 20).
        samples_per_step: frames emitted per step, S (seed: 5).
        num_params: parameters per sample (1: the mean; 2: mean and log-scale).
    """

    def __init__(self, latent_dim: int, hidden: int = 20, samples_per_step: int = 5, num_params: int = 1):
        super().__init__()
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.samples_per_step = positive_int("samples_per_step", samples_per_step)
        self.num_params = positive_int("num_params", num_params)
        self.cell = nn.GRUCell(latent_dim + samples_per_step, positive_int("hidden", hidden))
        self.projection = nn.Linear(hidden, num_params * samples_per_step)

    def forward(
        self,
        z: torch.Tensor,
        length: int,
        target: Optional[torch.Tensor] = None,
        teacher_forcing: float = 0.0,
    ) -> torch.Tensor:
        """Decode ``length`` samples; with ``target`` (``(..., >= length)``, broadcastable to
        z's batch shape) and ``teacher_forcing`` > 0, feed true frames on the drawn steps."""
        positive_int("length", length)
        batch, S = z.shape[:-1], self.samples_per_step
        z_flat = z.reshape(-1, self.latent_dim)
        num_steps = math.ceil(length / S)
        forced = teacher_steps(num_steps, teacher_forcing if target is not None else 0.0)
        frames = self._target_frames(target, batch, num_steps) if forced.any() else None
        frame = z_flat.new_zeros(z_flat.shape[0], S)
        h = z_flat.new_zeros(z_flat.shape[0], self.cell.hidden_size)
        outputs = []
        for k in range(num_steps):
            if forced[k]:
                frame = frames[:, k - 1]
            h = self.cell(torch.cat([z_flat, frame], -1), h)
            params = self.projection(h).reshape(-1, self.num_params, S)
            frame = params[:, 0]
            outputs.append(params)
        params = torch.cat(outputs, -1)[..., :length]
        return params.reshape(batch + (self.num_params, length))

    def _target_frames(self, target: torch.Tensor, batch: torch.Size, num_steps: int) -> torch.Tensor:
        """The true frames ``(B, num_steps - 1, S)`` that steps 1.. may be fed."""
        needed = (num_steps - 1) * self.samples_per_step
        if target.shape[-1] < needed:
            raise ValueError(f"teacher forcing needs a target of at least {needed} samples, got {target.shape[-1]}")
        target = target[..., :needed].expand(batch + (needed,))
        return target.reshape(-1, num_steps - 1, self.samples_per_step)
