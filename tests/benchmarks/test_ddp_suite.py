"""``vaezoo bench ddp``: one model by 1 process and by 2 torchrun processes, timed from their histories."""
import json

import pytest

from tests.clitools import vaezoo

pytestmark = pytest.mark.slow  # three vaezoo runs, two of them under torchrun


def test_ddp_smoke_reports_both_layouts(tmp_path):
    vaezoo("bench", "ddp", "--profile", "smoke", "--set", "layouts=[[1, 1], [2, 1]]", "--out", tmp_path,
           "--no-progress")
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert [(r["config"]["processes"], r["config"]["threads"]) for r in records] == [(1, 1), (2, 1)]
    assert all(r["result"]["epoch_time_s"] > 0 and len(r["result"]["epoch_times_s"]) == 2 for r in records)
    # the same model, data and seed: 2 processes land within a few nats of 1
    assert abs(records[0]["result"]["test_elbo"] - records[1]["result"]["test_elbo"]) < 5
    report = (tmp_path / "report.md").read_text()
    assert "| 1 x 1 |" in report and "| 2 x 1 |" in report and "1.000" in report
