"""Faults injected from the test side: the entry point of a ``vaezoo`` child process that a
fault-injection test starts (the library has no test hooks).

    python -m tests.faults [--stall-writes SECONDS] [--exit-at RANK:EPOCH] VAEZOO_ARGS...

``--stall-writes``: every ``os.replace`` (each atomic write's rename, and the checkpoint's
rotation) waits first, so that a kill can land inside a write. ``--exit-at``: the process of
that rank dies with ``os._exit(17)`` as that epoch starts, as a crashed rank would.
"""
import importlib
import inspect
import os
import sys
import time


def stall_writes(seconds: float) -> None:
    replace = os.replace

    def slow_replace(*args, **kwargs):
        time.sleep(seconds)
        return replace(*args, **kwargs)

    os.replace = slow_replace


def exit_at(rank: int, epoch: int) -> None:
    fit_module = importlib.import_module("zoo.training.fit")  # the module (zoo.training.fit is also the function)
    run_epoch = fit_module._run_epoch
    signature = inspect.signature(run_epoch)

    def dying_run_epoch(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        if (bound.arguments["world"].rank, bound.arguments["epoch"]) == (rank, epoch):
            os._exit(17)
        return run_epoch(*args, **kwargs)

    fit_module._run_epoch = dying_run_epoch


def main(argv) -> int:
    argv = list(argv)
    while argv and argv[0] in ("--stall-writes", "--exit-at"):
        flag, value, argv = argv[0], argv[1], argv[2:]
        if flag == "--stall-writes":
            stall_writes(float(value))
        else:
            exit_at(*map(int, value.split(":")))
    from zoo.cli import main as vaezoo

    return vaezoo(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
