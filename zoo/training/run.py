r"""A run directory and the one object that owns it: :class:`Run`.

Layout (the names are the constants below):

    checkpoint.pt, checkpoint.prev.pt   the latest checkpoint and the one before (zoo.training.checkpoint)
    history.json                        one record per epoch
    config.json                         the model and fit configs and the world size
    data.json                           the data the run used (zoo.data.DataSpec), if it was told
    eval.json                           ``vaezoo eval``'s numbers
    *.png, tensorboard/                 figures and TensorBoard events
    .lock                               the lock

A :class:`Run` refuses to replace a run by accident (``resume`` continues it, ``overwrite``
replaces it and what was derived from it), checks a resumed run's data against ``data.json``,
and lets one writer in at a time: a writer (``zoo.fit``, ``vaezoo train``) holds an exclusive
lock on ``.lock`` for the life of the run, a reader (``vaezoo eval``, ``sample``, ``plot``) a
shared one while it reads the run and writes what it derives. Nobody waits: a run in use is
refused at once, in one line naming the process that holds it. Locks are ``flock``s, which the
kernel drops when their process dies, so the lock of a killed run is free at once (no stale
lock to clean up); the file itself stays, because removing it would let two processes lock two
files of one name. A lock is re-entrant within a process: ``vaezoo train`` holds it around
``zoo.fit``, which takes it again.
"""
import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from zoo._utils.io import read_json, write_json
from zoo.data.spec import DataSpec

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
HISTORY = "history.json"
CONFIG = "config.json"
DATA = "data.json"
EVAL = "eval.json"
EVAL_PARTS = "eval.parts"  # vaezoo eval's finished batches, until eval.json is written
LOCK = ".lock"
TENSORBOARD = "tensorboard"
RUN_FILES = (CHECKPOINT, PREVIOUS, HISTORY, CONFIG, DATA)  # a folder with any of these holds a run
DERIVED = (EVAL,)  # made from a run's checkpoint: stale once it is replaced


class RunInUse(RuntimeError):
    """Another process holds the run's lock."""


# This process's locks: resolved path -> [file descriptor, "exclusive" | "shared", depth]
_HELD: Dict[str, list] = {}


