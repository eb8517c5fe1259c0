"""Fault injection: killed runs, damaged and malicious files, a full disk, divergence.

Each fault must be refused or handled with one clear line, and nothing already saved is lost.
"""
import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import zoo
from tests.clitools import REPO, TINY, vaezoo, vaezoo_here, vaezoo_process
from zoo.cli import main
from zoo.training import checkpoint

NUM = 200


def _state(path):
    return checkpoint.read(path)["model"]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished two-epoch run made through the CLI (in process)."""
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", *TINY, "--epochs", "2", "--out", str(out)]) == 0
    return out


def _copy(run_dir, tmp_path):
    import shutil

    shutil.copytree(run_dir, tmp_path / "run")
    return tmp_path / "run"


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_checkpoint_is_refused_and_its_code_never_runs(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    marker = tmp_path / "pwned"
    state = checkpoint.read(run / checkpoint.CHECKPOINT)
    state["history"] = Payload(marker)
    torch.save(state, run / checkpoint.CHECKPOINT)
    (run / checkpoint.PREVIOUS).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="could run code when loaded; refused"):
        zoo.load(run)
    for args, run_as in ((["eval", run, "--num-samples", "5"], vaezoo_process), (["sample", run], vaezoo_here),
                         (["train", *TINY, "--epochs", "3", "--out", run, "--resume"], vaezoo_here)):
        proc = run_as(*args, check=False) if run_as is vaezoo_process else run_as(*args)
        assert proc.returncode == 2 and "could run code when loaded; refused" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not marker.exists()
    # the test can fail: loading it the unsafe way runs the payload
    torch.load(run / checkpoint.CHECKPOINT, weights_only=False)
    assert marker.exists()


def _unreadable(kind: str, path, marker):
    if kind == "random bytes":
        path.write_bytes(os.urandom(5000))
    elif kind == "text":
        path.write_text("not a checkpoint\n" * 20)
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
    else:  # holding code
        state = checkpoint.read(path)
        state["history"] = Payload(marker)
        torch.save(state, path)


@pytest.mark.parametrize("kind", ["random bytes", "text", "truncated", "code"])
def test_every_unreadable_checkpoint_falls_back_to_the_previous_one_or_gives_one_line(run_dir, tmp_path, kind):
    """A checkpoint.pt that cannot be used is replaced by checkpoint.prev.pt (saying so) for
    eval, sample and resume alike; without a previous one, one line says why."""
    run, marker = _copy(run_dir, tmp_path), tmp_path / "pwned"
    _unreadable(kind, run / checkpoint.CHECKPOINT, marker)
    previous = checkpoint.read(run / checkpoint.PREVIOUS)
    assert _same(zoo.load(run).state_dict(), previous["model"])
    for args in (["eval", run, "--num-samples", "30", "--no-progress"], ["sample", run, "--num-samples", "4"]):
        proc = vaezoo_here(*args)
        assert proc.returncode == 0, proc.stderr
        assert "cannot be used" in proc.stderr and f"loading from {run / checkpoint.PREVIOUS}" in proc.stderr
    proc = vaezoo_here("train", *TINY, "--epochs", "3", "--out", run, "--resume")
    assert proc.returncode == 0 and f"resuming from {run / checkpoint.PREVIOUS} (epoch 1)" in proc.stderr, proc.stderr
    assert checkpoint.read(run / checkpoint.CHECKPOINT)["epoch"] == 3
    # without a previous checkpoint: one line, for every command
    _unreadable(kind, run / checkpoint.CHECKPOINT, marker)
    (run / checkpoint.PREVIOUS).unlink()
    for args in (["eval", run, "--num-samples", "30"], ["sample", run], ["plot", run],
                 ["train", *TINY, "--epochs", "4", "--out", run, "--resume"]):
        proc = vaezoo_here(*args)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert str(run / checkpoint.CHECKPOINT) in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()


def test_an_old_format_checkpoint_gets_a_clear_message(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    state = checkpoint.read(run / checkpoint.CHECKPOINT)
    state.update(format=1, rng={"torch": torch.get_rng_state(), "numpy": np.random.get_state()})
    del state["estimator"]
    torch.save(state, run / checkpoint.CHECKPOINT)
    (run / checkpoint.PREVIOUS).unlink()
    with pytest.raises(checkpoint.CheckpointError, match="older pyro-vae-zoo .format 1.*retrain it"):
        zoo.load(run)


@pytest.mark.parametrize("name", ["history.json", "data.json"])
def test_damaged_json_files_give_one_line(run_dir, tmp_path, name):
    run = _copy(run_dir, tmp_path)
    text = (run / name).read_text()
    (run / name).write_text(text[: len(text) // 2])
    command = ["train", *TINY, "--epochs", "3", "--out", run, "--resume"] if name != "history.json" else \
        ["sample", run]
    proc = vaezoo_here(*command)
    assert proc.returncode == 2 and f"{name} is damaged" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_damaged_config_json_is_rewritten_on_resume(run_dir, tmp_path):
    """config.json only describes the run (the checkpoint holds the settings that are checked):
    a resume writes it again."""
    run = _copy(run_dir, tmp_path)
    good = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text("{\"model\": ")
    vaezoo("train", *TINY, "--epochs", "3", "--out", run, "--resume")
    assert json.loads((run / "config.json").read_text()) == good


def test_a_truncated_checkpoint_resumes_from_the_previous_one_to_the_same_numbers(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    whole = tmp_path / "whole"
    assert main(["train", *TINY, "--epochs", "3", "--out", str(whole)]) == 0
    data = (run / checkpoint.CHECKPOINT).read_bytes()
    (run / checkpoint.CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="is damaged"):
        checkpoint.read(run / checkpoint.CHECKPOINT)
    assert main(["train", *TINY, "--epochs", "3", "--out", str(run), "--resume"]) == 0
    assert _same(_state(run / checkpoint.CHECKPOINT), _state(whole / checkpoint.CHECKPOINT))


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(make_vae, mnist_bin, tmp_path, monkeypatch, capsys):
    train = mnist_bin[0][:NUM]
    zoo.fit(make_vae(), train, epochs=1, out_dir=tmp_path, progress=False, batch_size=50)
    before = _state(tmp_path / checkpoint.CHECKPOINT)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(OSError, match="No space left"):
        zoo.fit(make_vae(), train, epochs=2, out_dir=tmp_path, resume=True, progress=False, batch_size=50)
    monkeypatch.undo()
    assert _same(_state(tmp_path / checkpoint.CHECKPOINT), before)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []  # no temporary file left


def test_a_full_disk_in_the_cli_is_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "checkpoint.pt")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err] and "No space left on device" in err and "intact" in err


def test_divergence_stops_at_once_and_keeps_the_last_good_checkpoint(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0][:NUM]
    vae = make_vae()

    def poison(epoch):
        if epoch == 3:
            with torch.no_grad():
                vae.decoder.net[0].weight[0, 0] = float("nan")

    with pytest.raises(zoo.TrainingDiverged, match=r"epoch 3, step 1: the loss is nan; the checkpoint of epoch 2 "
                                                   r"is kept; try a lower learning rate") as info:
        zoo.fit(vae, train, epochs=5, out_dir=tmp_path, progress=False, batch_size=50, before_epoch=poison)
    assert info.value.last_good_epoch == 2
    state = checkpoint.read(tmp_path / checkpoint.CHECKPOINT)
    assert state["epoch"] == 2 and all(torch.isfinite(t).all() for t in state["model"].values())
    assert len(json.loads((tmp_path / checkpoint.HISTORY).read_text())) == 2


def test_divergence_in_the_cli_exits_nonzero_without_figures(tmp_path):
    out = tmp_path / "run"
    proc = vaezoo("train", *TINY, "--epochs", "4", "--lr", "1e30", "--out", out, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "training diverged at epoch 1" in proc.stderr and "lower learning rate (--lr)" in proc.stderr
    assert not list(out.glob("*.png"))


def test_out_dir_holding_a_run_is_refused_unless_resume_or_overwrite(make_vae, mnist_bin, tmp_path):
    train = mnist_bin[0][:NUM]
    zoo.fit(make_vae(), train, epochs=1, out_dir=tmp_path, progress=False, batch_size=50)
    before = (tmp_path / checkpoint.CHECKPOINT).read_bytes()
    with pytest.raises(FileExistsError, match=r"already holds a run; pass --resume \(resume=True\) .* \(overwrite"):
        zoo.fit(make_vae(), train, epochs=1, out_dir=tmp_path, progress=False, batch_size=50)
    assert (tmp_path / checkpoint.CHECKPOINT).read_bytes() == before
    zoo.fit(make_vae(1), train, epochs=1, out_dir=tmp_path, overwrite=True, progress=False, batch_size=50)
    assert (tmp_path / checkpoint.CHECKPOINT).read_bytes() != before


@pytest.mark.parametrize("bad,message", [
    (lambda x: x[:0], "train is empty"),
    (lambda x: torch.zeros(0), "train is empty"),
    (lambda x: x.numpy(), "train must be a torch.Tensor, got ndarray"),
])
def test_bad_data_is_refused_at_the_api(make_vae, mnist_bin, bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        zoo.fit(make_vae(), bad(mnist_bin[0][:NUM]), epochs=1, progress=False)


def test_float64_data_is_cast_to_the_model_dtype(make_vae, mnist_bin):
    x = mnist_bin[0][:NUM]
    a, b = make_vae(), make_vae()
    ha = zoo.fit(a, x, epochs=1, progress=False, batch_size=50)
    hb = zoo.fit(b, x.double(), epochs=1, progress=False, batch_size=50)
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]


def test_resume_refuses_changed_data_arguments_naming_them(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    args = [a if a != "static" else "threshold" for a in TINY]
    args[args.index("--train-size") + 1] = "150"
    proc = vaezoo_here("train", *args, "--epochs", "3", "--out", run, "--resume")
    assert proc.returncode == 2 and "its data settings differ" in proc.stderr, proc.stderr
    assert "binarize: 'static' -> 'threshold'" in proc.stderr and "train_size: 200 -> 150" in proc.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def _kill_and_resume(out, kills: int, seed: int):
    """Start the run, SIGKILL it at random moments (writes stall 0.3 s, so some kills land inside
    them), resume after each kill, and finally let it finish."""
    rng = random.Random(seed)
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tests.faults", "--stall-writes", "0.3", "train", *TINY, "--epochs", "4", "--out",
           str(out)]
    for attempt in range(kills + 1):
        resume = ["--resume"] if (out / checkpoint.CHECKPOINT).exists() or (out / checkpoint.PREVIOUS).exists() \
            else (["--overwrite"] if out.exists() else [])
        proc = subprocess.Popen(cmd + resume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if attempt < kills:
            time.sleep(rng.uniform(4.0, 9.0))  # ~4 s of imports, then epochs of ~1.5 s with their stalled writes
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=300)
        if attempt == kills:
            assert proc.returncode == 0, err


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_to_the_uninterrupted_numbers(tmp_path):
    whole = tmp_path / "whole"
    vaezoo("train", *TINY, "--epochs", "4", "--out", whole)
    killed = tmp_path / "killed"
    _kill_and_resume(killed, kills=3, seed=0)
    assert _same(_state(killed / checkpoint.CHECKPOINT), _state(whole / checkpoint.CHECKPOINT))
    assert checkpoint.read(killed / checkpoint.CHECKPOINT)["epoch"] == 4


@pytest.mark.parametrize("bad", [["--dataset", "nope"], ["--model", "vea"], ["--guide", "plnar:4"], ["--lr", "-1"],
                                 ["--estimator-option", "alpha"], ["--binarize", "none"]])
def test_a_refused_overwrite_leaves_the_run_exactly_as_it_was(run_dir, tmp_path, bad):
    run = _copy(run_dir, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    proc = vaezoo_here("train", *TINY, "--out", run, "--overwrite", *bad)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


@pytest.mark.parametrize("size", ["0", "-3900"])
def test_sizes_must_be_positive(tmp_path, size, capsys):
    assert main(["train", *TINY, "--train-size", size, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--train-size: expected an integer > 0" in err and size in err and not (tmp_path / "run").exists()


def test_a_checkpoint_with_non_finite_parameters_is_refused_by_eval(run_dir, tmp_path):
    run = _copy(run_dir, tmp_path)
    state = checkpoint.read(run / checkpoint.CHECKPOINT)
    state["model"]["decoder.net.0.weight"][0, 0] = float("nan")
    torch.save(state, run / checkpoint.CHECKPOINT)
    proc = vaezoo_here("eval", run, "--num-samples", "5")
    assert proc.returncode == 2 and "non-finite values in decoder.net.0.weight" in proc.stderr, proc.stderr
