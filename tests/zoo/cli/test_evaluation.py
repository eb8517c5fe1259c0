"""``vaezoo eval`` and ``vaezoo plot`` end to end on a tiny run trained by ``vaezoo train``."""
import json
import math
import shutil

import pytest
import torch

from tests.clitools import TINY, vaezoo
from zoo.cli import main

FIGURES = ("samples.png", "reconstructions.png", "reconstructions_one_input.png", "training_curves.png",
           "interpolation_inputs.png", "perturbations.png", "latent_scatter.png", "class_means.png",
           "interpolation_class_means.png", "khat_histogram.png")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 1-epoch run on 200 mnist5k digits (50 test points, latent_dim 4), evaluated with S = 30
    on every second test point."""
    path = tmp_path_factory.mktemp("eval") / "run"
    vaezoo("train", *TINY, "--out", path)
    proc = vaezoo("eval", path, "--num-samples", 30, "--batch-size", 20, "--chunk-size", 7, "--stride", 2,
                  "--no-progress")
    return path, proc.stdout


def test_eval_prints_the_log_likelihood_and_writes_eval_json(run):
    path, stdout = run
    assert "log p(x) ~=" in stdout and "S=30, 25 test points, one in 2" in stdout and str(path / "eval.json") in stdout
    r = json.loads((path / "eval.json").read_text())
    assert r["num_datapoints"] == 25 and r["num_samples"] == 30 and r["stride"] == 2 and r["latent_dim"] == 4
    assert r["device"] == "cpu" and "peak_gpu_memory_mb" not in r
    assert r["elbo"] <= r["log_likelihood"] < 0 and r["log_likelihood_stderr"] > 0
    assert 1 <= r["ess_min"] <= r["ess_median"] <= 30
    assert 0 <= r["khat_frac_above_0.7"] <= r["khat_frac_above_0.5"] <= 1
    assert r["kl"] >= 0 and 0 <= r["active_units"] <= 4 and len(r["unit_activity"]) == 4
    assert 0 <= r["mutual_information"] <= r["mutual_information_max"] == pytest.approx(math.log(25))
    assert {len(v) for v in r["per_datapoint"].values()} == {25}
    history = json.loads((path / "history.json").read_text())
    assert r["elbo"] == pytest.approx(history[-1]["test_elbo"], abs=3.0)  # S-sample vs 1-sample ELBO



def test_plot_writes_every_figure_and_prints_its_path(run, capsys):
    path, _ = run
    assert main(["plot", str(path)]) == 0
    out = capsys.readouterr().out
    for name in FIGURES:
        assert (path / name).stat().st_size > 1000, name
        assert f"wrote {path / name}" in out


def test_plot_without_eval_skips_the_khat_histogram(run, tmp_path, capsys):
    path, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    (copy / "eval.json").unlink()
    (copy / "khat_histogram.png").unlink(missing_ok=True)
    assert main(["plot", str(copy)]) == 0
    assert "vaezoo eval" in capsys.readouterr().out and not (copy / "khat_histogram.png").exists()


def test_eval_refuses_the_autoencoder_and_bad_arguments(run, tmp_path, capsys):
    path, _ = run
    assert main(["eval", str(path), "--num-samples", "0", "--no-progress"]) == 2
    assert "--num-samples: expected an integer > 0" in capsys.readouterr().err
    assert main(["eval", str(path), "--device", "tpu", "--no-progress"]) == 2
    assert "unknown device 'tpu'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["eval", str(path), "--device", "cuda", "--no-progress"]) == 2
        assert "torch sees no CUDA device" in capsys.readouterr().err
    ae = tmp_path / "ae"
    assert main(["train", *TINY, "--model", "ae", "--out", str(ae)]) == 0
    assert main(["eval", str(ae), "--num-samples", "30", "--no-progress"]) == 2
    assert "improper" in capsys.readouterr().err
