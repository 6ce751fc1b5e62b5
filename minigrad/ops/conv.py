"""Convolution and pooling over NCHW tensors, by loops over kernel offsets with strided slices.

Memory layout: tensors keep NCHW *shapes* (PyTorch's convention), but conv and pooling outputs
are laid out in memory with the batch dimension innermost (C, H, W, N), returned as an NCHW
view. Element-wise ops preserve that layout, so the next conv or pool reads rows of N
contiguous values instead of short image rows: im2col becomes ``kh·kw`` block copies and the
GEMM output needs no transpose. Nothing outside this file needs to know.

im2col: ``col[c, i, j, oh, ow, n] = x_pad[c, i + s·oh, j + s·ow, n]`` is filled with one strided
slice per kernel offset (i, j); col2im adds the same slices back. Each slice touches every
element at most once, so plain ``+=`` is exact (no ``add.at`` needed, and it runs on CuPy).
"""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial output size of a conv or pool: ⌊(size + 2·padding − kernel) / stride⌋ + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def _window(i: int, j: int, oh: int, ow: int, sh: int, sw: int) -> tuple[slice, slice]:
    """Rows and columns that kernel offset (i, j) reads for every output position."""
    return slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _batch_inner_padded(x: Any, ph: int, pw: int, fill: float) -> Any:
    """x (N, C, H, W) as an array of shape (C, H + 2ph, W + 2pw, N), padded with ``fill``."""
    xt = x.transpose(1, 2, 3, 0)
    if not (ph or pw):
        return xt
    xp = get_array_module(x)
    c, h, w, n = xt.shape
    out = xp.full((c, h + 2 * ph, w + 2 * pw, n), fill, dtype=x.dtype)
    out[:, ph : ph + h, pw : pw + w] = xt
    return out


def batch_inner(a: Any) -> Any:
    """``a`` (N, C, H, W) as an NCHW view of batch-innermost memory, copying only if it is not."""
    t = a.transpose(1, 2, 3, 0)
    if t.flags.c_contiguous:
        return a
    return get_array_module(a).ascontiguousarray(t).transpose(3, 0, 1, 2)


# Long skinny products (6 × 50,176 by 50,176 × 25 in LeNet's first layer) run several times
# slower in one BLAS call than as a sum over column blocks that fit in cache.
GEMM_BLOCK = 4096


def matmul_transposed_blocked(a: Any, b: Any) -> Any:
    """``a @ b.T`` for a (K, M), b (F, M) with M long, summed over blocks of M columns."""
    m = a.shape[1]
    if m <= 2 * GEMM_BLOCK:
        return a @ b.T
    out = a[:, :GEMM_BLOCK] @ b[:, :GEMM_BLOCK].T
    for start in range(GEMM_BLOCK, m, GEMM_BLOCK):
        out += a[:, start : start + GEMM_BLOCK] @ b[:, start : start + GEMM_BLOCK].T
    return out


