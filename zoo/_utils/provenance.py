"""Where a number came from: the code's commit, the package versions and the machine, recorded by
benchmark cells (``benchmarks.runner``) and pretrained cards (``zoo.pretrained.cards``) alike."""
import importlib.metadata
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional

import torch

REPO = Path(__file__).resolve().parents[2]  # the checkout holding the zoo package


@lru_cache(maxsize=1)
def git_state() -> dict:
    """``{"commit": HEAD or None, "dirty": uncommitted changes or None}`` of the zoo's checkout."""
    def git(*args) -> Optional[str]:
        try:
            proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def versions() -> dict:
    """Python, torch, pyro and pyro-vae-zoo versions."""
    import pyro

    try:
        zoo_version = importlib.metadata.version("pyro-vae-zoo")
    except importlib.metadata.PackageNotFoundError:
        zoo_version = None
    return {"python": platform.python_version(), "torch": torch.__version__, "pyro": pyro.__version__,
            "zoo": zoo_version}


def machine(device: str = "cpu") -> dict:
    """The platform, processor, CPU and torch thread counts, and the GPU of ``device``."""
    out = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


__all__ = ["REPO", "git_state", "machine", "versions"]
