"""Publish benchmark reports into the documentation: ``python -m benchmarks.publish``.

Each suite's ``BENCH/SUITE-PROFILE/`` (written by ``vaezoo bench SUITE --profile PROFILE``) is
copied, ``report.md``, ``results.json`` and plots, to ``docs/results/PROFILE/SUITE/``, where the
report is a page of the site (its figure links are relative, so they work there unchanged);
then ``docs/results/index.md`` lists every published report, profile by profile. A suite with no
report under BENCH keeps what ``docs/results`` already holds; one that has never been run is
listed as missing, never invented. Every report carries the command that reproduces it, its
dates, machine, package versions and git commit.
"""
import argparse
import shutil
import sys
from pathlib import Path
from typing import List

from zoo._utils.io import write_text

# every suite of benchmarks.bench.SUITES
ORDER = ("estimators", "guides", "overhead", "gmm", "paper", "hierarchy", "discrete", "ddp")
PROFILES = ("quick", "standard", "paper")
INDEX = "index.md"


def copy_reports(bench: Path, docs: Path, profiles=PROFILES) -> List[Path]:
    """Copy every ``BENCH/SUITE-PROFILE`` report into ``docs/PROFILE/SUITE``; returns the copies."""
    copied = []
    for profile in profiles:
        for suite in ORDER:
            src = bench / f"{suite}-{profile}"
            if not (src / "report.md").exists():
                continue
            dest = docs / profile / suite
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            for path in [src / "report.md", src / "results.json", *sorted(src.glob("*.png"))]:
                if path.exists():
                    shutil.copy2(path, dest / path.name)
            copied.append(dest / "report.md")
    return copied


def index(docs: Path, profiles=PROFILES) -> str:
    """The results page: per profile, a link to each suite's report (or how to make it)."""
    lines = ["# Benchmark results", "",
             "Every report below was written by `vaezoo bench SUITE --profile PROFILE` and names the command "
             "that reproduces it, when and where it ran, and the package versions and git commit. "
             "`python -m benchmarks.publish` copies the reports here from `bench/`.", ""]
    for profile in profiles:
        present = [s for s in ORDER if (docs / profile / s / "report.md").exists()]
        if not present and profile != "quick":
            continue
        lines += [f"## Profile `{profile}`", ""]
        for suite in ORDER:
            if suite in present:
                lines.append(f"- [{suite}]({profile}/{suite}/report.md)")
            elif profile in _profiles(suite):
                lines.append(f"- {suite}: no `{profile}` report yet (`vaezoo bench {suite} --profile {profile}`)")
        lines.append("")
    return "\n".join(lines)


def _profiles(suite: str):
    """The profiles the suite has (``PROFILES`` of its module)."""
    from benchmarks.bench import suite_module

    return suite_module(suite).PROFILES


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.publish", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bench", default="bench", help="folder holding SUITE-PROFILE/ reports (default: bench)")
    p.add_argument("--docs", default="docs/results", help="the site's results folder (default: docs/results)")
    args = p.parse_args(argv)
    docs = Path(args.docs)
    for path in copy_reports(Path(args.bench), docs):
        print(f"published {path}", file=sys.stderr)
    write_text(docs / INDEX, index(docs))
    print(f"wrote {docs / INDEX}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
