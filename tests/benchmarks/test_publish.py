"""benchmarks.publish: reports copied into the docs' results folder and listed on its index."""
import json

from benchmarks.bench import SUITES
from benchmarks.publish import ORDER, main


def test_every_suite_is_listed():
    assert sorted(ORDER) == sorted(SUITES)


def test_reports_are_copied_and_indexed_and_old_ones_kept(tmp_path):
    bench = tmp_path / "bench" / "guides-quick"
    bench.mkdir(parents=True)
    (bench / "report.md").write_text("# Guides\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![bound vs epoch](curves.png)\n")
    (bench / "results.json").write_text(json.dumps({"records": []}))
    (bench / "curves.png").write_bytes(b"\x89PNG fake")
    docs = tmp_path / "docs" / "results"
    old = docs / "quick" / "gmm"
    old.mkdir(parents=True)
    (old / "report.md").write_text("# GMM, from an earlier run\n")
    stale = docs / "quick" / "guides"
    stale.mkdir(parents=True)
    (stale / "old.png").write_bytes(b"x")
    assert main(["--bench", str(tmp_path / "bench"), "--docs", str(docs)]) == 0
    assert sorted(p.name for p in (docs / "quick" / "guides").iterdir()) == ["curves.png", "report.md", "results.json"]
    assert (docs / "quick" / "guides" / "report.md").read_text() == (bench / "report.md").read_text()
    assert (old / "report.md").read_text() == "# GMM, from an earlier run\n"  # no new report: kept
    text = (docs / "index.md").read_text()
    assert "- [guides](quick/guides/report.md)" in text and "- [gmm](quick/gmm/report.md)" in text
    assert "- overhead: no `quick` report yet (`vaezoo bench overhead --profile quick`)" in text
    assert "standard" not in text  # a profile with no report is left out (quick is always listed)
    before = text
    main(["--bench", str(tmp_path / "bench"), "--docs", str(docs)])
    assert (docs / "index.md").read_text() == before  # idempotent
