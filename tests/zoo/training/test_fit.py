"""Tests of zoo.training.fit: fit, its history and checkpoints, exact resume, load and input checks."""
import copy
import json
import math

import pyro
import pytest
import torch

import zoo
from zoo.estimators import log_weights
from zoo.evaluation.likelihood import elbo_and_kl
from zoo.training import CHECKPOINT, HISTORY, FitConfig
from zoo.training.fit import _epoch_seed

TIME_FIELDS = ("train_time_s", "eval_time_s")
KEYS_WITH_TEST = {"epoch", "loss", "lr", "train_elbo", "train_kl", "test_elbo", "test_kl", *TIME_FIELDS}


def without_times(history):
    return [{k: v for k, v in record.items() if k not in TIME_FIELDS} for record in history]


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def fit(vae, train, **kwargs):
    return zoo.fit(vae, train, progress=False, **{"batch_size": 100, **kwargs})


# ---- training makes progress ------------------------------------------------------------


def test_fit_loss_decreases(make_vae, mnist_bin):
    train, test = mnist_bin
    history = fit(make_vae(), train, test=test, epochs=6, batch_size=50)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(v) for r in history for v in r.values())
    # Epoch 1 starts near 784 log 2 = 543 nats (logits ~ 0) and 60 Adam steps reach ~250; the
    # epoch means over 10 minibatches have standard errors of a few nats, so 100 nats is a
    # margin that only real learning clears.
    assert history[-1]["loss"] < history[0]["loss"] - 100
    assert history[-1]["train_elbo"] > history[0]["train_elbo"] + 100
    assert history[-1]["test_elbo"] > history[0]["test_elbo"] + 100
    assert all(r["train_kl"] > 0 and r["test_kl"] > 0 for r in history)


def test_history_loss_is_the_per_datapoint_objective(make_vae, mnist_bin):
    """With a vanishing learning rate the parameters stay put, so the epoch's mean training loss
    and the end-of-epoch evaluation are two Monte Carlo estimates of the same -ELBO."""
    train = mnist_bin[0]
    vae = make_vae()
    (record,) = fit(vae, train, epochs=1, lr=1e-30)
    with torch.no_grad():
        var_n = log_weights(vae.model, vae.guide, train, num_particles=50).var(0)
    se = math.sqrt(2 * var_n.sum().item()) / train.shape[0]
    assert abs(record["loss"] + record["train_elbo"]) < 4 * se
    # Far from a trained model: the loss is about 784 log 2 nats.
    assert record["loss"] == pytest.approx(784 * math.log(2), rel=0.1)


def test_history_evaluation_is_reproducible(make_vae, mnist_bin):
    """train_elbo/test_elbo/kl are elbo_and_kl under the evaluation seed of that epoch."""
    train, test = mnist_bin
    vae = make_vae()
    history = fit(vae, train, test=test, epochs=2, seed=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_epoch_seed(4, 2) + 1)
        assert elbo_and_kl(vae, train) == {"elbo": history[-1]["train_elbo"], "kl": history[-1]["train_kl"]}
        assert elbo_and_kl(vae, test) == {"elbo": history[-1]["test_elbo"], "kl": history[-1]["test_kl"]}
    assert vae.training  # evaluation restores the mode


@pytest.mark.parametrize("estimator, num_particles", [("elbo", 3), ("elbo-kl", 1), ("elbo-kl", 2)])
def test_fit_with_other_estimators(make_vae, mnist_bin, estimator, num_particles):
    history = fit(make_vae(), mnist_bin[0], epochs=1, estimator=estimator, num_particles=num_particles)
    assert math.isfinite(history[0]["loss"]) and math.isfinite(history[0]["train_elbo"])


@pytest.mark.parametrize("optimizer", ["adamw", "sgd", "rmsprop"])
def test_fit_with_other_optimizers(make_vae, mnist_bin, optimizer):
    vae = make_vae()
    before = vae.decoder.net[0].weight.clone()
    # the loss is a sum over the batch: plain SGD needs a small step (at 1e-3 it diverges, and the guard says so)
    history = fit(vae, mnist_bin[0], epochs=1, optimizer=optimizer, lr=1e-5 if optimizer == "sgd" else 1e-3)
    assert math.isfinite(history[0]["loss"])
    assert not torch.equal(vae.decoder.net[0].weight, before)


