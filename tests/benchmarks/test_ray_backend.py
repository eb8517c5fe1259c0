"""``vaezoo bench --backend ray``: the same numbers as the local backend, with a local Ray started
(``ray.init(num_cpus=2)``, loopback only) and stopped by the test."""
import importlib
import sys

import pytest

from benchmarks import runner

ray = pytest.importorskip("ray", reason="the Ray backend is an optional extra: pip install -e '.[ray]'")

pytestmark = pytest.mark.slow  # starts a local Ray


def _without_times(obj):
    if isinstance(obj, dict):
        return {k: _without_times(v) for k, v in obj.items() if "time" not in k}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_cells_equal_local_cells(tmp_path, local_ray):
    suite = importlib.import_module("benchmarks.suites.guides")
    overrides = {"guides": ["diagonal", "planar:2"], "train_size": 200, "epochs": 1}
    context = runner.Context(progress=False)
    local = runner.run(suite, "smoke", out=tmp_path / "local", overrides=overrides, context=context)
    remote = runner.run(suite, "smoke", out=tmp_path / "ray", overrides=overrides, context=context, backend="ray")
    assert remote["ran"] == local["ran"] == 2
    for a, b in zip(local["records"], remote["records"]):
        assert a["config"] == b["config"]
        assert _without_times(a["result"]) == _without_times(b["result"])
        # where the cell ran: its own thread count (smoke: 1), not the driver's
        assert a["machine"]["threads"] == b["machine"]["threads"] == runner.SMOKE_THREADS
    # the driver alone wrote results.json, with every cell
    assert len(runner.ResultStore(tmp_path / "ray" / runner.RESULTS).records) == 2


def test_without_ray_the_backend_says_how_to_install_it(monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    assert main(["bench", "gmm", "--profile", "smoke", "--backend", "ray", "--no-progress"]) == 2
    assert "pip install -e '.[ray]'" in capsys.readouterr().err
