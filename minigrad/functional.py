"""Functions over Tensors that the layers are built from (PyTorch's ``torch.nn.functional``).

Each is a thin, documented call of one op in :mod:`minigrad.ops` (or a few, where that is exact
and stable), plus argument checks with clear errors: the ops themselves trust their inputs.

Losses take their labels or targets as a Tensor, an array, or a Python list. PyTorch refuses
lists; here a list of class indices becomes an int64 array (and a list of targets an array of
the prediction's dtype) on the prediction's device, since that is what the caller meant.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from minigrad import ops
from minigrad import random as mrandom
from minigrad.backend import device_of, unwrap
from minigrad.tensor import Tensor

IntPair = int | tuple[int, int]
REDUCTIONS = ("mean", "sum", "none")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def pair(value: IntPair, name: str = "value", minimum: int = 0) -> tuple[int, int]:
    """``3`` → ``(3, 3)``; checks both entries are integers >= ``minimum``, naming ``name`` if not."""
    out = (value, value) if _is_int(value) else tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(out) != 2 or not all(_is_int(v) and v >= minimum for v in out):
        raise ValueError(f"{name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(out[0]), int(out[1])


def positive_int(value: int, name: str) -> int:
    """``value`` if it is an integer >= 1; a ValueError naming ``name`` otherwise."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ----- activations and element-wise functions ---------------------------------------------------


def relu(x: Tensor) -> Tensor:
    """max(x, 0).

    >>> relu(Tensor([-1.0, 0.0, 2.0]))
    Tensor([0. 0. 2.])
    """
    return ops.ReLU.apply(x)


def leaky_relu(x: Tensor, slope: float = 0.01) -> Tensor:
    """x if x > 0 else slope·x.

    >>> leaky_relu(Tensor([-2.0, 3.0]), slope=0.5)
    Tensor([-1.  3.])
    """
    return ops.LeakyReLU.apply(x, slope=slope)


def softplus(x: Tensor, beta: float = 1.0) -> Tensor:
    """(1/β)·log(1 + e^(β·x)), a smooth ReLU; finite for any x (no overflow of e^(β·x)).

    >>> [round(v, 4) for v in softplus(Tensor([-1000.0, 0.0, 1000.0])).numpy().tolist()]
    [0.0, 0.6931, 1000.0]
    """
    if not isinstance(beta, (int, float)) or isinstance(beta, bool) or beta <= 0:
        raise ValueError(f"softplus: beta must be a positive number, got {beta!r}")
    return ops.Softplus.apply(x, beta=beta)


def log_sigmoid(x: Tensor) -> Tensor:
    """log(1 / (1 + e^−x)), finite for any x (where log of a rounded sigmoid would give −inf).

    >>> [round(v, 4) for v in log_sigmoid(Tensor([-1000.0, 0.0])).numpy().tolist()]
    [-1000.0, -0.6931]
    """
    return ops.LogSigmoid.apply(x)


def sin(x: Tensor) -> Tensor:
    """Sine (radians).

    >>> sin(Tensor([0.0]))
    Tensor([0.])
    """
    return ops.Sin.apply(x)


