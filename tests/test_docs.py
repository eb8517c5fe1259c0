"""The documentation site: every public module has an API entry, every page is in the nav,
and the CLI page is generated from the parsers. (``mkdocs build --strict`` runs in CI.)"""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PACKAGES = ("zoo", "guides", "benchmarks")


def public_modules():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if any(p.startswith("_") and p != "__init__" for p in parts):
                continue
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def documented():
    return {m for page in DOCS.glob("*.md") for m in re.findall(r"^::: ([\w.]+)", page.read_text(), flags=re.M)}


def test_every_public_module_has_an_api_entry():
    missing = sorted(set(public_modules()) - documented())
    assert not missing, f"add a '::: MODULE' entry to a page of docs/ for: {', '.join(missing)}"


def test_every_api_entry_names_a_module_that_exists():
    assert documented() <= set(public_modules())


def _nav_pages(nav):
    for item in nav:
        if isinstance(item, str):  # a section's index page
            yield item
            continue
        for value in item.values():
            yield from _nav_pages(value) if isinstance(value, list) else [value]


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    assert config["strict"] is True
    pages = set(_nav_pages(config["nav"]))
    assert {p.name for p in DOCS.glob("*.md")} <= pages and "results/index.md" in pages
    assert {f"tutorials/{p.name}" for p in (DOCS / "tutorials").glob("*.ipynb")} | {"tutorials/index.md"} <= pages
    assert all((DOCS / p).exists() for p in pages)


@pytest.mark.parametrize("command", [None, "train", "bench", "eval"])
def test_cli_help_is_generated_from_the_parsers(command):
    from zoo.cli import commands, help_text

    text = help_text(command)
    assert text.startswith("usage: vaezoo" + (f" {command}" if command else ""))
    if command is None:
        assert set(commands()) >= {"list", "train", "sample", "eval", "plot", "bench"}
    assert "<!-- vaezoo-help: all -->" in (DOCS / "cli.md").read_text()


def test_the_bring_your_own_model_example_runs(capsys):
    """The example of docs/estimators.md runs as written: every estimator on a model with two
    dependent latent sites, the data plate at dim -2, an inner plate and a mask."""
    text = (REPO / "docs" / "estimators.md").read_text()
    code = re.search(r"## Bring your own Pyro model.*?```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/estimators.md", "exec"), {})
    out = capsys.readouterr().out
    assert all(name in out for name in ("elbo", "iwae-dreg", "renyi", "log p(x)", "k-hat median"))
