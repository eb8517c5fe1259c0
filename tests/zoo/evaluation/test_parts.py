"""A resumable log-likelihood: an evaluation interrupted after some batches and run again gives
exactly the numbers of an uninterrupted one, and never mixes in batches of other weights or settings."""
import json

import pytest
import torch

import zoo
from tests.clitools import TINY, vaezoo
from zoo.evaluation.likelihood import log_likelihood
from zoo.evaluation.parts import FIELDS, BatchParts, fingerprint
from zoo.evaluation.report import evaluate


class Interrupted(Exception):
    pass


class Counting(BatchParts):
    """BatchParts that counts the batches it saves and stops the run after ``stop_after`` of them."""

    def __init__(self, folder, key, stop_after=None):
        super().__init__(folder, key)
        self.saved, self.stop_after = [], stop_after

    def save(self, start, results, seconds):
        super().save(start, results, seconds)
        self.saved.append(start)
        if self.stop_after is not None and len(self.saved) == self.stop_after:
            raise Interrupted


def saved_starts(parts):
    return sorted(int(p.stem.split("-")[1]) for p in parts.folder.glob("batch-*.pt"))


def lg_and_data():
    lg = zoo.LinearGaussian(6, 2, noise_scale=0.5, seed=1).double()
    return lg, lg.sample_data(50, seed=123)


def run(lg, x, parts=None, seed=0):
    return log_likelihood(lg.model, lg.guide, x, num_samples=40, batch_size=8, chunk_size=7, seed=seed, psis=True,
                          parts=parts)


def test_an_interrupted_run_goes_on_from_its_saved_batches_and_gives_the_uninterrupted_numbers(tmp_path):
    lg, x = lg_and_data()
    whole = run(lg, x)
    key = fingerprint(lg, x, num_samples=40, batch_size=8, seed=0)
    with pytest.raises(Interrupted), Counting(tmp_path / "parts", key, stop_after=3) as parts:
        run(lg, x, parts)
    assert parts.saved == [0, 8, 16]
    with Counting(tmp_path / "parts", key) as parts:
        assert saved_starts(parts) == [0, 8, 16]
        again = run(lg, x, parts)
    assert parts.saved == [24, 32, 40, 48]  # only the batches that were missing; 7 batches of 8 rows cover 50
    assert parts.points_read_back == 24 and parts.seconds_read_back > 0
    for field in FIELDS:
        assert torch.equal(getattr(again, field), getattr(whole, field)), field
    with Counting(tmp_path / "parts", key) as parts:  # all saved: nothing is computed again
        assert torch.equal(run(lg, x, parts).log_px, whole.log_px) and parts.saved == []


def test_batches_of_other_weights_or_settings_are_removed_not_mixed_in(tmp_path):
    lg, x = lg_and_data()
    with pytest.raises(Interrupted), Counting(tmp_path / "p", fingerprint(lg, x, seed=0), stop_after=2) as parts:
        run(lg, x, parts)
    other_seed = fingerprint(lg, x, seed=1)
    assert other_seed != fingerprint(lg, x, seed=0)
    with Counting(tmp_path / "p", other_seed) as parts:
        assert saved_starts(parts) == []
        r = run(lg, x, parts, seed=1)
    assert torch.equal(r.log_px, run(lg, x, seed=1).log_px) and len(parts.saved) == 7
    with torch.no_grad():
        lg.W.add_(0.1)  # new weights: a new fingerprint
    assert fingerprint(lg, x, seed=1) != other_seed
    assert fingerprint(lg, x[:-1], seed=1) != fingerprint(lg, x, seed=1)  # other data


def test_one_evaluation_at_a_time_per_folder(tmp_path):
    with BatchParts(tmp_path / "p", "k"):
        with pytest.raises(RuntimeError, match="in use by another evaluation"):
            BatchParts(tmp_path / "p", "k").__enter__()
    with BatchParts(tmp_path / "p", "k"):  # released on exit
        pass


def test_evaluate_resumed_equals_evaluate_uninterrupted(trained_vae, mnist_bin, tmp_path, monkeypatch):
    x = mnist_bin[1][:30]
    whole = evaluate(trained_vae, x, num_samples=30, batch_size=8, progress=False)
    saves = []
    real_save = BatchParts.save

    def save_then_stop(self, start, results, seconds):
        real_save(self, start, results, seconds)
        saves.append(start)
        if len(saves) == 2:
            raise Interrupted

    monkeypatch.setattr(BatchParts, "save", save_then_stop)
    with pytest.raises(Interrupted):
        evaluate(trained_vae, x, num_samples=30, batch_size=8, progress=False, parts_dir=tmp_path / "parts")
    monkeypatch.setattr(BatchParts, "save", real_save)
    again = evaluate(trained_vae, x, num_samples=30, batch_size=8, progress=False, parts_dir=tmp_path / "parts")
    assert again["log_likelihood_points_resumed"] == 16 and whole["log_likelihood_points_resumed"] == 0
    for key in ("log_likelihood", "log_likelihood_stderr", "elbo", "elbo_stderr", "khat_median", "per_datapoint"):
        assert again[key] == whole[key], key


def test_vaezoo_eval_reads_back_an_interrupted_run_and_removes_the_parts(tmp_path):
    path = tmp_path / "run"
    vaezoo("train", *TINY, "--out", path)
    args = ("--num-samples", 30, "--batch-size", 10, "--no-progress")
    vaezoo("eval", path, *args)
    whole = json.loads((path / "eval.json").read_text())
    assert not (path / "eval.parts").exists()
    # An interrupted run of the same evaluation: its first two batches saved, then killed.
    vae = zoo.load(path)
    spec = zoo.training.Run(path).read_data()
    x = spec.fixed(spec.load(None).test)
    with pytest.raises(Interrupted), Counting(path / "eval.parts", fingerprint(
            vae, x, num_samples=30, batch_size=10, chunk_size=20, seed=0), stop_after=2) as parts:
        log_likelihood(vae.model, vae.guide, x, num_samples=30, batch_size=10, seed=0, psis=True, parts=parts)
    out = vaezoo("eval", path, *args).stdout
    assert "20 points read back from an interrupted run" in out
    again = json.loads((path / "eval.json").read_text())
    assert again["per_datapoint"] == whole["per_datapoint"] and again["log_likelihood"] == whole["log_likelihood"]
    assert not (path / "eval.parts").exists()
