"""The Deep Markov Model and the estimators on a latent state per time step: against the Kalman
filter's exact log p(x) on a linear-Gaussian state-space model, with sequences of different lengths."""
import math

import pytest
import torch

import zoo
from zoo import estimators
from zoo.evaluation import log_likelihood
from zoo.models.linear_ssm import LinearGaussianSSM
from zoo.nets.dmm import reversal_index

SMALL = dict(latent_dim=3, emission_dim=16, transition_dim=16, rnn_dim=16)


@pytest.fixture
def ssm():
    torch.set_default_dtype(torch.float64)
    try:
        yield LinearGaussianSSM(z_dim=2, x_dim=3, seed=0)
    finally:
        torch.set_default_dtype(torch.float32)


def ragged(x, lengths):
    mask = torch.arange(x.shape[1])[None] < torch.tensor(lengths)[:, None]
    return mask


def test_the_kalman_filter_equals_the_joint_gaussian(ssm):
    """log p(x_{1:T}) from the filter against the (T * x_dim)-dimensional Gaussian of x, built by hand."""
    steps, d, k = 4, ssm.x_dim, ssm.z_dim
    A, C = ssm.A.detach(), ssm.C.detach()
    # z = M eps with eps ~ N(0, q^2 I): z_t = sum_{s<=t} A^{t-s} eps_s
    M = torch.zeros(steps * k, steps * k)
    for t in range(steps):
        for s in range(t + 1):
            M[t * k:(t + 1) * k, s * k:(s + 1) * k] = torch.linalg.matrix_power(A, t - s)
    Cb = torch.block_diag(*[C] * steps)
    cov = ssm.q**2 * Cb @ M @ M.T @ Cb.T + ssm.r**2 * torch.eye(steps * d)
    x = ssm.sample_data(5, steps, seed=3)
    exact = torch.distributions.MultivariateNormal(torch.zeros(steps * d), cov).log_prob(x.reshape(5, -1))
    assert torch.allclose(ssm.log_marginal(x), exact, atol=1e-9)
    mask = ragged(x, [4, 2, 3, 1, 4])  # a prefix of each: the marginal of the first L steps
    first_two = torch.distributions.MultivariateNormal(torch.zeros(2 * d), cov[:2 * d, :2 * d])
    short = first_two.log_prob(x[1, :2].reshape(-1))
    assert ssm.log_marginal(x, mask)[1].item() == pytest.approx(short.item(), abs=1e-9)


def test_bounds_are_ordered_below_the_exact_marginal_and_is_is_within_its_error(ssm):
    x = ssm.sample_data(8, 6, seed=1)
    mask = ragged(x, [6, 6, 3, 5, 1, 6, 4, 2])
    ssm.set_filter_proposal()  # a fair proposal that ignores future observations: not the posterior
    exact = ssm.log_marginal(x, mask).sum().item()
    bound = lambda name, k, draws: sum(  # noqa: E731  (mean of independent estimates)
        -estimators.get(name, num_particles=k).loss(ssm.model, ssm.guide, x, mask) for _ in range(draws)) / draws
    torch.manual_seed(0)
    elbo, iwae5, iwae50 = bound("elbo", 1, 400), bound("iwae", 5, 200), bound("iwae", 50, 40)
    assert elbo < iwae5 < iwae50 < exact
    ll = log_likelihood(ssm.model, ssm.guide, x, mask, num_samples=20000, seed=2, progress=False)
    err = math.sqrt((ll.stderr**2).sum().item())
    assert abs(ll.log_px.sum().item() - exact) < 4 * err + 0.02, (ll.log_px.sum().item(), exact, err)
    assert ll.log_px.sum().item() < exact + 4 * err


def test_nan_padding_and_an_explicit_mask_give_the_same_numbers(ssm):
    torch.set_default_dtype(torch.float32)
    dmm = zoo.build("dmm", data_shape=(7, 2), **SMALL)
    x = torch.randn(4, 7, 2)
    mask = ragged(x, [7, 3, 5, 1])
    padded = torch.where(mask[..., None], x, torch.full((), float("nan")))
    a = log_likelihood(dmm.model, dmm.guide, padded, num_samples=10, seed=0, progress=False).log_px
    b = log_likelihood(dmm.model, dmm.guide, x, mask, num_samples=10, seed=0, progress=False).log_px
    junk = torch.where(mask[..., None], x, torch.randn_like(x) * 100)  # what lies past the end does not count
    c = log_likelihood(dmm.model, dmm.guide, junk, mask, num_samples=10, seed=0, progress=False).log_px
    assert torch.allclose(a, b) and torch.allclose(b, c)


