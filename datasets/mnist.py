"""MNIST and Fashion-MNIST: locating the files, verifying them, and turning them into arrays.

This module owns where the datasets live (the project's own MNIST copy under ``data/mnist``; the
Debian package path or an environment variable for Fashion-MNIST), their content checksums, the
sanity checks on what was read, and a small in-process cache. Parsing the bytes is
:mod:`datasets.idx`'s job. Nothing here ever downloads anything.
"""

from __future__ import annotations

import hashlib
import os
from os import PathLike
from pathlib import Path

import numpy as np

from .idx import read_idx_bytes, read_idx_file_bytes

__all__ = [
    "CLASS_NAMES",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_DIRS",
    "FASHION_MNIST_ENV",
    "FASHION_MNIST_SHA256",
    "MNIST_CLASS_NAMES",
    "MNIST_DIR",
    "MNIST_SHA256",
    "SPLIT_FILES",
    "ChecksumError",
    "clear_cache",
    "fashion_mnist",
    "mnist",
]

MNIST_CLASS_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": MNIST_CLASS_NAMES,
    "fashion_mnist": FASHION_MNIST_CLASS_NAMES,
}

# Both datasets use the same file names; each may be stored gzip-compressed (``name.gz``) or raw.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

MNIST_DIR: Path = Path(__file__).parent / "data" / "mnist"

# SHA-256 of the *decompressed* content (from data/mnist/README.md). The gzip bytes of our copy
# were recompressed, so hashing the .gz files would tie us to one particular compressor run.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# SHA-256 of the decompressed Fashion-MNIST content. Computed from the files of Debian's
# dataset-fashion-mnist 0.0~git20200523.55506a9-1 after checking their gzip bytes against the
# package's own md5sums; the decompressed files' MD5s are the raw-file MD5s published alongside
# upstream's gzip MD5s (f4a8712d..., 9018921c..., 8181f547..., 15d48437...), so upstream's
# downloads and Debian's (differently compressed) ones both verify.
FASHION_MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

FASHION_MNIST_ENV = "MINIGRAD_FASHION_MNIST"
# Where `apt-get install dataset-fashion-mnist` puts the four .gz files (no subfolders).
FASHION_MNIST_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets/fashion-mnist"),)

_IMAGE_SIZE = (28, 28)
_NUM_CLASSES = 10
_CACHE_MAX = 4  # a train split is ~190 MB as float32; keep a few, not everything ever loaded
_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


class ChecksumError(ValueError):
    """A dataset file's decompressed content does not have the expected SHA-256 digest."""


def clear_cache() -> None:
    """Forget every dataset loaded so far (they are cached in-process by :func:`mnist` & co)."""
    _cache.clear()


def _check_split(split: str) -> None:
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}: expected one of {tuple(SPLIT_FILES)}")


def _find_file(directory: Path, name: str) -> Path | None:
    """``directory/name.gz`` or the raw ``directory/name``, whichever exists (gzip preferred)."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _find_split(directory: Path, split: str) -> tuple[Path, Path] | str:
    """The (image, label) files of ``split`` in ``directory``, or the name of the first one missing."""
    found = []
    for name in SPLIT_FILES[split]:
        path = _find_file(directory, name)
        if path is None:
            return name
        found.append(path)
    return found[0], found[1]


def _read_checked(path: Path, name: str, digests: dict[str, str] | None) -> np.ndarray:
    """Read one IDX file, verifying the SHA-256 of its decompressed bytes when ``digests`` is given."""
    data = read_idx_file_bytes(path)
    if digests is not None:
        actual = hashlib.sha256(data).hexdigest()
        expected = digests[name]
        if actual != expected:
            raise ChecksumError(
                f"{path}: checksum mismatch of the decompressed content: expected SHA-256 {expected}, "
                f"got {actual} (file corrupt or not the original dataset; verify=False skips this check)"
            )
    return read_idx_bytes(data, str(path))


def _load(
    dataset: str, paths: tuple[Path, Path], split: str, digests: dict[str, str], verify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Load, check and convert one split from its (image, label) files, with caching."""
    image_name, label_name = SPLIT_FILES[split]
    image_path, label_path = paths
    # The stat signature makes an edited or replaced file miss the cache instead of serving stale data.
    stats = tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    key = (dataset, split, verify, stats)
    if key in _cache:
        return _cache[key]

    raw_images = _read_checked(image_path, image_name, digests if verify else None)
    raw_labels = _read_checked(label_path, label_name, digests if verify else None)
    if raw_images.ndim != 3 or raw_images.shape[1:] != _IMAGE_SIZE:
        raise ValueError(f"{image_path}: expected images of shape (N, 28, 28), got {raw_images.shape}")
    if raw_labels.ndim != 1 or not np.issubdtype(raw_labels.dtype, np.integer):
        raise ValueError(
            f"{label_path}: expected a 1-D integer label array, got {raw_labels.dtype} {raw_labels.shape}"
        )
    if len(raw_images) != len(raw_labels):
        raise ValueError(
            f"{dataset} {split}: image/label count mismatch: {len(raw_images)} images in {image_path} "
            f"but {len(raw_labels)} labels in {label_path}"
        )
    if raw_labels.size and (raw_labels.min() < 0 or raw_labels.max() >= _NUM_CLASSES):
        raise ValueError(
            f"{label_path}: labels must be in 0..{_NUM_CLASSES - 1}, "
            f"found values in {raw_labels.min()}..{raw_labels.max()}"
        )
    # Dividing in float32 gives the correctly rounded k/255 for every pixel value k.
    images = np.divide(raw_images.reshape(-1, 1, *_IMAGE_SIZE), np.float32(255), dtype=np.float32)
    labels = raw_labels.astype(np.int64)
    # Cached arrays are shared between callers, so nobody may write to them.
    images.flags.writeable = False
    labels.flags.writeable = False

    if len(_cache) >= _CACHE_MAX:
        del _cache[next(iter(_cache))]  # evict the oldest entry
    _cache[key] = (images, labels)
    return images, labels


