"""Shape ops: reshape, transpose, indexing and slicing, concatenate, stack."""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module, unwrap


class Reshape(Function):
    """The same elements in a new shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, a: Any) -> Any:
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, g: Any) -> Any:
        return g.reshape(self.in_shape)


class Transpose(Function):
    """Permute axes (reverse them when ``axes`` is None). Returns a view, no copy."""

    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = axes

    def forward(self, a: Any) -> Any:
        self.perm = tuple(reversed(range(a.ndim))) if self.axes is None else tuple(ax % a.ndim for ax in self.axes)
        return a.transpose(self.perm)

    def backward(self, g: Any) -> Any:
        inverse = [0] * len(self.perm)
        for i, p in enumerate(self.perm):
            inverse[p] = i
        return g.transpose(inverse)


def _is_basic_index(index: Any) -> bool:
    """True when indexing selects each element at most once (ints, slices, None, Ellipsis)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(unwrap(i) for i in index)
    return unwrap(index)


class GetItem(Function):
    """``a[index]`` for basic (slices, ints) and advanced (integer/boolean array) indexing."""

    def __init__(self, index: Any) -> None:
        self.index = _unwrap_index(index)

    def forward(self, a: Any) -> Any:
        self.shape, self.dtype = a.shape, a.dtype
        return a[self.index]

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        out = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic_index(self.index):
            out[self.index] = g
        else:  # an index array may repeat elements, so their gradients must add up
            xp.add.at(out, self.index, g)
        return out


class Concatenate(Function):
    """Join tensors along an existing axis."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, g: Any) -> tuple[Any, ...]:
        grads, start = [], 0
        for size in self.sizes:
            index = [slice(None)] * g.ndim
            index[self.axis] = slice(start, start + size)
            grads.append(g[tuple(index)])
            start += size
        return tuple(grads)


class Stack(Function):
    """Join same-shape tensors along a new axis."""

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        self.count = len(xs)
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = get_array_module(g)
        return tuple(xp.take(g, i, axis=self.axis) for i in range(self.count))
