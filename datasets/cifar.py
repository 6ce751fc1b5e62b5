"""CIFAR-10 and CIFAR-100 from their official binary distributions: finding, verifying, reading.

This module owns where the CIFAR files are looked for, what they are checked against, the binary
record format, per-channel standardisation and a small in-process cache. Nothing here downloads
anything, and nothing is unpickled: only the "binary version" of each dataset is read.

**The files.** Both come from the University of Toronto's page https://www.cs.toronto.edu/~kriz/cifar.html
(Alex Krizhevsky, Vinod Nair and Geoffrey Hinton; cite Krizhevsky, "Learning Multiple Layers of
Features from Tiny Images", 2009):

- CIFAR-10, ``cifar-10-binary.tar.gz`` ("CIFAR-10 binary version (suitable for C programs)"):
  ``cifar-10-batches-bin/data_batch_1.bin`` … ``data_batch_5.bin`` (train, 10,000 records each)
  and ``test_batch.bin`` (10,000). A record is 1 label byte (0-9) and 3072 pixel bytes.
- CIFAR-100, ``cifar-100-binary.tar.gz``: ``cifar-100-binary/train.bin`` (50,000 records) and
  ``test.bin`` (10,000). A record is a coarse label byte (0-19), a fine label byte (0-99), then
  3072 pixel bytes.

The pixel bytes are the red, then green, then blue 32×32 plane, each row by row, so a record's
pixels reshape directly to (3, 32, 32).

**Where.** In ``root=`` when given (the training command's ``--data-root`` passes it), else in the
folder named by the environment variable ``MINIGRAD_CIFAR_ROOT``. In that folder: the archive
itself (no need to extract it; preferred when present, as it is what the published digests
cover), else the extracted folder (``cifar-10-batches-bin/`` or ``cifar-100-binary/``), else the
``.bin`` files directly in the folder.

**Verification** (``verify=True``, the default):

- An archive must have the size and SHA-256 that TensorFlow Datasets records for the official
  download (its checksum registry, ``url_checksums/cifar10.txt`` and ``cifar100.txt`` of
  tensorflow/datasets), and the MD5 that the Toronto page itself publishes. The Toronto page
  gives MD5 only; no SHA-256 from the authors was found.
- For the extracted ``.bin`` files no published digest was found. Each must have exactly its
  known size (records × record length), and the SHA-256 of a file is recorded the first time a
  file of that name is read (trust on first use), in ``cifar-sha256.json`` in minigrad's cache
  folder (``$MINIGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/minigrad``, else ``~/.cache/minigrad``);
  every later read of that name, from any copy, must match. Reading a verified archive records
  its members' digests, so ``.bin`` files extracted from a verified archive are then checked
  against digests that trace back to a published one.

Structure is always checked: whole records, labels in range. ``verify=False`` skips the sizes
and digests.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tarfile
import warnings
import zlib
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.backend import get_array_module

from .mnist import ChecksumError

__all__ = [
    "CIFAR10_CLASS_NAMES",
    "CIFAR_ARCHIVE_MD5",
    "CIFAR_ARCHIVE_SHA256",
    "CIFAR_ARCHIVE_SIZE",
    "CIFAR_ARCHIVES",
    "CIFAR_BIN_RECORDS",
    "CIFAR_CACHE_ENV",
    "CIFAR_ROOT_ENV",
    "CIFARFormatError",
    "channel_mean_std",
    "cifar10",
    "cifar100",
    "cifar_digest_record",
    "clear_cifar_cache",
    "standardize_channels",
]

CIFAR10_CLASS_NAMES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

CIFAR_ROOT_ENV = "MINIGRAD_CIFAR_ROOT"
CIFAR_CACHE_ENV = "MINIGRAD_CACHE_DIR"
DOWNLOAD_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"

# dataset -> (archive file name, the folder the archive unpacks to)
CIFAR_ARCHIVES: dict[str, tuple[str, str]] = {
    "cifar10": ("cifar-10-binary.tar.gz", "cifar-10-batches-bin"),
    "cifar100": ("cifar-100-binary.tar.gz", "cifar-100-binary"),
}

# Size and SHA-256 of the official archives as recorded in TensorFlow Datasets' checksum registry
# (tensorflow/datasets, tensorflow_datasets/url_checksums/cifar10.txt and cifar100.txt, for the URLs
# https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz and .../cifar-100-binary.tar.gz).
CIFAR_ARCHIVE_SIZE: dict[str, int] = {"cifar10": 170_052_171, "cifar100": 168_513_733}
CIFAR_ARCHIVE_SHA256: dict[str, str] = {
    "cifar10": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    "cifar100": "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
}
# MD5 of the same archives as published on the Toronto page ("md5sum" column of its download tables).
CIFAR_ARCHIVE_MD5: dict[str, str] = {
    "cifar10": "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar100": "03b5dce01913d631647c71ecec9e9cb8",
}

# dataset -> split -> {file name: number of records}; a file's size must be records × record length.
CIFAR_BIN_RECORDS: dict[str, dict[str, dict[str, int]]] = {
    "cifar10": {
        "train": {f"data_batch_{i}.bin": 10_000 for i in range(1, 6)},
        "test": {"test_batch.bin": 10_000},
    },
    "cifar100": {"train": {"train.bin": 50_000}, "test": {"test.bin": 10_000}},
}

_LABEL_BYTES = {"cifar10": 1, "cifar100": 2}
_PIXELS = 3 * 32 * 32
_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_CACHE_MAX = 2  # CIFAR's train split is 614 MB as float32: keep a train and a test split at most
_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


class CIFARFormatError(ValueError):
    """A CIFAR file is not in the binary format: not whole records, wrong size, bad labels, bad archive."""


def clear_cifar_cache() -> None:
    """Forget every CIFAR split loaded so far (they are cached in-process by :func:`cifar10` and :func:`cifar100`)."""
    _cache.clear()


def cifar10(
    split: str = "train", root: str | PathLike[str] | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load a CIFAR-10 split as ``(images, labels)``, in the conventions of :func:`datasets.mnist`.

    ``images`` is float32 in [0, 1] (byte / 255) with shape (N, 3, 32, 32), channels red, green,
    blue; ``labels`` is int64 with shape (N,), values 0..9 (:data:`CIFAR10_CLASS_NAMES`).
    ``split`` is ``"train"`` (50,000) or ``"test"`` (10,000). The files are looked for in ``root``,
    else in ``$MINIGRAD_CIFAR_ROOT``, and verified as the module docstring says.

    Results are cached in-process and **read-only**; copy them before modifying. Raises
    FileNotFoundError saying where it looked and how to get the files, :class:`ChecksumError`
    for a digest mismatch, :class:`CIFARFormatError` for a malformed file, ValueError for a bad
    split.
    """
    return _load("cifar10", split, root, verify, "label")


