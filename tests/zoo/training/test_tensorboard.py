"""TensorBoard logging of zoo.fit and vaezoo train: the event file read back with TensorBoard's
own EventAccumulator holds exactly the numbers of history.json, also across a resume."""
import json

import pytest
import torch

import zoo
from tests.clitools import TINY, vaezoo

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

SCALARS = {"train/loss": "loss", "train/lr": "lr", "train/elbo": "train_elbo", "train/kl": "train_kl",
           "test/elbo": "test_elbo", "test/kl": "test_kl"}


def events(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def assert_events_match_history(run_dir):
    history = json.loads((run_dir / "history.json").read_text())
    acc = events(run_dir / "tensorboard")
    assert set(SCALARS) <= set(acc.Tags()["scalars"])
    for tag, key in SCALARS.items():
        logged = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in logged] == [r["epoch"] for r in history], tag
        for (_, value), r in zip(logged, history):  # stored as float32
            assert value == pytest.approx(r[key], rel=1e-6, abs=1e-6), (tag, r["epoch"])
    return acc, history


def tiny_vae():
    torch.manual_seed(0)
    return zoo.build("vae", data_shape=(1, 28, 28), latent_dim=4, hidden=(32,))


def test_fit_logs_every_epoch_scalars_and_image_grids(mnist_bin, tmp_path):
    train, test = mnist_bin
    zoo.fit(tiny_vae(), train[:200], test=test[:50], epochs=3, batch_size=50, out_dir=tmp_path, progress=False,
            logger="tensorboard")
    acc, history = assert_events_match_history(tmp_path)
    assert len(history) == 3 and history[0]["lr"] == 1e-3
    for name in ("samples", "reconstructions"):
        images = acc.Images(name)
        assert [i.step for i in images] == [1, 2, 3] and images[0].width > 0 and images[0].height > 0


def test_resume_continues_the_event_file_without_duplicates(mnist_bin, tmp_path):
    train, test = mnist_bin
    kwargs = dict(test=test[:50], batch_size=50, out_dir=tmp_path, progress=False, logger="tensorboard")
    zoo.fit(tiny_vae(), train[:200], epochs=2, **kwargs)
    zoo.fit(tiny_vae(), train[:200], epochs=4, resume=True, **kwargs)
    _, history = assert_events_match_history(tmp_path)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]


def test_bad_loggers_are_refused_before_anything_is_written(mnist_bin, tmp_path):
    train, _ = mnist_bin
    with pytest.raises(ValueError, match="logger: unknown value 'wandb'; choose from none, tensorboard"):
        zoo.fit(tiny_vae(), train[:100], epochs=1, out_dir=tmp_path / "a", logger="wandb", progress=False)
    with pytest.raises(ValueError, match="pass out_dir"):
        zoo.fit(tiny_vae(), train[:100], epochs=1, logger="tensorboard", progress=False)
    with pytest.raises(TypeError, match="lacks start, log_epoch, close"):
        zoo.fit(tiny_vae(), train[:100], epochs=1, out_dir=tmp_path / "b", logger=object(), progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_vaezoo_train_logger_tensorboard(tmp_path):
    out = tmp_path / "run"
    vaezoo("train", *TINY, "--epochs", "2", "--out", out, "--logger", "tensorboard")
    assert_events_match_history(out)


def test_the_two_layer_model_logs_its_samples_and_reconstructions(mnist_bin, tmp_path):
    train, test = mnist_bin
    torch.manual_seed(0)
    hvae = zoo.build("hvae", data_shape=(1, 28, 28), latent_dims=(6, 3), hidden=(32, 16), prior="mog:2")
    zoo.fit(hvae, train[:100], test=test[:20], epochs=1, batch_size=50, out_dir=tmp_path, progress=False,
            logger="tensorboard")
    acc, _ = assert_events_match_history(tmp_path)
    assert [i.step for i in acc.Images("samples")] == [1]