# ---- reproducibility and resume ---------------------------------------------------------


def test_same_seed_same_numbers_different_seed_different(make_vae, mnist_bin):
    train, test = mnist_bin
    a, b, c = make_vae(0), make_vae(0), make_vae(0)
    ha = fit(a, train, test=test, epochs=2, seed=5)
    hb = fit(b, train, test=test, epochs=2, seed=5)
    hc = fit(c, train, test=test, epochs=2, seed=6)
    assert without_times(ha) == without_times(hb)
    assert_same_state(a, b)
    assert all(ra["loss"] != rc["loss"] for ra, rc in zip(ha, hc))
    assert not torch.equal(a.decoder.net[0].weight, c.decoder.net[0].weight)


def run_interrupted(make_vae, train, test, tmp_path, **config):
    """(uninterrupted model, its history, resumed model, its history) for 2 epochs."""
    whole = make_vae(0)
    h_whole = fit(whole, train, test=test, epochs=2, out_dir=tmp_path / "a", **config)
    first = make_vae(0)
    fit(first, train, test=test, epochs=1, out_dir=tmp_path / "b", **config)
    pyro.set_rng_seed(12345)  # whatever happens between the runs must not matter
    resumed = make_vae(1)  # other initial weights on purpose: all of them must come from the checkpoint
    assert not torch.equal(resumed.decoder.net[0].weight, whole.decoder.net[0].weight)
    h_resumed = fit(resumed, train, test=test, epochs=2, out_dir=tmp_path / "b", resume=True, **config)
    return whole, h_whole, resumed, h_resumed


def test_resume_equals_uninterrupted(make_vae, mnist_bin, tmp_path):
    train, test = mnist_bin
    whole, h_whole, resumed, h_resumed = run_interrupted(make_vae, train, test, tmp_path, seed=3)
    assert_same_state(whole, resumed)
    assert without_times(h_whole) == without_times(h_resumed)
    saved = [json.loads((tmp_path / run / HISTORY).read_text()) for run in ("a", "b")]
    assert without_times(saved[0]) == without_times(saved[1]) == without_times(h_whole)


def test_resume_equals_uninterrupted_with_dynamic_binarization(make_vae, mnist_gray, tmp_path):
    train, test = mnist_gray
    assert ((train > 0) & (train < 1)).any()  # grayscale: the binarization is the run's own
    whole, h_whole, resumed, h_resumed = run_interrupted(
        make_vae, train, test, tmp_path, binarize="dynamic", estimator="elbo-kl", num_particles=2
    )
    assert_same_state(whole, resumed)
    assert without_times(h_whole) == without_times(h_resumed)


def test_dynamic_binarization_redraws_each_epoch(make_vae, mnist_gray):
    """Dynamic binarization trains on fresh Bernoulli draws: its run differs from one on a
    single fixed draw, and the evaluation sees binary data (finite ELBO under a Bernoulli)."""
    train = mnist_gray[0]
    a, b = make_vae(0), make_vae(0)
    ha = fit(a, train, epochs=2, binarize="dynamic")
    fixed = zoo.data.binarize(train, "static", torch.Generator().manual_seed(0))
    hb = fit(b, fixed, epochs=2)
    assert all(math.isfinite(r["train_elbo"]) for r in ha)
    assert ha[1]["loss"] != hb[1]["loss"]


def test_fit_trains_a_deep_copy(make_vae, mnist_bin):
    """Keeping a copy (say, of the best model so far) and training it on must work; see
    test_vae.test_deepcopy_trains_its_own_parameters for the cause when it does not."""
    train = mnist_bin[0]
    vae = make_vae()
    fit(vae, train, epochs=1)
    snapshot = copy.deepcopy(vae)
    before = snapshot.decoder.net[0].weight.clone()
    fit(snapshot, train, epochs=1)
    assert not torch.equal(snapshot.decoder.net[0].weight, before)


