"""The models of the papers: LeNet-5, Caffe's LeNet (Singh et al. 2015), and a small MLP."""

from __future__ import annotations

from typing import Any

from layers.basic import Conv2d, Flatten, LeakyReLU, Linear, MaxPool2d, ReLU, Sequential
from layers.module import Module

ACTIVATIONS = ("relu", "leaky_relu")


def activation(name: str, slope: float = 0.01) -> Module:
    """A fresh activation layer by name: ``"relu"`` or ``"leaky_relu"``."""
    if name == "relu":
        return ReLU()
    if name == "leaky_relu":
        return LeakyReLU(slope)
    raise ValueError(f"unknown activation {name!r}: expected one of {ACTIVATIONS}")


class LeNet5(Module):
    """LeNet-5 for 1×28×28 inputs: the image padded by 2 to 32×32, as in LeCun et al. (1998).

    conv 6@5×5 (pad 2) → act → max-pool 2 → conv 16@5×5 → act → max-pool 2 → 120 → act → 84 →
    act → ``num_classes``. 61,706 parameters for 10 classes.
    """

    def __init__(self, num_classes: int = 10, activation_name: str = "relu", in_channels: int = 1) -> None:
        act = activation_name
        self.features = Sequential(
            Conv2d(in_channels, 6, 5, padding=2),
            activation(act),
            MaxPool2d(2),
            Conv2d(6, 16, 5),
            activation(act),
            MaxPool2d(2),
        )
        self.classifier = Sequential(
            Flatten(),
            Linear(16 * 5 * 5, 120),
            activation(act),
            Linear(120, 84),
            activation(act),
            Linear(84, num_classes),
        )

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, 1, 28, 28)."""
        return self.classifier(self.features(x))


class CaffeLeNet(Module):
    """Caffe's LeNet, the MNIST net of Singh et al. (2015): no activation after the convolutions.

    conv 20@5×5 → max-pool 2 → conv 50@5×5 → max-pool 2 → 500 → act → ``num_classes``
    (431,080 parameters for 10 classes).
    """

    def __init__(self, num_classes: int = 10, activation_name: str = "relu", in_channels: int = 1) -> None:
        self.features = Sequential(Conv2d(in_channels, 20, 5), MaxPool2d(2), Conv2d(20, 50, 5), MaxPool2d(2))
        self.classifier = Sequential(
            Flatten(), Linear(50 * 4 * 4, 500), activation(activation_name), Linear(500, num_classes)
        )

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, 1, 28, 28)."""
        return self.classifier(self.features(x))


class MLP(Module):
    """A fully connected net: Flatten → [Linear → act] × hidden → Linear."""

    def __init__(
        self, in_features: int, hidden: tuple[int, ...], out_features: int, activation_name: str = "relu"
    ) -> None:
        sizes = (in_features, *hidden)
        blocks: list[Module] = [Flatten()]
        for a, b in zip(sizes[:-1], sizes[1:]):
            blocks += [Linear(a, b), activation(activation_name)]
        blocks.append(Linear(sizes[-1], out_features))
        self.net = Sequential(*blocks)

    def forward(self, x: Any) -> Any:
        """Logits."""
        return self.net(x)


MODELS = {"lenet5": LeNet5, "caffe_lenet": CaffeLeNet}
