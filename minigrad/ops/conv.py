"""Convolution and pooling over NCHW tensors, by loops over kernel offsets with strided slices.

Memory layout: tensors keep NCHW *shapes* (PyTorch's convention), but conv and pooling outputs
are laid out in memory with the batch dimension innermost (C, H, W, N), returned as an NCHW
view. Element-wise ops preserve that layout, so the next conv or pool reads rows of N
contiguous values instead of short image rows: im2col becomes ``kh·kw`` block copies and the
GEMM output needs no transpose. Nothing outside this file needs to know.

im2col: ``col[c, i, j, oh, ow, n] = x_pad[c, i + s·oh, j + s·ow, n]`` is filled with one strided
slice per kernel offset (i, j); col2im adds the same slices back. Each slice touches every
element at most once, so plain ``+=`` is exact (no ``add.at`` needed, and it runs on CuPy).

Two implementations of the convolution compute the same thing:

- the reference (:func:`conv2d_forward_reference`, :func:`conv2d_backward_reference`) builds the
  whole column matrix and multiplies once. CuPy arrays take it: one large kernel is what a GPU
  wants.
- NumPy arrays take the blocked path (:func:`conv2d_forward_blocked`,
  :func:`conv2d_backward_blocked`). The output positions are cut into blocks whose columns fit in
  cache (:data:`CHUNK_BYTES`); each block is im2col'ed into a reused per-thread buffer in one copy
  and multiplied straight into its part of the output, and backward rebuilds each block from the
  saved padded input (a view of the input itself when it needs neither padding nor a transpose).
  The full column matrix (20 MB in LeNet-5's first layer at batch 256, written and read back
  through main memory, and freshly page-faulted on every step) is never built. Large convs
  spread their blocks over minigrad's thread pool (:mod:`minigrad.parallel`), in a geometry fixed
  by the shapes, so the result does not depend on the thread count. The two agree to rounding:
  the sums run in another order (``tests/test_conv_fast_paths.py``).

Pooling runs the same element-wise code on both; on NumPy with several threads, large inputs go
over the pool in blocks of channels. Its results are exact, so blocks and whole arrays agree bit
for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from minigrad import parallel
from minigrad.autograd import Function
from minigrad.backend import get_array_module, is_cupy_array

# Bytes of one block's im2col columns on the blocked path: half an L2 cache. Measured with one
# thread, each conv of LeNet-5 alone at batch 256: 512 KB blocks ran the first conv's forward and
# weight gradient in 3.3 ms against 6.9 ms for the whole column matrix, the second conv's forward
# and gradients in 9.5 ms against 14.3 ms. 1 MB blocks ran the first conv in 7.5 ms: its 6 × 25
# GEMM runs at half speed or less past ~4,000 columns.
CHUNK_BYTES = 1 << 19
# Bytes of one kernel offset's share of the input gradient (C × block positions) in col2im.
SHARE_BYTES = 1 << 18
# Convolutions with at least this many bytes of columns are worth two threads (handing work to a
# thread costs 30-50 µs; this is ~0.2 ms of work); their input gradient is then summed in two halves.
PARALLEL_MIN_BYTES = 1 << 21
# Elements of one pooling block: small enough to stay in L2 with its mask and output.
POOL_BLOCK = 1 << 16
# Pooling runs in blocks over the pool only with several threads and at least this many elements.
PARALLEL_MIN = 1 << 19


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


# ----- convolution: the reference ---------------------------------------------------------------


def conv2d_forward_reference(x_pad: Any, w: Any, b: Any, stride: tuple[int, int], oh: int, ow: int) -> tuple[Any, Any]:
    """Output (F, OH, OW, N) of the conv of ``x_pad`` (C, Hp, Wp, N), and the column matrix it used."""
    xp = get_array_module(x_pad)
    c, _, _, n = x_pad.shape
    f, _, kh, kw = w.shape
    sh, sw = stride
    col = xp.empty((c, kh, kw, oh, ow, n), dtype=x_pad.dtype)
    for i in range(kh):
        for j in range(kw):
            col[:, i, j] = x_pad[(slice(None), *_window(i, j, oh, ow, sh, sw))]
    col = col.reshape(c * kh * kw, -1)
    out = w.reshape(f, -1) @ col  # (F, OH·OW·N)
    if b is not None:
        out += b[:, None]
    return out.reshape(f, oh, ow, n), col


def conv2d_backward_reference(
    col: Any, w: Any, g4: Any, stride: tuple[int, int], pad_shape: tuple[int, ...], needs: tuple[bool, bool, bool]
) -> tuple[Any, Any, Any]:
    """(grad of x_pad, grad of w, grad of b) from the column matrix and g4 = dL/dout as (F, OH, OW, N).

    ``needs`` says which of the three to compute (the others are None).
    """
    xp = get_array_module(g4)
    f, c, kh, kw = w.shape
    _, oh, ow, n = g4.shape
    g2 = g4.reshape(f, -1)
    gx_pad = gw = gb = None
    if needs[1]:
        gw = matmul_transposed_blocked(col, g2).T.reshape(w.shape)
    if needs[2]:
        gb = g2.sum(axis=1)
    if needs[0]:
        # col2im without materialising the whole column gradient wᵀ·g (3.8 MB in LeNet's second
        # layer): each kernel offset's share comes from a small GEMM into a buffer that stays
        # in cache, and is added straight onto the input positions that offset read.
        sh, sw = stride
        w_by_offset = xp.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (kh, kw, C, F)
        gx_pad = xp.zeros(pad_shape, dtype=g4.dtype)
        share = xp.empty((c, oh * ow * n), dtype=g4.dtype)
        for i in range(kh):
            for j in range(kw):
                xp.matmul(w_by_offset[i, j], g2, out=share)
                gx_pad[(slice(None), *_window(i, j, oh, ow, sh, sw))] += share.reshape(c, oh, ow, n)
    return gx_pad, gw, gb


# ----- convolution: the blocked NumPy path ------------------------------------------------------


def offset_view(x_pad: Any, kh: int, kw: int, stride: tuple[int, int], oh: int, ow: int) -> Any:
    """The read-only view ``v[c, i, j, r, q, n] = x_pad[c, i + sh·r, j + sw·q, n]`` (no copy).

    Copying rows ``r0:r1`` of it is im2col of those output rows in one call instead of kh·kw.
    """
    c, _, _, n = x_pad.shape
    sc, sy, sx, sn = x_pad.strides
    return get_array_module(x_pad).lib.stride_tricks.as_strided(
        x_pad, shape=(c, kh, kw, oh, ow, n), strides=(sc, sy, sx, stride[0] * sy, stride[1] * sx, sn), writeable=False
    )


def position_blocks(oh: int, ow: int, position_bytes: int, limit: int | None = None) -> list[tuple[int, int, int, int]]:
    """Output positions cut into blocks (r0, r1, q0, q1) of at most ``limit`` bytes (:data:`CHUNK_BYTES`).

    A block is whole rows r0:r1 (q0:q1 = 0:OW) or, when one row is larger than the limit, a
    segment q0:q1 of row r0. Either way its columns (rows · segment · N) are one strided 2-D view
    of an (F, OH, OW, N) array. ``position_bytes`` is the size of one output position's columns.
    """
    limit = CHUNK_BYTES if limit is None else limit
    row_bytes = max(1, ow * position_bytes)
    if row_bytes <= limit:
        rows = limit // row_bytes
        return [(r0, r1, 0, ow) for r0, r1 in parallel.chunks(oh, -(-oh // rows))]
    segments = parallel.chunks(ow, -(-row_bytes // limit))
    return [(r, r + 1, q0, q1) for r in range(oh) for q0, q1 in segments]


def _column_bytes(x_pad: Any, w: Any, out4: Any) -> int:
    """Bytes of the whole column matrix of a conv: its measure of work."""
    return w[0].size * out4[0].size * x_pad.itemsize


def _threads(column_bytes: int) -> int:
    """Threads for a conv's blocks: 1 below :data:`PARALLEL_MIN_BYTES` of columns, else the pool's count."""
    return 1 if column_bytes < PARALLEL_MIN_BYTES else parallel.get_num_threads()


def conv2d_forward_blocked(x_pad: Any, w: Any, b: Any, stride: tuple[int, int], oh: int, ow: int) -> Any:
    """What :func:`conv2d_forward_reference` returns as output, block by block of output rows."""
    xp = get_array_module(x_pad)
    c, _, _, n = x_pad.shape
    f, _, kh, kw = w.shape
    k = c * kh * kw
    w2 = w.reshape(f, k)
    out = xp.empty((f, oh, ow, n), dtype=xp.result_type(x_pad.dtype, w.dtype))
    windows = offset_view(x_pad, kh, kw, stride, oh, ow)
    blocks = position_blocks(oh, ow, k * n * x_pad.itemsize)

    def run(first: int, last: int) -> None:
        for r0, r1, q0, q1 in blocks[first:last]:
            col = parallel.scratch("col", (c, kh, kw, r1 - r0, q1 - q0, n), xp, x_pad.dtype)
            col[...] = windows[:, :, :, r0:r1, q0:q1]
            part = out[:, r0:r1, q0:q1].reshape(f, -1)  # a strided 2-D view: BLAS writes it in place
            xp.matmul(w2, col.reshape(k, -1), out=part)
            if b is not None:
                part += b[:, None]  # while the block is still in cache

    parallel.for_each_chunk(run, len(blocks), calls_blas=True, threads=_threads(_column_bytes(x_pad, w, out)))
    return out


def conv2d_backward_blocked(
    x_pad: Any, w: Any, g4: Any, stride: tuple[int, int], needs: tuple[bool, bool, bool]
) -> tuple[Any, Any, Any]:
    """What :func:`conv2d_backward_reference` returns, rebuilding im2col block by block from ``x_pad``.

    The weight and bias gradients are summed per block of output rows, then over blocks in block
    order (so they differ from the reference's one long sum by rounding only). The input gradient
    receives its terms in another order than in the reference (by block, and in two halves).
    """
    xp = get_array_module(g4)
    c, _, _, n = x_pad.shape
    f, _, kh, kw = w.shape
    _, oh, ow, _ = g4.shape
    k = c * kh * kw
    threads = _threads(_column_bytes(x_pad, w, g4))
    gx_pad = gw = gb = None
    if needs[1] or needs[2]:
        windows = offset_view(x_pad, kh, kw, stride, oh, ow)
        blocks = position_blocks(oh, ow, k * n * x_pad.itemsize)
        gw_parts = xp.empty((len(blocks), k, f), dtype=g4.dtype) if needs[1] else None
        gb_parts = xp.empty((len(blocks), f), dtype=g4.dtype) if needs[2] else None

        def weight_grads(first: int, last: int) -> None:
            for index in range(first, last):
                r0, r1, q0, q1 = blocks[index]
                g_part = g4[:, r0:r1, q0:q1].reshape(f, -1)
                if gb_parts is not None:
                    g_part.sum(axis=1, out=gb_parts[index])
                if gw_parts is not None:
                    col = parallel.scratch("col", (c, kh, kw, r1 - r0, q1 - q0, n), xp, x_pad.dtype)
                    col[...] = windows[:, :, :, r0:r1, q0:q1]
                    # col · gᵀ (K × F) rather than g · colᵀ: BLAS runs this orientation about 2x faster.
                    xp.matmul(col.reshape(k, -1), g_part.T, out=gw_parts[index])

        parallel.for_each_chunk(weight_grads, len(blocks), calls_blas=True, threads=threads)
        if gw_parts is not None:
            gw = gw_parts.sum(axis=0).T.reshape(w.shape)
        if gb_parts is not None:
            gb = gb_parts.sum(axis=0)
    if needs[0]:
        # col2im as in the reference, one small GEMM per kernel offset whose product (a block of
        # positions, SHARE_BYTES) is added onto the input positions it came from while in cache.
        # Two threads take half of the offsets each, into a sum of their own (no shared writes);
        # the sums are added at the end, in the same order whatever the thread count.
        sh, sw = stride
        w_by_offset = xp.ascontiguousarray(w.transpose(2, 3, 1, 0))  # (kh, kw, C, F)
        offsets = [(i, j) for i in range(kh) for j in range(kw)]
        halves = parallel.chunks(len(offsets), 2 if _column_bytes(x_pad, w, g4) >= PARALLEL_MIN_BYTES else 1)
        sums = [xp.zeros(x_pad.shape, dtype=g4.dtype) for _ in halves]
        blocks = position_blocks(oh, ow, c * n * g4.itemsize, SHARE_BYTES)

        def input_grad(first: int, last: int) -> None:
            for half in range(first, last):
                o0, o1 = halves[half]
                for r0, r1, q0, q1 in blocks:
                    g_part = g4[:, r0:r1, q0:q1].reshape(f, -1)
                    share = parallel.scratch("share", (c, r1 - r0, q1 - q0, n), xp, g4.dtype)
                    for i, j in offsets[o0:o1]:
                        xp.matmul(w_by_offset[i, j], g_part, out=share.reshape(c, -1))
                        window = _window(i + sh * r0, j + sw * q0, r1 - r0, q1 - q0, sh, sw)
                        sums[half][(slice(None), *window)] += share

        parallel.for_each_chunk(input_grad, len(halves), calls_blas=True, threads=threads)
        gx_pad = sums[0]
        for other in sums[1:]:
            gx_pad += other
    return gx_pad, gw, gb


class Conv2d(Function):
    """2-d cross-correlation of x (N, C, H, W) with w (F, C, kh, kw), plus bias b (F,)."""

    def __init__(self, stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0)) -> None:
        self.stride, self.padding = stride, padding

    def forward(self, x: Any, w: Any, b: Any = None) -> Any:
        _, _, h, wd = x.shape
        _, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = output_size(h, kh, sh, ph), output_size(wd, kw, sw, pw)
        x_pad = _batch_inner_padded(x, ph, pw, 0.0)
        self.w, self.has_bias, self.x_shape = w, b is not None, x.shape
        self.blocked = not is_cupy_array(x)
        if self.blocked:
            # Batch-innermost rows make im2col's copies long; a transposed view of an NCHW input is copied once.
            self.x_pad = get_array_module(x).ascontiguousarray(x_pad)
            out = conv2d_forward_blocked(self.x_pad, w, b, self.stride, oh, ow)
        else:
            out, self.col = conv2d_forward_reference(x_pad, w, b, self.stride, oh, ow)
            self.pad_shape = x_pad.shape
        return out.transpose(3, 0, 1, 2)

    def backward(self, g: Any) -> tuple[Any, ...]:
        g4 = get_array_module(g).ascontiguousarray(g.transpose(1, 2, 3, 0))  # free when g is batch-innermost
        needs = (self.needs_input_grad[0], self.needs_input_grad[1], self.has_bias and self.needs_input_grad[2])
        if self.blocked:
            gx_pad, gw, gb = conv2d_backward_blocked(self.x_pad, self.w, g4, self.stride, needs)
        else:
            gx_pad, gw, gb = conv2d_backward_reference(self.col, self.w, g4, self.stride, self.pad_shape, needs)
        gx = None
        if gx_pad is not None:
            (ph, pw), (_, _, h, wd) = self.padding, self.x_shape
            gx = gx_pad[:, ph : ph + h, pw : pw + wd].transpose(3, 0, 1, 2)
        return (gx, gw, gb) if self.has_bias else (gx, gw)


# ----- pooling ----------------------------------------------------------------------------------


class _Pool2d(Function):
    """Shared geometry of the pooling ops: one strided view of the input per kernel offset.

    On NumPy, with several threads and a large input, the work is cut into blocks of channels that
    stay in cache, spread over minigrad's thread pool; every element is computed exactly as on the
    whole array.
    """

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

    def _for_channel_blocks(self, fn: Callable[[slice], None], like: Any) -> None:
        """``fn(channels)`` over blocks of channels of ``like`` (N, C, ·, ·); one piece on CuPy, one thread or small."""
        n, c, h, w = like.shape
        threads = 1 if is_cupy_array(like) or like.size < PARALLEL_MIN else parallel.get_num_threads()
        if threads == 1:
            fn(slice(None))
            return
        per_channel = max(1, n * h * w)
        blocks = parallel.chunks(c, -(-like.size // max(POOL_BLOCK, per_channel)))

        def run(first: int, last: int) -> None:
            for c0, c1 in blocks[first:last]:
                fn(slice(c0, c1))

        parallel.for_each_chunk(run, len(blocks), threads=threads)

    def _tiles(self) -> bool:
        """True when the windows cover the input exactly once (stride = kernel, no padding, no rest)."""
        _, _, h, w = self.x_shape
        return (
            self.kernel == self.stride
            and self.padding == (0, 0)
            and h == self.oh * self.kernel[0]
            and w == self.ow * self.kernel[1]
        )

    def _shares(self, channels: slice) -> Iterator[Any]:
        """Each kernel offset's share of the output gradient, in scan order, for ``channels``."""
        raise NotImplementedError

    def _scatter(self, g: Any) -> Any:
        """Send ``g · share(k)`` back through each offset k's view of the (padded) input.

        When the windows tile the input, each element is written once, so plain assignment
        replaces zero-fill and ``+=``.
        """
        (_, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = get_array_module(g)
        g = batch_inner(g)  # match the input's layout so every product below runs over contiguous rows
        tiles = self._tiles()
        dx = xp.empty_like(self.x_pad) if tiles else xp.zeros_like(self.x_pad)  # *_like keeps the layout

        def run(cs: slice) -> None:
            gc = g[:, cs]
            for k, share in enumerate(self._shares(cs)):
                target = dx[(slice(None), cs, *_window(k // kw, k % kw, self.oh, self.ow, sh, sw))]
                if tiles:
                    xp.multiply(gc, share, out=target)
                else:
                    target += gc * share

        self._for_channel_blocks(run, dx)
        _, _, h, w = self.x_shape
        return dx[:, :, ph : ph + h, pw : pw + w]


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the first maximum in scan order (as PyTorch)."""

    fill = float("-inf")

    def forward(self, x: Any) -> Any:
        xp = get_array_module(x)
        self.views = views = self._views(x)
        out = xp.empty_like(views[0])  # keeps the batch-innermost layout

        def run(cs: slice) -> None:
            o = out[:, cs]
            if len(views) == 1:
                o[...] = views[0][:, cs]
                return
            xp.maximum(views[0][:, cs], views[1][:, cs], out=o)
            for v in views[2:]:
                xp.maximum(o, v[:, cs], out=o)

        self._for_channel_blocks(run, out)
        self.out = out
        return out

    def _shares(self, channels: slice) -> Iterator[Any]:
        # Offsets are visited in scan order, so a later value equal to the max loses the tie.
        out, taken = self.out[:, channels], None
        for view in self.views:
            hit = view[:, channels] == out
            if taken is None:
                taken = hit
            else:
                hit &= ~taken
                taken |= hit
            yield hit

    def backward(self, g: Any) -> Any:
        return self._scatter(g)


class AvgPool2d(_Pool2d):
    """Mean over each window (padding counts as zeros, PyTorch's ``count_include_pad=True``)."""

    def forward(self, x: Any) -> Any:
        views = self._views(x)
        out = views[0] + views[1] if len(views) > 1 else views[0].copy()
        for v in views[2:]:
            out += v
        self.area = len(views)
        return out / self.area

    def _shares(self, channels: slice) -> Iterator[Any]:
        share = 1.0 / self.area
        for _ in range(self.area):
            yield share

    def backward(self, g: Any) -> Any:
        return self._scatter(g)
