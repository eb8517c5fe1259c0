r"""The weights folder: one state-dict file per model and ``manifest.json``.

Layout of a root (``weights/`` in the repository, ``$VAEZOO_WEIGHTS`` or ``root=``)::

    manifest.json    {"format": 1, "models": {NAME: {"file", "sha256", "size", "card"}}}
    NAME.pt          the model's state dict (floating tensors as float32), nothing else

A file is read with ``torch.load(..., weights_only=True)`` only after its size and SHA-256
match the manifest's, so a damaged or replaced file is refused before it is unpickled. Writes
are atomic (``zoo._utils.io``) and the manifest's read-modify-write holds a lock on
``.manifest.lock``, so builds running side by side do not lose each other's entries.
"""
import contextlib
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Dict, Iterator, List

import torch

from zoo._utils.io import atomic_write, read_json, write_json
from zoo.models import from_config
from zoo.pretrained.recipes import RECIPES

WEIGHTS_ENV = "VAEZOO_WEIGHTS"
MANIFEST = "manifest.json"
FORMAT = 1
MB = 10**6  # the unit of the sizes the package prints, and of the "under 40 MB"
_LOCK = ".manifest.lock"


class DamagedWeights(ValueError):
    """A weights file whose size or checksum differs from the manifest's."""


def root(path=None) -> Path:
    """Where the weights live: ``path``, else ``$VAEZOO_WEIGHTS``, else ``weights/`` beside the
    ``zoo`` package (the repository's folder)."""
    if path is not None:
        return Path(path)
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    return Path(__file__).resolve().parents[2] / "weights"


_folder = root  # inside functions whose argument is named root


def read_manifest(path=None, must_exist: bool = True) -> dict:
    """The manifest of the root ``path`` (an empty one where it has none and ``must_exist`` is false)."""
    folder = root(path)
    file = folder / MANIFEST
    if not file.is_file():
        if must_exist:
            raise FileNotFoundError(f"no pretrained weights at {folder} (no {MANIFEST}): pass root= (--root) or set "
                                    f"${WEIGHTS_ENV} to a weights folder, or build one with `vaezoo pretrained build "
                                    "NAME --root FOLDER`")
        return {"format": FORMAT, "models": {}}
    manifest = read_json(file, fix="restore it from the repository (git checkout weights/)")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("models"),
                                                                                           dict):
        raise ValueError(f"{file} is not a pretrained-weights manifest of format {FORMAT}")
    return manifest


def names(path=None) -> List[str]:
    """The models the root holds, sorted."""
    return sorted(read_manifest(path)["models"])


def _entry(name: str, path=None) -> dict:
    models = read_manifest(path)["models"]
    if name in models:
        return models[name]
    if name in RECIPES:
        raise FileNotFoundError(f"{name} is not built in {root(path)}: build it with `vaezoo pretrained build {name}` "
                                f"(it trains: {RECIPES[name].command()})")
    known = sorted(set(models) | set(RECIPES))
    raise ValueError(f"unknown pretrained model {name!r}; choose from {', '.join(known)}")


def card(name: str, root=None) -> dict:
    """The card of ``name``: how it was made and what it scored (``zoo.pretrained.cards``)."""
    return dict(_entry(name, root)["card"])


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_file(name: str, root=None) -> Path:
    """The weights file of ``name``, after its size and checksum are checked against the manifest."""
    return _verified(name, _entry(name, root), root)


def _verified(name: str, entry: dict, root) -> Path:
    file = _folder(root) / entry["file"]
    if not file.is_file():
        command = entry["card"].get("command") or RECIPES[name].command()
        raise FileNotFoundError(f"{file} is missing: get it back with `git checkout {file.name}` in its folder, or "
                                f"rebuild it with `vaezoo pretrained build {name} --overwrite` (it trains: {command})")
    size, digest = file.stat().st_size, sha256(file)
    if size != entry["size"] or digest != entry["sha256"]:
        raise DamagedWeights(f"{file} does not match the manifest (sha256 {digest[:12]}..., {size} bytes; expected "
                             f"{entry['sha256'][:12]}..., {entry['size']} bytes): damaged or replaced, refused; "
                             f"restore it or rebuild it with `vaezoo pretrained build {name} --overwrite`")
    return file


def load(name: str, root=None) -> torch.nn.Module:
    """The pretrained model ``name``, on the CPU, in eval mode.

    Example:
        >>> vae = zoo.pretrained.load("vae-diagonal")        # doctest: +SKIP
        >>> x = vae.sample(16)                               # doctest: +SKIP
    """
    entry = _entry(name, root)  # one read of the manifest: the checksum and the card that go together
    state = torch.load(_verified(name, entry, root), map_location="cpu", weights_only=True)
    model = from_config(entry["card"]["model"])
    model.load_state_dict(state)
    return model.eval()


def state_dict_float32(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """``model``'s state dict with its floating tensors as contiguous float32 copies."""
    return {k: (v.detach().to(torch.float32) if v.is_floating_point() else v.detach()).clone().contiguous()
            for k, v in model.state_dict().items()}


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / _LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # builds of different models wait their turn for the manifest
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def add(name: str, model: torch.nn.Module, model_card: dict, root=None, overwrite: bool = False) -> Path:
    """Write ``model``'s weights as ``NAME.pt`` and its entry (checksum, size, ``model_card``) in
    the manifest of ``root``; an existing entry is replaced only with ``overwrite``."""
    folder = _folder(root)
    with _locked(folder):
        manifest = read_manifest(folder, must_exist=False)
        if name in manifest["models"] and not overwrite:
            raise FileExistsError(f"{name} is already in {folder / MANIFEST}; pass overwrite=True (--overwrite) to "
                                  "replace it")
        file = folder / f"{name}.pt"
        state = state_dict_float32(model)
        atomic_write(file, lambda tmp: torch.save(state, tmp))
        manifest["models"][name] = {"file": file.name, "sha256": sha256(file), "size": file.stat().st_size,
                                    "card": model_card}
        manifest["models"] = dict(sorted(manifest["models"].items()))
        write_json(folder / MANIFEST, manifest, indent=1)
    return file


def total_size(root=None) -> int:
    """Bytes of the weights files the manifest of ``root`` lists (0 where it has no manifest)."""
    return sum(entry["size"] for entry in read_manifest(root, must_exist=False)["models"].values())


__all__ = ["DamagedWeights", "FORMAT", "MANIFEST", "MB", "WEIGHTS_ENV", "add", "card", "load", "names", "read_manifest",
           "root", "sha256", "state_dict_float32", "total_size", "verified_file"]