def test_resume_without_checkpoint_starts_fresh(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0]
    a, b = make_vae(0), make_vae(0)
    ha = fit(a, train, epochs=1, out_dir=tmp_path / "a")
    hb = fit(b, train, epochs=1, out_dir=tmp_path / "b", resume=True)
    assert without_times(ha) == without_times(hb)
    assert_same_state(a, b)


def test_resume_of_a_finished_run_changes_nothing(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0]
    a = make_vae(0)
    ha = fit(a, train, epochs=2, out_dir=tmp_path)
    b = make_vae(1)
    hb = fit(b, train, epochs=2, out_dir=tmp_path, resume=True)
    assert hb == ha
    assert_same_state(a, b)


@pytest.mark.parametrize("change", [dict(lr=2e-3), dict(batch_size=50), dict(seed=1), dict(estimator="elbo-kl")])
def test_resume_with_a_different_fit_config_raises(make_vae, mnist_bin, tmp_path, change):
    train = mnist_bin[0]
    fit(make_vae(), train, epochs=1, out_dir=tmp_path)
    (name, value), = change.items()
    with pytest.raises(ValueError, match=rf"cannot resume .*: its fit settings differ \({name}: .* -> {value!r}\)"):
        fit(make_vae(), train, epochs=2, out_dir=tmp_path, resume=True, **change)


def test_resume_with_a_different_model_raises(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0]
    fit(make_vae(), train, epochs=1, out_dir=tmp_path)
    with pytest.raises(ValueError, match=r"cannot resume .*: its model settings differ \(latent_dim: 8 -> 9\)"):
        fit(make_vae(latent_dim=9), train, epochs=2, out_dir=tmp_path, resume=True)


def test_resume_without_out_dir_raises(make_vae, mnist_bin):
    with pytest.raises(ValueError, match="resume=True needs out_dir"):
        fit(make_vae(), mnist_bin[0], epochs=1, resume=True)


# ---- run directory and load -------------------------------------------------------------


