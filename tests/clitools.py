"""Running the ``vaezoo`` command, in a subprocess or in this process, for the CLI tests."""
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Tiny real data (the embedded digits) and networks: one epoch takes about a second.
TINY = ["--dataset", "mnist5k", "--binarize", "static", "--train-size", "200", "--test-size", "50",
        "--hidden", "32", "--latent-dim", "4", "--epochs", "1", "--no-progress"]


def vaezoo(*args, check: bool = True, **env):
    """``vaezoo ARGS`` (the installed script, else ``python -m zoo.cli``) with the Agg
    backend and one OpenMP thread (tiny networks on a shared 2-core machine); raises with its
    stderr when ``check`` and it exits nonzero. ``env``: extra variables."""
    script = Path(sys.executable).parent / "vaezoo"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "zoo.cli"]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"vaezoo {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def vaezoo_here(*args) -> subprocess.CompletedProcess:
    """``vaezoo ARGS`` run in this process: its exit status, stdout and stderr, as from
    :func:`vaezoo` (``check=False``). For commands refused before any work, where a fresh
    process would spend ~3 s importing torch to run the same few lines of checks."""
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's refusals
            code = e.code if isinstance(e.code, int) else 1
    return subprocess.CompletedProcess(["vaezoo", *map(str, args)], code, out.getvalue(), err.getvalue())