class Conv2d(Function):
    """2-d cross-correlation of x (N, C, H, W) with w (F, C, kh, kw), plus bias b (F,)."""

    def __init__(self, stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0)) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        xp = get_array_module(x)
        n, c, h, wd = x.shape
        f, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = output_size(h, kh, sh, ph), output_size(wd, kw, sw, pw)
        x_pad = _batch_inner_padded(x, ph, pw, 0.0)
        col = xp.empty((c, kh, kw, oh, ow, n), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                col[:, i, j] = x_pad[(slice(None), *_window(i, j, oh, ow, sh, sw))]
        self.col = col.reshape(c * kh * kw, -1)
        self.w, self.has_bias = w, b is not None
        self.x_shape, self.pad_shape = x.shape, x_pad.shape
        out = w.reshape(f, -1) @ self.col  # (F, OH·OW·N)
        if b is not None:
            out += b[:, None]
        return out.reshape(f, oh, ow, n).transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        xp = get_array_module(g)
        f, c, kh, kw = self.w.shape
        n, _, oh, ow = g.shape
        g2 = g.transpose(1, 2, 3, 0).reshape(f, -1)  # free when g is batch-innermost already
        gx = gw = gb = None
        if self.needs_input_grad[1]:
            gw = matmul_transposed_blocked(self.col, g2).T.reshape(self.w.shape)
        if self.has_bias and self.needs_input_grad[2]:
            gb = g2.sum(axis=1)
        if self.needs_input_grad[0]:
            # col2im without materialising the whole column gradient wᵀ·g (3.8 MB in LeNet's second
            # layer): each kernel offset's share comes from a small GEMM into a buffer that stays
            # in cache, and is added straight onto the input positions that offset read.
            (sh, sw), (ph, pw) = self.stride, self.padding
            w_by_offset = xp.ascontiguousarray(self.w.transpose(2, 3, 1, 0))  # (kh, kw, C, F)
            dx_pad = xp.zeros(self.pad_shape, dtype=g.dtype)
            share = xp.empty((c, oh * ow * n), dtype=g.dtype)
            for i in range(kh):
                for j in range(kw):
                    xp.matmul(w_by_offset[i, j], g2, out=share)
                    dx_pad[(slice(None), *_window(i, j, oh, ow, sh, sw))] += share.reshape(c, oh, ow, n)
            _, _, h, wd = self.x_shape
            gx = dx_pad[:, ph : ph + h, pw : pw + wd].transpose(3, 0, 1, 2)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


class _Pool2d(Function):
    """Shared geometry of the pooling ops: one strided view of the input per kernel offset."""

    fill = 0.0

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]) -> None:
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def _views(self, x: Any) -> list[Any]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        self.oh, self.ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
        self.x_shape = x.shape
        self.x_pad = _batch_inner_padded(x, ph, pw, self.fill).transpose(3, 0, 1, 2)
        return [self.x_pad[(Ellipsis, *_window(i, j, self.oh, self.ow, sh, sw))] for i in range(kh) for j in range(kw)]

    def _tiles(self) -> bool:
        """True when the windows cover the input exactly once (stride = kernel, no padding, no rest)."""
        _, _, h, w = self.x_shape
        return (
            self.kernel == self.stride
            and self.padding == (0, 0)
            and h == self.oh * self.kernel[0]
            and w == self.ow * self.kernel[1]
        )

    def _scatter(self, g: Any, weight: Any) -> Any:
        """Send ``g · weight(k)`` back through each offset k's view of the (padded) input.

        ``weight(k)`` is the share of offset k (a mask or a number). When the windows tile the
        input, each element is written once, so plain assignment replaces zero-fill and ``+=``.
        """
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = get_array_module(g)
        g = batch_inner(g)  # match the input's layout so every product below runs over contiguous rows
        tiles = self._tiles()
        dx = xp.empty_like(self.x_pad) if tiles else xp.zeros_like(self.x_pad)  # *_like keeps the layout
        for k in range(kh * kw):
            target = dx[(Ellipsis, *_window(k // kw, k % kw, self.oh, self.ow, sh, sw))]
            if tiles:
                xp.multiply(g, weight(k), out=target)
            else:
                target += g * weight(k)
        _, _, h, w = self.x_shape
        return dx[:, :, ph : ph + h, pw : pw + w]


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the first maximum in scan order (as PyTorch)."""

    fill = float("-inf")

    def forward(self, x: Any) -> Any:
        xp = get_array_module(x)
        self.views = self._views(x)
        out = xp.maximum(self.views[0], self.views[1]) if len(self.views) > 1 else self.views[0].copy()
        for v in self.views[2:]:
            xp.maximum(out, v, out=out)
        self.out = out
        return out

    def backward(self, g: Any) -> Any:
        taken = None

        def first_max(k: int) -> Any:
            # Offsets are visited in scan order, so a later value equal to the max loses the tie.
            nonlocal taken
            hit = self.views[k] == self.out
            if taken is None:
                taken = hit
            else:
                hit &= ~taken
                taken |= hit
            return hit

        return self._scatter(g, first_max)


class AvgPool2d(_Pool2d):
    """Mean over each window (padding counts as zeros, PyTorch's ``count_include_pad=True``)."""

    def forward(self, x: Any) -> Any:
        views = self._views(x)
        out = views[0] + views[1] if len(views) > 1 else views[0].copy()
        for v in views[2:]:
            out += v
        self.area = len(views)
        return out / self.area

    def backward(self, g: Any) -> Any:
        share = 1.0 / self.area
        return self._scatter(g, lambda k: share)