def cifar100(
    split: str = "train", root: str | PathLike[str] | None = None, verify: bool = True, labels: str = "fine"
) -> tuple[np.ndarray, np.ndarray]:
    """Load a CIFAR-100 split as ``(images, labels)``, as :func:`cifar10` does.

    ``labels="fine"`` (default) gives the 100 classes (0..99), ``labels="coarse"`` the 20
    superclasses (0..19). Train has 50,000 images, test 10,000.
    """
    if labels not in ("fine", "coarse"):
        raise ValueError(f"cifar100: labels must be 'fine' or 'coarse', got {labels!r}")
    return _load("cifar100", split, root, verify, labels)


def cifar_digest_record() -> Path:
    """The file where the SHA-256 of each CIFAR ``.bin`` file is recorded when first read."""
    base = os.environ.get(CIFAR_CACHE_ENV)
    if base:
        return Path(base) / "cifar-sha256.json"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "minigrad" / "cifar-sha256.json"


# ----- finding the files ---------------------------------------------------------------------------


def _candidates(dataset: str, root: str | PathLike[str] | None) -> list[Path]:
    if root is not None:
        return [Path(root)]
    env = os.environ.get(CIFAR_ROOT_ENV)
    if not env:
        archive, _ = CIFAR_ARCHIVES[dataset]
        raise FileNotFoundError(
            f"{_NAMES[dataset]}: no folder to look in: pass root=DIR (the training command's --data-root DIR) "
            f"or set {CIFAR_ROOT_ENV}=DIR. " + _how_to_get(archive)
        )
    return [Path(env)]


