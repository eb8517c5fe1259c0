"""Execute the tutorials (``docs/tutorials/NN_*.py``, jupytext percent scripts) and write each
beside its script as a notebook with its outputs and figures, which the docs render
(mkdocs-jupyter, not executed at build time).

    python docs/tools/render_tutorials.py              # every tutorial, full settings
    python docs/tools/render_tutorials.py 01 --quick   # one, at the test setting

Needs the ``docs`` extra (jupytext, nbclient, ipykernel). Each notebook runs in a fresh kernel in
a temporary folder (whatever it writes is left behind), with one torch thread, and records its
run time and settings in its metadata.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"
# inline figures (a returned matplotlib Figure is shown); tqdm's notebook bars need ipywidgets: plain bars
KERNEL_ARGS = ["--matplotlib=inline", "--IPKernelApp.exec_lines=import warnings; warnings.filterwarnings("
               "'ignore', message='IProgress not found')"]


def scripts(prefixes=()):
    found = sorted(TUTORIALS.glob("[0-9][0-9]_*.py"))
    return [p for p in found if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def render(script: Path, quick: bool, timeout: int) -> Path:
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(script)
    env = {"VAEZOO_TUTORIAL_QUICK": "1" if quick else "0", "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as cwd:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}},
                           extra_arguments=KERNEL_ARGS).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    seconds = time.perf_counter() - start
    nb.metadata["vaezoo"] = {"setting": "quick" if quick else "full", "run_time_s": round(seconds, 1),
                             "date": time.strftime("%Y-%m-%d")}
    out = script.with_suffix(".ipynb")
    jupytext.write(nb, out)
    print(f"{out.name}: {seconds:.0f} s ({'quick' if quick else 'full'} setting)")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tutorials", nargs="*", help="number prefixes (default: all)")
    parser.add_argument("--quick", action="store_true", help="the test setting (VAEZOO_TUTORIAL_QUICK=1)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    for script in scripts(args.tutorials):
        render(script, args.quick, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
