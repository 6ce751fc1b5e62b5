"""The layers: Linear, Conv2d, pooling, activations, Dropout, Flatten, Sequential, and losses.

Weights start as PyTorch's defaults do: U(−1/√fan_in, 1/√fan_in) for weights and biases
(Kaiming-uniform with a = √5), drawn on the host from minigrad's seeded NumPy generator so a
model starts identically on CPU and GPU; :func:`layers.init.initialize` re-draws them with the
papers' schemes. Layers with parameters take ``dtype=`` (float32 by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from layers import init
from layers.module import Module, as_tensor, float_dtype
from minigrad import Parameter, Tensor, ops
from minigrad import functional as F

IntPair = int | tuple[int, int]


def _torch_default(shape: tuple[int, ...], fan_in: int, dtype: np.dtype) -> Parameter:
    return init.torch_default_(Parameter(np.zeros(shape, dtype=dtype)), fan_in=fan_in)


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = np.float32) -> None:
        self.in_features = F.positive_int(in_features, "Linear: in_features")
        self.out_features = F.positive_int(out_features, "Linear: out_features")
        dtype = float_dtype(dtype, "Linear")
        self.weight = _torch_default((out_features, in_features), in_features, dtype)
        self.bias = _torch_default((out_features,), in_features, dtype) if bias else None

    def forward(self, x: Any) -> Tensor:
        """Apply the affine map to x of shape (N, in_features)."""
        return F.linear(as_tensor(x), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-d convolution over (N, C, H, W) inputs, weight of shape (out, in, kh, kw)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        self.in_channels = F.positive_int(in_channels, "Conv2d: in_channels")
        self.out_channels = F.positive_int(out_channels, "Conv2d: out_channels")
        kh, kw = F.pair(kernel_size, "Conv2d: kernel_size", minimum=1)
        self.kernel_size = (kh, kw)
        self.stride = F.pair(stride, "Conv2d: stride", minimum=1)
        self.padding = F.pair(padding, "Conv2d: padding")
        dtype = float_dtype(dtype, "Conv2d")
        fan_in = in_channels * kh * kw
        self.weight = _torch_default((out_channels, in_channels, kh, kw), fan_in, dtype)
        self.bias = _torch_default((out_channels,), fan_in, dtype) if bias else None

    def forward(self, x: Any) -> Tensor:
        """Convolve x of shape (N, in_channels, H, W)."""
        return F.conv2d(as_tensor(x), self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class MaxPool2d(Module):
    """Max over k×k windows (stride defaults to k); ties go to the first maximum, as PyTorch."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> None:
        F.pool_args(type(self).__name__, kernel_size, stride, padding)  # refuse bad settings now, not at forward
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any) -> Tensor:
        """Pool x of shape (N, C, H, W)."""
        return F.max_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class AvgPool2d(MaxPool2d):
    """Mean over k×k windows (stride defaults to k)."""

    def forward(self, x: Any) -> Tensor:
        """Pool x of shape (N, C, H, W)."""
        return F.avg_pool2d(as_tensor(x), self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """Mean over all spatial positions: (N, C, H, W) → (N, C)."""

    def forward(self, x: Any) -> Tensor:
        """Average x over its height and width."""
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"GlobalAvgPool2d expects (N, C, H, W), got {x.shape}")
        return x.mean(axis=(2, 3))


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x: Any) -> Tensor:
        """Apply element-wise."""
        return F.relu(as_tensor(x))


class LeakyReLU(Module):
    """x if x > 0 else slope·x."""

    def __init__(self, slope: float = 0.01) -> None:
        self.slope = slope

    def forward(self, x: Any) -> Tensor:
        """Apply element-wise."""
        return F.leaky_relu(as_tensor(x), self.slope)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


