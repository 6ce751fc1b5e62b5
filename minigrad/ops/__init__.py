"""Every op of minigrad, one small :class:`~minigrad.autograd.Function` subclass each.

- :mod:`.arithmetic`: element-wise maths, casts, matmul
- :mod:`.reduction`: sum, mean, max over axes
- :mod:`.shape`: reshape, transpose, indexing, concatenate, stack
- :mod:`.activation`: ReLU, leaky ReLU, softmax, log-softmax, cross-entropy, linear
- :mod:`.conv`: 2-d convolution, max and average pooling
- :mod:`.resample`: nearest-neighbour upsampling, constant padding
"""

from minigrad.ops.activation import CrossEntropy, LeakyReLU, Linear, LogSoftmax, ReLU, Softmax
from minigrad.ops.arithmetic import (
    Abs,
    Add,
    Cast,
    Div,
    Exp,
    Log,
    MatMul,
    Maximum,
    Mul,
    Neg,
    Pow,
    PowScalar,
    Sigmoid,
    Sqrt,
    Sub,
    Tanh,
    Where,
)
from minigrad.ops.conv import AvgPool2d, Conv2d, MaxPool2d
from minigrad.ops.reduction import Max, Mean, Sum
from minigrad.ops.resample import Pad2d, UpsampleNearest2d
from minigrad.ops.shape import Concatenate, GetItem, Reshape, Stack, Transpose

__all__ = [
    "Abs",
    "Add",
    "AvgPool2d",
    "Cast",
    "Concatenate",
    "Conv2d",
    "CrossEntropy",
    "Div",
    "Exp",
    "GetItem",
    "LeakyReLU",
    "Linear",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Max",
    "MaxPool2d",
    "Maximum",
    "Mean",
    "Mul",
    "Neg",
    "Pad2d",
    "Pow",
    "PowScalar",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Sqrt",
    "Stack",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "UpsampleNearest2d",
    "Where",
]
