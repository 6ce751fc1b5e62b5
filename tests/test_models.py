"""The papers' models of layers.models: parameter counts against the papers (where they state them)
and against each docstring's arithmetic, geometry, a forward/backward pass of every registered
model on a tiny batch, and a short run in which Dozat's autoencoder must learn."""

from __future__ import annotations

import numpy as np
import pytest

import datasets
import layers
import minigrad
import optimizers
from layers import Conv2d, Linear, init
from minigrad import Tensor
from minigrad import functional as F
from minigrad.backend import to_device, to_numpy
from tests import fake_cupy

# name -> (constructor keywords, input shape of one image, output shape of one image)
SHAPES = {
    "lenet5": ({}, (1, 28, 28), (10,)),
    "caffe_lenet": ({}, (1, 28, 28), (10,)),
    "caffe_cifar10": ({}, (3, 32, 32), (10,)),
    "caffe_cifar10_quick": ({}, (3, 32, 32), (10,)),
    "wame_mnist": ({}, (1, 28, 28), (10,)),
    "wame_cifar": ({"num_classes": 100}, (3, 32, 32), (100,)),
    "dozat_autoencoder": ({}, (1, 28, 28), (1, 28, 28)),
}


def count(*modules: layers.Module) -> int:
    return sum(m.num_parameters() for m in modules)


# ----- parameter counts -------------------------------------------------------------------------------


def test_dozat_autoencoder_has_the_papers_count() -> None:
    assert layers.DozatAutoencoder().num_parameters() == 224_177  # Dozat 2016, §4.1


def test_dozat_counts_of_the_readings_the_docstring_rejects() -> None:
    fc = count(Linear(800, 128), Linear(128, 16), Linear(16, 128), Linear(128, 800))
    # 7×7 kernels with channels chained 1 → 16 → 16 → 32 and the decoder mirrored.
    chained = count(Conv2d(1, 16, 7), Conv2d(16, 16, 7), Conv2d(16, 32, 7))
    chained += count(Conv2d(32, 16, 7), Conv2d(16, 16, 7), Conv2d(16, 1, 7))
    assert fc + chained == 286_897
    # The printed shapes literally: every filter sees one input channel.
    literal = count(Conv2d(1, 16, 7), Conv2d(1, 16, 7), Conv2d(1, 32, 7))
    literal += count(Conv2d(32, 1, 7), Conv2d(16, 1, 7), Conv2d(16, 1, 7))
    assert fc + literal == 216_307
    # The other kernel assignment that the docstring mentions also makes 224,177.
    other = count(Conv2d(1, 16, 3), Conv2d(16, 16, 5), Conv2d(16, 32, 1))
    other += count(Conv2d(32, 16, 1), Conv2d(16, 16, 5), Conv2d(16, 1, 3))
    assert fc + other == 224_177


