"""Exact resume for every estimator, interleaved runs, and estimators with state (score baselines)."""
import pytest
import torch

import zoo
from zoo import estimators

# (estimator, num_particles, options): every registered estimator, the stateful ones in each mode.
CASES = [
    ("elbo", 1, {}), ("elbo-kl", 2, {}), ("elbo-stl", 1, {}), ("iwae", 3, {}), ("iwae-dreg", 3, {}),
    ("iwae-stl", 3, {}), ("renyi", 3, {"alpha": 0.5}), ("miwae", 2, {"num_groups": 2}), ("ciwae", 3, {"beta": 0.5}),
    ("score", 1, {}),  # K = 1: the decaying-average baseline, whose state must survive the resume
    ("score", 2, {"baseline": "leave-one-out"}), ("score", 1, {"baseline": "learned"}),
    ("score", 1, {"baseline": "none"}),
]
# the estimators for discrete latents, on a small sigmoid belief net (elbo-enum: 2^6 configurations)
DISCRETE_CASES = [
    ("vimco", 3, {}), ("rws", 3, {"phase": "wake+sleep"}), ("concrete", 2, {"anneal_rate": 0.01}),
    ("elbo-enum", 1, {}), ("score", 1, {"baseline": "learned", "normalize": True}),
]
NUM = 200


def test_cases_cover_every_estimator():
    assert {name for name, _, _ in CASES + DISCRETE_CASES} == set(estimators.list_estimators())


def _sbn(seed):
    torch.manual_seed(seed)
    return zoo.build("sbn", layers=(4, 2))


@pytest.mark.parametrize("name,k,options", DISCRETE_CASES, ids=lambda c: str(c))
def test_discrete_estimators_resume_exactly(mnist_bin, tmp_path, name, k, options):
    test_one_epoch_then_resume_to_three_equals_three_straight(_sbn, mnist_bin, tmp_path, name, k, options)


def _fit(make_vae, train, out, epochs, resume=False, seed_weights=0, **config):
    vae = make_vae(seed_weights)
    history = zoo.fit(vae, train, epochs=epochs, out_dir=out, resume=resume, progress=False, batch_size=50, **config)
    return vae, history


@pytest.mark.parametrize("name,k,options", CASES, ids=lambda c: str(c))
def test_one_epoch_then_resume_to_three_equals_three_straight(make_vae, mnist_bin, tmp_path, name, k, options):
    train = mnist_bin[0][:NUM]
    config = dict(estimator=name, num_particles=k, estimator_options=options, seed=5)
    whole, h_whole = _fit(make_vae, train, tmp_path / "whole", 3, **config)
    _fit(make_vae, train, tmp_path / "part", 1, **config)
    torch.manual_seed(123)  # whatever happens to the global RNG in between must not matter
    resumed, h_resumed = _fit(make_vae, train, tmp_path / "part", 3, resume=True, seed_weights=1, **config)
    for (key, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), key
    drop = lambda h: [{k: v for k, v in r.items() if not k.endswith("_time_s")} for r in h]  # noqa: E731
    assert drop(h_whole) == drop(h_resumed)


def test_resume_that_loses_the_estimator_state_differs(make_vae, mnist_bin, tmp_path):
    """The test above can fail: dropping the average baseline's state at the resume changes the numbers."""
    train = mnist_bin[0][:NUM]
    config = dict(estimator="score", num_particles=1, seed=5)
    whole, _ = _fit(make_vae, train, tmp_path / "whole", 3, **config)
    _fit(make_vae, train, tmp_path / "part", 1, **config)
    state = torch.load(tmp_path / "part" / zoo.training.CHECKPOINT, weights_only=False)
    assert set(state["estimator"]) == {"average", "num_updates"} and state["estimator"]["num_updates"] == 4
    state["estimator"] = {"average": torch.zeros((), dtype=torch.float64),
                          "num_updates": torch.zeros((), dtype=torch.long)}
    torch.save(state, tmp_path / "part" / zoo.training.CHECKPOINT)
    resumed, _ = _fit(make_vae, train, tmp_path / "part", 3, resume=True, **config)
    assert not torch.equal(whole.decoder.net[0].weight, resumed.decoder.net[0].weight)


def test_interleaved_runs_equal_runs_alone(make_vae, mnist_bin, tmp_path):
    """Two models trained by zoo.fit in one process, epochs interleaved (one epoch of B before
    each epoch of A), end with exactly the parameters each gets alone."""
    train = mnist_bin[0][:NUM]
    a_alone, _ = _fit(make_vae, train, None, 3, estimator="iwae", num_particles=2, seed=1)
    b_alone, _ = _fit(make_vae, train, None, 3, seed_weights=1, estimator="score", seed=2)

    b = make_vae(1)
    def one_epoch_of_b(epoch):
        zoo.fit(b, train, epochs=epoch, out_dir=tmp_path / "b", resume=True, progress=False, batch_size=50,
                estimator="score", seed=2)
    a = make_vae(0)
    zoo.fit(a, train, epochs=3, progress=False, batch_size=50, estimator="iwae", num_particles=2, seed=1,
            before_epoch=one_epoch_of_b)
    for alone, interleaved in ((a_alone, a), (b_alone, b)):
        for (key, p), q in zip(alone.state_dict().items(), interleaved.state_dict().values()):
            assert torch.equal(p, q), key


def test_the_learned_baseline_trains_and_is_checkpointed(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0][:NUM]
    vae = make_vae()
    score = estimators.get("score", baseline="learned", data_shape=vae.data_shape)
    before = {k: v.clone() for k, v in score.state_dict().items()}
    zoo.fit(vae, train, epochs=10, out_dir=tmp_path, progress=False, batch_size=50, lr=3e-3, estimator="score",
            estimator_options={"baseline": "learned"})
    saved = torch.load(tmp_path / zoo.training.CHECKPOINT, weights_only=False)["estimator"]
    assert set(saved) == set(before) and saved["num_updates"] == 40
    assert all(not torch.equal(saved[k], before[k]) for k in before if k.startswith("baseline_net"))
    # It learned: c + n(x) predicts f = log p(x, z) - log q(z|x) better than c alone does.
    from zoo.estimators import weights

    score.load_state_dict(saved)
    with torch.no_grad():
        f = weights.log_weights(vae.model, vae.guide, train, num_particles=1)[0]
        c = saved["average"].float()
        learned = ((f - c - score.baseline_net(train).reshape(-1)) ** 2).mean()
    assert learned < 0.9 * ((f - c) ** 2).mean()  # measured: 0.83
