"""``vaezoo bench``: every suite's smoke profile, and the runner's bookkeeping.

The smoke runs (``vaezoo bench SUITE --profile smoke``, in this process) are a module
fixture; the tests read what they wrote. The runner tests use a fake suite, so they check the skip logic, the atomic
writes and the mean ± std arithmetic without training anything.
"""
import importlib
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks import bench, report, runner
from benchmarks.suite import Settings, Suite
from tests.clitools import vaezoo as in_process
from zoo import cli
from zoo._utils import io

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
# suite -> (cells in the smoke profile, report table columns, figures)
SMOKE = {
    "estimators": (5, ["estimator", "K", "test −log p(x)", "test −ELBO", "KL", "active units", "time / epoch (s)"],
                   ["bound_vs_epoch.png", "snr_vs_k.png", "snr_toy.png"]),
    "guides": (7, ["guide", "test −log p(x)", "test −ELBO", "gap", "k̂ > 0.5", "k̂ > 0.7", "active units",
                   "time / epoch (s)", "training (s)"], ["bound_vs_epoch.png"]),
    "gmm": (2, ["covariance", "implementation", "lower bound", "iterations / steps", "fit time (s)"], []),
    "overhead": (4, ["model", "estimator", "K", "zoo test −ELBO", "torch test −ELBO", "zoo s / epoch",
                     "torch s / epoch", "epoch ratio", "step ratio", "step ratio quartiles", "zoo ms / step",
                     "torch ms / step", "GEMM floor ms / step"], []),
    "paper": (5, ["model", "published −log p(x)", "−log p(x), ours", "−ELBO, ours", "active units", "epochs",
                        "training (min)"],
              ["bound_vs_epoch.png"]),
    "hierarchy": (5, ["model, objective", "published −log p(x)", "test −log p(x)", "test −ELBO", "KL", "active units",
                      "time / epoch (s)", "active units per layer"], ["bound_vs_epoch.png"]),
    "discrete": (7, ["estimator", "test −log p(x)", "test −ELBO", "active units", "ms / step"], ["bound_vs_epoch.png"]),
}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """suite -> (out dir, stdout, stderr) of ``vaezoo bench SUITE --profile smoke`` on the embedded
    digits alone (no data root), each run in this process (its cells take seconds; a process
    each would spend more on imports)."""
    root, saved = tmp_path_factory.mktemp("bench"), os.environ.pop("VAEZOO_DATA", None)
    try:
        runs = {}
        for suite in SMOKE:
            proc = in_process("bench", suite, "--profile", "smoke", "--out", root / suite)
            runs[suite] = (root / suite, proc.stdout, proc.stderr)
        return runs
    finally:
        if saved is not None:
            os.environ["VAEZOO_DATA"] = saved


def _records(out: Path) -> list:
    data = json.loads((out / "results.json").read_text())
    assert data["format"] == runner.FORMAT
    return data["records"]


def _header(markdown: str) -> list:
    line = next(line for line in markdown.splitlines() if line.startswith("| "))
    return [c.strip() for c in line.strip("|").split("|")]


@pytest.mark.parametrize("suite", list(SMOKE))
def test_smoke_writes_records_report_and_figures(smoke, suite):
    out, stdout, stderr = smoke[suite]
    num_cells, columns, figures = SMOKE[suite]
    records = _records(out)
    assert len(records) == num_cells and len({r["key"] for r in records}) == num_cells
    for r in records:
        assert r["suite"] == suite and r["profile"] == "smoke" and r["seed"] == r["config"]["seed"] == 0
        assert r["config"]["device"] == "cpu" and r["key"] == runner.cell_key(suite, r["config"])
        assert set(r["versions"]) >= {"torch", "pyro", "zoo", "python"} and r["versions"]["zoo"]
        assert r["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", r["git_commit"])
        assert set(r["machine"]) >= {"platform", "cpus", "threads", "device"} and r["machine"]["threads"] == 1
        assert datetime.fromisoformat(r["date"]) and r["wall_time_s"] > 0 and r["result"]
    text = (out / "report.md").read_text()
    assert _header(text) == columns
    assert f"vaezoo bench {suite} --profile smoke --seeds 1 --out {out}" in text  # how to reproduce it
    assert sum(line.startswith("| ") for line in text.splitlines()) >= 1 + len({r["key"] for r in records}) // 2
    for name in figures:
        assert (out / name).read_bytes()[:8] == PNG and f"wrote {out / name}" in stdout
    assert f"{suite} cells" in stderr  # the tqdm bar over cells


