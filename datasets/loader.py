"""Mini-batching: the :class:`DataLoader` and the :func:`take` helper.

This module owns batch order (a reproducible, resumable per-epoch shuffle) and moving batches to
the requested device. It works on plain arrays, so any in-memory dataset can be batched.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral
from typing import Any

import numpy as np

from minigrad.backend import check_device, require_cupy, to_device

__all__ = ["DataLoader", "take"]


def _check_int(value: Any, what: str, minimum: int) -> int:
    # bool is an Integral too, but `batch_size=True` is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        bound = "a positive" if minimum == 1 else "a non-negative"
        raise ValueError(f"{what} must be {bound} int, got {value!r}")
    return int(value)


class DataLoader:
    """Iterate over ``(images, labels)`` in mini-batches ``(x, y)``.

    ``x`` is a C-contiguous float32 array and ``y`` the matching slice of ``labels`` (dtype kept),
    both moved to ``device`` ("cpu" or "gpu") with :func:`minigrad.backend.to_device`. Every batch
    is a fresh copy, so it is writable even when the source arrays are read-only.

    With ``shuffle``, epoch ``e`` visits the samples in the order
    ``np.random.default_rng([seed, e]).permutation(N)``, a pure function of ``(seed, e)``: a run
    resumed with a fresh loader and :meth:`set_epoch` sees bit-identical batches. ``epoch`` starts
    at 0 and goes up by one after each *complete* pass, so ``for epoch ...: for x, y in loader``
    reshuffles every epoch; a pass abandoned midway (``break``) does not advance it. Without
    ``shuffle`` the order is 0..N-1. ``drop_last`` drops a final batch smaller than ``batch_size``.

    Raises ValueError for a bad ``batch_size``/``seed``/device name or when ``images`` and
    ``labels`` differ in length, and RuntimeError (from the backend) for ``device="gpu"`` when
    CuPy or a CUDA device is unavailable: at construction, not at the first batch.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        device: str = "cpu",
    ) -> None:
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.seed = _check_int(seed, "seed", 0)  # SeedSequence rejects negative entropy
        if len(images) != len(labels):
            raise ValueError(
                "images and labels must have the same length, "
                f"got {len(images)} images and {len(labels)} labels"
            )
        self.device = check_device(device)
        if self.device == "gpu":
            require_cupy()  # fail now with the backend's explanation, not at the first batch
        self.images = images
        self.labels = labels
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass use epoch ``epoch``'s order (to resume a run, or to replay an epoch)."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def order(self, epoch: int | None = None) -> np.ndarray:
        """The sample indices in the order epoch ``epoch`` (default: the current one) visits them."""
        epoch = self.epoch if epoch is None else _check_int(epoch, "epoch", 0)
        n = len(self.images)
        if self.shuffle:
            return np.random.default_rng([self.seed, epoch]).permutation(n)
        return np.arange(n)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        """Yield the batches of the current epoch, then advance ``epoch`` by one."""
        epoch = self.epoch
        order = self.order(epoch)
        bs = self.batch_size
        for i in range(len(self)):
            # One fancy index per batch: a contiguous copy in permutation order, no per-sample loop.
            idx = order[i * bs : (i + 1) * bs]
            x = np.ascontiguousarray(self.images[idx], dtype=np.float32)
            y = self.labels[idx]
            yield to_device(x, self.device), to_device(y, self.device)
        self.epoch = epoch + 1

    def __repr__(self) -> str:
        return (
            f"DataLoader(n={len(self.images)}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last}, device={self.device!r}, epoch={self.epoch})"
        )


def take(images: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` samples of ``(images, labels)``, as views (for quick runs and tests).

    No stratification: MNIST's order is mixed enough that the first 1,000 samples hold every
    class. Raises ValueError if ``n`` is negative, exceeds the dataset size, or the lengths differ.
    """
    n = _check_int(n, "n", 0)
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels must have the same length, got {len(images)} images and {len(labels)} labels"
        )
    if n > len(images):
        raise ValueError(f"cannot take {n} samples from a dataset of {len(images)}")
    return images[:n], labels[:n]
