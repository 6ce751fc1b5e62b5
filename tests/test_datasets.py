"""Tests for the datasets package: the IDX reader, MNIST/Fashion-MNIST loading, and DataLoader."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.util
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import datasets
from datasets import (
    ChecksumError,
    DataLoader,
    IDXFormatError,
    fashion_mnist,
    mnist,
    read_idx,
    read_idx_bytes,
    take,
)

# `datasets.mnist` is the function (re-exported); the module of the same name is reached this way.
mnist_module = importlib.import_module("datasets.mnist")

MNIST_DIR = Path(datasets.__file__).parent / "data" / "mnist"
CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """A tiny independent IDX writer: header, big-endian dims, big-endian C-order data."""
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=CODES[code]).tobytes()


def write(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---------------------------------------------------------------------------------------------
# MNIST against known facts (the README of the data lists them)


@pytest.fixture(scope="module")
def train() -> tuple[np.ndarray, np.ndarray]:
    return mnist("train")


def test_mnist_train_known_facts(train: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = train
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y, minlength=10).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert abs(x.mean(dtype=np.float64) * 255 - 33.318) < 1e-3
    # every value is exactly some k/255
    assert np.array_equal(np.round(x[:100] * 255) / np.float32(255), x[:100])


def test_mnist_test_known_facts() -> None:
    x, y = mnist("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_mnist_is_cached_and_read_only(train: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = mnist("train")
    assert x is train[0] and y is train[1]
    assert not x.flags.writeable and not y.flags.writeable
    with pytest.raises(ValueError):
        x[0, 0, 0, 0] = 1.0


def test_mnist_reads_raw_and_gzip_files_alike(tmp_path: Path) -> None:
    # images raw (decompressed), labels as .gz: both forms are accepted, and give the same arrays
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(
        gzip.decompress((MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes())
    )
    shutil.copy(MNIST_DIR / "t10k-labels-idx1-ubyte.gz", tmp_path)
    x, y = mnist("test", root=tmp_path)
    x0, y0 = mnist("test")
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_mnist_bad_split_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        mnist("validation")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        mnist("train", root=tmp_path)
    shutil.copy(MNIST_DIR / "t10k-images-idx3-ubyte.gz", tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        mnist("test", root=tmp_path)
    assert str(tmp_path / "t10k-labels-idx1-ubyte.gz") in str(info.value)


# ---------------------------------------------------------------------------------------------
# IDX round trip


@st.composite
def idx_arrays(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    code = draw(st.sampled_from(sorted(CODES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    return draw(hnp.arrays(np.dtype(CODES[code]).newbyteorder("="), shape)), code


@settings(max_examples=60, deadline=None)
@given(idx_arrays(), st.booleans())
def test_idx_round_trip(case: tuple[np.ndarray, int], compress: bool) -> None:
    arr, code = case
    with tempfile.TemporaryDirectory() as tmp:
        # no .gz suffix either way: gzip must be detected by its magic bytes
        path = write(Path(tmp) / "data.idx", idx_bytes(arr, code), compress)
        back = read_idx(path)
    assert back.shape == arr.shape
    assert back.dtype == np.dtype(CODES[code]).newbyteorder("=")
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, arr)  # NaNs compare equal here
    assert not back.flags.writeable


def test_read_idx_bytes_matches_read_idx(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    data = idx_bytes(arr, 0x0C)
    path = write(tmp_path / "a.gz", data, compress=True)
    np.testing.assert_array_equal(read_idx(path), read_idx_bytes(data, "a"))
    np.testing.assert_array_equal(read_idx_bytes(gzip.compress(data), "a"), arr)


# ---------------------------------------------------------------------------------------------
# corrupt IDX files

GOOD = idx_bytes(np.arange(10, dtype=np.uint8).reshape(2, 5), 0x08)
# A stream whose deflate data is damaged: flip bytes in the middle of a compressed payload.
_gz = bytearray(gzip.compress(idx_bytes(np.arange(3000, dtype=np.int32), 0x0C)))
_gz[len(_gz) // 2 : len(_gz) // 2 + 8] = bytes(8)
CORRUPT_CASES = {
    "wrong_magic": (b"\x01\x00" + GOOD[2:], "bad magic number"),
    "unknown_dtype": (GOOD[:2] + b"\x07" + GOOD[3:], "unknown dtype code 0x07"),
    "truncated_header": (GOOD[:6], "truncated header"),
    "truncated_data": (GOOD[:-3], "truncated data: shape (2, 5) of uint8 needs 10 data bytes, got 7"),
    "trailing_bytes": (GOOD + b"\x00\x01", "2 trailing bytes"),
    "gzip_damaged": (bytes(_gz), "corrupt gzip stream"),
    "gzip_cut_short": (gzip.compress(GOOD)[:-12], "corrupt gzip stream"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_CASES))
def test_corrupt_idx_files(tmp_path: Path, case: str) -> None:
    data, phrase = CORRUPT_CASES[case]
    path = write(tmp_path / f"{case}-idx1-ubyte", data)
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert phrase in message
    assert isinstance(info.value, ValueError)


# ---------------------------------------------------------------------------------------------
# checksums and structure checks on MNIST copies


def _t10k_copy(tmp_path: Path, labels: np.ndarray | None = None, images: np.ndarray | None = None) -> Path:
    """A root dir holding the test split, with the labels and/or images replaced (written raw)."""
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if arr is None:
            shutil.copy(MNIST_DIR / f"{name}.gz", tmp_path)
        else:
            write(tmp_path / name, idx_bytes(arr, 0x08))  # raw: fast, and exercises the raw path
    return tmp_path


def test_checksum_mismatch(tmp_path: Path) -> None:
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz").copy()
    assert labels[0] == 7
    labels[0] = 3  # one byte altered, still a valid label
    root = _t10k_copy(tmp_path)
    write(root / "t10k-labels-idx1-ubyte.gz", idx_bytes(labels, 0x08), compress=True)  # re-gzipped
    actual = hashlib.sha256(idx_bytes(labels, 0x08)).hexdigest()
    with pytest.raises(ChecksumError) as info:
        mnist("test", root=root)
    message = str(info.value)
    assert str(root / "t10k-labels-idx1-ubyte.gz") in message
    assert datasets.MNIST_SHA256["t10k-labels-idx1-ubyte"] in message and actual in message
    # the checksum was the only problem: without verification the altered file loads
    _, y = mnist("test", root=root, verify=False)
    assert y[0] == 3 and y[1:10].tolist() == [2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_count_mismatch(tmp_path: Path) -> None:
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")[:9999]
    root = _t10k_copy(tmp_path, labels=labels)
    with pytest.raises(ValueError, match="count mismatch: 10000 images .* but 9999 labels"):
        mnist("test", root=root, verify=False)


def test_label_range_and_image_size_checks(tmp_path: Path) -> None:
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz").copy()
    labels[5] = 10
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        mnist("test", root=_t10k_copy(tmp_path / "a", labels=labels), verify=False)
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz").reshape(10000, 14, 56)
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        mnist("test", root=_t10k_copy(tmp_path / "b", images=images), verify=False)


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST


def test_fashion_mnist_missing_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(mnist_module.FASHION_MNIST_ENV, str(tmp_path / "env"))
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIRS", (tmp_path / "system",))
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist("train")
    message = str(info.value)
    assert "dataset-fashion-mnist" in message and "root=" in message
    assert str(tmp_path / "env") in message and str(tmp_path / "system") in message
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion_mnist("test", root=tmp_path)
    with pytest.raises(ValueError, match="split"):
        fashion_mnist("val")


def test_fashion_mnist_if_present() -> None:
    try:
        x, y = fashion_mnist("test")
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y, minlength=10).tolist() == [1000] * 10
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert len(datasets.FASHION_MNIST_CLASS_NAMES) == 10


def test_class_names() -> None:
    assert datasets.MNIST_CLASS_NAMES == tuple("0123456789")
    assert datasets.FASHION_MNIST_CLASS_NAMES[0] == "T-shirt/top"
    assert datasets.FASHION_MNIST_CLASS_NAMES[9] == "Ankle boot"
    assert set(datasets.CLASS_NAMES) == {"mnist", "fashion_mnist"}


# ---------------------------------------------------------------------------------------------
# DataLoader


def toy(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose pixels equal their sample index, so a batch reveals which samples it holds."""
    return np.repeat(np.arange(n, dtype=np.float64)[:, None], 3, axis=1), np.arange(n, dtype=np.int64)


