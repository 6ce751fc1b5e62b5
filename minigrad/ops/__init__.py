"""Every op of minigrad, one small :class:`~minigrad.autograd.Function` subclass each.

- :mod:`.arithmetic`: element-wise maths (sin, cos, sigmoid, softplus, log-sigmoid, ...), casts, matmul
- :mod:`.reduction`: sum, mean, max over axes
- :mod:`.shape`: reshape, transpose, indexing, concatenate, stack
- :mod:`.activation`: ReLU, leaky ReLU, softmax, log-softmax, cross-entropy, linear
- :mod:`.loss`: binary cross-entropy on logits
- :mod:`.conv`: 2-d convolution, max and average pooling
- :mod:`.resample`: nearest-neighbour upsampling, constant padding
"""

from minigrad.ops.activation import CrossEntropy, LeakyReLU, Linear, LogSoftmax, ReLU, Softmax
from minigrad.ops.arithmetic import (
    Abs,
    Add,
    Cast,
    Cos,
    Div,
    Exp,
    Log,
    LogSigmoid,
    MatMul,
    Maximum,
    Mul,
    Neg,
    Pow,
    PowScalar,
    Sigmoid,
    Sin,
    Softplus,
    Sqrt,
    Sub,
    Tanh,
    Where,
)
from minigrad.ops.conv import AvgPool2d, Conv2d, MaxPool2d
from minigrad.ops.loss import BinaryCrossEntropyWithLogits
from minigrad.ops.reduction import Max, Mean, Sum
from minigrad.ops.resample import Pad2d, UpsampleNearest2d
from minigrad.ops.shape import Concatenate, GetItem, Reshape, Stack, Transpose

__all__ = [
    "Abs",
    "Add",
    "AvgPool2d",
    "BinaryCrossEntropyWithLogits",
    "Cast",
    "Concatenate",
    "Conv2d",
    "Cos",
    "CrossEntropy",
    "Div",
    "Exp",
    "GetItem",
    "LeakyReLU",
    "Linear",
    "Log",
    "LogSoftmax",
    "LogSigmoid",
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
    "Sin",
    "Softmax",
    "Softplus",
    "Sqrt",
    "Stack",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "UpsampleNearest2d",
    "Where",
]
