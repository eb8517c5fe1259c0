"""What a benchmark cell is given besides its config (:class:`Context`), and the machine it ran
on (:func:`machine`, from ``zoo._utils.provenance``): shared by the runner and the backends that run cells."""
from dataclasses import dataclass
from typing import Optional

from tqdm.auto import tqdm

from zoo._utils.provenance import machine  # noqa: F401 (the backends' and the runner's)


@dataclass
class Context:
    """What a cell needs besides its config: where data live and whether to draw progress bars."""

    data_root: Optional[str] = None
    progress: bool = True

    def bar(self, total: int, desc: str) -> tqdm:
        """The cell's own progress bar (under the bar over cells)."""
        return tqdm(total=total, desc=desc, position=1, leave=False, disable=not self.progress, unit="step")
