"""``vaezoo`` with the two-layer model and learned priors: train, resume, eval, sample, plot, and
flags that belong to another model refused before anything is written."""
import json

import pytest

from tests.clitools import vaezoo, vaezoo_here

DATA = ["--dataset", "mnist5k", "--binarize", "static", "--train-size", "200", "--test-size", "50",
        "--epochs", "1", "--no-progress"]
HVAE = ["--model", "hvae", "--latent-dims", "6", "3", "--hidden", "32", "16", "--depth", "1"]


def test_hvae_with_a_vamp_prior_through_the_pipeline(tmp_path):
    run = tmp_path / "run"
    vaezoo("train", *DATA, *HVAE, "--prior", "vamp:5", "--estimator", "iwae", "--num-particles", "3", "--out", run)
    config = json.loads((run / "config.json").read_text())["model"]
    assert (config["model"], config["latent_dims"], config["prior"]) == ("hvae", [6, 3], "vamp:5")
    vaezoo("train", *DATA[:-3], "--epochs", "2", "--no-progress", *HVAE, "--prior", "vamp:5", "--estimator", "iwae",
           "--num-particles", "3", "--out", run, "--resume")
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]
    out = vaezoo("eval", run, "--num-samples", "30", "--no-progress").stdout
    assert "active units" in out and "(" in out.split("active units")[1].split(",")[0]  # per layer: a/6 + b/3
    result = json.loads((run / "eval.json").read_text())
    assert result["latent_dims"] == [6, 3] and len(result["active_units_per_layer"]) == 2
    vaezoo("sample", run, "--num-samples", "4")
    vaezoo("plot", run)
    assert (run / "interpolation_inputs.png").exists() and (run / "latent_scatter.png").exists()


@pytest.mark.parametrize("argv,message", [
    (["--model", "vae", "--latent-dims", "4", "2"], "--latent-dims applies to --model hvae, not 'vae'"),
    (["--model", "hvae", "--latent-dim", "4"], "--latent-dim does not apply to --model hvae (it takes --latent-dims)"),
    (["--model", "conv-vae", "--prior", "mog:3"], "--prior applies to --model vae or hvae, not 'conv-vae'"),
    (["--model", "hvae", "--hidden", "32"], "hidden=(32,) must give one width per latent layer"),
    (["--model", "vae", "--prior", "vamp:0"], "prior='vamp:0': the number of components K"),
    (["--model", "dmm", "--dataset", "sines", "--binarize", "none", "--hidden", "32", "16"],
     "--hidden for --model dmm takes three widths"),
])
def test_flags_of_another_model_are_refused_before_anything_is_written(tmp_path, argv, message):
    proc = vaezoo_here("train", *DATA, *argv, "--out", tmp_path / "run")
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "run").exists()


def test_elbo_kl_on_a_learned_prior_is_refused_before_anything_is_written(tmp_path):
    proc = vaezoo_here("train", *DATA, "--hidden", "32", "--latent-dim", "4", "--prior", "mog:2",
                       "--estimator", "elbo-kl", "--out", tmp_path / "run")
    assert proc.returncode != 0 and "elbo-kl needs KL(q || p) in closed form" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_dmm_on_the_sines_through_the_pipeline(tmp_path):
    run = tmp_path / "dmm"
    train = ["train", "--model", "dmm", "--dataset", "sines", "--train-size", "40", "--test-size", "20",
             "--latent-dim", "3", "--hidden", "16", "12", "24", "--estimator", "iwae", "--num-particles", "2",
             "--batch-size", "20", "--no-progress"]
    vaezoo(*train, "--epochs", "1", "--out", run)
    config = json.loads((run / "config.json").read_text())["model"]
    assert [config[k] for k in ("emission_dim", "transition_dim", "rnn_dim")] == [16, 12, 24]
    vaezoo(*train, "--epochs", "2", "--out", run, "--resume")
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]
    vaezoo("eval", run, "--num-samples", "30", "--no-progress")
    assert json.loads((run / "eval.json").read_text())["latent_dim"] == 50 * 3  # T steps of z_t
    vaezoo("sample", run, "--num-samples", "4")
    vaezoo("plot", run)
    assert (run / "reconstructions.png").exists() and (run / "samples.png").exists()
