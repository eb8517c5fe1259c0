"""Running the ``vaezoo`` command for the CLI tests: in this process (the default: the same
``zoo.cli.main`` the script calls, without ~3 s of imports per command), or as the installed
script in a child process where a test needs one (the entry point itself, a process to kill)."""
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


def vaezoo(*args, check: bool = True) -> subprocess.CompletedProcess:
    """``vaezoo ARGS`` run in this process: its exit status, stdout and stderr, as a
    ``CompletedProcess``; raises with its stderr when ``check`` and it exits nonzero."""
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # --help
            code = e.code if isinstance(e.code, int) else 1
    proc = subprocess.CompletedProcess(["vaezoo", *map(str, args)], code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"vaezoo {' '.join(map(str, args))} exited {code}:\n{proc.stderr}")
    return proc


def vaezoo_here(*args) -> subprocess.CompletedProcess:
    """:func:`vaezoo` with ``check=False``: for commands that must be refused."""
    return vaezoo(*args, check=False)


def vaezoo_process(*args, check: bool = True, **env) -> subprocess.CompletedProcess:
    """``vaezoo ARGS`` as the installed script (else ``python -m zoo.cli``) in a child process,
    with the Agg backend and one OpenMP thread; ``env``: extra variables."""
    script = Path(sys.executable).parent / "vaezoo"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "zoo.cli"]
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env}
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"vaezoo {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc
