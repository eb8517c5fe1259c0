"""The tutorials (``docs/tutorials/NN_*.py``): each page's notebook is its script executed (same
cells, outputs and figures present, listed in the docs' nav), and every script runs top to
bottom at its quick test setting within the 3 minutes the tutorials promise."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

TUTORIALS = REPO / "docs" / "tutorials"
SCRIPTS = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
QUICK_BUDGET_S = 180


def _cells(cells):
    return [(c["cell_type"], c["source"] if isinstance(c["source"], str) else "".join(c["source"])) for c in cells]


def test_there_are_tutorials():
    assert len(SCRIPTS) >= 1


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_the_page_is_the_script_executed(script):
    jupytext = pytest.importorskip("jupytext", reason="the test extra installs jupytext")
    notebook = script.with_suffix(".ipynb")
    assert notebook.exists(), f"render it: python docs/tools/render_tutorials.py {script.name[:2]}"
    rendered = json.loads(notebook.read_text())
    assert _cells(rendered["cells"]) == _cells(jupytext.read(script)["cells"]), (
        f"{notebook.name} is out of date: python docs/tools/render_tutorials.py {script.name[:2]}")
    outputs = [o for c in rendered["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure in the rendered page"
    assert rendered["metadata"]["vaezoo"]["setting"] == "full", "render the page at its full setting"
    assert f"tutorials/{notebook.name}" in (REPO / "mkdocs.yml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_the_script_runs_at_its_quick_setting(script, tmp_path, shared_data):
    env = {**os.environ, "VAEZOO_TUTORIAL_QUICK": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1",
           "VAEZOO_DATA": str(shared_data), "TMPDIR": str(tmp_path)}  # a script's temporary folders go with tmp_path
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=2 * QUICK_BUDGET_S)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert seconds < QUICK_BUDGET_S, f"{script.name} took {seconds:.0f} s at its quick setting"
