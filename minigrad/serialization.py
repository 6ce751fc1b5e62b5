"""Safe save/load of (nested) state dicts as ``.npz`` files, never with pickle.

Keys of nested mappings are joined with ``/``. Values may be arrays (NumPy or CuPy, saved from
the host), Python numbers, booleans and strings. Writes go to a temporary file in the target's
folder, flushed to disk, and are moved into place atomically, so an interrupted save (or a
crash of the machine) never destroys the previous file. The file ends with the permissions any
file the user creates gets (0666 less the umask), not the 0600 of a temporary file.

Loading never unpickles, and never trusts a ``.npy`` header's shape before comparing the bytes
it claims with the bytes the member holds, so a hostile header cannot make it allocate gigabytes.

The file is an ordinary ``.npz`` (``np.load`` reads it): one ``<key>.npy`` member per value and
a ``__python_scalars__.npy`` member listing the keys that hold Python scalars. It is written
and read with :mod:`zipfile` and ``np.lib.format`` rather than ``np.savez(f, **arrays)``/
``np.load``, whose own parameters (``file``, ``allow_pickle``, ...) would swallow state keys of
the same names.
"""

from __future__ import annotations

import errno
import math
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
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, array in arrays.items():
                    # What np.savez does, minus the keyword arguments that state keys could clash with.
                    with zf.open(key + _SUFFIX, "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            if hasattr(os, "fchmod"):  # mkstemp made it 0600; POSIX only (Windows has no such modes)
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``).

    Elsewhere it is read by setting and restoring it, which is not thread-safe: a file another
    thread creates in between would get mode 0666.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Flush the folder's entry for the renamed file to disk, where the platform allows it (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: folders cannot be opened for fsync
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # file systems without folder fsync
            raise
    finally:
        os.close(fd)


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
            archive_size = path.stat().st_size
            flat = {} if foreign else {n[: -len(_SUFFIX)]: _read_member(zf, n, archive_size) for n in names}
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


# zlib's deflate expands at most 1032-fold: a compressed member (np.savez_compressed) claiming
# more than that is lying about its size.
_MAX_DEFLATE_RATIO = 1032


def _read_member(zf: zipfile.ZipFile, name: str, archive_size: int) -> np.ndarray:
    """One ``.npy`` member of an open zip file, never unpickled, its header checked before any allocation.

    ``np.lib.format.read_array`` allocates the array its header describes before reading the
    data, so the size the header claims is compared first with the bytes the member holds, and
    the member's own size with the archive's.
    """
    key = name[: -len(_SUFFIX)]
    info = zf.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        plausible = info.file_size == info.compress_size <= archive_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        plausible = info.compress_size <= archive_size and info.file_size <= _MAX_DEFLATE_RATIO * info.compress_size
    else:
        raise ValueError(f"key {key!r}: compression method {info.compress_type} is not one NumPy writes")
    if not plausible:
        raise ValueError(
            f"key {key!r}: the zip entry claims {info.file_size} bytes ({info.compress_size} stored) "
            f"in a file of {archive_size} bytes"
        )
    with zf.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"key {key!r}: .npy format version {version} is not one minigrad reads")
        header_size = member.tell()
    claimed = math.prod(shape) * dtype.itemsize
    if claimed > info.file_size - header_size:
        raise ValueError(
            f"key {key!r}: the .npy header claims an array of shape {shape} and dtype {dtype} "
            f"({claimed} bytes) but the member holds only {info.file_size - header_size} bytes of data"
        )
    with zf.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)
