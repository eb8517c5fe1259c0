"""``vaezoo experiment pointwise``: pythae's point-by-point loop against the vectorized estimate."""
import json

import pytest
import torch

from benchmarks.studies.pointwise import pointwise_log_likelihood
from tests.clitools import TINY, vaezoo
from zoo.evaluation import log_likelihood


def test_the_loop_estimates_the_same_log_likelihood(trained_vae, mnist_bin):
    """Both estimate log p(x) from S importance weights drawn alike: they differ by Monte Carlo
    error only, which the diagonal guide's heavy-tailed weights (ESS of a few of the 2000) make
    about a nat here; a wrong term in the loop (a missing prior or guide density) is tens of nats."""
    x = mnist_bin[1][:4]
    torch.manual_seed(0)
    loop = pointwise_log_likelihood(trained_vae, x, 2000, batch_size=300)
    ours = log_likelihood(trained_vae.model, trained_vae.guide, x, num_samples=2000, seed=0)
    assert loop.shape == ours.log_px.shape == (4,)
    assert (loop - ours.log_px).abs().max() < 2.0, (loop, ours.log_px)


def test_the_study_times_both_on_a_run(tmp_path):
    run = tmp_path / "run"
    vaezoo("train", *TINY, "--out", run)
    proc = vaezoo("experiment", "pointwise", run, "--points", 3, "--num-samples", 30, "--batch-size", 7,
                  "--rounds", 2)
    b = json.loads((run / "pointwise.json").read_text())
    assert b["num_points"] == 3 and b["time_per_point_s"] > 0 and b["speedup"] > 0
    assert b["batch_size"] == 7 and b["rounds"] == 2 and len(b["time_s"]) == len(b["vectorized_time_s"]) == 2
    assert "batches of 7 particles" in proc.stdout and "median of 2 alternating rounds" in proc.stdout
    assert b["log_likelihood"] == pytest.approx(b["vectorized_log_likelihood_same_points"], abs=2.0)
