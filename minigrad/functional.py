"""Functions over Tensors that the layers are built from (PyTorch's ``torch.nn.functional``).

Each is a thin, documented call of one op in :mod:`minigrad.ops`, plus argument checks with
clear errors: the ops themselves trust their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigrad import ops
from minigrad import random as mrandom
from minigrad.backend import device_of, unwrap
from minigrad.tensor import Tensor

IntPair = int | tuple[int, int]


def pair(value: IntPair, name: str = "value") -> tuple[int, int]:
    """``3`` → ``(3, 3)``; checks both entries are non-negative integers."""
    out = (value, value) if isinstance(value, int) else tuple(value)
    if len(out) != 2 or not all(isinstance(v, int) and v >= 0 for v in out):
        raise ValueError(f"{name} must be a non-negative int or a pair of them, got {value!r}")
    return out  # type: ignore[return-value]


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    return ops.ReLU.apply(x)


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    """x if x > 0 else slope·x."""
    return ops.LeakyReLU.apply(x, slope=slope)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i) / Σ_j exp(x_j) along ``axis``."""
    return ops.Softmax.apply(x, axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log softmax(x), computed stably."""
    return ops.LogSoftmax.apply(x, axis=axis)


def maximum(a: Tensor, b: Any) -> Tensor:
    """Element-wise maximum (gradient split equally at ties)."""
    return ops.Maximum.apply(a, b)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``cond`` holds, else ``b``; ``cond`` is constant (a boolean array or Tensor)."""
    return ops.Where.apply(a, b, cond=cond)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return ops.Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    return ops.Stack.apply(*tensors, axis=axis)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weightᵀ + bias, for x (N, in), weight (out, in)."""
    if x.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            f"(expected (N, {weight.shape[1]}))"
        )
    return ops.Linear.apply(x, weight) if bias is None else ops.Linear.apply(x, weight, bias)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0) -> Tensor:
    """2-d cross-correlation of x (N, C, H, W) with weight (F, C, kh, kw), as PyTorch's conv2d."""
    stride, padding = pair(stride, "stride"), pair(padding, "padding")
    if x.ndim != 4:
        raise ValueError(f"conv2d expects input of shape (N, C, H, W), got {x.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but weight {weight.shape} expects {weight.shape[1]}")
    if min(stride) < 1:
        raise ValueError(f"conv2d: stride must be >= 1, got {stride}")
    _check_window("conv2d", x.shape, weight.shape[2:], padding)
    args = (x, weight) if bias is None else (x, weight, bias)
    return ops.Conv2d.apply(*args, stride=stride, padding=padding)


def _check_window(name: str, shape: tuple[int, ...], kernel: Sequence[int], padding: Sequence[int]) -> None:
    for size, k, p, axis in zip(shape[2:], kernel, padding, ("height", "width")):
        if size + 2 * p < k:
            raise ValueError(
                f"{name}: kernel {tuple(kernel)} is larger than the padded input {axis} {size + 2 * p} (input {shape})"
            )


def _pool_args(name: str, x: Tensor, kernel: IntPair, stride: IntPair | None, padding: IntPair) -> dict[str, Any]:
    kernel = pair(kernel, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding = pair(padding, "padding")
    if x.ndim != 4:
        raise ValueError(f"{name} expects input of shape (N, C, H, W), got {x.shape}")
    if min(kernel) < 1 or min(stride) < 1:
        raise ValueError(f"{name}: kernel and stride must be >= 1, got {kernel}, {stride}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel {kernel}")
    _check_window(name, x.shape, kernel, padding)
    return {"kernel": kernel, "stride": stride, "padding": padding}


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> Tensor:
    """Max over windows (stride defaults to the kernel size); ties go to the first maximum."""
    return ops.MaxPool2d.apply(x, **_pool_args("max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> Tensor:
    """Mean over windows (stride defaults to the kernel size); padded zeros count."""
    return ops.AvgPool2d.apply(x, **_pool_args("avg_pool2d", x, kernel_size, stride, padding))


def check_labels(labels: Any, num_classes: int) -> None:
    """Raise a ValueError unless ``labels`` are integer class indices in [0, num_classes).

    Reads the labels' range back to the host: call it once per dataset before training on the
    GPU rather than once per batch.
    """
    labels = unwrap(labels)
    if getattr(labels, "dtype", None) is None or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be an integer array of class indices, got {getattr(labels, 'dtype', type(labels))}"
        )
    if labels.size and bool((labels.min() < 0) | (labels.max() >= num_classes)):
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for {num_classes} classes; "
            f"got min {int(labels.min())}, max {int(labels.max())}"
        )


def cross_entropy(logits: Tensor, labels: Any, reduction: str = "mean") -> Tensor:
    """−log softmax(logits)[label], averaged (``"mean"``), summed (``"sum"``) or per sample (``"none"``).

    ``labels`` are integer class indices in [0, C) for logits of shape (N, C). On the CPU,
    anything else raises a ValueError naming the problem. On the GPU a range check would stall
    every step to read a flag back, so out-of-range labels (which CuPy's indexing would silently
    wrap around) make the loss NaN instead, without a sync; validate a dataset's labels once
    with :func:`check_labels` for a precise error.
    """
    labels = unwrap(labels)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    if getattr(labels, "shape", None) != (logits.shape[0],):
        raise ValueError(
            f"labels of shape {getattr(labels, 'shape', None)} do not match logits of shape {logits.shape}"
        )
    classes = logits.shape[1]
    if device_of(labels) == "cpu":
        check_labels(labels, classes)
        return ops.CrossEntropy.apply(logits, labels=labels, reduction=reduction)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array of class indices, got {labels.dtype}")
    xp = logits.xp
    out_of_range = ((labels < 0) | (labels >= classes)).any()
    loss = ops.CrossEntropy.apply(logits, labels=labels % classes, reduction=reduction)
    return loss + xp.where(out_of_range, xp.nan, 0.0).astype(logits.dtype)


def mse_loss(prediction: Tensor, target: Any) -> Tensor:
    """Mean of (prediction − target)² over all elements."""
    target_shape = getattr(target, "shape", ())
    if tuple(target_shape) != prediction.shape:
        raise ValueError(f"mse_loss: prediction shape {prediction.shape} != target shape {tuple(target_shape)}")
    diff = prediction - target
    return (diff * diff).mean()


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p) (inverted dropout)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    xp = x.xp
    keep = mrandom.generator(xp).random(x.shape, dtype=x.dtype) >= p
    return ops.Mul.apply(x, (keep / (1.0 - p)).astype(x.dtype))
