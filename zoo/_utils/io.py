"""Atomic file writes: a reader sees the old file or the new one, never a partial one."""
import json
import os
from pathlib import Path
from typing import Any, Callable


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Write ``path`` through ``write(tmp)`` on a temporary file beside it, then ``os.replace``.

    The temporary file is fsynced before the rename and the directory after it, so that the new
    content survives a crash; if ``write`` fails, the temporary file is removed and ``path`` is
    left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read_json(path, fix: str = "restore it or start again with --overwrite"):
    """The JSON in ``path``; a damaged file gives one line naming it, what is wrong and ``fix``."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is damaged (not valid JSON: {e}); {fix}") from None


def write_json(path, obj: Any, indent: int = 2) -> Path:
    """``obj`` as JSON at ``path``, atomically."""
    text = json.dumps(obj, indent=indent)
    return atomic_write(path, lambda p: p.write_text(text))


def write_text(path, text: str) -> Path:
    """``text`` at ``path``, atomically."""
    return atomic_write(path, lambda p: p.write_text(text))


def save_figure(fig, path, dpi: int = 100):
    """A matplotlib figure as a PNG at ``path`` (parent folders made), atomically; its path.
    ``path=None`` writes nothing and returns the figure (a notebook shows it)."""
    if path is None:
        return fig
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
