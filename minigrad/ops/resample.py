"""Resampling ops over NCHW tensors: nearest-neighbour upsampling and constant padding.

- :class:`UpsampleNearest2d` repeats every pixel ``sh × sw`` times (the "unpooling" of the
  convolutional autoencoders of the Theano/Lasagne era: each value copied into its whole block).
  Its gradient sums each block back into its source pixel.
- :class:`Pad2d` surrounds the image with a constant, a possibly different amount on each side.
  Caffe's pooling rounds its output size up, so its last window may hang over the bottom or right
  edge; padding that edge (with −∞ for max pooling, 0 for average pooling) lets the ordinary
  pooling ops of :mod:`.conv` compute it. The gradient of the padding is the central slice.

Both ops work on whatever memory layout their input has (conv outputs are batch-innermost views,
see :mod:`.conv`) and on NumPy or CuPy arrays alike.
"""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module


class UpsampleNearest2d(Function):
    """x (N, C, H, W) → (N, C, H·sh, W·sw), each pixel repeated into an sh × sw block."""

    def __init__(self, scale: tuple[int, int] = (2, 2)) -> None:
        self.scale = scale

    def forward(self, x: Any) -> Any:
        sh, sw = self.scale
        self.x_shape = x.shape
        return x.repeat(sh, axis=2).repeat(sw, axis=3)

    def backward(self, g: Any) -> Any:
        n, c, h, w = self.x_shape
        sh, sw = self.scale
        # Output row h·sh + i comes from input row h: fold the block offsets into their own axes.
        return g.reshape(n, c, h, sh, w, sw).sum(axis=(3, 5))


class Pad2d(Function):
    """x (N, C, H, W) → (N, C, top + H + bottom, left + W + right), the border filled with ``value``."""

    def __init__(self, pads: tuple[int, int, int, int] = (0, 0, 0, 0), value: float = 0.0) -> None:
        self.pads, self.value = pads, value

    def forward(self, x: Any) -> Any:
        top, bottom, left, right = self.pads
        n, c, h, w = x.shape
        self.window = (slice(None), slice(None), slice(top, top + h), slice(left, left + w))
        out = get_array_module(x).full((n, c, top + h + bottom, left + w + right), self.value, dtype=x.dtype)
        out[self.window] = x
        return out

    def backward(self, g: Any) -> Any:
        return g[self.window]
