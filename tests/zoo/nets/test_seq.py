"""Tests of zoo.nets.seq: the GRU encoder, the frame-emitting GRU decoder and teacher forcing."""
import math

import pytest
import torch

from zoo.nets.seq import GRUEncoder, GRUFrameDecoder, teacher_steps

LATENT, S = 3, 5


@pytest.fixture
def decoder():
    torch.manual_seed(0)
    return GRUFrameDecoder(LATENT, hidden=20, samples_per_step=S, num_params=2).double()


def test_encoder_returns_the_last_hidden_state():
    torch.manual_seed(0)
    encoder = GRUEncoder(hidden=10)
    x = torch.randn(4, 50)
    outputs, _ = encoder.rnn(x.unsqueeze(-1))
    assert encoder.out_features == 10
    assert torch.allclose(encoder(x), outputs[:, -1])
    # The last state depends on the last sample; the state of a prefix does not.
    assert not torch.allclose(encoder(x), encoder(torch.cat([x[:, :-1], x[:, -1:] + 1], 1)))
    with pytest.raises(ValueError, match=r"x must have shape \(N, T\)"):
        encoder(x.unsqueeze(-1))


@pytest.mark.parametrize("batch", [(), (1,), (4,), (2, 3)])
@pytest.mark.parametrize("length", [50, 12, 1])
def test_decoder_shapes(decoder, batch, length):
    z = torch.randn(batch + (LATENT,), dtype=torch.double)
    assert decoder(z, length).shape == batch + (2, length)


def test_decoder_leading_dims_decode_each_code_alike(decoder):
    z = torch.randn(2, 3, LATENT, dtype=torch.double)
    flat = decoder(z.reshape(6, LATENT), 20).reshape(2, 3, 2, 20)
    assert torch.allclose(decoder(z, 20), flat)


def test_length_not_a_multiple_of_the_step_is_the_truncated_longer_decoding(decoder):
    """ceil(L / S) steps, first L samples: decoding is causal, so a length-12 decoding is the
    first 12 samples of the length-15 one (3 steps) and of any longer one."""
    z = torch.randn(4, LATENT, dtype=torch.double)
    full = decoder(z, 50)
    for length in (1, 4, 5, 6, 12, 49):
        assert torch.equal(decoder(z, length), full[..., :length])
    with pytest.raises(ValueError, match="length must be a positive integer, got 0"):
        decoder(z, 0)


def test_decoder_follows_the_recurrence_by_hand(decoder):
    """h_k = GRUCell([z, f_{k-1}], h_{k-1}), theta_k = W h_k + b, f_0 = 0, h_0 = 0, f_k = mean part."""
    z = torch.randn(2, LATENT, dtype=torch.double)
    h, frame, out = torch.zeros(2, 20, dtype=torch.double), torch.zeros(2, S, dtype=torch.double), []
    for _ in range(3):
        h = decoder.cell(torch.cat([z, frame], -1), h)
        params = decoder.projection(h).reshape(2, 2, S)
        frame = params[:, 0]
        out.append(params)
    assert torch.allclose(decoder(z, 15), torch.cat(out, -1))


def test_teacher_forcing_off_ignores_the_target(decoder):
    z, target = torch.randn(4, LATENT, dtype=torch.double), torch.randn(4, 50, dtype=torch.double)
    state = torch.get_rng_state()
    assert torch.equal(decoder(z, 50, target, teacher_forcing=0.0), decoder(z, 50))
    assert torch.equal(torch.get_rng_state(), state)  # p = 0 draws nothing


def test_full_teacher_forcing_is_causal_in_the_target(decoder):
    """With p = 1 step k sees true frame k-1: the outputs of steps <= j do not depend on frames
    >= j (d output / d target is block lower-triangular), and do depend on frame j-1."""
    z = torch.randn(1, LATENT, dtype=torch.double)
    target = torch.randn(1, 20, dtype=torch.double)
    jac = torch.autograd.functional.jacobian(lambda t: decoder(z, 20, t, teacher_forcing=1.0)[0, 0], target)[:, 0]
    step = torch.arange(20) // S  # (output sample, target sample) -> steps
    assert torch.all(jac[step[:, None] <= step[None, :]] == 0)
    assert torch.all(jac[S:, :S].abs().sum(1) > 0)  # every later output sees the first true frame
    free = decoder(z, 20)
    assert not torch.allclose(decoder(z, 20, target, teacher_forcing=1.0)[..., S:], free[..., S:])
    assert torch.equal(decoder(z, 20, target, teacher_forcing=1.0)[..., :S], free[..., :S])  # step 0: f_0 = 0


def test_teacher_frames_broadcast_over_particles(decoder):
    z = torch.randn(3, 4, LATENT, dtype=torch.double)  # (particles, N, latent)
    target = torch.randn(4, 50, dtype=torch.double)
    out = decoder(z, 50, target, teacher_forcing=1.0)
    for k in range(3):
        assert torch.allclose(out[k], decoder(z[k], 50, target, teacher_forcing=1.0))
    with pytest.raises(ValueError, match="at least 45 samples"):
        decoder(z, 50, target[:, :40], teacher_forcing=1.0)


def test_teacher_steps_are_independent_bernoulli_draws():
    """Step 0 is never forced; each later step is, with probability p: over 20,000 draws of 10
    steps the frequency is within 4 standard errors (sqrt(p (1 - p) / n) ~ 0.001) of p."""
    torch.manual_seed(0)
    draws = torch.stack([teacher_steps(10, 0.3) for _ in range(20_000)])
    assert not draws[:, 0].any()
    freq = draws[:, 1:].double().mean()
    assert abs(freq - 0.3) < 4 * math.sqrt(0.3 * 0.7 / draws[:, 1:].numel())
    # Steps are independent: the correlation of neighbouring steps is ~0 (standard error ~0.007).
    a, b = draws[:, 1].double(), draws[:, 2].double()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1]) < 0.03
    assert teacher_steps(10, 1.0)[1:].all() and not teacher_steps(10, 0.0).any()
    with pytest.raises(ValueError, match=r"teacher forcing probability must lie in \[0, 1\], got 1.5"):
        teacher_steps(10, 1.5)
