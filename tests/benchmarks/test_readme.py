"""benchmarks.readme: reports spliced between the README's markers, figures copied and linked."""
import json

import pytest

from benchmarks.bench import SUITES
from benchmarks.readme import END, ORDER, START, main, splice

README = f"# zoo\n\n## Results\n\nintro\n\n{START}\nold text\n{END}\n\n## Layout\n"


def test_every_suite_is_listed():
    assert sorted(ORDER) == sorted(SUITES)


def test_reports_are_spliced_with_demoted_headings_and_linked_figures(tmp_path):
    bench = tmp_path / "bench" / "guides-quick"
    bench.mkdir(parents=True)
    (bench / "report.md").write_text("# Guides\n\nReproduce with:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Detail\n")
    (bench / "results.json").write_text(json.dumps({"records": []}))
    (bench / "khat.png").write_bytes(b"\x89PNG fake")
    (bench / "curves.png").write_bytes(b"\x89PNG fake")
    (bench / "report.md").write_text((bench / "report.md").read_text() + "\n![bound vs epoch](curves.png)\n")
    readme = tmp_path / "README.md"
    readme.write_text(README)
    args = ["--bench", str(tmp_path / "bench"), "--readme", str(readme), "--docs", str(tmp_path / "docs" / "results")]
    assert main(args) == 0
    text = readme.read_text()
    assert text.startswith("# zoo\n\n## Results\n\nintro\n\n" + START) and text.endswith(END + "\n\n## Layout\n")
    assert "old text" not in text
    assert "### Guides" in text and "#### Detail" in text and "| 1 | 2 |" in text
    assert "Figures: [khat](docs/results/quick/guides/khat.png)." in text
    assert "![bound vs epoch](docs/results/quick/guides/curves.png)" in text and "[curves]" not in text
    copied = tmp_path / "docs" / "results" / "quick" / "guides"
    assert sorted(p.name for p in copied.iterdir()) == ["curves.png", "khat.png", "report.md", "results.json"]
    for suite in set(ORDER) - {"guides"}:
        assert f"No `quick` report yet: run `vaezoo bench {suite} --profile quick`" in text
    assert text.index("### Guides") < text.index("run `vaezoo bench overhead")  # the README's suite order
    main(args)
    assert readme.read_text() == text  # idempotent


@pytest.mark.parametrize("readme", ["no markers", f"{END}\n{START}", f"{START}{START}{END}"])
def test_splice_needs_one_pair_of_markers_in_order(readme):
    with pytest.raises(ValueError, match="exactly one"):
        splice(readme, "body")
