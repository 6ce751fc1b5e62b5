"""Safe save/load of (nested) state dicts as ``.npz`` files, never with pickle.

Keys of nested mappings are joined with ``/``. Values may be arrays (NumPy or CuPy, saved from
the host), Python numbers, booleans and strings. Writes go to a temporary file first and are
moved into place atomically, so an interrupted save never destroys the previous file.

The file is an ordinary ``.npz`` (``np.load`` reads it): one ``<key>.npy`` member per value and
a ``__python_scalars__.npy`` member listing the keys that hold Python scalars. It is written
and read with :mod:`zipfile` and ``np.lib.format`` rather than ``np.savez(f, **arrays)``/
``np.load``, whose own parameters (``file``, ``allow_pickle``, ...) would swallow state keys of
the same names.
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
_SUFFIX = ".npy"


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
        if "\0" in key:
            raise ValueError(f"state key {key!r} may not contain a NUL character (zip member names end there)")
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
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, array in arrays.items():
                # What np.savez does, minus the keyword arguments that state keys could clash with.
                with zf.open(key + _SUFFIX, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a state dict written by :func:`save` (NumPy arrays on the host).

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for anything
    that is not a complete minigrad save (a ``.npy`` file, a foreign zip, a truncated file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            # Every save has the scalars list, and only .npy members: anything else is some other zip.
            foreign = _SCALARS_KEY + _SUFFIX not in names or not all(n.endswith(_SUFFIX) for n in names)
            flat = {} if foreign else {n[: -len(_SUFFIX)]: _read_member(zf, n) for n in names}
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{path} is not a minigrad save: not a complete .npz (zip) file ({exc})") from exc
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable minigrad .npz state file ({exc})") from exc
    if foreign:
        raise ValueError(f"{path} is a zip file but not a minigrad save (members: {names[:5]})")
    scalars = set(flat.pop(_SCALARS_KEY).tolist())
    for key in scalars:
        flat[key] = flat[key].item()
    return unflatten(flat)


def _read_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """One ``.npy`` member of an open zip file, never unpickled."""
    with zf.open(name) as member:
        return np.lib.format.read_array(member, allow_pickle=False)