class Run:
    """The run directory ``path``.

    Args:
        path: the folder (made by the first writer).
        data: what a writer records in ``data.json`` and checks on resume (None: nothing).
    """

    def __init__(self, path, data: Optional[DataSpec] = None):
        self.path, self.data = Path(path), data

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    def holds_run(self) -> bool:
        """Whether the folder holds a run (a checkpoint, a history, a config or a data file)."""
        return any(self.file(name).exists() for name in RUN_FILES)

    # ---- locks -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, enabled: bool = True) -> Iterator["Run"]:
        """Hold the exclusive lock inside the block (``enabled=False``: a DDP rank other than 0,
        which writes nothing). A folder made here and left holding only the lock is removed."""
        if not enabled:
            yield self
            return
        made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        with self._lock("exclusive"):
            try:
                yield self
            finally:  # still locked: nobody else can have opened the folder since
                if made and _HELD[str(self.path.resolve())][2] == 1 and \
                        [p.name for p in self.path.iterdir()] == [LOCK]:
                    self.file(LOCK).unlink()
                    self.path.rmdir()

    @contextlib.contextmanager
    def reading(self) -> Iterator["Run"]:
        """Hold a shared lock inside the block: no writer can start, or be running."""
        if not self.path.is_dir():
            raise FileNotFoundError(f"no run at {self.path}: the folder does not exist")
        with self._lock("shared"):
            yield self

    @contextlib.contextmanager
    def _lock(self, mode: str) -> Iterator[None]:
        key = str(self.path.resolve())
        held = _HELD.get(key)
        if held is not None:
            if mode == "exclusive" and held[1] == "shared":
                raise RunInUse(f"{self.path} is being read by this process; it cannot also write it")
            held[2] += 1
            try:
                yield
            finally:
                held[2] -= 1
            return
        fd = self._acquire(mode)
        _HELD[key] = [fd, mode, 1]
        try:
            yield
        finally:
            del _HELD[key]
            os.close(fd)  # releases the lock

    def _acquire(self, mode: str) -> int:
        path = self.file(LOCK)
        for _ in range(10):  # the file may be replaced between open and flock: lock the one on disk
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if mode == "exclusive" else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunInUse(self._in_use(path, mode)) from None
            if path.exists() and os.stat(path).st_ino == os.fstat(fd).st_ino:
                if mode == "exclusive":
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return fd
            os.close(fd)
        raise RunInUse(f"could not lock {path}: it keeps being replaced")

    def _in_use(self, path: Path, mode: str) -> str:
        pids = _lock_holders(path)
        who = f"process {', '.join(map(str, pids))}" if pids else "another process"
        writer = _recorded_writer(path)
        if mode == "shared" or (writer is not None and writer in pids):
            doing = "is training or replacing it"
        else:
            doing = "is reading it (vaezoo eval, sample or plot)"
        return f"{self.path} is in use: {who} {doing}; wait for it to finish, or use another folder"

    # ---- the run's life ----------------------------------------------------------------------

    def prepare(self, resume: bool = False, overwrite: bool = False) -> None:
        """Before a writer's first write: refuse a folder that holds a run unless ``resume`` or
        ``overwrite``; check a resumed run's data; with ``overwrite`` remove the old run's files and
        what was derived from them; record ``data.json``."""
        if resume and overwrite:
            raise ValueError("resume and overwrite exclude each other")
        if not (resume or overwrite) and self.holds_run():
            raise FileExistsError(f"{self.path} already holds a run; pass --resume (resume=True) to continue it "
                                  "or --overwrite (overwrite=True) to replace it")
        if resume and self.data is not None and self.file(DATA).exists():
            refuse_changes(f"cannot resume {self.path}", "data", self.read_data().to_dict(), self.data.to_dict())
        if overwrite:
            for path in [*(self.file(n) for n in RUN_FILES + DERIVED), *self.path.glob("*.png")]:
                path.unlink(missing_ok=True)
            shutil.rmtree(self.file(EVAL_PARTS), ignore_errors=True)  # an unfinished evaluation of the old run
        if self.data is not None:
            write_json(self.file(DATA), self.data.to_dict())

    # ---- what readers read -------------------------------------------------------------------

    def read_data(self) -> DataSpec:
        """The run's ``data.json``."""
        path = self.file(DATA)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: cannot tell which data the run used")
        try:
            return DataSpec.from_dict(read_json(path, "restore it, or start again with --overwrite"))
        except TypeError as e:
            raise ValueError(f"{path} is damaged ({e}); restore it, or start again with --overwrite") from None

    def history(self) -> List[dict]:
        """The per-epoch records (``[]`` before the first epoch ends)."""
        path = self.file(HISTORY)
        return read_json(path) if path.exists() else []

    def fresh_eval(self) -> Optional[dict]:
        """``eval.json`` if it was written after the checkpoint (a retrained run makes it stale)."""
        path, checkpoint = self.file(EVAL), self.file(CHECKPOINT)
        if not path.exists() or (checkpoint.exists() and path.stat().st_mtime < checkpoint.stat().st_mtime):
            return None
        return read_json(path)



def refuse_changes(what: str, kind: str, saved: dict, new: dict) -> None:
    """``ValueError`` naming each field whose value differs between ``saved`` and ``new``."""
    keys = sorted(set(saved) | set(new))
    changed = [f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in keys if _normal(saved.get(k)) != _normal(new.get(k))]
    if changed:
        raise ValueError(f"{what}: its {kind} settings differ ({'; '.join(changed)}); use another --out, or "
                         "--overwrite to replace it")


def _normal(value):
    """Lists and tuples alike (JSON turns tuples into lists)."""
    return [_normal(v) for v in value] if isinstance(value, (list, tuple)) else value
def _lock_holders(path: Path) -> List[int]:
    """The processes holding a ``flock`` on ``path`` (Linux: ``/proc/locks``), else its recorded writer."""
    try:
        inode = os.stat(path).st_ino
        with open("/proc/locks") as f:
            pids = {int(parts[4]) for parts in (line.split() for line in f)
                    if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == str(inode)}
        if pids:
            return sorted(pids)
    except (OSError, ValueError, IndexError):
        pass
    writer = _recorded_writer(path)
    return [] if writer is None else [writer]


def _recorded_writer(path: Path) -> Optional[int]:
    """The pid the last writer recorded in the lock file."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
