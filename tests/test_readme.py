"""The README stays a README: short, with the two commands CI and users run."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

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


def test_ci_lints_runs_the_readme_test_command_the_slow_tier_and_the_strict_docs_build():
    ci = (REPO / ".ci" / "run").read_text()
    tests = next(c for c in commands() if "pytest" in c)
    steps = ("ruff check .", tests, "pytest -q -m slow", "mkdocs build --strict")
    lint, fast, slow, docs = (ci.index(s) for s in steps)
    assert lint < fast < slow < docs


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


@pytest.mark.slow
def test_the_python_api_example_runs_on_the_readme_install_and_prints_what_it_computes(tmp_path):
    """The README's Python block, as a user pastes it: no data root, no extras (about a minute)."""
    code = re.search(r"## Python API\n\n```python\n(.*?)\n```", README, re.S).group(1)
    env = {k: v for k, v in os.environ.items() if k != "VAEZOO_DATA"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**env, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"plain Pyro: one SVI step, loss \d+\.\d nats per digit", out), out
    elbo = float(re.search(r"zoo.fit: 10 epochs, test ELBO (-\d+\.\d) nats", out).group(1))
    assert -200 < elbo < -60
    m = re.search(r"pretrained: log p\(x\) ~ (-\d+\.\d) nats \(S = 1000, 500 mnist5k digits\); PSIS k-hat median "
                  r"(\d+\.\d\d); card: (-\d+\.\d) on binarized MNIST's test set", out)
    assert m, out
    log_px, card = float(m.group(1)), float(m.group(3))
    card_entry = zoo.pretrained.card("vae-diagonal")
    assert card == round(-card_entry["test"]["neg_log_likelihood"], 1)
    # the same kind of digits, binarized by another draw: near the card, and far above the 10-epoch model
    assert abs(log_px - card) < 10 and log_px > elbo + 10
    assert "samples (16, 1, 28, 28) reconstructions (10, 8, 1, 28, 28)" in out
    assert (tmp_path / "runs" / "api" / "checkpoint.pt").exists()
