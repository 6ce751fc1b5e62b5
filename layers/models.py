"""The models of the papers, registered by name in :data:`MODELS`.

LeNet-5; Caffe's LeNet and Caffe's CIFAR-10 nets (Singh et al. 2015); the MNIST and CIFAR nets of
WAME's Table 1 (Mosca & Magoulas 2017); Dozat's convolutional autoencoder (2016, §4.1); a small
MLP. Each docstring gives the architecture, where each detail comes from when the paper leaves it
open, and the parameter count with its arithmetic (checked by the tests).
"""

from __future__ import annotations

from typing import Any

from layers.basic import (
    CaffePool2d,
    Conv2d,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    Upsample2d,
    WithinChannelLRN,
)
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


class CaffeCifar10(Module):
    """Caffe's CIFAR-10 "full" example, the CIFAR-10 net of Singh et al. (2015), for 3×32×32 inputs.

    conv 32@5×5 pad 2 → max-pool 3 stride 2 → act → LRN → conv 32@5×5 pad 2 → act → avg-pool 3
    stride 2 → LRN → conv 64@5×5 pad 2 → act → avg-pool 3 stride 2 → ``num_classes``, as in
    BVLC/caffe ``examples/cifar10/cifar10_full_train_test.prototxt`` (at tag rc2, February 2015, the
    release before the paper). Pooling rounds its output size up, as Caffe's does
    (:class:`~layers.basic.CaffePool2d`): 32 → 16 → 8 → 4, so the classifier sees 64·4·4 = 1024
    values. LRN is Caffe's within-channel kind (:class:`~layers.basic.WithinChannelLRN`, size 3,
    α 5e-5, β 0.75).

    Why "full" and not "quick" (:class:`CaffeCifar10Quick`): Singh et al. describe "a fully
    connected layer with 10 hidden nodes" (full has one inner-product layer of 10 outputs, quick has
    64 then 10) and a rate of 0.001 for 60,000 iterations, dropped tenfold at 60,000 and 65,000, with
    results at 70,000: the three solver files of full (0.001 to 60,000, 0.0001 to 65,000, 0.00001 to
    70,000). Quick trains 4,000 iterations at 0.001 and 1,000 at 0.0001. Their text leaves out the
    LRN layers and calls all three poolings max; the prototxt is followed here.

    Parameters: 3·32·25 + 32 = 2,432; 32·32·25 + 32 = 25,632; 32·64·25 + 64 = 51,264;
    1024·10 + 10 = 10,250; total 89,578 (the paper states none).

    Caffe's training settings, for a reproduction: weights drawn from N(0, σ²) with σ = 0.0001 for
    conv1 and 0.01 for conv2, conv3 and ip1, biases zero; bias learning rate ×2 (conv1, conv2, ip1);
    weight decay 0.004, ×250 on ip1's weights and 0 on its bias; momentum 0.9; batch 100; inputs are
    0..255 pixels minus the training set's mean image. The fillers with :mod:`layers.init`:
    ``init.initialize(model, weight="normal", std=0.01, bias="zeros")``, then
    ``init.normal_(model.features[0].weight, std=1e-4)``. (The layers otherwise start with
    PyTorch's default.)
    """

    def __init__(self, num_classes: int = 10, activation_name: str = "relu", in_channels: int = 3) -> None:
        act = activation_name
        self.features = Sequential(
            Conv2d(in_channels, 32, 5, padding=2),
            CaffePool2d(3, 2, method="max"),
            activation(act),
            WithinChannelLRN(3, 5e-5, 0.75),
            Conv2d(32, 32, 5, padding=2),
            activation(act),
            CaffePool2d(3, 2, method="avg"),
            WithinChannelLRN(3, 5e-5, 0.75),
            Conv2d(32, 64, 5, padding=2),
            activation(act),
            CaffePool2d(3, 2, method="avg"),
        )
        self.classifier = Sequential(Flatten(), Linear(64 * 4 * 4, num_classes))

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, in_channels, 32, 32)."""
        return self.classifier(self.features(x))


class CaffeCifar10Quick(Module):
    """Caffe's CIFAR-10 "quick" example (``cifar10_quick_train_test.prototxt``), for 3×32×32 inputs.

    As :class:`CaffeCifar10` without the LRN layers, and with two inner-product layers, 1024 → 64 →
    ``num_classes``, with no activation between them (as in the prototxt). Parameters: 2,432 +
    25,632 + 51,264 + (1024·64 + 64 = 65,600) + (64·10 + 10 = 650) = 145,578. Caffe's fillers are
    those of "full" except ip1 and ip2, N(0, 0.1²): ``init.initialize(model, weight="normal",
    std=0.01, bias="zeros")``, then ``init.normal_`` with std 1e-4 on ``features[0].weight`` and
    std 0.1 on ``classifier[1].weight`` and ``classifier[2].weight``.
    """

    def __init__(self, num_classes: int = 10, activation_name: str = "relu", in_channels: int = 3) -> None:
        act = activation_name
        self.features = Sequential(
            Conv2d(in_channels, 32, 5, padding=2),
            CaffePool2d(3, 2, method="max"),
            activation(act),
            Conv2d(32, 32, 5, padding=2),
            activation(act),
            CaffePool2d(3, 2, method="avg"),
            Conv2d(32, 64, 5, padding=2),
            activation(act),
            CaffePool2d(3, 2, method="avg"),
        )
        self.classifier = Sequential(Flatten(), Linear(64 * 4 * 4, 64), Linear(64, num_classes))

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, in_channels, 32, 32)."""
        return self.classifier(self.features(x))