def test_the_reversal_keeps_padding_out_of_the_backward_states():
    index = reversal_index(torch.tensor([3, 5, 1]), 5)
    assert index.tolist() == [[2, 1, 0, 3, 4], [4, 3, 2, 1, 0], [0, 1, 2, 3, 4]]
    assert torch.equal(index.gather(1, index), torch.arange(5).expand(3, 5))  # its own inverse
    dmm = zoo.build("dmm", data_shape=(5,), **SMALL)
    x = torch.randn(2, 5)
    h = dmm.encoder(x[..., None], torch.tensor([3, 5]))
    x2 = x.clone()
    x2[0, 3:] = 50.0
    h2 = dmm.encoder(x2[..., None], torch.tensor([3, 5]))
    assert torch.allclose(h[0, :3], h2[0, :3]) and torch.equal(h[1], h2[1])


@pytest.mark.parametrize("name,k", [("elbo", 1), ("elbo-stl", 1), ("score", 1), ("iwae", 3), ("iwae-dreg", 3),
                                    ("iwae-stl", 3), ("renyi", 3), ("miwae", 2), ("ciwae", 3)])
def test_every_estimator_trains_every_part(name, k):
    torch.manual_seed(0)
    dmm = zoo.build("dmm", data_shape=(6,), **SMALL)
    x = torch.randn(5, 6)
    x[2, 4:] = float("nan")
    loss = estimators.get(name, num_particles=k).differentiable_loss(dmm.model, dmm.guide, x)
    loss.backward()
    assert torch.isfinite(loss)
    for part in ("encoder", "combiner", "guide_head", "transition", "decoder"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(dmm, part).parameters()), part
    assert dmm.z_0.grad is not None and dmm.z_q_0.grad is not None


def test_iaf_steps_and_bernoulli_emissions_on_many_features():
    torch.manual_seed(0)
    dmm = zoo.build("dmm", data_shape=(4, 5), likelihood="bernoulli", guide="iaf:1", **SMALL)
    x = torch.bernoulli(torch.full((3, 4, 5), 0.5))
    assert torch.isfinite(estimators.get("iwae", num_particles=2).differentiable_loss(dmm.model, dmm.guide, x))
    assert dmm.sample(2).shape == (2, 4, 5) and dmm.reconstruct(x, 2).shape == (2, 3, 4, 5)


def test_the_trajectory_density_and_kl():
    torch.manual_seed(0)
    dmm = zoo.build("dmm", data_shape=(5,), **SMALL)
    x = torch.randn(4, 5)
    with torch.no_grad():
        q = dmm.encode(x)
        z = q.sample((3000,))
        kl = (q.log_prob(z) - dmm.log_prior(z, torch.ones(4, 5, dtype=torch.bool))).mean(0)
        assert torch.allclose(dmm.kl(x, num_samples=3000), kl, rtol=0.1)
        assert (kl > 0).all()
    x[1, 3:] = float("nan")
    with pytest.raises(NotImplementedError, match="different lengths cannot score"):
        dmm.encode(x).log_prob(z[0].unsqueeze(-2))


@pytest.mark.parametrize("call,message", [
    (lambda d, x: d.model(x, torch.ones(3, 4)), r"mask must have shape \(N, T\) = \(3, 5\) to match x, got \(3, 4\)"),
    (lambda d, x: d.model(x[:, :4]), r"x must be sequences of shape \(N, 5\)"),
    (lambda d, x: d.model(x, torch.tensor([[1, 0, 1, 1, 1]] * 3)), "must mark a prefix of each sequence"),
])
def test_bad_sequences_are_refused_in_one_line(call, message):
    dmm = zoo.build("dmm", data_shape=(5,), **SMALL)
    with pytest.raises(ValueError, match=message):
        call(dmm, torch.randn(3, 5))


def test_data_without_a_time_axis_is_refused():
    with pytest.raises(ValueError, match=r"dmm needs sequences: data of shape \(N, T\) or \(N, T, D\)"):
        zoo.build("dmm", data_shape=(1, 28, 28))


def test_fit_resumes_exactly_on_ragged_sines(tmp_path):
    x = zoo.data.sines(num_train=20, num_test=5, length=8).train
    x[3, 5:] = float("nan")
    config = dict(estimator="iwae", num_particles=2, seed=1, batch_size=10, progress=False)
    build = lambda seed: (torch.manual_seed(seed), zoo.build("dmm", data_shape=(8,), **SMALL))[1]  # noqa: E731
    whole = build(0)
    h_whole = zoo.fit(whole, x, epochs=3, out_dir=tmp_path / "whole", **config)
    zoo.fit(build(0), x, epochs=1, out_dir=tmp_path / "part", **config)
    resumed = build(5)
    h_resumed = zoo.fit(resumed, x, epochs=3, out_dir=tmp_path / "part", resume=True, **config)
    for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    assert [r["train_elbo"] for r in h_whole] == [r["train_elbo"] for r in h_resumed]
    assert math.isfinite(h_whole[-1]["train_elbo"])
