"""Activation and normalisation ops: ReLU, leaky ReLU, softmax, log-softmax, dropout mask."""

from __future__ import annotations

from typing import Any

from minigrad import parallel
from minigrad.autograd import Function
from minigrad.backend import get_array_module, is_cupy_array


class ReLU(Function):
    """max(x, 0); gradient 0 at x = 0 (as PyTorch).

    Large NumPy arrays go block by block (:func:`_relu_blocked`, :func:`_relu_grad_blocked`),
    spread over minigrad's thread pool when it has several threads, bit-identical to the
    whole-array expressions that CuPy arrays and small arrays take.
    """

    def forward(self, x: Any) -> Any:
        # In blocks even on one thread: against a block of zeros NumPy's maximum runs its
        # vectorised loop, about twice as fast as against the scalar 0 (measured, 1.2 M floats).
        threads = _threads_for(x)
        self.out = _relu_blocked(x, threads) if threads else None
        if self.out is None:
            self.out = get_array_module(x).maximum(x, 0)
        return self.out

    def backward(self, g: Any) -> Any:
        threads = _threads_for(g)
        grad = _relu_grad_blocked(g, self.out, threads) if threads and threads > 1 else None
        return g * (self.out > 0) if grad is None else grad


def _threads_for(a: Any) -> int | None:
    """Threads for a blocked element-wise pass over ``a``; None for CuPy and small arrays (one plain call)."""
    return None if is_cupy_array(a) or a.size < parallel.ELEMENTWISE_MIN else parallel.get_num_threads()


_zero_blocks: dict[str, Any] = {}


def _zeros(xp: Any, dtype: Any, size: int) -> Any:
    """A read-only block of ``size`` zeros of ``dtype``, made once and shared."""
    key = xp.dtype(dtype).str
    block = _zero_blocks.get(key)
    if block is None or block.size < size:
        block = xp.zeros(max(size, parallel.ELEMENTWISE_BLOCK), dtype=dtype)
        block.flags.writeable = False
        _zero_blocks[key] = block
    return block[:size]


def _relu_blocked(x: Any, threads: int | None = None) -> Any:
    """max(x, 0) over cache-sized blocks of x's memory, or None when x is not one dense block."""
    xp = get_array_module(x)
    out = xp.empty_like(x)  # the same layout as x (batch-innermost after a conv)

    def run(xb: Any, ob: Any) -> None:
        xp.maximum(xb, _zeros(xp, xb.dtype, xb.size), out=ob)

    return out if parallel.blockwise(run, x, out, threads=threads) else None


def _relu_grad_blocked(g: Any, out: Any, threads: int | None = None) -> Any:
    """g · (out > 0) over cache-sized blocks, the mask never leaving the cache; None when layouts differ."""
    xp = get_array_module(g)
    grad = xp.empty_like(out)

    def run(gb: Any, ob: Any, rb: Any) -> None:
        mask = parallel.scratch("relu_mask", gb.shape, xp, bool)
        xp.greater(ob, 0, out=mask)
        xp.multiply(gb, mask, out=rb)

    return grad if parallel.blockwise(run, g, out, grad, threads=threads) else None


class LeakyReLU(Function):
    """x for x > 0, else slope·x."""

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = slope

    def forward(self, x: Any) -> Any:
        self.positive = x > 0
        return get_array_module(x).where(self.positive, x, x * self.slope)

    def backward(self, g: Any) -> Any:
        return get_array_module(g).where(self.positive, g, g * self.slope)


class Softmax(Function):
    """exp(x_i) / Σ_j exp(x_j) along ``axis``, shifted by the max for stability."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        e = get_array_module(x).exp(x - x.max(axis=self.axis, keepdims=True))
        self.out = e / e.sum(axis=self.axis, keepdims=True)
        return self.out

    def backward(self, g: Any) -> Any:
        # J^T g = s * (g - <g, s>) for the softmax Jacobian diag(s) - s s^T.
        return self.out * (g - (g * self.out).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """x_i − log Σ_j exp(x_j) along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Any:
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return self.out

    def backward(self, g: Any) -> Any:
        return g - get_array_module(g).exp(self.out) * g.sum(axis=self.axis, keepdims=True)


class CrossEntropy(Function):
    """−log softmax(logits)[label] per sample, then mean, sum or none over the batch; fused for stability.

    ``labels`` are integer class indices, a constant of the op; the caller checks their range.
    ``reduction="none"`` returns the per-sample losses (N,), which closures average in float64.
    """

    def __init__(self, labels: Any, reduction: str = "mean") -> None:
        self.labels, self.reduction = labels, reduction

    def forward(self, logits: Any) -> Any:
        xp = get_array_module(logits)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        self.probs = exp / total
        self.rows = xp.arange(logits.shape[0])
        nll = xp.log(total[:, 0]) - shifted[self.rows, self.labels]
        if self.reduction == "none":
            return nll
        return nll.mean() if self.reduction == "mean" else nll.sum()

    def backward(self, g: Any) -> Any:
        grad = self.probs.copy()
        grad[self.rows, self.labels] -= 1  # each row indexed once: no duplicate-index hazard
        if self.reduction == "none":
            return grad * g[:, None]
        scale = g / grad.shape[0] if self.reduction == "mean" else g
        return grad * scale


class Linear(Function):
    """x @ wᵀ + b for x of shape (N, in), w (out, in), b (out,) — fused to save graph nodes."""

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        self.x, self.w, self.has_bias = x, w, b is not None
        out = x @ w.T
        if b is not None:
            out += b
        return out

    def backward(self, g: Any) -> tuple[Any, ...]:
        gx = g @ self.w if self.needs_input_grad[0] else None
        gw = g.T @ self.x if self.needs_input_grad[1] else None
        if not self.has_bias:
            return gx, gw
        return gx, gw, (g.sum(axis=0) if self.needs_input_grad[2] else None)