def test_smoke_numbers_are_sane(smoke):
    records = _records(smoke["estimators"][0])
    est = {r["config"]["estimator"]: r["result"] for r in records if "kind" not in r["config"]}
    assert all(r["gap"] >= 0 for r in est.values()) and len(est["elbo"]["history"]) == 2  # Jensen
    fixed, toy = ([r["result"] for r in records if r["config"].get("kind") == kind]
                  for kind in ("snr-fixed", "snr-toy"))
    # every estimator of the grid at every K, on the one fixed network
    assert len(fixed) == 1 and set(fixed[0]["snr"]) == {"elbo", "iwae", "iwae-dreg"}
    assert all(set(by_k) == {"1", "5"} and all(v["guide"] > 0 and v["model"] > 0 for v in by_k.values())
               for by_k in fixed[0]["snr"].values())
    assert len(toy) == 1 and set(toy[0]["snr"]) == {"iwae", "iwae-dreg", "iwae-stl"}
    for r in _records(smoke["guides"][0]):
        res = r["result"]
        assert 0 <= res["khat_frac_above_0.7"] <= res["khat_frac_above_0.5"] <= 1 and res["gap"] >= 0
    for r in _records(smoke["gmm"][0]):  # identical starts: both EMs reach the same bound
        assert r["result"]["em"]["lower_bound"] == pytest.approx(r["result"]["sklearn"]["lower_bound"], rel=1e-6)
    for r in _records(smoke["overhead"][0]):  # same networks, objective and data order
        assert r["result"]["time_ratio"] > 0 and abs(r["result"]["neg_elbo_difference"]) < 5
    paper = (smoke["paper"][0] / "report.md").read_text()
    assert "| VAE = IWAE, k = 1 | 86.76 |" in paper and "| IWAE, k = 5 | 85.54 |" in paper
    assert "quoted from the papers" in paper and "not comparable" in paper