def test_run_directory_contents(make_vae, mnist_bin, tmp_path):
    train, test = mnist_bin
    vae = make_vae()
    history = fit(vae, train, test=test, epochs=2, out_dir=tmp_path / "run", seed=7, lr=2e-3)
    out = tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == sorted([".lock", CHECKPOINT, "checkpoint.prev.pt", HISTORY,
                                                            "config.json"])

    saved = json.loads((out / HISTORY).read_text())
    assert saved == history
    assert all(set(r) == KEYS_WITH_TEST for r in saved)
    assert [r["epoch"] for r in saved] == [1, 2]

    config = json.loads((out / "config.json").read_text())
    assert config["fit"] == {
        "estimator": "elbo", "num_particles": 1, "estimator_options": [], "batch_size": 100, "lr": 2e-3,
        "optimizer": "adam", "seed": 7, "binarize": None,
    }
    assert config["model"] == json.loads(json.dumps(vae.config))

    state = torch.load(out / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 2 and state["history"] == history
    assert state["model_config"] == vae.config
    assert all(torch.equal(v, vae.state_dict()[k]) for k, v in state["model"].items())


def test_history_without_test_set_has_no_test_fields(make_vae, mnist_bin):
    (record,) = fit(make_vae(), mnist_bin[0], epochs=1)
    assert set(record) == KEYS_WITH_TEST - {"test_elbo", "test_kl"}


def test_load_returns_the_trained_model(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0]
    vae = make_vae(0, hidden=(32, 16), activation="relu")
    history = fit(vae, train, epochs=2, out_dir=tmp_path, seed=2)
    loaded = zoo.load(tmp_path)
    assert not loaded.training
    assert loaded.config == vae.config
    assert_same_state(loaded, vae)
    # And it computes the same numbers as the model it was saved from.
    torch.manual_seed(_epoch_seed(2, 2) + 1)
    assert elbo_and_kl(loaded, train)["elbo"] == history[-1]["train_elbo"]


def test_load_of_a_missing_run_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*training run directory"):
        zoo.load(tmp_path / "nothing")


# ---- bad input --------------------------------------------------------------------------


def test_nonbinary_data_raises(make_vae, mnist_gray, mnist_bin):
    with pytest.raises(
        ValueError, match=r"train must be binary \(values in \{0, 1\}\) for the bernoulli.*binarize"
    ):
        fit(make_vae(), mnist_gray[0], epochs=1)
    with pytest.raises(ValueError, match=r"test must be binary .*binarize"):
        fit(make_vae(), mnist_bin[0], test=mnist_gray[1], epochs=1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_data_raises(make_vae, mnist_bin, bad):
    x = mnist_bin[0].clone()
    x[3, 0, 10, 10] = bad
    with pytest.raises(ValueError, match="train contains 1 NaN or infinite values"):
        fit(make_vae(), x, epochs=1)


@pytest.mark.parametrize("bad", [float("nan"), 0.5])
def test_data_checked_even_with_pyro_validation_disabled(make_vae, mnist_bin, bad):
    """fit checks its data once and then turns per-step validation off; that one check must
    not depend on the global validation flag, or NaN/non-binary data train silently."""
    x = mnist_bin[0].clone()
    x[3, 0, 10, 10] = bad
    pyro.enable_validation(False)
    with pytest.raises(ValueError, match=r"train (contains 1 NaN|must be binary)"):
        fit(make_vae(), x, epochs=1)


def test_dynamic_binarization_needs_intensities(make_vae, mnist_gray):
    x = mnist_gray[0].clone()
    x[0, 0, 0, 0] = 1.5
    with pytest.raises(ValueError, match=r"train must hold intensities in \[0, 1\] for dynamic binarization"):
        fit(make_vae(), x, epochs=1, binarize="dynamic")
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"train must hold intensities"):
        fit(make_vae(), x, epochs=1, binarize="dynamic")


def test_wrong_shape_raises(make_vae, mnist_bin):
    with pytest.raises(ValueError, match=r"train must have shape \(N, 1, 28, 28\)"):
        fit(make_vae(), mnist_bin[0].flatten(1), epochs=1)
    with pytest.raises(ValueError, match=r"test must have shape \(N, 1, 28, 28\)"):
        fit(make_vae(), mnist_bin[0], test=mnist_bin[1][:, :, :27], epochs=1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch_size=0), r"batch_size must be a positive integer, got 0"),
        (dict(batch_size=2.5), r"batch_size must be a positive integer, got 2.5"),
        (dict(num_particles=0), r"num_particles must be a positive integer, got 0"),
        (dict(epochs=0), r"epochs must be a positive integer, got 0"),
        (dict(epochs=-1), r"epochs must be a positive integer, got -1"),
        (dict(lr=-1), r"lr must be a positive finite number, got -1"),
        (dict(lr=0.0), r"lr must be a positive finite number, got 0.0"),
        (dict(lr=float("nan")), r"lr must be a positive finite number, got nan"),
        (dict(lr=float("inf")), r"lr must be a positive finite number, got inf"),
        (dict(estimator="iwea"), r"unknown estimator 'iwea'; choose from ciwae, concrete, elbo, elbo-enum, elbo-kl, "),
        (dict(estimator="renyi", estimator_options={"alpha": 1}), r"alpha=1 makes the Renyi bound the ELBO"),
        (dict(optimizer="adma"), r"unknown optimizer 'adma'; choose from adam, adamw, rmsprop, sgd"),
        (dict(binarize="static"), r"binarize must be None or 'dynamic' during training, got 'static'"),
        (dict(binarize="threshold"), r"binarize must be None or 'dynamic'"),
    ],
)
def test_bad_fit_options_raise_naming_the_argument(make_vae, mnist_bin, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(make_vae(), mnist_bin[0], **{"epochs": 1, **kwargs})


def test_bad_seed_and_unknown_option(make_vae, mnist_bin):
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        fit(make_vae(), mnist_bin[0], epochs=1, seed=1.0)
    with pytest.raises(TypeError, match="learning_rate"):
        fit(make_vae(), mnist_bin[0], epochs=1, learning_rate=1e-3)


def test_fit_config_defaults():
    assert FitConfig() == FitConfig(
        estimator="elbo", num_particles=1, batch_size=100, lr=1e-3, optimizer="adam", seed=0, binarize=None
    )