def _how_to_get(archive: str) -> str:
    return (
        f"Get {archive} (the 'binary version') from {DOWNLOAD_PAGE} (University of Toronto) and put it, "
        "extracted or not, in that folder; nothing is downloaded for you."
    )


def _find(dataset: str, split: str, directory: Path) -> tuple[str, Any] | None:
    """``("archive", path)`` or ``("bins", [paths])`` for the split in ``directory``, or None if nothing is there.

    A folder holding some but not all of the split's ``.bin`` files is an error naming the missing one.
    """
    archive, folder = CIFAR_ARCHIVES[dataset]
    if (directory / archive).is_file():
        return "archive", directory / archive
    names = list(CIFAR_BIN_RECORDS[dataset][split])
    for place in (directory / folder, directory):
        present = [place / n for n in names if (place / n).is_file()]
        if present:
            missing = [str(place / n) for n in names if not (place / n).is_file()]
            if missing:
                raise FileNotFoundError(
                    f"{_NAMES[dataset]} {split}: file not found: {', '.join(missing)} "
                    f"(the other files of the split are there). " + _how_to_get(archive)
                )
            return "bins", present
    return None


def _described(directory: Path) -> str:
    return str(directory) if directory.is_dir() else f"{directory} (no such folder)"


# ----- digests -----------------------------------------------------------------------------------