class WameMnistNet(Module):
    """The MNIST network of WAME's Table 1(a) (Mosca & Magoulas 2017), for 1×28×28 inputs.

    conv 64@5×5 → act → conv 64@1×1 → act → max-pool 2 → conv 128@5×5 → act → conv 128@1×1 →
    act → max-pool 2 → 1024 → act → dropout 50% → ``num_classes``.

    The table gives neither padding nor activation. The authors ran Keras through their Toupee
    library, whose convolutions are unpadded by default: 28 → 24 → 12 → 8 → 4, so the dense layer
    sees 128·4·4 = 2048 values. (Toupee's own MNIST example of May 2017,
    ``examples/experiments/mnist/cnn.model``, a similar net without the 1×1 convolutions, pads the
    input by 1 first: 28 → 30 → 26 → 13 → 9 → 4, the same 2048 values and parameter count.) ReLU
    as in that example.

    Parameters (10 classes; the paper states none): 1·64·25 + 64 = 1,664; 64·64 + 64 = 4,160;
    64·128·25 + 128 = 204,928; 128·128 + 128 = 16,512; 2048·1024 + 1024 = 2,098,176;
    1024·10 + 10 = 10,250; total 2,335,690.

    Initialisation: not stated; Keras's default, kept by the Toupee model files, is Glorot-uniform
    weights and zero biases: ``layers.init.initialize(model, weight="xavier_uniform", bias="zeros")``.
    Those files also put batch normalisation after every convolution and dense layer, which Table 1
    does not show; this model has none (minigrad has no batch norm).
    """

    def __init__(
        self, num_classes: int = 10, activation_name: str = "relu", in_channels: int = 1, dropout: float = 0.5
    ) -> None:
        act = activation_name
        self.features = Sequential(
            Conv2d(in_channels, 64, 5),
            activation(act),
            Conv2d(64, 64, 1),
            activation(act),
            MaxPool2d(2),
            Conv2d(64, 128, 5),
            activation(act),
            Conv2d(128, 128, 1),
            activation(act),
            MaxPool2d(2),
        )
        self.classifier = Sequential(
            Flatten(), Linear(128 * 4 * 4, 1024), activation(act), Dropout(dropout), Linear(1024, num_classes)
        )

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, in_channels, 28, 28)."""
        return self.classifier(self.features(x))


class WameCifarNet(Module):
    """The CIFAR-10/100 network of WAME's Table 1(b) (Mosca & Magoulas 2017), for 3×32×32 inputs.

    Springenberg et al.'s All-CNN-C ("Striving for simplicity", 2015) as in the authors' Toupee
    model file ``examples/experiments/cifar10-allcnn.model`` (October 2016): every 3×3 convolution
    padded by 1, stride 2 where marked, each convolution followed by the activation:

    conv 96, conv 96, conv 96 /2 → dropout 50% → conv 192, conv 192, conv 192 /2 → dropout 50% →
    conv 192@3×3, conv 192@1×1, conv ``num_classes``@1×1 → global average pooling → logits.
    Sizes 32 → 16 (first stride) → 8 (second); the average runs over 8×8. The paper: "50% dropout
    was applied after each convolution with stride 2×2". All-CNN-C leaves its seventh convolution
    unpadded (6×6 maps); the parameter count is the same. The class-score convolution is followed
    by the activation too, as in All-CNN-C and Toupee (``class_activation=False`` drops it).

    Parameters (10 classes; the paper states none): 3·96·9 + 96 = 2,688; 96·96·9 + 96 = 83,040
    (twice); 96·192·9 + 192 = 166,080; 192·192·9 + 192 = 331,968 (three times); 192·192 + 192 =
    37,056; 192·10 + 10 = 1,930; total 1,369,738 (1,387,108 for 100 classes: 192·100 + 100 = 19,300).

    Initialisation: Glorot-uniform weights and zero biases (Keras's default, as in the model file):
    ``layers.init.initialize(model, weight="xavier_uniform", bias="zeros")``. The model file also
    adds an L2 penalty of 1e-4 on the convolution weights and batch normalisation after every
    convolution; Table 1 shows no batch normalisation and this model has none.
    """

    def __init__(
        self,
        num_classes: int = 10,
        activation_name: str = "relu",
        in_channels: int = 3,
        dropout: float = 0.5,
        class_activation: bool = True,
    ) -> None:
        act = activation_name

        def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[Module]:
            return [Conv2d(cin, cout, k, stride=stride, padding=k // 2), activation(act)]

        class_scores = [Conv2d(192, num_classes, 1)] + ([activation(act)] if class_activation else [])
        self.features = Sequential(
            *conv(in_channels, 96),
            *conv(96, 96),
            *conv(96, 96, stride=2),
            Dropout(dropout),
            *conv(96, 192),
            *conv(192, 192),
            *conv(192, 192, stride=2),
            Dropout(dropout),
            *conv(192, 192),
            *conv(192, 192, k=1),
            *class_scores,
        )
        self.pool = GlobalAvgPool2d()

    def forward(self, x: Any) -> Any:
        """Logits of shape (N, num_classes) for images (N, in_channels, 32, 32)."""
        return self.pool(self.features(x))


class DozatAutoencoder(Module):
    """The convolutional autoencoder of Dozat (2016, §4.1) for 1×28×28 images in [0, 1], trained with MSE.

    **The reading.** As printed: "two 7×7×1×16 convolutional filters, followed by a 2×2 max pooling
    filter, followed by a 7×7×1×32 convolutional filter, another 2×2 max pooling filter, an
    800×128 FC layer, and finally a 128×16 FC layer on the encoder side, then the conversely on the
    decoder side, for a total of 224177 learnable parameters". Those shapes do not give that count:
    with 7×7 kernels, channels 1 → 16 → 16 → 32 and a mirrored decoder come to 286,897, and the
    printed input depth of 1 taken literally to 216,307. Nor do they give the 800 inputs of the
    first dense layer: unpadded 7×7 convolutions take 28 → 22 → 16 → 8 → 2 → 1. The same network
    with **3×3** kernels gives both: 28 → 26 → 24 → pool 12 → 10 → pool 5, and 32·5·5 = 800; and

    - encoder convolutions: 1·16·9 + 16 = 160; 16·16·9 + 16 = 2,320; 16·32·9 + 32 = 4,640 (7,120)
    - encoder dense: 800·128 + 128 = 102,528; 128·16 + 16 = 2,064 (104,592)
    - decoder dense: 16·128 + 128 = 2,176; 128·800 + 800 = 103,200 (105,376)
    - decoder convolutions: 32·16·9 + 16 = 4,624; 16·16·9 + 16 = 2,320; 16·1·9 + 1 = 145 (7,089)
    - total: 7,120 + 104,592 + 105,376 + 7,089 = 224,177.

    (Kernels of 3×3, 5×5 and 1×1 for the three encoder convolutions, mirrored, also give 224,177
    and 800; one uniform kernel size changes one number of the text instead of three.)

    **The decoder** mirrors the encoder: 16 → 128 → 800, reshaped to 32×5×5, then nearest-neighbour
    upsampling ×2 → conv 16@3×3 → upsampling ×2 → conv 16@3×3 → conv 1@3×3, each convolution padded
    by 2 ("full"), which grows a map by 2 as the unpadded one shrank it: 5 → 10 → 12 → 24 → 26 → 28.
    Upsampling then convolving, not a transposed convolution, is what the code Dozat adapted does
    (M. S. Jones, "Convolutional autoencoders in python/theano/lasagne", 2015: an unpooling layer
    that repeats each value into a 2×2 block, then an ordinary convolution). A stride-1 transposed
    convolution equals a "full" convolution and has the same parameters, so the count cannot tell
    them apart and minigrad needs no transposed convolution for it.

    Activation: leaky ReLU (Lasagne's default slope 0.01) after every convolution and dense layer
    except the output, which is linear as in Jones's code; the paper says only that leaky ReLUs
    replaced ReLUs. Initialisation: not stated; Lasagne's default is Glorot-uniform weights and zero
    biases, ``layers.init.initialize(model, weight="xavier_uniform", bias="zeros")``.
    """

    #: What the model is trained for: it reconstructs its input (MSE), where the others classify.
    task = "reconstruction"

    def __init__(self, activation_name: str = "leaky_relu", in_channels: int = 1, code_size: int = 16) -> None:
        act = activation_name
        self.encoder = Sequential(
            Conv2d(in_channels, 16, 3),
            activation(act),
            Conv2d(16, 16, 3),
            activation(act),
            MaxPool2d(2),
            Conv2d(16, 32, 3),
            activation(act),
            MaxPool2d(2),
            Flatten(),
            Linear(32 * 5 * 5, 128),
            activation(act),
            Linear(128, code_size),
            activation(act),
        )
        self.decoder_dense = Sequential(
            Linear(code_size, 128), activation(act), Linear(128, 32 * 5 * 5), activation(act)
        )
        self.decoder_conv = Sequential(
            Upsample2d(2),
            Conv2d(32, 16, 3, padding=2),
            activation(act),
            Upsample2d(2),
            Conv2d(16, 16, 3, padding=2),
            activation(act),
            Conv2d(16, in_channels, 3, padding=2),
        )

    def encode(self, x: Any) -> Any:
        """The code (N, code_size) of images (N, in_channels, 28, 28)."""
        return self.encoder(x)

    def decode(self, code: Any) -> Any:
        """Images (N, in_channels, 28, 28) from codes (N, code_size)."""
        h = self.decoder_dense(code)
        return self.decoder_conv(h.reshape(h.shape[0], 32, 5, 5))

    def forward(self, x: Any) -> Any:
        """The reconstruction of images (N, in_channels, 28, 28), same shape."""
        return self.decode(self.encode(x))


MODELS = {
    "lenet5": LeNet5,
    "caffe_lenet": CaffeLeNet,
    "caffe_cifar10": CaffeCifar10,
    "caffe_cifar10_quick": CaffeCifar10Quick,
    "wame_mnist": WameMnistNet,
    "wame_cifar": WameCifarNet,
    "dozat_autoencoder": DozatAutoencoder,
}
#: The models that classify (trained with cross-entropy by ``minigrad train``).
CLASSIFIERS = {name: cls for name, cls in MODELS.items() if getattr(cls, "task", "classification") == "classification"}
