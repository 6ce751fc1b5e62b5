"""Reading the IDX file format (the format MNIST and Fashion-MNIST ship in).

This module owns the byte-level format: gzip detection, header parsing and validation, and the
conversion of the payload to a NumPy array. It knows nothing about any particular dataset.

An IDX file is: two zero bytes, a dtype code byte, a byte giving the number of dimensions ``ndim``,
then ``ndim`` big-endian uint32 sizes, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "IDXFormatError", "decompress", "read_idx", "read_idx_bytes", "read_idx_file_bytes"]

# dtype code -> big-endian NumPy dtype, as defined by the format.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """A file is not valid IDX (bad header, wrong size, or a corrupt gzip stream)."""


def decompress(data: bytes, name: str) -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic bytes, else return it unchanged.

    Detection is by content, not by file name, so a raw file named ``*.gz`` (or a gzip file
    without the suffix) still reads. ``name`` is only used in error messages.
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    # BadGzipFile (an OSError) for bad headers, zlib.error for a damaged deflate stream,
    # EOFError for a stream cut short: all mean the same thing to the caller.
    except (OSError, zlib.error, EOFError) as exc:
        raise IDXFormatError(f"{name}: corrupt gzip stream ({type(exc).__name__}: {exc})") from exc


def read_idx_file_bytes(path: str | PathLike[str]) -> bytes:
    """Read a file and return its IDX bytes, decompressed if it is gzip.

    Raises FileNotFoundError for a missing file and IDXFormatError for a corrupt gzip stream.
    """
    path = Path(path)
    return decompress(path.read_bytes(), str(path))


def read_idx_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes (raw, or gzip which is decompressed first) into an array.

    ``name`` (usually the file path) appears in every error message. The result has the shape
    the header declares, native byte order, and is **read-only**: for single-byte dtypes it is a
    zero-copy view of ``data``, and making every result read-only keeps the contract uniform.

    Raises IDXFormatError for a bad magic number, an unknown dtype code, a truncated header or
    payload, or trailing bytes after the payload.
    """
    data = decompress(data, name)
    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated header: {len(data)} bytes, an IDX header needs at least 4")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name}: bad magic number: first two bytes are {data[0]:02x} {data[1]:02x}, expected 00 00 "
            "(not an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(f"{name}: bad magic number: unknown dtype code 0x{code:02X} (known: {known})")
    dtype = IDX_DTYPES[code]
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IDXFormatError(
            f"{name}: truncated header: {ndim} dimensions need {header_len} header bytes, got {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    # Python ints: the product of four uint32 sizes can overflow int64.
    count = 1
    for d in shape:
        count *= d
    expected = count * dtype.itemsize
    got = len(data) - header_len
    if got < expected:
        raise IDXFormatError(
            f"{name}: truncated data: shape {shape} of {dtype.name} needs {expected} data bytes, got {got}"
        )
    if got > expected:
        raise IDXFormatError(
            f"{name}: size mismatch: {got - expected} trailing bytes after the data "
            f"(shape {shape} of {dtype.name} needs {expected} data bytes, got {got})"
        )
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header_len).reshape(shape)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))  # big-endian on disk -> native for fast arithmetic
    arr.flags.writeable = False
    return arr


def read_idx(path: str | PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a read-only array (see :func:`read_idx_bytes`)."""
    return read_idx_bytes(read_idx_file_bytes(path), str(path))