def _file_digests(path: Path) -> tuple[str, str]:
    """(SHA-256, MD5) of a file, read in chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _check_archive(dataset: str, path: Path) -> None:
    size, expected_size = path.stat().st_size, CIFAR_ARCHIVE_SIZE[dataset]
    if size != expected_size:
        raise ChecksumError(
            f"{path}: size {size} bytes, expected {expected_size} for the official {CIFAR_ARCHIVES[dataset][0]} "
            "(truncated or not the original download? verify=False skips this check)"
        )
    sha, md5 = _file_digests(path)
    for kind, actual, expected in (
        ("SHA-256", sha, CIFAR_ARCHIVE_SHA256[dataset]),
        ("MD5", md5, CIFAR_ARCHIVE_MD5[dataset]),
    ):
        if actual != expected:
            raise ChecksumError(
                f"{path}: checksum mismatch: expected {kind} {expected}, got {actual} "
                "(file corrupt or not the original download; verify=False skips this check)"
            )


def _read_record() -> dict[str, dict[str, Any]]:
    record = cifar_digest_record()
    if not record.is_file():
        return {}
    try:
        entries = json.loads(record.read_text())
    except (OSError, ValueError) as exc:
        raise CIFARFormatError(f"{record}: unreadable digest record ({exc}); delete it to start a new one") from exc
    if not isinstance(entries, dict):
        raise CIFARFormatError(f"{record}: digest record is not a JSON object; delete it to start a new one")
    return entries


def _write_record(entries: dict[str, dict[str, Any]]) -> None:
    record = cifar_digest_record()
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
    os.replace(tmp, record)  # atomic: a reader never sees half a file


def _check_or_record(dataset: str, name: str, data: bytes, source: str, from_verified_archive: bool) -> None:
    """Compare ``data``'s SHA-256 with the one recorded for ``dataset/name``, recording it if there is none.

    Digests taken from a verified archive are authoritative: they replace an entry recorded from
    a loose file (with a warning if it differed) instead of being checked against it.
    """
    key, digest = f"{dataset}/{name}", hashlib.sha256(data).hexdigest()
    entries = _read_record()
    old = entries.get(key)
    if old is not None and old.get("sha256") == digest:
        return
    if old is not None and not from_verified_archive:
        raise ChecksumError(
            f"{source}: SHA-256 {digest} differs from {old.get('sha256')} recorded for {name} "
            f"(from {old.get('source')}, {old.get('recorded')}) in {cifar_digest_record()}: the file is corrupt or "
            "not the same release. Delete that entry to accept this file, or pass verify=False to skip the check."
        )
    if old is not None:
        warnings.warn(
            f"{cifar_digest_record()}: {name} had been recorded as {old.get('sha256')} from {old.get('source')}; "
            f"the verified archive {source} has {digest}, which replaces it",
            stacklevel=4,
        )
    entries[key] = {
        "sha256": digest,
        "size": len(data),
        "source": source + (" (archive verified by SHA-256)" if from_verified_archive else ""),
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_record(entries)


# ----- reading -----------------------------------------------------------------------------------


def _check_size(dataset: str, split: str, name: str, data: bytes, source: str, verify: bool) -> None:
    record_len = _LABEL_BYTES[dataset] + _PIXELS
    if verify:
        records = CIFAR_BIN_RECORDS[dataset][split][name]
        if len(data) != records * record_len:
            raise CIFARFormatError(
                f"{source}: wrong size: {len(data)} bytes, expected {records * record_len} "
                f"({records} records of {record_len} bytes); truncated or not the original file "
                "(verify=False accepts any whole number of records)"
            )
    elif len(data) == 0 or len(data) % record_len:
        raise CIFARFormatError(
            f"{source}: truncated: {len(data)} bytes is not a positive whole number of {record_len}-byte records"
        )


def _read_archive(dataset: str, split: str, path: Path, verify: bool) -> list[tuple[str, bytes, str]]:
    """``(name, bytes, source)`` of each of the split's members, read without extracting anything."""
    if verify:
        _check_archive(dataset, path)
    _, folder = CIFAR_ARCHIVES[dataset]
    out = []
    try:
        with tarfile.open(path, "r:gz") as tar:
            for name in CIFAR_BIN_RECORDS[dataset][split]:
                member_name = f"{folder}/{name}"
                try:
                    member = tar.getmember(member_name)
                except KeyError:
                    raise CIFARFormatError(f"{path}: the archive has no member {member_name}") from None
                if not member.isfile():
                    raise CIFARFormatError(f"{path}: member {member_name} is not a regular file")
                f = tar.extractfile(member)
                assert f is not None  # a regular file always has data
                out.append((name, f.read(), f"{path}:{member_name}"))
    # ReadError for a bad header, EOFError and zlib/gzip errors (OSError) for a stream cut short
    # or damaged: to the caller all mean "this is not a readable archive".
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise CIFARFormatError(f"{path}: not a readable .tar.gz archive ({type(exc).__name__}: {exc})") from exc
    return out


def _decode(dataset: str, data: bytes, source: str, labels: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw (uint8 images (n, 3, 32, 32), uint8 labels (n,)) of one file's records."""
    label_bytes = _LABEL_BYTES[dataset]
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, label_bytes + _PIXELS)
    column = 1 if labels == "fine" else 0  # CIFAR-100: coarse byte first, then fine
    classes = {"label": 10, "coarse": 20, "fine": 100}[labels]
    y = records[:, column]
    if y.size and y.max() >= classes:
        bad = int(np.argmax(y >= classes))
        raise CIFARFormatError(
            f"{source}: record {bad} has {labels} label {int(y[bad])}, expected 0..{classes - 1} "
            "(not a CIFAR binary file, or the wrong dataset?)"
        )
    return records[:, label_bytes:].reshape(-1, 3, 32, 32), y


