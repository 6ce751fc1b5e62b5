"""Datasets for minigrad: reading IDX files, MNIST, Fashion-MNIST, CIFAR-10/100, and mini-batching.

This package owns the data side of training: :mod:`datasets.idx` parses the IDX file format,
:mod:`datasets.mnist` finds, verifies (SHA-256 of the content) and caches MNIST (shipped with the
project under ``datasets/data/mnist``) and Fashion-MNIST (from Debian's ``dataset-fashion-mnist``
or a directory you give), :mod:`datasets.cifar` reads CIFAR-10 and CIFAR-100 from their official
binary archives (a folder you give; verified by SHA-256) and standardises per channel, and
:mod:`datasets.loader` batches arrays reproducibly and moves batches to the device. It depends only
on NumPy and :mod:`minigrad.backend`, never on the engine, and never downloads anything.
"""

from __future__ import annotations

from .cifar import (
    CIFAR10_CLASS_NAMES,
    CIFARFormatError,
    channel_mean_std,
    cifar10,
    cifar100,
    clear_cifar_cache,
    standardize_channels,
)
from .idx import IDXFormatError, read_idx, read_idx_bytes, read_idx_file_bytes
from .loader import DataLoader, take
from .mnist import (
    CLASS_NAMES,
    FASHION_MNIST_CLASS_NAMES,
    FASHION_MNIST_SHA256,
    MNIST_CLASS_NAMES,
    MNIST_SHA256,
    ChecksumError,
    clear_cache,
    fashion_mnist,
    mnist,
)

#: Every dataset by the name a run or a study gives it: ``loader(split, root=None) -> (images, labels)``,
#: images float32 NCHW in [0, 1], labels int64.
LOADERS = {"mnist": mnist, "fashion_mnist": fashion_mnist, "cifar10": cifar10, "cifar100": cifar100}
#: How many classes each dataset's labels index.
NUM_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10, "cifar100": 100}

__all__ = [
    "CIFAR10_CLASS_NAMES",
    "CLASS_NAMES",
    "FASHION_MNIST_CLASS_NAMES",
    "FASHION_MNIST_SHA256",
    "MNIST_CLASS_NAMES",
    "MNIST_SHA256",
    "CIFARFormatError",
    "ChecksumError",
    "DataLoader",
    "IDXFormatError",
    "LOADERS",
    "NUM_CLASSES",
    "channel_mean_std",
    "cifar10",
    "cifar100",
    "clear_cache",
    "clear_cifar_cache",
    "fashion_mnist",
    "mnist",
    "read_idx",
    "read_idx_bytes",
    "read_idx_file_bytes",
    "standardize_channels",
    "take",
]