def test_rerun_skips_finished_cells_and_adds_seeds(smoke, tmp_path, capsys):
    out = tmp_path / "gmm"
    shutil.copytree(smoke["gmm"][0], out)
    before = _records(out)
    assert cli.main(["bench", "gmm", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    assert "2 cells, 2 already finished" in capsys.readouterr().out and _records(out) == before
    assert cli.main(["bench", "gmm", "--profile", "smoke", "--seeds", "2", "--out", str(out), "--no-progress"]) == 0
    assert "4 cells, 2 already finished in " + str(out / "results.json") + ", 2 to run" in capsys.readouterr().out
    after = _records(out)
    assert after[:2] == before and sorted(r["seed"] for r in after) == [0, 0, 1, 1]
    assert "± " in (out / "report.md").read_text()  # two seeds: mean ± std


@pytest.mark.parametrize("args, message", [
    (["gmm", "--set", "n_sample=3"], "unknown setting 'n_sample' for the gmm suite; choose from n_samples"),
    (["gmm", "--seeds", "0"], "--seeds: expected an integer > 0 or null, got '0'"),
    (["gmm", "--device", "cuda:0", "--dry-run"], "the gmm suite runs on cpu; got device 'cuda:0'"),
    (["estimators", "--device", "tpu"], "unknown device 'tpu'"),
    (["guides", "--set", "epochs"], "expected NAME=VALUE, got 'epochs'"),
])
def test_bad_arguments_exit_2_with_a_message(capsys, tmp_path, args, message):
    assert _main(["bench", *args[:1], "--profile", "smoke", "--out", str(tmp_path), *args[1:]]) == 2
    assert message in capsys.readouterr().err


def _main(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as e:  # argparse's own errors
        return e.code


def test_an_out_that_is_a_file_is_refused_before_any_cell_runs(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("mine")
    monkeypatch.setattr(runner.backends, "run_local", lambda *a, **k: pytest.fail("a cell ran"))
    assert cli.main(["bench", "gmm", "--profile", "smoke", "--out", str(tmp_path / "file"), "--no-progress"]) == 2
    assert "--out " + str(tmp_path / "file") + " is a file" in capsys.readouterr().err
    assert (tmp_path / "file").read_text() == "mine"


def test_a_foreign_results_file_is_refused(capsys, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"elbo-K1": {"test_neg_elbo": 90.0}}))  # benchmarks.estimators'
    assert _main(["bench", "gmm", "--profile", "smoke", "--out", str(tmp_path)]) == 2
    assert "is not a results file of vaezoo bench" in capsys.readouterr().err
    assert json.loads((tmp_path / "results.json").read_text()) == {"elbo-K1": {"test_neg_elbo": 90.0}}


def test_dry_run_lists_settings_and_cells(capsys):
    assert cli.main(["bench", "paper", "--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    settings = json.loads(out.splitlines()[0].removeprefix("settings: "))
    assert settings["num_stages"] == 8 and settings["batch_size"] == 20 and settings["num_samples"] == 5000
    assert "13 cells:" in out  # 8 one-layer rows of Burda's table, Rezende's flows, and 5 two-layer rows


# ---- the runner, on a fake suite ----------------------------------------------------------------


@dataclass(frozen=True)
class FakeSettings(Settings):
    n: int


class FakeSuite:
    NAME, DEVICES = "fake", ("cpu",)
    PROFILES = {"smoke": FakeSettings(description="fake", n=3, seeds=2)}

    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def cells(self, settings, seeds):
        return [{"i": i, "seed": s} for i in range(settings.n) for s in seeds]

    def run_cell(self, config, context):
        if len(self.calls) == self.fail_at:
            raise KeyboardInterrupt  # killed in the middle of a cell
        self.calls.append(config)
        return {"value": 10 * config["i"] + config["seed"]}

    def report(self, records, settings, out):
        rows = [[g[0]["config"]["i"], report.aggregate(g, lambda r: r["value"])] for g in report.by_cell(records)]
        return report.table(["i", "value"], rows), []


def _run(suite, out, **kw):
    return runner.run(suite, "smoke", out=out, context=runner.Context(progress=False), **kw)


def test_rerun_runs_nothing_and_keeps_the_records(tmp_path):
    first = _run(FakeSuite(), tmp_path)
    assert (first["ran"], first["skipped"]) == (6, 0)
    suite = FakeSuite()
    second = _run(suite, tmp_path)
    assert (second["ran"], second["skipped"], suite.calls) == (0, 6, [])
    assert second["records"] == first["records"]
    assert (tmp_path / "report.md").read_text() == (
        "| i | value |\n|---|---|\n| 0 | 0.50 ± 0.71 |\n| 1 | 10.50 ± 0.71 |\n| 2 | 20.50 ± 0.71 |\n")


def test_a_killed_run_loses_only_the_cell_in_progress(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(FakeSuite(fail_at=3), tmp_path)
    assert [r["config"] for r in _records(tmp_path)] == [{"i": 0, "seed": 0, "device": "cpu"},
                                                         {"i": 0, "seed": 1, "device": "cpu"},
                                                         {"i": 1, "seed": 0, "device": "cpu"}]
    assert not list(tmp_path.glob(".*.tmp"))
    suite = FakeSuite()
    result = _run(suite, tmp_path)
    assert (result["ran"], result["skipped"]) == (3, 3)
    assert suite.calls == [{"i": 1, "seed": 1, "device": "cpu"}, {"i": 2, "seed": 0, "device": "cpu"},
                           {"i": 2, "seed": 1, "device": "cpu"}]


def test_more_seeds_run_only_the_new_cells(tmp_path):
    _run(FakeSuite(), tmp_path)
    suite = FakeSuite()
    result = _run(suite, tmp_path, seeds=3)
    assert (result["ran"], result["skipped"]) == (3, 6) and {c["seed"] for c in suite.calls} == {2}


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    io.write_text(path, "old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "replace", fail)
    with pytest.raises(OSError):
        io.write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_store_round_trip_and_strict_json(tmp_path):
    store = runner.ResultStore(tmp_path / "results.json")
    store.add({"key": "a", "suite": "fake", "result": {"x": float("nan"), "t": (1, 2)}})
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text
    assert runner.ResultStore(tmp_path / "results.json").get("a")["result"] == {"x": None, "t": [1, 2]}


@pytest.mark.parametrize("text", ["{not json", json.dumps([1, 2]), json.dumps({"format": 2, "records": []})])
def test_store_refuses_what_it_did_not_write(tmp_path, text):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(ValueError, match="results.json"):
        runner.ResultStore(tmp_path / "results.json")


def test_mean_std_against_hand_computation():
    # [1, 2, 4]: mean 7/3; squared deviations 16/9, 1/9, 25/9 sum to 42/9; / (n - 1) = 7/3
    mean, std, n = report.mean_std([1.0, 2.0, 4.0, None, float("nan")])
    assert (mean, std, n) == (pytest.approx(7 / 3), pytest.approx(math.sqrt(7 / 3)), 3)
    assert report.fmt((mean, std, n)) == "2.33 ± 1.53"
    assert report.fmt(report.mean_std([5.0])) == "5.00" and report.fmt(report.mean_std([None])) == report.DASH
    assert report.fmt(report.mean_std([0.001, 0.003]), ".1e") == "2.0e-03 ± 1.4e-03"


def test_groups_differ_in_everything_but_the_seed():
    recs = [{"config": {"k": k, "seed": s}, "result": {"v": v}} for k, s, v in
            [(1, 0, 2.0), (5, 0, 10.0), (1, 1, 4.0), (5, 1, 14.0), (1, 2, 6.0)]]
    groups = report.by_cell(recs)
    assert [[r["config"]["seed"] for r in g] for g in groups] == [[0, 1, 2], [0, 1]]
    assert [report.aggregate(g, lambda r: r["v"]) for g in groups] == ["4.00 ± 2.00", "12.00 ± 2.83"]


def test_records_carry_provenance():
    record = runner.make_record("fake", "smoke", {"seed": 3, "device": "cpu"}, {"v": 1}, 0.5)
    assert record["seed"] == 3 and record["machine"]["device"] == "cpu" and record["machine"]["cpus"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    assert record["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)


def test_no_git_means_no_commit(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    from zoo._utils import provenance

    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    assert provenance.git_state.__wrapped__() == {"commit": None, "dirty": None}


def test_settings_and_command():
    settings = runner.settings_for(FakeSuite(), "smoke", seeds=4, overrides={"n": 1})
    assert (settings.n, settings.seeds) == (1, 4)
    assert runner.settings_dict(settings, "smoke") == {"description": "fake", "seeds": 4, "n": 1, "profile": "smoke"}
    with pytest.raises(ValueError, match="unknown profile 'fast'; choose from smoke"):
        runner.settings_for(FakeSuite(), "fast")
    with pytest.raises(ValueError, match="unknown setting 'm' for the fake suite; choose from n, seeds"):
        runner.settings_for(FakeSuite(), "smoke", overrides={"m": 1})
    with pytest.raises(ValueError, match="n: expected an integer, got 'three'"):
        runner.settings_for(FakeSuite(), "smoke", overrides={"n": "three"})
    with pytest.raises(ValueError, match="seeds must be a positive integer, got 0"):
        runner.settings_for(FakeSuite(), "smoke", seeds=0)
    cmd = runner.command("guides", "quick", 2, "bench/g", "cuda", {"guides": ["diagonal", "planar:4"]})
    assert cmd == "vaezoo bench guides --profile quick --seeds 2 --out bench/g --device cuda " \
                  "--set 'guides=[\"diagonal\",\"planar:4\"]'"
    assert runner.settings_for(FakeSuite(), "smoke", overrides={"n": "20"}).n == 20  # text from --set is parsed


def test_every_suite_satisfies_the_protocol_with_typed_profiles():
    import dataclasses
    import typing

    from zoo.cli.options import convert

    for name in bench.SUITES:
        suite = importlib.import_module(bench.SUITES[name])
        assert isinstance(suite, Suite), name
        assert set(runner.REQUIRED_PROFILES) <= set(suite.PROFILES) <= set(runner.PROFILES), name
        for profile in suite.PROFILES.values():
            assert dataclasses.is_dataclass(profile) and isinstance(profile, Settings)
            with pytest.raises(dataclasses.FrozenInstanceError):
                profile.seeds = 9
            hints = typing.get_type_hints(type(profile), include_extras=True)
            for f in dataclasses.fields(profile):
                assert convert(f.name, getattr(profile, f.name), hints[f.name]) == getattr(profile, f.name)