def _load(
    dataset: str, split: str, root: str | PathLike[str] | None, verify: bool, labels: str
) -> tuple[np.ndarray, np.ndarray]:
    if split not in CIFAR_BIN_RECORDS[dataset]:
        raise ValueError(f"unknown split {split!r}: expected one of {tuple(CIFAR_BIN_RECORDS[dataset])}")
    candidates = _candidates(dataset, root)
    found = None
    for directory in candidates:
        found = _find(dataset, split, directory)
        if found is not None:
            break
    if found is None:
        archive, folder = CIFAR_ARCHIVES[dataset]
        names = ", ".join(CIFAR_BIN_RECORDS[dataset][split])
        raise FileNotFoundError(
            f"{_NAMES[dataset]} {split}: neither {archive} nor {folder}/{{{names}}} nor those .bin files found; "
            f"looked in: {', '.join(_described(d) for d in candidates)}. " + _how_to_get(archive)
        )
    kind, where = found
    paths = [where] if kind == "archive" else where
    # The stat signature makes an edited or replaced file miss the cache instead of serving stale data.
    stats = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    key = (dataset, split, labels, verify, stats)
    if key in _cache:
        return _cache[key]

    if kind == "archive":
        files = _read_archive(dataset, split, where, verify)
    else:
        files = [(p.name, p.read_bytes(), str(p)) for p in where]
    parts = []
    for name, data, source in files:
        _check_size(dataset, split, name, data, source, verify)
        if verify:
            _check_or_record(dataset, name, data, source, from_verified_archive=kind == "archive")
        parts.append(_decode(dataset, data, source, labels))
    raw_images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    raw_labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    # Dividing in float32 gives the correctly rounded k/255 for every byte k, as for MNIST.
    images = np.divide(raw_images, np.float32(255), dtype=np.float32)
    targets = raw_labels.astype(np.int64)
    # Cached arrays are shared between callers, so nobody may write to them.
    images.flags.writeable = False
    targets.flags.writeable = False
    if len(_cache) >= _CACHE_MAX:
        del _cache[next(iter(_cache))]  # evict the oldest entry
    _cache[key] = (images, targets)
    return images, targets


# ----- per-channel standardisation -------------------------------------------------------------------


def channel_mean_std(images: Any) -> tuple[Any, Any]:
    """Per-channel mean and standard deviation of images (N, C, H, W), as float32 arrays of shape (C,).

    Accumulated in float64 (a float32 sum over 50,000 × 1024 pixels per channel would lose digits).
    Compute them on the training split and apply them to every split with :func:`standardize_channels`:

    >>> import numpy as np
    >>> x = np.stack([np.zeros((2, 2)), np.full((2, 2), 2.0), np.arange(4.0).reshape(2, 2)])[None]
    >>> mean, std = channel_mean_std(x)
    >>> mean.tolist(), [round(s, 4) for s in std.tolist()]
    ([0.0, 2.0, 1.5], [0.0, 0.0, 1.118])
    """
    if getattr(images, "ndim", None) != 4:
        raise ValueError(f"channel_mean_std expects images of shape (N, C, H, W), got {getattr(images, 'shape', None)}")
    if images.shape[0] == 0:
        raise ValueError("channel_mean_std: no images (N = 0)")
    xp = get_array_module(images)
    mean = images.mean(axis=(0, 2, 3), dtype=xp.float64)
    std = images.std(axis=(0, 2, 3), dtype=xp.float64)
    return mean.astype(xp.float32), std.astype(xp.float32)


def standardize_channels(images: Any, mean: Any, std: Any) -> Any:
    """``(images − mean_c) / std_c`` for each channel c: a new, writable float32 array of the same shape.

    ``mean`` and ``std`` are sequences or arrays of length C (from :func:`channel_mean_std` of the
    training split). A zero or negative std is refused: it would divide by zero.
    """
    if getattr(images, "ndim", None) != 4:
        raise ValueError(
            f"standardize_channels expects images of shape (N, C, H, W), got {getattr(images, 'shape', None)}"
        )
    xp = get_array_module(images)
    channels = images.shape[1]
    mean = xp.asarray(mean, dtype=xp.float32)
    std = xp.asarray(std, dtype=xp.float32)
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(
            f"standardize_channels: mean {tuple(mean.shape)} and std {tuple(std.shape)} must both have shape "
            f"({channels},), one value per channel of images {tuple(images.shape)}"
        )
    if not bool((std > 0).all()):
        raise ValueError(f"standardize_channels: every std must be > 0, got {std.tolist()}")
    out = xp.subtract(images, mean[:, None, None], dtype=xp.float32)
    out /= std[:, None, None]
    return out