def mnist(
    split: str = "train", root: str | PathLike[str] | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split as ``(images, labels)``.

    ``images`` is float32 in [0, 1] with shape (N, 1, 28, 28); ``labels`` is int64 with shape (N,),
    values 0..9 (see :data:`MNIST_CLASS_NAMES`). ``split`` is ``"train"`` (60,000 samples) or
    ``"test"`` (10,000). Files are read from ``root`` (default: the project's copy in
    ``datasets/data/mnist``), each as ``name.gz`` or the raw decompressed ``name``.

    With ``verify`` the SHA-256 of each file's decompressed content must match
    :data:`MNIST_SHA256`, else :class:`ChecksumError`. Structure is always checked (28x28 images,
    as many labels as images, labels in 0..9), raising ValueError otherwise.

    Results are cached in-process, so the returned arrays are shared and **read-only**
    (``flags.writeable`` is False); copy them before modifying.

    Raises FileNotFoundError naming the path when a file is missing, ValueError for a bad split.
    """
    _check_split(split)
    directory = Path(root) if root is not None else MNIST_DIR
    paths = _find_split(directory, split)
    if isinstance(paths, str):
        raise FileNotFoundError(
            f"MNIST file not found: {directory / (paths + '.gz')} (nor the uncompressed {directory / paths})"
        )
    return _load("mnist", paths, split, MNIST_SHA256, verify)


def fashion_mnist(
    split: str = "train", root: str | PathLike[str] | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load a Fashion-MNIST split as ``(images, labels)``, in the same format as :func:`mnist`.

    Class names are :data:`FASHION_MNIST_CLASS_NAMES`. The files (same names as MNIST's, ``.gz`` or
    raw) are looked for in ``root`` if given; otherwise in the directory named by the environment
    variable ``MINIGRAD_FASHION_MNIST`` if set, then in ``/usr/share/datasets/fashion-mnist`` (where
    Debian's ``dataset-fashion-mnist`` package installs them). Nothing is downloaded: a
    FileNotFoundError lists the places searched and how to get the data.

    With ``verify`` the SHA-256 of the decompressed content must match
    :data:`FASHION_MNIST_SHA256` (see its comment for provenance), else :class:`ChecksumError`;
    structure is always checked. Returned arrays are cached and read-only, as for :func:`mnist`.
    """
    _check_split(split)
    if root is not None:
        candidates = [Path(root)]
    else:
        env = os.environ.get(FASHION_MNIST_ENV)
        candidates = ([Path(env)] if env else []) + list(FASHION_MNIST_DIRS)
    for directory in candidates:
        paths = _find_split(directory, split)
        if not isinstance(paths, str):
            return _load("fashion_mnist", paths, split, FASHION_MNIST_SHA256, verify)
    looked = ", ".join(str(d) for d in candidates)
    names = " and ".join(f"{n}(.gz)" for n in SPLIT_FILES[split])
    raise FileNotFoundError(
        f"Fashion-MNIST {split} files ({names}) not found; looked in: {looked}. "
        "Install them with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu, puts them in "
        "/usr/share/datasets/fashion-mnist), or download the four .gz files from "
        "https://github.com/zalandoresearch/fashion-mnist and pass root=DIR "
        f"(or set {FASHION_MNIST_ENV}=DIR)."
    )
