"""DDP through torchrun (gloo on the CPU, 2 processes), started and stopped by these tests on loopback."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.clitools import REPO, vaezoo
from zoo.training import checkpoint

SMALL = ["--dataset", "mnist5k", "--binarize", "static", "--hidden", "32", "--latent-dim", "4", "--no-progress"]

pytestmark = pytest.mark.slow  # torchrun processes, ~25 s each


def torchrun(*args, nproc: int = 2, check: bool = True, faults=(), **env):
    """``torchrun --standalone --nproc-per-node N $(command -v vaezoo) ARGS``; with ``faults``
    (flags of ``tests.faults``), each rank runs ``python -m tests.faults FAULTS ARGS`` instead."""
    script = Path(sys.executable).parent / "vaezoo"
    entry = ["-m", "tests.faults", *faults] if faults else [str(script)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *entry]
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **env}
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"torchrun exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


def _model(run):
    return checkpoint.read(run / checkpoint.CHECKPOINT)["model"]


def test_one_ddp_step_equals_one_step_on_the_whole_batch(tmp_path):
    """The autoencoder's point-mass guide draws no noise: one step of 2 ranks on 32 + 32 examples
    equals one step of one process on the 64 (Adam, up to float rounding)."""
    args = ["train", "--model", "ae", *SMALL, "--train-size", "64", "--test-size", "10", "--batch-size", "64",
            "--epochs", "1"]
    torchrun(*args, "--out", tmp_path / "ddp")
    vaezoo(*args, "--out", tmp_path / "one")
    ddp, one = _model(tmp_path / "ddp"), _model(tmp_path / "one")
    # (without the all-reduce, rank 0's step on its 32 examples would land elsewhere)
    for key in one:
        assert torch.allclose(ddp[key], one[key], rtol=1e-5, atol=1e-6), key


def test_two_processes_reach_the_single_process_elbo_and_record_the_world_size(tmp_path):
    args = ["train", *SMALL, "--train-size", "400", "--test-size", "100", "--epochs", "2"]
    torchrun(*args, "--out", tmp_path / "ddp")
    vaezoo(*args, "--out", tmp_path / "one")
    ddp = checkpoint.read(tmp_path / "ddp" / checkpoint.CHECKPOINT)
    one = checkpoint.read(tmp_path / "one" / checkpoint.CHECKPOINT)
    assert abs(ddp["history"][-1]["test_elbo"] - one["history"][-1]["test_elbo"]) < 3.0
    assert ddp["world_size"] == 2 and one["world_size"] == 1
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["world_size"] == 2
    # a different number of processes changes the numbers: resume refuses it
    proc = vaezoo(*args[:-1], "3", "--out", tmp_path / "ddp", "--resume", check=False)
    assert proc.returncode == 2 and "world_size: 2 -> 1" in proc.stderr, proc.stderr


def test_a_killed_rank_stops_the_run_cleanly_and_it_resumes(tmp_path):
    args = ["train", *SMALL, "--train-size", "400", "--test-size", "100"]
    whole = tmp_path / "whole"
    torchrun(*args, "--epochs", "3", "--out", whole)
    run = tmp_path / "run"
    proc = torchrun(*args, "--epochs", "3", "--out", run, check=False, faults=["--exit-at", "1:2"])
    assert proc.returncode != 0 and re.search(r"exitcode\s*:\s*17", proc.stderr), proc.stderr[-2000:]
    assert checkpoint.read(run / checkpoint.CHECKPOINT)["epoch"] == 1  # epoch 1 is kept
    torchrun(*args, "--epochs", "3", "--out", run, "--resume")
    a, b = _model(run), _model(whole)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_two_layer_model_trains_under_ddp_and_resumes(tmp_path):
    args = ["train", "--model", "hvae", "--dataset", "mnist5k", "--binarize", "static", "--latent-dims", "6", "3",
            "--hidden", "32", "16", "--estimator", "iwae", "--num-particles", "3", "--train-size", "200",
            "--test-size", "50", "--no-progress"]
    torchrun(*args, "--epochs", "1", "--out", tmp_path / "ddp")
    torchrun(*args, "--epochs", "2", "--out", tmp_path / "ddp", "--resume")
    state = checkpoint.read(tmp_path / "ddp" / checkpoint.CHECKPOINT)
    assert state["world_size"] == 2 and [r["epoch"] for r in state["history"]] == [1, 2]
    assert any(k.startswith("up_encoders.") for k in state["model"])


def test_the_sigmoid_belief_net_trains_with_vimco_under_ddp_and_resumes(tmp_path):
    args = ["train", "--model", "sbn", "--dataset", "mnist5k", "--binarize", "static", "--layers", "8", "4",
            "--estimator", "vimco", "--num-particles", "3", "--train-size", "200", "--test-size", "50", "--no-progress"]
    torchrun(*args, "--epochs", "1", "--out", tmp_path / "ddp")
    torchrun(*args, "--epochs", "2", "--out", tmp_path / "ddp", "--resume")
    state = checkpoint.read(tmp_path / "ddp" / checkpoint.CHECKPOINT)
    assert state["world_size"] == 2 and [r["epoch"] for r in state["history"]] == [1, 2]
    assert "latent_prior.logits" in state["model"] and "up_heads.0.linear.weight" in state["model"]
