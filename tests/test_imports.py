"""Every module of the three packages imports first in a fresh interpreter (no import cycles),
and the layers point one way: ``guides`` never imports ``zoo``; ``zoo`` never imports ``benchmarks``."""
import pkgutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

PACKAGES = ("guides", "zoo", "benchmarks")
# For each package, the packages its modules must never pull in.
FORBIDDEN = {"guides": ("zoo", "benchmarks"), "zoo": ("benchmarks",), "benchmarks": ()}


def _modules():
    names = []
    for package in PACKAGES:
        names.append(package)
        for info in pkgutil.walk_packages([str(REPO / package)], prefix=package + "."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return names


MODULES = _modules()

# One interpreter for all modules, each imported after every project module is cleared from
# sys.modules (a fresh interpreter per module would cost ~2 s each on this machine).
_SCRIPT = r"""
import importlib, json, sys, traceback
project = {PACKAGES!r}
forbidden = {FORBIDDEN!r}
baseline = set(sys.modules)
results = {{}}
for name in {MODULES!r}:
    for key in [k for k in sys.modules if k.split(".")[0] in project]:
        del sys.modules[key]
    try:
        importlib.import_module(name)
    except Exception:
        results[name] = traceback.format_exc(limit=3)
        continue
    loaded = {{k.split(".")[0] for k in sys.modules}}
    bad = [p for p in forbidden[name.split(".")[0]] if p in loaded]
    if bad:
        results[name] = "imports " + ", ".join(bad)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def import_failures():
    script = _SCRIPT.format(PACKAGES=PACKAGES, FORBIDDEN=FORBIDDEN, MODULES=MODULES)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def test_modules_are_found():
    assert {"guides.flows", "zoo.training.fit", "zoo.cli", "benchmarks.suites.guides"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_imports_first_in_a_fresh_interpreter(name, import_failures):
    assert name not in import_failures, import_failures.get(name)


@pytest.mark.parametrize("package", ["guides", "zoo", "benchmarks"])
def test_package_imports_in_a_new_process(package):
    """Literally ``python -c "import PACKAGE"`` in a new process."""
    out = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
