"""The layers: Linear, Conv2d, pooling, activations, Dropout, Flatten, Sequential, and losses.

Weights start as PyTorch's defaults do: U(−1/√fan_in, 1/√fan_in) for weights and biases
(Kaiming-uniform with a = √5), drawn on the host from minigrad's seeded NumPy generator so a
model starts identically on CPU and GPU.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from layers.module import Module, as_tensor
from minigrad import Parameter, Tensor
from minigrad import functional as F
from minigrad import random as mrandom

IntPair = int | tuple[int, int]


def _uniform(shape: tuple[int, ...], bound: float) -> Parameter:
    rng = mrandom.generator(np)
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(np.float32))


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = _uniform((out_features, in_features), bound)
        self.bias = _uniform((out_features,), bound) if bias else None

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
    ) -> None:
        kh, kw = F.pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), F.pair(stride, "stride"), F.pair(padding, "padding")
        bound = 1.0 / math.sqrt(in_channels * kh * kw)
        self.weight = _uniform((out_channels, in_channels, kh, kw), bound)
        self.bias = _uniform((out_channels,), bound) if bias else None

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
    """Mean squared error."""

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        """Mean of squared differences."""
        return F.mse_loss(prediction, target)