def test_dozat_arithmetic_of_the_docstring() -> None:
    ae = layers.DozatAutoencoder()
    encoder_convs = (1 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + (16 * 32 * 9 + 32)
    encoder_dense = (800 * 128 + 128) + (128 * 16 + 16)
    decoder_dense = (16 * 128 + 128) + (128 * 800 + 800)
    decoder_convs = (32 * 16 * 9 + 16) + (16 * 16 * 9 + 16) + (16 * 1 * 9 + 1)
    assert (encoder_convs, encoder_dense, decoder_dense, decoder_convs) == (7_120, 104_592, 105_376, 7_089)
    assert count(ae.encoder) == encoder_convs + encoder_dense
    assert count(ae.decoder_dense) == decoder_dense and count(ae.decoder_conv) == decoder_convs


def test_wame_counts_follow_table_1() -> None:
    mnist = (1 * 64 * 25 + 64) + (64 * 64 + 64) + (64 * 128 * 25 + 128) + (128 * 128 + 128)
    mnist += (2048 * 1024 + 1024) + (1024 * 10 + 10)
    assert layers.WameMnistNet().num_parameters() == mnist == 2_335_690
    cifar = (3 * 96 * 9 + 96) + 2 * (96 * 96 * 9 + 96) + (96 * 192 * 9 + 192) + 3 * (192 * 192 * 9 + 192)
    cifar += 192 * 192 + 192
    assert layers.WameCifarNet().num_parameters() == cifar + 192 * 10 + 10 == 1_369_738
    assert layers.WameCifarNet(num_classes=100).num_parameters() == cifar + 192 * 100 + 100 == 1_387_108


def test_caffe_cifar10_counts() -> None:
    convs = (3 * 32 * 25 + 32) + (32 * 32 * 25 + 32) + (32 * 64 * 25 + 64)
    assert layers.CaffeCifar10().num_parameters() == convs + 1024 * 10 + 10 == 89_578
    assert layers.CaffeCifar10Quick().num_parameters() == convs + (1024 * 64 + 64) + (64 * 10 + 10) == 145_578


# ----- geometry -----------------------------------------------------------------------------------------


def test_caffe_cifar10_pools_round_up_to_4x4() -> None:
    net = layers.CaffeCifar10()
    assert net.features(Tensor(np.zeros((1, 3, 32, 32), np.float32))).shape == (1, 64, 4, 4)


def test_dozat_autoencoder_geometry() -> None:
    ae = layers.DozatAutoencoder()
    x = Tensor(np.zeros((2, 1, 28, 28), np.float32))
    code = ae.encode(x)
    assert code.shape == (2, 16)
    h = x
    sizes = []
    for layer in ae.encoder:
        h = layer(h)
        if h.ndim == 4:
            sizes.append(h.shape[2])
    assert sizes == [26, 26, 24, 24, 12, 10, 10, 5]  # 32·5·5 = 800 inputs of the first dense layer
    assert ae.decode(code).shape == (2, 1, 28, 28)


def test_wame_cifar_dropout_after_each_strided_convolution() -> None:
    net = layers.WameCifarNet()
    kinds = [type(m).__name__ for m in net.features]
    strided = [i for i, m in enumerate(net.features) if isinstance(m, Conv2d) and m.stride == (2, 2)]
    assert len(strided) == 2
    for i in strided:  # conv → activation → dropout
        assert kinds[i + 1] == "ReLU" and kinds[i + 2] == "Dropout"
    assert kinds.count("Dropout") == 2
    assert type(layers.WameCifarNet(class_activation=False).features[-1]).__name__ == "Conv2d"


# ----- every registered model: a forward and backward pass on a tiny batch ---------------------------------


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_forward_backward_smoke(name: str) -> None:
    assert set(SHAPES) == set(layers.MODELS)
    minigrad.seed(0)
    kwargs, in_shape, out_shape = SHAPES[name]
    net = layers.MODELS[name](**kwargs)
    x = np.random.default_rng(0).uniform(0, 1, (2, *in_shape)).astype(np.float32)
    out = net(Tensor(x))
    assert out.shape == (2, *out_shape) and out.dtype == np.float32
    if name == "dozat_autoencoder":
        loss = F.mse_loss(out, x)
    else:
        loss = F.cross_entropy(out, np.array([0, out_shape[0] - 1]))
    loss.backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad).all(), pname
    # In eval mode (dropout off) the output is a function of the input alone.
    net.eval()
    np.testing.assert_array_equal(net(Tensor(x)).data, net(Tensor(x)).data)


def test_models_take_the_activation_by_name() -> None:
    net = layers.WameMnistNet(activation_name="leaky_relu")
    assert any(isinstance(m, layers.LeakyReLU) for m in net.features)
    assert all(not isinstance(m, layers.LeakyReLU) for m in layers.DozatAutoencoder("relu").encoder)
    with pytest.raises(ValueError, match="unknown activation"):
        layers.CaffeCifar10(activation_name="tanh")


