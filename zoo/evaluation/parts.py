r"""A resumable log-likelihood: each finished batch of datapoints saved in its own file.

``log_likelihood`` (``zoo.evaluation.likelihood``) draws the particles of the batch starting at
row i under seeds derived from ``(seed, i, k)``, so a batch's results do not depend on which
other batches ran before it. :class:`BatchParts` keeps them on disk: an evaluation that is
interrupted (a kill, a full disk, the end of a session) goes on from its last finished batch and
ends with exactly the numbers an uninterrupted run gives. S = 5000 on the 10,000 test digits of a
convolutional VAE takes hours on a CPU, which is why ``vaezoo eval`` uses it.

The folder holds ``meta.json`` (a fingerprint of the weights, the data and the settings) and one
``batch-<start>.pt`` per finished batch. Parts whose fingerprint differs (another checkpoint,
other data, another S or seed) are stale: they are removed, never mixed in.
"""
import fcntl
import hashlib
from pathlib import Path
from typing import Optional, Tuple

import torch

from zoo._utils.io import atomic_write, read_json, write_json

FIELDS = ("log_px", "stderr", "ess", "elbo", "elbo_stderr", "khat")


def fingerprint(module: torch.nn.Module, x: torch.Tensor, **settings) -> str:
    """SHA-256 of ``module``'s state dict, the data ``x`` and ``settings`` (S, batch size, seed, ...)."""
    h = hashlib.sha256(repr(sorted(settings.items())).encode())
    for name, t in [*module.state_dict().items(), ("x", x)]:
        h.update(name.encode())
        h.update(str((tuple(t.shape), t.dtype)).encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class BatchParts:
    """The finished batches of one evaluation, in ``folder`` (created, or emptied when stale).

    One process at a time: a second one on the same folder is refused (an exclusive ``flock``,
    released by the system when its holder dies, so a killed run leaves no stale lock). Use it as a
    context manager; ``log_likelihood(..., parts=parts)`` calls :meth:`load` and :meth:`save`.
    """

    def __init__(self, folder, key: str):
        self.folder, self.key, self._lock = Path(folder), key, None
        self.points_read_back, self.seconds_read_back = 0, 0.0  # of the batches loaded so far

    def __enter__(self) -> "BatchParts":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.folder / ".lock", "a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise RuntimeError(f"{self.folder} is in use by another evaluation of this run; wait for it to "
                               "finish") from None
        meta = self.folder / "meta.json"
        if meta.exists() and read_json(meta, fix="delete the folder").get("key") != self.key:
            for part in self.folder.glob("batch-*.pt"):  # another checkpoint, other data or other settings
                part.unlink()
        write_json(meta, {"key": self.key})
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    def load(self, start: int) -> Optional[Tuple[Optional[torch.Tensor], ...]]:
        """The saved results of the batch starting at row ``start`` (a tuple in :data:`FIELDS` order), or None."""
        path = self.folder / f"batch-{start}.pt"
        if not path.exists():
            return None
        saved = torch.load(path, map_location="cpu", weights_only=True)
        self.points_read_back += saved["log_px"].shape[0]
        self.seconds_read_back += float(saved["seconds"])  # their compute time, as saved
        return tuple(saved.get(f) for f in FIELDS)

    def save(self, start: int, results: Tuple[Optional[torch.Tensor], ...], seconds: float) -> None:
        """Save the batch starting at row ``start``, which took ``seconds`` to compute, atomically
        (a reader sees all of it or none)."""
        saved = {f: t.detach().cpu() for f, t in zip(FIELDS, results) if t is not None}
        saved["seconds"] = torch.tensor(seconds, dtype=torch.float64)
        atomic_write(self.folder / f"batch-{start}.pt", lambda p: torch.save(saved, p))