class Softmax(Module):
    """Softmax along ``axis``."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Any) -> Tensor:
        """Normalise along the axis."""
        return F.softmax(as_tensor(x), self.axis)


class LogSoftmax(Softmax):
    """Log-softmax along ``axis``."""

    def forward(self, x: Any) -> Tensor:
        """Log-normalise along the axis."""
        return F.log_softmax(as_tensor(x), self.axis)


class Dropout(Module):
    """Inverted dropout: in training, zero with probability p and scale by 1/(1 − p); identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Any) -> Tensor:
        """Drop units in training mode."""
        return F.dropout(as_tensor(x), self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """Merge all dimensions from ``start_dim`` on: (N, C, H, W) → (N, C·H·W)."""

    def __init__(self, start_dim: int = 1) -> None:
        self.start_dim = start_dim

    def forward(self, x: Any) -> Tensor:
        """Reshape."""
        return as_tensor(x).flatten(self.start_dim)


class Sequential(Module):
    """Modules applied in order; indexable and iterable."""

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential item {i} is a {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def forward(self, x: Any) -> Any:
        """Feed x through every layer."""
        for layer in self.layers:
            x = layer(x)
        return x

    def _direct(self) -> Iterator[tuple[str, Any]]:
        # Children are named by position ("features.0.weight"), as in PyTorch.
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class CrossEntropyLoss(Module):
    """Cross-entropy of logits (N, C) against integer labels (N,), labels checked against C."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        """Mean (or summed) negative log-likelihood."""
        return F.cross_entropy(logits, labels, self.reduction)


class MSELoss(Module):
    """Squared error, averaged (``"mean"``), summed or element-wise (``"none"``)."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        """Mean (or summed) squared differences."""
        return F.mse_loss(prediction, target, self.reduction)


class BCEWithLogitsLoss(Module):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed stably from the logits."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Any) -> Tensor:
        """Mean (or summed, or element-wise) binary cross-entropy."""
        return F.binary_cross_entropy_with_logits(logits, targets, self.reduction)


# ----- resampling, Caffe's pooling and normalisation: layers of the CIFAR and autoencoder nets -----------


def _nchw(x: Any, name: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{name} expects input of shape (N, C, H, W), got {x.shape}")
    return x


class Upsample2d(Module):
    """Nearest-neighbour upsampling: (N, C, H, W) → (N, C, H·sh, W·sw), each value copied into an sh × sw block.

    The "unpooling" of the Theano/Lasagne convolutional autoencoders (M. S. Jones, 2015, whose code
    Dozat 2016 adapted): it undoes the size change of a 2×2 max pooling, not its choice of position.
    Followed by a convolution it is the decoder block of :class:`layers.models.DozatAutoencoder`.
    PyTorch's ``nn.Upsample(scale_factor=..., mode="nearest")``.
    """

    def __init__(self, scale_factor: IntPair = 2) -> None:
        self.scale_factor = F.pair(scale_factor, "Upsample2d: scale_factor", minimum=1)

    def forward(self, x: Any) -> Tensor:
        """Upsample x of shape (N, C, H, W)."""
        return ops.UpsampleNearest2d.apply(_nchw(x, "Upsample2d"), scale=self.scale_factor)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}"


class CaffePool2d(Module):
    """Caffe's max or average pooling, whose output size rounds *up*: ⌈(H + 2p − k)/s⌉ + 1.

    The last window may hang over the bottom or right edge; it pools what it covers (the max of
    the covered values; for ``"avg"``, their mean, the divisor counting the padding p but not the
    overhang). A last window that would start past the input and its padding is dropped: Caffe
    drops it when p > 0 and otherwise pools an empty window (a stride larger than the kernel),
    which has no max and divides by zero. This is Caffe's ``PoolingLayer`` (BVLC/caffe
    ``src/caffe/layers/pooling_layer.cpp``) and PyTorch's ``ceil_mode=True`` pooling (with
    ``count_include_pad=True`` for average). On 32×32, a 3×3 window with stride 2 gives 16×16
    here, 15×15 with floor rounding. Needs p < k, as Caffe does.
    """

    METHODS = ("max", "avg")

    def __init__(
        self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0, method: str = "max"
    ) -> None:
        if method not in self.METHODS:
            raise ValueError(f"CaffePool2d: method must be one of {self.METHODS}, got {method!r}")
        self.kernel_size = F.pair(kernel_size, "CaffePool2d: kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else F.pair(stride, "CaffePool2d: stride", minimum=1)
        self.padding = F.pair(padding, "CaffePool2d: padding")
        if any(p >= k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"CaffePool2d: padding {self.padding} must be smaller than the kernel {self.kernel_size}")
        self.method = method

    @staticmethod
    def _axis(size: int, k: int, s: int, p: int) -> tuple[int, int, list[int]]:
        """Output length, overhang past the padded input, and each window's divisor along one axis."""
        out = -(-(size + 2 * p - k) // s) + 1  # ceil division
        if (out - 1) * s >= size + p:  # the last window would start past the input and its padding
            out -= 1
        overhang = max(0, (out - 1) * s + k - (size + 2 * p))
        divisors = [min(i * s - p + k, size + p) - (i * s - p) for i in range(out)]
        return out, overhang, divisors

    def forward(self, x: Any) -> Tensor:
        """Pool x of shape (N, C, H, W)."""
        x = _nchw(x, "CaffePool2d")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, _, h, w = x.shape
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"CaffePool2d: kernel {self.kernel_size} is larger than the padded input {x.shape}")
        oh, eh, rows = self._axis(h, kh, sh, ph)
        ow, ew, cols = self._axis(w, kw, sw, pw)
        pads = (ph, ph + eh, pw, pw + ew)
        if self.method == "max":
            # -inf never wins a max, and every window covers at least one input value.
            padded = ops.Pad2d.apply(x, pads=pads, value=float("-inf")) if any(pads) else x
            return F.max_pool2d(padded, self.kernel_size, self.stride)
        padded = ops.Pad2d.apply(x, pads=pads, value=0.0) if any(pads) else x
        out = F.avg_pool2d(padded, self.kernel_size, self.stride)
        area = np.outer(rows, cols)
        if (area == kh * kw).all():
            return out
        # avg_pool2d divided every window by kh·kw; the overhanging ones cover fewer values.
        return out * x.xp.asarray((kh * kw / area).astype(x.dtype))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, method={self.method!r}"


class WithinChannelLRN(Module):
    """Caffe's local response normalisation across space (``norm_region: WITHIN_CHANNEL``).

    y = x · (1 + α·m)^(−β), where m is the mean of x² over the size × size neighbourhood of each
    position in the same channel, zero-padded at the borders and always divided by size² (Caffe
    builds it from an average pooling of x² with padding (size − 1)/2). Used after the first two
    pooling layers of Caffe's CIFAR-10 "full" example (size 3, α 5e-5, β 0.75). PyTorch's
    ``nn.LocalResponseNorm`` normalises across channels instead.
    """

    def __init__(self, size: int = 3, alpha: float = 5e-5, beta: float = 0.75) -> None:
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"WithinChannelLRN: size must be an odd positive int (Caffe's rule), got {size!r}")
        if alpha < 0:
            raise ValueError(f"WithinChannelLRN: alpha must be >= 0, got {alpha}")
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: Any) -> Tensor:
        """Normalise x of shape (N, C, H, W)."""
        x = _nchw(x, "WithinChannelLRN")
        local = F.avg_pool2d(x * x, self.size, 1, (self.size - 1) // 2)
        return x * (1.0 + self.alpha * local) ** (-self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}"
