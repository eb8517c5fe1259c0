"""``zoo.training.Run``: the run directory's layout, guard, overwrite, data and lock.

The lock tests hold a run from a second process (a lock is re-entrant within one), started and
stopped here."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.clitools import REPO, TINY, vaezoo_here
from zoo.data import DataSpec
from zoo.training import Run, RunInUse

HOLD = """
import sys, time
from zoo.training import Run
with getattr(Run(sys.argv[1]), sys.argv[2])():
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """``holder(path, "writing" | "reading")``: a child process holding the run's lock, until the test ends."""
    procs = []

    def hold(path, mode="writing"):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    run = tmp_path / "run"
    proc = holder(run)
    with pytest.raises(RunInUse, match=f"in use: process {proc.pid} is training or replacing it"):
        with Run(run).writing():
            pass
    for flags in (["--overwrite"], ["--resume"], []):
        refused = vaezoo_here("train", *TINY, "--out", run, *flags)
        assert refused.returncode == 2 and f"process {proc.pid}" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing was written


def test_readers_and_writers_exclude_each_other(tmp_path, holder):
    run = tmp_path / "run"
    assert vaezoo_here("train", *TINY, "--out", run).returncode == 0
    writer = holder(run)
    for command in (["eval", run, "--num-samples", "30"], ["sample", run], ["plot", run]):
        refused = vaezoo_here(*command)
        assert refused.returncode == 2 and f"process {writer.pid} is training or replacing it" in refused.stderr
    writer.kill()
    writer.wait()
    reader = holder(run, "reading")
    refused = vaezoo_here("train", *TINY, "--out", run, "--overwrite")
    assert refused.returncode == 2 and f"process {reader.pid} is reading it" in refused.stderr, refused.stderr
    with Run(run).reading():  # readers share
        pass


def test_the_lock_of_a_killed_process_is_free_at_once(tmp_path, holder):
    run = tmp_path / "run"
    assert vaezoo_here("train", *TINY, "--out", run).returncode == 0
    proc = holder(run)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (run / ".lock").read_text().strip() == str(proc.pid)  # its record stays, the lock does not
    resumed = vaezoo_here("train", *TINY[:-3], "--epochs", "2", "--no-progress", "--out", run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2]


def test_the_lock_is_reentrant_within_a_process_and_a_reader_cannot_write(tmp_path):
    run = Run(tmp_path / "run")
    with run.writing(), run.writing(), Run(tmp_path / "run").reading():
        assert (tmp_path / "run" / ".lock").read_text().strip() == str(os.getpid())
    with run.writing():  # released above, taken again
        pass
    (tmp_path / "other").mkdir()
    with Run(tmp_path / "other").reading(), pytest.raises(RunInUse, match="being read by this process"):
        with Run(tmp_path / "other").writing():
            pass


def test_a_folder_made_by_a_writer_that_wrote_nothing_is_removed(tmp_path):
    with Run(tmp_path / "a" / "run").writing():
        pass
    assert not (tmp_path / "a" / "run").exists() and (tmp_path / "a").exists()
    (tmp_path / "b").mkdir()
    with Run(tmp_path / "b").writing():  # a folder that was there stays
        pass
    assert (tmp_path / "b").is_dir()


def test_prepare_guards_overwrites_and_records_the_data(tmp_path):
    spec = DataSpec("mnist5k", binarize="static", train_size=100)
    run = Run(tmp_path, data=spec)
    run.prepare()
    assert DataSpec.from_dict(json.loads((tmp_path / "data.json").read_text())) == spec == run.read_data()
    with pytest.raises(FileExistsError, match="already holds a run"):
        run.prepare()
    with pytest.raises(ValueError, match="exclude each other"):
        run.prepare(resume=True, overwrite=True)
    with pytest.raises(ValueError, match=r"its data settings differ \(train_size: 100 -> 200\)"):
        Run(tmp_path, data=DataSpec("mnist5k", binarize="static", train_size=200)).prepare(resume=True)
    for name in ("checkpoint.pt", "history.json", "eval.json", "samples.png", "notes.txt"):
        (tmp_path / name).write_text("old")
    (tmp_path / "eval.parts").mkdir()  # an unfinished vaezoo eval of the old run
    (tmp_path / "eval.parts" / "batch-0.pt").write_text("old")
    Run(tmp_path, data=spec).prepare(overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.json", "notes.txt"]  # the user's file stays


def test_fresh_eval_is_none_once_the_checkpoint_is_newer(tmp_path):
    run = Run(tmp_path)
    assert run.fresh_eval() is None and run.history() == []
    (tmp_path / "checkpoint.pt").write_text("x")
    time.sleep(0.01)
    (tmp_path / "eval.json").write_text('{"a": 1}')
    assert run.fresh_eval() == {"a": 1}
    os.utime(tmp_path / "checkpoint.pt", (time.time() + 10, time.time() + 10))
    assert run.fresh_eval() is None


def test_the_estimator_is_built_once_per_train(tmp_path, monkeypatch):
    from zoo import estimators

    calls = []
    create = estimators.ESTIMATORS.create
    monkeypatch.setattr(estimators.ESTIMATORS, "create", lambda name, **kw: calls.append(name) or create(name, **kw))
    proc = vaezoo_here("train", *TINY, "--estimator", "iwae", "--num-particles", "2", "--out", tmp_path / "r")
    assert proc.returncode == 0 and calls == ["iwae"]
