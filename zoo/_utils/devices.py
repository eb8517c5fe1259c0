"""Torch devices by name, refused clearly when absent; torch's thread count for a command."""
import os
from typing import Optional

import torch

THREADS_HELP = ("torch threads (default: $OMP_NUM_THREADS, else 1: one thread does not collapse when other "
                "processes share the cores; more can help large models on an idle machine)")


def check_device(device: str) -> torch.device:
    """``torch.device(device)`` for ``cpu``, ``cuda`` or ``cuda:<index>``; ``ValueError`` if unknown or
    if CUDA is asked for and torch sees none."""
    kind = device.split(":")[0] if isinstance(device, str) else None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose from cpu, cuda, cuda:<index>")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA device")
    return torch.device(device)


def set_threads(threads: Optional[int]) -> int:
    """Set torch's intra-op threads for a command: ``threads``, else ``$OMP_NUM_THREADS``, else 1.

    One by default: a thread pool wider than the free cores collapses (``docs/training.md``: with
    another process busy on a 2-core machine, 2 threads ran epochs 2.3 to 3.7 times slower than
    1, and gained 10-25% on an idle one)."""
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else 1
    torch.set_num_threads(threads)
    return threads
