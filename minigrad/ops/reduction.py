"""Reductions over axes: sum, mean, max."""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module

Axis = int | tuple[int, ...] | None


def _normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim for a in axes))


def _expand(g: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    """Reinsert reduced axes (as size 1) so ``g`` broadcasts against the input."""
    if keepdims:
        return g
    for a in axes:
        g = get_array_module(g).expand_dims(g, a)
    return g


class Sum(Function):
    """Sum over ``axis``."""

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a: Any) -> Any:
        self.shape, self.axes = a.shape, _normalize_axes(self.axis, a.ndim)
        return a.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        out = xp.empty(self.shape, dtype=g.dtype)
        out[...] = _expand(g, self.axes, self.keepdims)  # a writable copy, not a broadcast view
        return out


class Mean(Sum):
    """Mean over ``axis``."""

    def forward(self, a: Any) -> Any:
        out = super().forward(a)
        self.count = 1
        for ax in self.axes:
            self.count *= a.shape[ax]
        return out / self.count

    def backward(self, g: Any) -> Any:
        return super().backward(g / self.count)


class Max(Function):
    """Maximum over ``axis``; the gradient goes to the first maximal element (deterministic)."""

    def __init__(self, axis: Axis = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a: Any) -> Any:
        self.a, self.axes = a, _normalize_axes(self.axis, a.ndim)
        return a.max(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        a, axes = self.a, self.axes
        kept = [ax for ax in range(a.ndim) if ax not in axes]
        # Move reduced axes last and flatten them, so argmax finds the first max in C order.
        moved = a.transpose(kept + list(axes)).reshape([a.shape[k] for k in kept] + [-1])
        first = moved.argmax(axis=-1)[..., None]
        onehot = xp.arange(moved.shape[-1]) == first
        g_moved = _expand(g, axes, self.keepdims).transpose(kept + list(axes))
        g_moved = g_moved.reshape([a.shape[k] for k in kept] + [1])
        grad_moved = (onehot * g_moved).reshape([a.shape[k] for k in kept] + [a.shape[ax] for ax in axes])
        inverse = [0] * a.ndim
        for pos, ax in enumerate(kept + list(axes)):
            inverse[ax] = pos
        return grad_moved.transpose(inverse).astype(g.dtype, copy=False)
