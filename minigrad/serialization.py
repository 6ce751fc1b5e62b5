"""Safe save/load of (nested) state dicts as ``.npz`` files, never with pickle.

Keys of nested mappings are joined with ``/``. Values may be arrays (NumPy or CuPy, saved from
the host), Python numbers, booleans and strings. Writes go to a temporary file first and are
moved into place atomically, so an interrupted save never destroys the previous file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.backend import to_numpy

SEP = "/"
_SCALARS_KEY = "__python_scalars__"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": x}}`` → ``{"a/b": x}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        key = str(key)
        if SEP in key or key == _SCALARS_KEY:
            raise ValueError(f"state key {key!r} may not contain {SEP!r} or be {_SCALARS_KEY!r}")
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix + key + SEP))
        else:
            flat[prefix + key] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`flatten`."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        node = tree
        *parents, leaf = key.split(SEP)
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def save(state: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a nested state dict to ``path`` (``.npz``), atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    scalars: list[str] = []
    for key, value in flatten(state).items():
        if isinstance(value, (bool, int, float, str, np.generic)):
            scalars.append(key)
            arrays[key] = np.asarray(value)
        else:
            arrays[key] = to_numpy(value)
        if arrays[key].dtype == object:
            raise TypeError(f"cannot save {key!r}: values of type {type(value).__name__} need pickle")
    arrays[_SCALARS_KEY] = np.asarray(scalars, dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state dict written by :func:`save` (NumPy arrays on the host)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable minigrad .npz state file ({exc})") from exc
    scalars = set(flat.pop(_SCALARS_KEY, np.asarray([], dtype=str)).tolist())
    for key in scalars:
        flat[key] = flat[key].item()
    return unflatten(flat)
