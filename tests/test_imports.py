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


def test_the_packages_import_in_a_new_process():
    """Literally ``python -c "import guides; import zoo; import benchmarks"``, in that order."""
    out = subprocess.run([sys.executable, "-c", "import guides; import zoo; import benchmarks"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def _import_graph() -> dict:
    """module -> the project modules it imports, at module level or inside functions (read with ``ast``)."""
    import ast

    files = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name):
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names}
        graph[module] = {r for r in map(resolve, targets) if r and r != module}
    return graph


def _cycles(graph: dict) -> list:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    """Also through imports inside functions, which a fresh interpreter would not catch."""
    assert _cycles(_import_graph()) == []
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # it can fail
