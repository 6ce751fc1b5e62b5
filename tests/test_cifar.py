"""CIFAR-10/100 loading (datasets.cifar) on small files in the official binary format, written here.

CIFAR is not shipped with the project and cannot be downloaded by the tests, so every test writes
its own tiny files: records of 1 label byte (CIFAR-10) or coarse + fine bytes (CIFAR-100) followed
by 3072 pixel bytes, as loose ``.bin`` files, in the extracted folder and inside a ``.tar.gz``.
The module's tables of record counts and archive digests are patched to describe those files.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import ChecksumError, CIFARFormatError, channel_mean_std, cifar10, cifar100, standardize_channels

cifar = importlib.import_module("datasets.cifar")
REAL_RECORDS = cifar.CIFAR_BIN_RECORDS  # the table as shipped, before the fixture swaps it

SMALL = {
    "cifar10": {"train": {f"data_batch_{i}.bin": 3 for i in range(1, 6)}, "test": {"test_batch.bin": 4}},
    "cifar100": {"train": {"train.bin": 6}, "test": {"test.bin": 4}},
}
FOLDER = {"cifar10": "cifar-10-batches-bin", "cifar100": "cifar-100-binary"}
ARCHIVE = {"cifar10": "cifar-10-binary.tar.gz", "cifar100": "cifar-100-binary.tar.gz"}


@pytest.fixture(autouse=True)
def small_tables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Describe the tiny test files instead of the real ones; keep the digest record in tmp_path."""
    monkeypatch.setattr(cifar, "CIFAR_BIN_RECORDS", SMALL)
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGRAD_CIFAR_ROOT", raising=False)
    cifar.clear_cifar_cache()
    yield
    cifar.clear_cifar_cache()


def record_bytes(labels: tuple[int, ...], pixels: bytes) -> bytes:
    """One record, written byte by byte as the format describes (independent of the reader)."""
    assert len(pixels) == 3072
    return bytes(labels) + pixels


