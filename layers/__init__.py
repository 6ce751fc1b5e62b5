"""Layers and models built on the minigrad engine: Module and parameter discovery, the layers, the papers' models."""

from layers.basic import (
    AvgPool2d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    MSELoss,
    ReLU,
    Sequential,
    Softmax,
)
from layers.models import MLP, MODELS, CaffeLeNet, LeNet5
from layers.module import Module

__all__ = [
    "MLP",
    "MODELS",
    "AvgPool2d",
    "CaffeLeNet",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2d",
    "LeNet5",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "ReLU",
    "Sequential",
    "Softmax",
]
