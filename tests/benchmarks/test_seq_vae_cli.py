"""``vaezoo seq`` and ``vaezoo train --model seq-vae --dataset sines``, run in subprocesses on tiny data."""
import json

from tests.clitools import vaezoo
from zoo.cli import main


def test_seq_reports_the_numbers_and_writes_the_figures(tmp_path):
    out = tmp_path / "seq"
    proc = vaezoo("seq", "--num-train", 60, "--num-test", 20, "--epochs", 2, "--batch-size", 30,
                  "--is-samples", 10, "--kl-warmup", 2, "--teacher-forcing", 0.5, "--out", out, "--no-progress")
    result = json.loads((out / "results.json").read_text())
    for key in ("mse", "signal_variance", "test_elbo", "log_likelihood", "train_time_per_epoch_s"):
        assert isinstance(result[key], float), key
    # The importance-sampled estimate is at least the ELBO on average (Jensen), up to MC noise.
    assert result["log_likelihood"] >= result["test_elbo"] - 1.0
    history = json.loads((out / "history.json").read_text())
    assert [r["kl_weight"] for r in history] == [0.5, 1.0]
    for name in ("reconstructions.png", "samples.png", "latent_traversal.png", "latent_scatter.png",
                 "training_curves.png"):
        assert (out / name).stat().st_size > 0 and str(out / name) in proc.stdout
    assert "held-out MSE" in proc.stdout


def test_train_and_sample_a_seq_vae_on_sines(tmp_path):
    """In process (``zoo.cli.main``): the subprocess path is covered above."""
    run = tmp_path / "run"
    assert main(["train", "--model", "seq-vae", "--dataset", "sines", "--train-size", "100", "--test-size", "20",
                 "--hidden", "10", "20", "--latent-dim", "2", "--likelihood", "gaussian", "--epochs", "1",
                 "--out", str(run), "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["model"] == "seq-vae" and config["model"]["data_shape"] == [50]
    assert (run / "latent_traversal.png").stat().st_size > 0
    (run / "samples.png").unlink()
    assert main(["sample", str(run)]) == 0
    assert (run / "samples.png").stat().st_size > 0


def test_seq_vae_rejects_a_bernoulli_likelihood_clearly(tmp_path, capsys):
    assert main(["train", "--model", "seq-vae", "--dataset", "sines", "--epochs", "1", "--out", str(tmp_path / "r"),
                 "--hidden", "10", "20", "--likelihood", "bernoulli", "--no-progress"]) == 2
    assert "seq-vae needs a Gaussian likelihood" in capsys.readouterr().err