# ----- Dozat's autoencoder learns ----------------------------------------------------------------------------


def test_dozat_autoencoder_mse_falls_on_mnist() -> None:
    minigrad.seed(0)
    images, _ = datasets.mnist("train")
    x = np.ascontiguousarray(images[:256])  # [0, 1] pixels, as in the paper
    ae = layers.DozatAutoencoder()
    opt = optimizers.Adam(ae.parameters(), lr=2e-3)

    def mse() -> float:
        with minigrad.no_grad():
            return float(F.mse_loss(ae(Tensor(x)), x).item())

    before = mse()
    for _ in range(2):  # two epochs of 8 steps: about 3 s of CPU
        for start in range(0, len(x), 32):
            batch = x[start : start + 32]
            ae.zero_grad()
            F.mse_loss(ae(Tensor(batch)), batch).backward()
            opt.step()
    after = mse()
    # Predicting the mean image everywhere scores the pixel variance; it must do better than that.
    assert after < 0.8 * before and after < float(x.var())


# ----- the device path, on the strict CuPy stand-in -------------------------------------------------------


NEW_MODELS = ["caffe_cifar10", "caffe_cifar10_quick", "wame_mnist", "wame_cifar", "dozat_autoencoder"]


@pytest.mark.parametrize("name", NEW_MODELS)
def test_new_models_run_on_the_device_path_without_host_reads(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs, in_shape, _ = SHAPES[name]
    x = np.random.default_rng(1).uniform(0, 1, (2, *in_shape)).astype(np.float32)

    def run(device: str) -> tuple[np.ndarray, list[np.ndarray]]:
        minigrad.seed(0)
        net = layers.MODELS[name](**kwargs).to(device).eval()  # eval: dropout draws differ per device
        xs = to_device(x, device)
        fake_cupy.host_reads.clear()
        out = net(Tensor(xs))
        (out * out).sum().backward()
        assert fake_cupy.host_reads == [], "the forward or backward pass read values back to the host"
        return to_numpy(out.data), [to_numpy(p.grad) for p in net.parameters()]

    cpu_out, cpu_grads = run("cpu")
    fake_cupy.install(monkeypatch)
    gpu_out, gpu_grads = run("gpu")
    np.testing.assert_allclose(gpu_out, cpu_out, rtol=1e-6)
    for g, c in zip(gpu_grads, cpu_grads):
        np.testing.assert_allclose(g, c, rtol=1e-5, atol=1e-7)


# ----- the initialisations the docstrings give, with layers.init ---------------------------------------------


def test_caffe_fillers_recipe_of_the_docstring() -> None:
    minigrad.seed(0)
    net = init.initialize(layers.CaffeCifar10(), weight="normal", std=0.01, bias="zeros")
    init.normal_(net.features[0].weight, std=1e-4)
    conv1, conv3, ip1 = net.features[0], net.features[8], net.classifier[1]
    assert abs(float(conv1.weight.data.std()) / 1e-4 - 1) < 0.05  # 2,400 draws
    assert abs(float(conv3.weight.data.std()) / 0.01 - 1) < 0.05 and abs(float(ip1.weight.data.std()) / 0.01 - 1) < 0.05
    assert all(float(abs(p.data).max()) == 0.0 for name, p in net.named_parameters() if name.endswith("bias"))


@pytest.mark.parametrize("name", ["wame_mnist", "wame_cifar", "dozat_autoencoder"])
def test_glorot_recipe_of_the_docstring(name: str) -> None:
    net = init.initialize(layers.MODELS[name](), weight="xavier_uniform", bias="zeros")
    for layer in net.modules():
        if isinstance(layer, (Conv2d, Linear)):
            fan_in, fan_out = init.fans(layer.weight.shape)
            assert float(abs(layer.weight.data).max()) <= (6 / (fan_in + fan_out)) ** 0.5
            assert float(abs(layer.bias.data).max()) == 0.0
