"""``vaezoo experiment conv-vae`` and ``vaezoo train --model conv-vae`` on tiny data, in process."""
import json

from zoo.cli import main

TINY = ["--train-size", "64", "--test-size", "24", "--epochs", "1", "--latent-dim", "4", "--channels", "4", "8", "8",
        "--no-progress"]


def test_conv_experiment_writes_figures_and_the_true_elbo(tmp_path, shared_data, capsys):
    out = tmp_path / "run"
    args = ["experiment", "conv-vae", "--dataset", "cifar10-subset-centered", "--data-root", str(shared_data),
            "--mse-kl-weight", "0.1", "--decoder-output", "tanh", "--beta", "0.5", "--iwae-particles", "4",
            "--out", str(out), *TINY]
    assert main(args) == 0
    result = json.loads((out / "results.json").read_text())
    assert result["model"]["beta"] == 0.5 and result["model"]["likelihood"] == "gaussian"
    assert result["budget"] == {**result["budget"], "train_images": 64, "test_images": 24, "epochs": 1}
    # evaluation is of the plain model: the IWAE estimate lies above its own ELBO, not the weighted objective
    assert result["test_log_likelihood"]["log_likelihood"] >= result["test_log_likelihood"]["elbo"]
    for name in ("samples", "reconstructions", "interpolations", "class_means", "training_curves"):
        assert (out / f"{name}.png").stat().st_size > 0
    assert "test ELBO" in capsys.readouterr().out


def test_conv_experiment_refuses_conflicting_likelihood_options(tmp_path, capsys):
    args = ["experiment", "conv-vae", "--dataset", "cifar10-subset", "--mse-kl-weight", "0.1",
            "--likelihood-scale", "1", "--out", str(tmp_path), *TINY]
    assert main(args) == 2
    assert "--mse-kl-weight" in capsys.readouterr().err


def test_train_command_builds_conv_vae_and_sample_redraws(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--model", "conv-vae", "--dataset", "mnist5k", "--binarize", "static", "--beta", "2",
            "--out", str(run), *TINY]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())["model"]
    assert config["model"] == "conv-vae" and config["beta"] == 2.0 and config["data_shape"] == [1, 28, 28]
    (run / "samples.png").unlink()
    assert main(["sample", str(run), "--num-samples", "10"]) == 0
    assert (run / "samples.png").stat().st_size > 0


def test_train_command_refuses_conv_options_for_mlp_models(tmp_path, capsys):
    assert main(["train", "--model", "vae", "--beta", "2", "--out", str(tmp_path / "a"), *TINY[:8]]) == 2
    assert "--beta applies to --model conv-vae, not 'vae'" in capsys.readouterr().err
