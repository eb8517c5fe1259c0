"""Torch devices by name, refused clearly when absent."""
import torch


def check_device(device: str) -> torch.device:
    """``torch.device(device)`` for ``cpu``, ``cuda`` or ``cuda:<index>``; ``ValueError`` if unknown or
    if CUDA is asked for and torch sees none."""
    kind = device.split(":")[0] if isinstance(device, str) else None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose from cpu, cuda, cuda:<index>")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch sees no CUDA device")
    return torch.device(device)