def epoch_labels(loader: DataLoader) -> np.ndarray:
    return np.concatenate([y for _, y in loader] or [np.empty(0, np.int64)])


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 60), st.integers(1, 20), st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_loader_covers_every_sample_once(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int
) -> None:
    images, labels = toy(n)
    loader = DataLoader(
        images, labels, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    for _, y in batches[:-1]:
        assert len(y) == batch_size
    for x, y in batches:
        assert x.dtype == np.float32 and x.flags.c_contiguous
        assert np.array_equal(x[:, 0], y)  # images and labels stay paired
    seen = np.concatenate([y for _, y in batches]) if batches else np.empty(0, np.int64)
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size and len(np.unique(seen)) == len(seen)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_loader_order_is_the_documented_permutation() -> None:
    images, labels = toy(100)
    loader = DataLoader(images, labels, batch_size=7, shuffle=True, seed=5)
    for e in range(3):
        assert epoch_labels(loader).tolist() == np.random.default_rng([5, e]).permutation(100).tolist()
    assert loader.epoch == 3


def test_loader_reshuffles_per_epoch_and_seed() -> None:
    images, labels = toy(100)
    a = DataLoader(images, labels, batch_size=10, shuffle=True, seed=1)
    b = DataLoader(images, labels, batch_size=10, shuffle=True, seed=1)
    c = DataLoader(images, labels, batch_size=10, shuffle=True, seed=2)
    e0a, e0b, e0c = epoch_labels(a), epoch_labels(b), epoch_labels(c)
    assert np.array_equal(e0a, e0b)  # same seed, same epoch
    assert not np.array_equal(e0a, e0c)  # different seed
    assert a.epoch == 1
    assert not np.array_equal(epoch_labels(a), e0a)  # next epoch, new order
    a.set_epoch(0)
    assert np.array_equal(epoch_labels(a), e0a)  # replay


def test_loader_resume_is_bit_identical(train: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = take(*train, 500)
    first = DataLoader(images, labels, batch_size=64, shuffle=True, seed=123)
    runs = [[(x, y) for x, y in first] for _ in range(3)]
    resumed = DataLoader(images, labels, batch_size=64, shuffle=True, seed=123)
    resumed.set_epoch(2)
    again = list(resumed)
    assert len(again) == len(runs[2])
    for (x1, y1), (x2, y2) in zip(runs[2], again, strict=True):
        assert x1.tobytes() == x2.tobytes() and np.array_equal(y1, y2)
    assert resumed.epoch == 3


def test_loader_break_does_not_advance_epoch() -> None:
    loader = DataLoader(*toy(50), batch_size=10, shuffle=True)
    for _ in loader:
        break
    assert loader.epoch == 0


def test_loader_len_and_drop_last() -> None:
    images, labels = toy(10)
    assert len(DataLoader(images, labels, batch_size=3)) == 4
    assert len(DataLoader(images, labels, batch_size=3, drop_last=True)) == 3
    assert [len(y) for _, y in DataLoader(images, labels, batch_size=3)] == [3, 3, 3, 1]
    assert [len(y) for _, y in DataLoader(images, labels, batch_size=3, drop_last=True)] == [3, 3, 3]
    assert len(DataLoader(images, labels, batch_size=20, drop_last=True)) == 0


def test_loader_batches_are_writable_copies(train: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = train
    x, y = next(iter(DataLoader(images, labels, batch_size=8)))
    assert x.flags.writeable and x.shape == (8, 1, 28, 28)
    x[:] = -1.0
    assert images[:8].min() >= 0.0
    assert y.tolist() == [5, 0, 4, 1, 9, 2, 1, 3]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "4", None])
def test_loader_bad_batch_size(bad: object) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(*toy(5), batch_size=bad)  # type: ignore[arg-type]


def test_loader_validation() -> None:
    images, _ = toy(5)
    with pytest.raises(ValueError, match="5 images and 4 labels"):
        DataLoader(images, np.arange(4))
    with pytest.raises(ValueError, match="device"):
        DataLoader(*toy(5), device="tpu")
    with pytest.raises(ValueError, match="seed"):
        DataLoader(*toy(5), seed=-1)
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(*toy(5)).set_epoch(-1)


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed")
def test_loader_gpu_without_cupy() -> None:
    with pytest.raises(RuntimeError, match="CuPy"):
        DataLoader(*toy(5), device="gpu")


def test_take() -> None:
    images, labels = toy(10)
    x, y = take(images, labels, 4)
    assert y.tolist() == [0, 1, 2, 3] and np.array_equal(x, images[:4])
    assert len(take(images, labels, 0)[1]) == 0
    with pytest.raises(ValueError, match="11"):
        take(images, labels, 11)
    with pytest.raises(ValueError):
        take(images, labels, -1)