def cos(x: Tensor) -> Tensor:
    """Cosine (radians).

    >>> cos(Tensor([0.0]))
    Tensor([1.])
    """
    return ops.Cos.apply(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_i = exp(x_i) / Σ_j exp(x_j) along ``axis``.

    >>> softmax(Tensor([0.0, 0.0]))
    Tensor([0.5 0.5])
    """
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


# ----- linear and convolution layers -------------------------------------------------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weightᵀ + bias, for x (N, in), weight (out, in).

    >>> import numpy as np
    >>> x = Tensor(np.array([[1.0, 2.0]]))
    >>> w = Tensor(np.array([[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]]))  # 2 inputs -> 3 outputs
    >>> linear(x, w, Tensor(np.array([0.0, 0.5, 1.0])))
    Tensor([[ 3.  -1.5  3. ]])
    """
    if weight.ndim != 2 or 0 in weight.shape:
        raise ValueError(
            f"linear: weight must have shape (out_features, in_features), both >= 1, got {weight.shape}"
        )
    if x.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            f"(expected (N, {weight.shape[1]}))"
        )
    return ops.Linear.apply(x, weight) if bias is None else ops.Linear.apply(x, weight, bias)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: IntPair = 1, padding: IntPair = 0) -> Tensor:
    """2-d cross-correlation of x (N, C, H, W) with weight (F, C, kh, kw), as PyTorch's conv2d.

    >>> import numpy as np
    >>> image = Tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    >>> conv2d(image, Tensor(np.ones((1, 1, 2, 2))))  # sums of 2x2 windows
    Tensor([[[[ 8. 12.]
       [20. 24.]]]])
    """
    stride, padding = pair(stride, "stride", minimum=1), pair(padding, "padding")
    if x.ndim != 4:
        raise ValueError(f"conv2d expects input of shape (N, C, H, W), got {x.shape}")
    if weight.ndim != 4 or 0 in weight.shape:
        raise ValueError(
            f"conv2d: weight must have shape (out_channels, in_channels, kh, kw), all >= 1, got {weight.shape}"
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels but weight {weight.shape} expects {weight.shape[1]}")
    _check_window("conv2d", x.shape, weight.shape[2:], padding)
    args = (x, weight) if bias is None else (x, weight, bias)
    return ops.Conv2d.apply(*args, stride=stride, padding=padding)


def _check_window(name: str, shape: tuple[int, ...], kernel: Sequence[int], padding: Sequence[int]) -> None:
    for size, k, p, axis in zip(shape[2:], kernel, padding, ("height", "width")):
        if size + 2 * p < k:
            raise ValueError(
                f"{name}: kernel {tuple(kernel)} is larger than the padded input {axis} {size + 2 * p} (input {shape})"
            )


def pool_args(name: str, kernel: IntPair, stride: IntPair | None, padding: IntPair) -> dict[str, tuple[int, int]]:
    """Check and pair a pooling layer's settings (stride defaults to the kernel size)."""
    kernel = pair(kernel, "kernel_size", minimum=1)
    stride = kernel if stride is None else pair(stride, "stride", minimum=1)
    padding = pair(padding, "padding")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel {kernel}")
    return {"kernel": kernel, "stride": stride, "padding": padding}


def _pool(name: str, x: Tensor, kernel: IntPair, stride: IntPair | None, padding: IntPair) -> dict[str, Any]:
    args = pool_args(name, kernel, stride, padding)
    if x.ndim != 4:
        raise ValueError(f"{name} expects input of shape (N, C, H, W), got {x.shape}")
    _check_window(name, x.shape, args["kernel"], args["padding"])
    return args


def max_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> Tensor:
    """Max over windows (stride defaults to the kernel size); ties go to the first maximum.

    >>> import numpy as np
    >>> max_pool2d(Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2)
    Tensor([[[[ 5.  7.]
       [13. 15.]]]])
    """
    return ops.MaxPool2d.apply(x, **_pool("max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(x: Tensor, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> Tensor:
    """Mean over windows (stride defaults to the kernel size); padded zeros count."""
    return ops.AvgPool2d.apply(x, **_pool("avg_pool2d", x, kernel_size, stride, padding))


# ----- losses ------------------------------------------------------------------------------------


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def _as_target_array(name: str, prediction: Tensor, target: Any) -> Any:
    """A loss's target as an array or Tensor: lists become arrays of the prediction's dtype, on its device."""
    if isinstance(target, (list, tuple)):
        return prediction.xp.asarray(target, dtype=prediction.dtype)
    if not isinstance(target, Tensor) and getattr(target, "shape", None) is None:
        raise TypeError(f"{name}: target must be a Tensor, an array or a list, got {type(target).__name__}")
    return target


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

    ``labels`` are integer class indices in [0, C) for logits of shape (N, C): an array, a
    Tensor, or a list (made an int64 array). On the CPU, anything else raises a ValueError
    naming the problem (one-hot labels and an empty batch included). On the GPU a range check
    would stall every step to read a flag back, so out-of-range labels (which CuPy's indexing
    would silently wrap around) make the loss NaN instead, without a sync; validate a dataset's
    labels once with :func:`check_labels` for a precise error.

    >>> import numpy as np
    >>> logits = Tensor(np.array([[2.0, 0.0], [0.0, 0.0]]), requires_grad=True)
    >>> loss = cross_entropy(logits, [0, 1])
    >>> round(loss.item(), 4)  # (log(1 + e^-2) + log 2) / 2
    0.41
    >>> loss.backward()
    >>> logits.grad.round(4)
    array([[-0.0596,  0.0596],
           [ 0.25  , -0.25  ]])
    """
    _check_reduction("cross_entropy", reduction)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {logits.shape}")
    n, classes = logits.shape
    if n == 0 or classes == 0:
        raise ValueError(f"cross_entropy: empty batch or no classes (logits of shape {logits.shape})")
    labels = unwrap(labels)
    if isinstance(labels, (list, tuple)):
        labels = logits.xp.asarray(labels)
        if labels.dtype.kind in "iu":
            labels = labels.astype("int64", copy=False)
    shape = getattr(labels, "shape", None)
    if shape is not None and len(shape) == 2 and shape[0] == n:
        raise ValueError(
            f"cross_entropy: expected class indices of shape ({n},), got one-hot/probabilities of shape "
            f"{tuple(shape)}; for one-hot labels pass labels.argmax(axis=1)"
        )
    if shape != (n,):
        raise ValueError(f"labels of shape {shape} do not match logits of shape {logits.shape}")
    if device_of(labels) == "cpu":
        check_labels(labels, classes)
        return ops.CrossEntropy.apply(logits, labels=labels, reduction=reduction)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be an integer array of class indices, got {labels.dtype}")
    xp = logits.xp
    out_of_range = ((labels < 0) | (labels >= classes)).any()
    loss = ops.CrossEntropy.apply(logits, labels=labels % classes, reduction=reduction)
    return loss + xp.where(out_of_range, xp.nan, 0.0).astype(logits.dtype)


def mse_loss(prediction: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """(prediction − target)², averaged over all elements (``"mean"``), summed, or element-wise (``"none"``).

    >>> mse_loss(Tensor([1.0, 2.0]), Tensor([1.0, 4.0]))
    Tensor(2.)
    """
    _check_reduction("mse_loss", reduction)
    target = _as_target_array("mse_loss", prediction, target)
    target_shape = tuple(target.shape)
    if target_shape != prediction.shape:
        raise ValueError(f"mse_loss: prediction shape {prediction.shape} != target shape {target_shape}")
    if prediction.size == 0:
        raise ValueError(f"mse_loss: empty input (prediction of shape {prediction.shape})")
    diff = prediction - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(logits: Tensor, targets: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy of sigmoid(logits) against ``targets`` in [0, 1], computed from the logits.

    Element-wise max(x, 0) − x·t + log1p(e^−|x|), the stable form of
    −[t·log σ(x) + (1 − t)·log(1 − σ(x))]: finite for any logit. ``targets`` have the logits'
    shape (a Tensor, an array or a list; boolean and integer targets are cast to the logits'
    dtype, and so are constant float targets of another float dtype). Their range is not checked
    (that would read back from the GPU every step).

    >>> import numpy as np
    >>> logits = Tensor(np.array([0.0, 1000.0, -1000.0]), requires_grad=True)
    >>> loss = binary_cross_entropy_with_logits(logits, [1.0, 1.0, 1.0], reduction="none")
    >>> loss.numpy().round(4).tolist()
    [0.6931, 0.0, 1000.0]
    >>> loss.sum().backward()
    >>> logits.grad  # sigmoid(x) - t
    array([-0.5,  0. , -1. ])
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    if logits.dtype.kind != "f":
        raise TypeError(f"binary_cross_entropy_with_logits: logits must be floating point, got {logits.dtype}")
    targets = _as_target_array("binary_cross_entropy_with_logits", logits, targets)
    if tuple(targets.shape) != logits.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: targets of shape {tuple(targets.shape)} do not match "
            f"logits of shape {logits.shape}"
        )
    if logits.size == 0:
        raise ValueError(f"binary_cross_entropy_with_logits: empty batch (logits of shape {logits.shape})")
    if not (isinstance(targets, Tensor) and targets.requires_grad) and targets.dtype != logits.dtype:
        targets = unwrap(targets).astype(logits.dtype)
    return _reduce(ops.BinaryCrossEntropyWithLogits.apply(logits, targets), reduction)


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1 − p) (inverted dropout)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    xp = x.xp
    keep = mrandom.generator(xp).random(x.shape, dtype=x.dtype) >= p
    return ops.Mul.apply(x, (keep / (1.0 - p)).astype(x.dtype))
