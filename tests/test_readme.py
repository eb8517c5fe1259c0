"""The README stays a README: short, with the two commands CI and users run."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def commands():
    return re.findall(r"```bash\n(python3 -m venv .venv && .*?)\n```", README)


def test_readme_is_at_most_250_lines():
    assert len(README.splitlines()) <= 250


def test_two_commands_set_up_from_scratch_with_the_pinned_versions():
    main, tests = [c for c in commands() if "vaezoo train" in c or "pytest" in c]
    assert "vaezoo train --dataset mnist5k" in main and "-c constraints/ci.txt" in main
    assert tests.endswith(".venv/bin/python -m pytest -q") and "-c constraints/ci.txt" in tests


def test_ci_runs_the_readme_test_command_and_the_strict_docs_build():
    ci = (REPO / ".ci" / "run").read_text()
    tests = next(c for c in commands() if "pytest" in c)
    assert tests in ci and "mkdocs build --strict" in ci


def test_links_into_the_docs_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)\)", README):
        assert (REPO / target).exists(), target


def test_constraints_pin_every_package_once_by_version_from_a_registry():
    """``pip freeze`` of an environment with a package installed from a local wheel writes
    ``NAME @ file:///...``: a path that exists only on that machine, so the README's commands fail
    on any other (issue 23). Every line must be ``NAME==VERSION``, each package named once."""
    names = {}
    for number, line in enumerate((REPO / "constraints" / "ci.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"constraints/ci.txt:{number}: {line!r} is not NAME==VERSION (no paths, URLs or @)"
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()  # PEP 503 normalization
        assert name not in names, f"constraints/ci.txt:{number}: {name} is pinned again (line {names[name]})"
        names[name] = number