def make_split(dataset: str, split: str, seed: int) -> dict[str, tuple[bytes, list[tuple[int, ...]], list[bytes]]]:
    """{file name: (file bytes, labels per record, pixels per record)} for every file of the split."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, count in SMALL[dataset][split].items():
        labels, pixels = [], []
        for _ in range(count):
            lab = (int(rng.integers(10)),) if dataset == "cifar10" else (int(rng.integers(20)), int(rng.integers(100)))
            pix = bytes(rng.integers(0, 256, 3072, dtype=np.uint8).tolist())
            labels.append(lab)
            pixels.append(pix)
        out[name] = (b"".join(record_bytes(lab, pix) for lab, pix in zip(labels, pixels)), labels, pixels)
    return out


def write_bins(directory: Path, files: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (data, _, _) in files.items():
        (directory / name).write_bytes(data)
    return directory


def write_archive(path: Path, dataset: str, files: dict, skip: str | None = None) -> Path:
    """A .tar.gz laid out as the official one: every file under the dataset's folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, _, _) in files.items():
            if name == skip:
                continue
            info = tarfile.TarInfo(f"{FOLDER[dataset]}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def trust_archive(monkeypatch: pytest.MonkeyPatch, dataset: str, path: Path) -> None:
    """Make the module's published size/digests those of the test archive."""
    data = path.read_bytes()
    monkeypatch.setitem(cifar.CIFAR_ARCHIVE_SIZE, dataset, len(data))
    monkeypatch.setitem(cifar.CIFAR_ARCHIVE_SHA256, dataset, hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(cifar.CIFAR_ARCHIVE_MD5, dataset, hashlib.md5(data).hexdigest())


def expected_arrays(files: dict, column: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels decoded pixel by pixel from the record lists (not by reshaping bytes)."""
    images, labels = [], []
    for _, (_, labs, pixs) in files.items():
        for lab, pix in zip(labs, pixs):
            img = np.empty((3, 32, 32), dtype=np.float32)
            for c in range(3):
                for r in range(32):
                    for q in range(32):
                        img[c, r, q] = pix[c * 1024 + r * 32 + q] / np.float32(255)
            images.append(img)
            labels.append(lab[column])
    return np.stack(images), np.array(labels, dtype=np.int64)


# ----- reading ---------------------------------------------------------------------------------------


def test_cifar10_bins_decode_as_the_format_says(tmp_path: Path) -> None:
    files = make_split("cifar10", "train", seed=0)
    write_bins(tmp_path / "data" / FOLDER["cifar10"], files)
    x, y = cifar10("train", root=tmp_path / "data")
    want_x, want_y = expected_arrays(files, column=0)
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.float32
    assert y.shape == (15,) and y.dtype == np.int64
    np.testing.assert_array_equal(x, want_x)  # files in order data_batch_1..5, records in order
    np.testing.assert_array_equal(y, want_y)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_cifar100_fine_by_default_coarse_on_request(tmp_path: Path) -> None:
    files = make_split("cifar100", "test", seed=1)
    write_bins(tmp_path, files)
    x, fine = cifar100("test", root=tmp_path)
    x2, coarse = cifar100("test", root=tmp_path, labels="coarse")
    np.testing.assert_array_equal(x, expected_arrays(files, column=1)[0])
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(fine, expected_arrays(files, column=1)[1])
    np.testing.assert_array_equal(coarse, expected_arrays(files, column=0)[1])
    with pytest.raises(ValueError, match="'fine' or 'coarse'"):
        cifar100("test", root=tmp_path, labels="super")


@pytest.mark.parametrize("layout", ["archive", "folder", "flat"])
def test_every_layout_reads_the_same_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str) -> None:
    files = make_split("cifar10", "test", seed=2)
    root = tmp_path / "root"
    if layout == "archive":
        trust_archive(monkeypatch, "cifar10", write_archive(root / ARCHIVE["cifar10"], "cifar10", files))
    else:
        write_bins(root / FOLDER["cifar10"] if layout == "folder" else root, files)
    x, y = cifar10("test", root=root)
    want_x, want_y = expected_arrays(files, column=0)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_arrays_are_cached_and_read_only(tmp_path: Path) -> None:
    write_bins(tmp_path, make_split("cifar10", "test", seed=3))
    x, y = cifar10("test", root=tmp_path)
    again = cifar10("test", root=tmp_path)
    assert again[0] is x and again[1] is y
    assert not x.flags.writeable and not y.flags.writeable
    with pytest.raises(ValueError):
        x[0, 0, 0, 0] = 1.0


def test_a_replaced_file_is_read_again(tmp_path: Path) -> None:
    write_bins(tmp_path, make_split("cifar10", "test", seed=4))
    x, _ = cifar10("test", root=tmp_path, verify=False)
    write_bins(tmp_path, make_split("cifar10", "test", seed=5))
    x2, _ = cifar10("test", root=tmp_path, verify=False)
    assert not np.array_equal(x, x2)


def test_environment_variable_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_split("cifar100", "train", seed=6)
    write_bins(tmp_path / "env" / FOLDER["cifar100"], files)
    monkeypatch.setenv("MINIGRAD_CIFAR_ROOT", str(tmp_path / "env"))
    _, y = cifar100("train")
    np.testing.assert_array_equal(y, expected_arrays(files, column=1)[1])


# ----- where it looked, and how to get the files ------------------------------------------------------


def test_no_folder_given_says_how_to_give_one() -> None:
    with pytest.raises(FileNotFoundError) as info:
        cifar10("train")
    message = str(info.value)
    for part in ("root=", "--data-root", "MINIGRAD_CIFAR_ROOT", "cifar-10-binary.tar.gz", "cs.toronto.edu/~kriz/cifar"):
        assert part in message


def test_empty_folder_lists_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        cifar100("test", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "cifar-100-binary.tar.gz" in message and "test.bin" in message
    assert "cs.toronto.edu/~kriz/cifar.html" in message
    with pytest.raises(FileNotFoundError, match=r"missing \(no such folder\)"):
        cifar100("test", root=tmp_path / "missing")


def test_missing_file_of_a_split_is_named(tmp_path: Path) -> None:
    files = make_split("cifar10", "train", seed=7)
    write_bins(tmp_path, files)
    (tmp_path / "data_batch_4.bin").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4.bin"):
        cifar10("train", root=tmp_path)


def test_bad_split(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        cifar10("valid", root=tmp_path)


# ----- malformed files --------------------------------------------------------------------------------


def test_truncated_bin_is_refused_naming_the_file(tmp_path: Path) -> None:
    files = make_split("cifar10", "test", seed=8)
    write_bins(tmp_path, files)
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CIFARFormatError, match=r"test_batch.bin: wrong size: 12192 bytes, expected 12292"):
        cifar10("test", root=tmp_path)
    with pytest.raises(CIFARFormatError, match=r"test_batch.bin: truncated: 12192 bytes is not .* 3073-byte"):
        cifar10("test", root=tmp_path, verify=False)


def test_whole_records_of_the_wrong_count(tmp_path: Path) -> None:
    files = make_split("cifar100", "test", seed=9)
    write_bins(tmp_path, files)
    path = tmp_path / "test.bin"
    path.write_bytes(path.read_bytes()[: 3 * 3074])  # three whole records instead of four
    with pytest.raises(CIFARFormatError, match=r"test.bin: wrong size: 9222 bytes, expected 12296 \(4 records"):
        cifar100("test", root=tmp_path)
    x, _ = cifar100("test", root=tmp_path, verify=False)  # a subset is fine when not verifying
    assert x.shape == (3, 3, 32, 32)


def test_empty_bin_is_refused(tmp_path: Path) -> None:
    write_bins(tmp_path, make_split("cifar10", "test", seed=10))
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(CIFARFormatError, match="truncated: 0 bytes"):
        cifar10("test", root=tmp_path, verify=False)


def test_label_out_of_range_names_the_record(tmp_path: Path) -> None:
    files = make_split("cifar10", "test", seed=11)
    write_bins(tmp_path, files)
    path = tmp_path / "test_batch.bin"
    data = bytearray(path.read_bytes())
    data[2 * 3073] = 10  # record 2's label
    path.write_bytes(bytes(data))
    with pytest.raises(CIFARFormatError, match="test_batch.bin: record 2 has label label 10, expected 0..9"):
        cifar10("test", root=tmp_path, verify=False)


def test_cifar100_coarse_label_out_of_range(tmp_path: Path) -> None:
    files = make_split("cifar100", "test", seed=12)
    write_bins(tmp_path, files)
    path = tmp_path / "test.bin"
    data = bytearray(path.read_bytes())
    data[3074] = 20  # record 1's coarse label; its fine label stays valid
    path.write_bytes(bytes(data))
    cifar100("test", root=tmp_path, verify=False)  # fine labels are fine
    with pytest.raises(CIFARFormatError, match="record 1 has coarse label 20, expected 0..19"):
        cifar100("test", root=tmp_path, verify=False, labels="coarse")


def test_truncated_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_split("cifar10", "test", seed=13)
    path = write_archive(tmp_path / ARCHIVE["cifar10"], "cifar10", files)
    trust_archive(monkeypatch, "cifar10", path)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ChecksumError, match=r"cifar-10-binary.tar.gz: size .* expected"):
        cifar10("test", root=tmp_path)
    with pytest.raises(CIFARFormatError, match="cifar-10-binary.tar.gz: not a readable .tar.gz archive"):
        cifar10("test", root=tmp_path, verify=False)


def test_archive_with_a_wrong_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_split("cifar100", "train", seed=14)
    path = write_archive(tmp_path / ARCHIVE["cifar100"], "cifar100", files)
    trust_archive(monkeypatch, "cifar100", path)
    monkeypatch.setitem(cifar.CIFAR_ARCHIVE_SHA256, "cifar100", "0" * 64)
    with pytest.raises(ChecksumError, match="cifar-100-binary.tar.gz: checksum mismatch: expected SHA-256 0000"):
        cifar100("train", root=tmp_path)
    trust_archive(monkeypatch, "cifar100", path)
    monkeypatch.setitem(cifar.CIFAR_ARCHIVE_MD5, "cifar100", "f" * 32)
    with pytest.raises(ChecksumError, match="expected MD5 ffff"):
        cifar100("train", root=tmp_path)
    x, _ = cifar100("train", root=tmp_path, verify=False)
    assert x.shape == (6, 3, 32, 32)


def test_archive_missing_a_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_split("cifar10", "train", seed=15)
    path = write_archive(tmp_path / ARCHIVE["cifar10"], "cifar10", files, skip="data_batch_3.bin")
    trust_archive(monkeypatch, "cifar10", path)
    with pytest.raises(CIFARFormatError, match="has no member cifar-10-batches-bin/data_batch_3.bin"):
        cifar10("train", root=tmp_path)


def test_archive_member_of_the_wrong_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_split("cifar10", "test", seed=16)
    data, labels, pixels = files["test_batch.bin"]
    files["test_batch.bin"] = (data[:-1], labels, pixels)
    path = write_archive(tmp_path / ARCHIVE["cifar10"], "cifar10", files)
    trust_archive(monkeypatch, "cifar10", path)
    with pytest.raises(CIFARFormatError, match=r"tar.gz:cifar-10-batches-bin/test_batch.bin: wrong size"):
        cifar10("test", root=tmp_path)


# ----- the first-read digest record of loose .bin files ---------------------------------------------


def test_first_read_records_then_a_changed_file_is_refused(tmp_path: Path) -> None:
    write_bins(tmp_path / "a", make_split("cifar10", "test", seed=17))
    cifar10("test", root=tmp_path / "a")
    record = json.loads((tmp_path / "cache" / "cifar-sha256.json").read_text())
    data = (tmp_path / "a" / "test_batch.bin").read_bytes()
    assert record["cifar10/test_batch.bin"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["cifar10/test_batch.bin"]["size"] == len(data)

    # Another copy with one pixel changed (same size): checked against the first copy's digest.
    changed = bytearray(data)
    changed[500] ^= 1
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "test_batch.bin").write_bytes(bytes(changed))
    with pytest.raises(ChecksumError) as info:
        cifar10("test", root=tmp_path / "b")
    message = str(info.value)
    assert str(tmp_path / "b" / "test_batch.bin") in message and "cifar-sha256.json" in message
    assert cifar10("test", root=tmp_path / "b", verify=False)[0].shape == (4, 3, 32, 32)


def test_verified_archive_records_its_members_for_extracted_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_split("cifar100", "test", seed=18)
    trust_archive(monkeypatch, "cifar100", write_archive(tmp_path / "arch" / ARCHIVE["cifar100"], "cifar100", files))
    cifar100("test", root=tmp_path / "arch")
    entry = json.loads((tmp_path / "cache" / "cifar-sha256.json").read_text())["cifar100/test.bin"]
    assert "archive verified by SHA-256" in entry["source"]
    # A tampered extracted copy fails against the digest that came from the verified archive.
    data = bytearray(files["test.bin"][0])
    data[-1] ^= 0xFF
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "test.bin").write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="archive verified by SHA-256"):
        cifar100("test", root=tmp_path / "loose")


def test_verified_archive_replaces_a_differing_loose_record_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loose = make_split("cifar10", "test", seed=19)
    write_bins(tmp_path / "loose", loose)
    cifar10("test", root=tmp_path / "loose")  # records the loose file's digest first
    files = make_split("cifar10", "test", seed=20)
    trust_archive(monkeypatch, "cifar10", write_archive(tmp_path / "arch" / ARCHIVE["cifar10"], "cifar10", files))
    with pytest.warns(UserWarning, match="which replaces it"):
        cifar10("test", root=tmp_path / "arch")
    cifar.clear_cifar_cache()  # the loose file's arrays are cached from its first, unverified-by-archive read
    with pytest.raises(ChecksumError):
        cifar10("test", root=tmp_path / "loose")


def test_corrupt_digest_record_is_reported(tmp_path: Path) -> None:
    write_bins(tmp_path / "d", make_split("cifar10", "test", seed=21))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "cifar-sha256.json").write_text("{not json")
    with pytest.raises(CIFARFormatError, match="unreadable digest record"):
        cifar10("test", root=tmp_path / "d")


# ----- the real tables -----------------------------------------------------------------------------


def test_official_tables_describe_the_published_splits() -> None:
    for dataset in ("cifar10", "cifar100"):
        train = sum(REAL_RECORDS[dataset]["train"].values())
        test = sum(REAL_RECORDS[dataset]["test"].values())
        assert (train, test) == (50_000, 10_000)
        assert len(cifar.CIFAR_ARCHIVE_SHA256[dataset]) == 64 and len(cifar.CIFAR_ARCHIVE_MD5[dataset]) == 32
        int(cifar.CIFAR_ARCHIVE_SHA256[dataset], 16), int(cifar.CIFAR_ARCHIVE_MD5[dataset], 16)
    assert cifar.CIFAR_ARCHIVE_SIZE == {"cifar10": 170_052_171, "cifar100": 168_513_733}
    assert datasets.CIFAR10_CLASS_NAMES[0] == "airplane" and len(datasets.CIFAR10_CLASS_NAMES) == 10


# ----- per-channel standardisation ------------------------------------------------------------------


def test_channel_mean_std_and_standardize(tmp_path: Path) -> None:
    write_bins(tmp_path, make_split("cifar10", "train", seed=22))
    x, _ = cifar10("train", root=tmp_path)
    mean, std = channel_mean_std(x)
    assert mean.shape == std.shape == (3,) and mean.dtype == std.dtype == np.float32
    for c in range(3):
        plane = x[:, c].astype(np.float64)
        assert mean[c] == np.float32(plane.mean()) and std[c] == np.float32(plane.std())
    z = standardize_channels(x, mean, std)
    assert z.dtype == np.float32 and z.shape == x.shape and z.flags.writeable
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, atol=1e-5)
    np.testing.assert_allclose(z[:, 1], (x[:, 1] - mean[1]) / std[1], rtol=1e-6)
    assert not x.flags.writeable  # the cached array is untouched


def test_standardization_refuses_bad_input() -> None:
    x = np.ones((2, 3, 4, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        channel_mean_std(x[0])
    with pytest.raises(ValueError, match="no images"):
        channel_mean_std(x[:0])
    with pytest.raises(ValueError, match=r"must both have shape \(3,\)"):
        standardize_channels(x, [0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="every std must be > 0"):
        standardize_channels(x, [0.0] * 3, [1.0, 0.0, 1.0])
