"""The ``vaezoo`` command line, run in subprocesses on tiny real data (the embedded digits)."""
import json

import pytest

from tests.clitools import TINY, vaezoo, vaezoo_here, vaezoo_process


def test_list_names_every_registry():
    """The installed ``vaezoo`` script, in a process of its own."""
    out = vaezoo_process("list").stdout
    for name in ("vae", "diagonal", "bernoulli", "elbo", "elbo-kl", "mnist", "binarized-mnist", "mnist5k"):
        assert name in out


def test_train_writes_run_files_and_sample_redraws_them(tmp_path):
    run = tmp_path / "run"
    proc = vaezoo("train", *TINY, "--out", run)
    for name in ("checkpoint.pt", "history.json", "config.json", "samples.png", "reconstructions.png",
                 "training_curves.png"):
        assert (run / name).stat().st_size > 0, name
        assert name.endswith(".png") is False or str(run / name) in proc.stdout  # it says where figures are
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1]
    assert history[0]["test_elbo"] < 0 and history[0]["test_kl"] >= 0
    (run / "samples.png").unlink()
    vaezoo("sample", run, "--num-samples", 10)
    assert (run / "samples.png").stat().st_size > 0


def test_existing_out_needs_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    vaezoo("train", *TINY, "--out", run)
    proc = vaezoo_here("train", *TINY, "--out", run)
    assert proc.returncode == 2 and "--resume" in proc.stderr and "--overwrite" in proc.stderr
    before = json.loads((run / "history.json").read_text())
    vaezoo("train", *TINY[:-3], "--epochs", "2", "--no-progress", "--out", run, "--resume")
    after = json.loads((run / "history.json").read_text())
    assert after[0] == before[0] and [r["epoch"] for r in after] == [1, 2]
    (run / "eval.json").write_text("{}")  # derived from the old run: must not survive it
    (run / "khat_histogram.png").write_bytes(b"old")
    (run / "notes.txt").write_text("mine")
    vaezoo("train", *TINY, "--out", run, "--overwrite")
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1]
    assert not (run / "eval.json").exists() and not (run / "khat_histogram.png").exists()
    assert (run / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("bad, message", [
    (["--latent-dim", "0"], "--latent-dim: expected an integer > 0 or null, got '0'"),
    (["--guide", "plnar"], "choose from"),
    (["--dataset", "nope"], "--dataset: expected one of"),
    (["--batch-size", "-1"], "--batch-size"),
    (["--estimator", "renyi", "--estimator-option", "alpha=1"], "use the 'elbo' estimator"),
    (["--estimator-option", "alpha"], "expected NAME=VALUE, got 'alpha'"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, bad, message):
    proc = vaezoo_here("train", *TINY, *bad, "--out", tmp_path / "run")
    assert proc.returncode == 2
    assert message in proc.stderr


def test_estimator_options_reach_the_fit_config(tmp_path):
    run = tmp_path / "run"
    vaezoo("train", *TINY, "--estimator", "renyi", "--num-particles", "3", "--estimator-option", "alpha=0.5",
           "--out", run)
    fit = json.loads((run / "config.json").read_text())["fit"]
    assert (fit["estimator"], fit["num_particles"], fit["estimator_options"]) == ("renyi", 3, [["alpha", 0.5]])


def test_grayscale_data_with_bernoulli_and_no_binarization_suggests_binarizing(tmp_path):
    args = [a for a in TINY if a not in ("--binarize", "static")]
    proc = vaezoo_here("train", *args, "--binarize", "none", "--out", tmp_path / "run")
    assert proc.returncode == 2 and "binarize" in proc.stderr
    assert not (tmp_path / "run").exists()  # refused before the run directory was made


def test_the_defaults_make_a_working_run(tmp_path):
    """mnist5k is grayscale and the likelihood bernoulli: --binarize auto binarizes dynamically."""
    args = [a for a in TINY if a not in ("--binarize", "static")]
    vaezoo("train", *args, "--out", tmp_path / "run")
    assert json.loads((tmp_path / "run" / "data.json").read_text())["binarize"] == "dynamic"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["fit"]["binarize"] == "dynamic"


def test_seed_controls_the_whole_run(tmp_path):
    """In one process, whatever the global RNG state before: --seed alone fixes the numbers
    (initial weights included)."""
    import torch

    from zoo.cli import main

    def final(seed, name, global_seed):
        torch.manual_seed(global_seed)
        assert main(["train", *TINY, "--seed", str(seed), "--out", str(tmp_path / name)]) == 0
        return json.loads((tmp_path / name / "history.json").read_text())[-1]

    strip = lambda r: {k: v for k, v in r.items() if not k.endswith("time_s")}  # noqa: E731
    a, b, c = final(3, "a", global_seed=1), final(3, "b", global_seed=2), final(4, "c", global_seed=1)
    assert strip(a) == strip(b)
    assert a["test_elbo"] != c["test_elbo"]
