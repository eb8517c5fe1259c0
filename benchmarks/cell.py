"""What a benchmark cell is given besides its config (:class:`Context`), and the machine it ran
on (:func:`machine`): shared by the runner and the backends that run cells."""
import os
import platform
from dataclasses import dataclass
from typing import Optional

import torch
from tqdm.auto import tqdm


@dataclass
class Context:
    """What a cell needs besides its config: where data live and whether to draw progress bars."""

    data_root: Optional[str] = None
    progress: bool = True

    def bar(self, total: int, desc: str) -> tqdm:
        """The cell's own progress bar (under the bar over cells)."""
        return tqdm(total=total, desc=desc, position=1, leave=False, disable=not self.progress, unit="step")


def machine(device: str) -> dict:
    """The platform, processor, CPU and torch thread counts, and the GPU of ``device``."""
    out = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out
