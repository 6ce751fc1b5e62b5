"""layers.init: each scheme's bounds or standard deviation on a large layer, fans of convolutions,
seeding, identity of the parameters, and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import layers
import minigrad
from layers import init
from minigrad import Parameter
from tests import fake_cupy

# A 1000 × 1000 weight: 10⁶ draws. The sample std of 10⁶ draws is within 0.2 % of the true std
# (its relative standard error is about 0.07 % for a normal, less for a uniform), so the 2 %
# margins below cannot flake; the draws are seeded anyway.
FAN = 1000


def _weight(shape: tuple[int, ...] = (FAN, FAN), dtype=np.float64) -> Parameter:
    return Parameter(np.zeros(shape, dtype=dtype))


def _check_uniform(values: np.ndarray, bound: float) -> None:
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound  # the whole range is used
    assert abs(values.std() - bound / math.sqrt(3)) < 0.02 * bound / math.sqrt(3)
    assert abs(values.mean()) < 0.01 * bound


def _check_normal(values: np.ndarray, std: float) -> None:
    assert abs(values.std() - std) < 0.02 * std
    assert abs(values.mean()) < 0.01 * std
    assert np.abs(values).max() > 3 * std  # not a truncated or uniform distribution


@pytest.mark.parametrize(
    ("scheme", "kwargs", "kind", "scale"),
    [
        ("caffe_xavier", {}, "uniform", math.sqrt(3 / FAN)),
        ("caffe_xavier", {"variance_norm": "average"}, "uniform", math.sqrt(3 / ((FAN + 2 * FAN) / 2))),
        ("caffe_xavier", {"variance_norm": "fan_out"}, "uniform", math.sqrt(3 / (2 * FAN))),
        ("xavier_uniform", {}, "uniform", math.sqrt(6 / (FAN + 2 * FAN))),
        ("glorot_uniform", {"gain": 2.0}, "uniform", 2 * math.sqrt(6 / (FAN + 2 * FAN))),
        ("xavier_normal", {}, "normal", math.sqrt(2 / (FAN + 2 * FAN))),
        ("kaiming_normal", {}, "normal", math.sqrt(2 / FAN)),
        ("he_normal", {"mode": "fan_out"}, "normal", math.sqrt(2 / (2 * FAN))),
        ("msra", {}, "normal", math.sqrt(2 / FAN)),
        ("kaiming_normal", {"nonlinearity": "leaky_relu", "a": 0.2}, "normal", math.sqrt(2 / 1.04 / FAN)),
        ("kaiming_uniform", {}, "uniform", math.sqrt(6 / FAN)),
        ("he_uniform", {"nonlinearity": "tanh"}, "uniform", 5 / 3 * math.sqrt(3 / FAN)),
        ("lecun_normal", {}, "normal", math.sqrt(1 / FAN)),
        ("lecun_uniform", {}, "uniform", math.sqrt(3 / FAN)),
        ("torch_default", {}, "uniform", 1 / math.sqrt(FAN)),
        ("normal", {"std": 0.01}, "normal", 0.01),
        ("uniform", {"a": -0.3, "b": 0.3}, "uniform", 0.3),
    ],
)
def test_each_scheme_draws_its_distribution(scheme: str, kwargs: dict, kind: str, scale: float) -> None:
    # Weight (2·FAN, FAN): fan_in FAN, fan_out 2·FAN, so schemes that mix them up fail.
    minigrad.seed(0)
    lin = layers.Linear(FAN, 2 * FAN, dtype=np.float64)
    init.initialize(lin, weight=scheme, bias="zeros", **kwargs)
    (_check_uniform if kind == "uniform" else _check_normal)(lin.weight.data, scale)
    assert not lin.bias.data.any()


def test_constant_and_zero_schemes() -> None:
    lin = layers.Linear(3, 4)
    init.initialize(lin, weight="constant", value=0.5, bias=0.1)
    assert np.all(lin.weight.data == np.float32(0.5)) and np.all(lin.bias.data == np.float32(0.1))
    init.initialize(lin, weight="zeros", bias="constant", bias_kwargs={"value": -1.0})
    assert not lin.weight.data.any() and np.all(lin.bias.data == -1.0)


def test_conv_fans_count_the_kernel() -> None:
    assert init.fans((32, 16, 3, 5)) == (16 * 15, 32 * 15)
    assert init.fans((10, 400)) == (400, 10)
    minigrad.seed(1)
    conv = layers.Conv2d(40, 50, (5, 5), dtype=np.float64)  # fan_in 1000, fan_out 1250
    init.initialize(conv, weight="caffe_xavier")
    _check_uniform(conv.weight.data, math.sqrt(3 / 1000))
    init.initialize(conv, weight="xavier_normal")
    _check_normal(conv.weight.data, math.sqrt(2 / (1000 + 1250)))
    with pytest.raises(ValueError, match=r"shape \(7,\)"):
        init.fans((7,))


def test_bias_schemes_use_the_layers_fans() -> None:
    minigrad.seed(2)
    lin = layers.Linear(FAN, 2 * FAN, dtype=np.float64)
    init.initialize(lin, weight="torch_default", bias="torch_default")
    bound = 1 / math.sqrt(FAN)
    assert np.abs(lin.bias.data).max() <= bound and np.abs(lin.bias.data).max() > 0.9 * bound
    # Single functions: a bias needs its fan_in given.
    with pytest.raises(ValueError, match="pass fan_in"):
        init.torch_default_(lin.bias)
    init.torch_default_(lin.bias, fan_in=4)
    assert np.abs(lin.bias.data).max() > 0.45


def test_the_default_scheme_is_the_layers_own_default() -> None:
    # torch_default re-draws exactly what the constructor drew, from the same seed.
    minigrad.seed(5)
    built = layers.Conv2d(3, 4, 3)
    minigrad.seed(5)
    other = layers.Conv2d(3, 4, 3)
    minigrad.seed(5)
    init.initialize(other, weight="torch_default", bias="torch_default")
    for p, q in zip(built.parameters(), other.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)


def test_initialize_visits_every_layer_in_place_and_is_reproducible() -> None:
    model = layers.LeNet5()
    params = model.parameters()
    arrays = [p.data for p in params]
    minigrad.seed(7)
    assert init.initialize(model, weight="he_normal", bias=0.0) is model
    first = [p.data.copy() for p in model.parameters()]
    assert all(p is q and p.data is a for p, q, a in zip(params, model.parameters(), arrays, strict=True))
    minigrad.seed(7)
    init.initialize(model, weight="he_normal", bias=0.0)
    for a, b in zip(first, (p.data for p in model.parameters()), strict=True):
        np.testing.assert_array_equal(a, b)
    minigrad.seed(8)
    init.initialize(model, weight="he_normal", bias=0.0)
    assert not np.array_equal(first[0], model.parameters()[0].data)
    # Each layer got its own fan: conv1 (fan_in 25) has a larger std than fc1 (fan_in 400).
    assert model.features[0].weight.data.std() > 2 * model.classifier[1].weight.data.std()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_layers_without_a_weight_of_known_fan_are_left_alone() -> None:
    class Scale(layers.Module):
        def __init__(self) -> None:
            self.weight = Parameter(np.ones(3, dtype=np.float32))  # 1-d: no fan

        def forward(self, x):
            return x * self.weight

    model = layers.Sequential(layers.Linear(3, 3), Scale())
    init.initialize(model, weight="normal")
    np.testing.assert_array_equal(model[1].weight.data, np.ones(3))


def test_single_functions_on_a_parameter() -> None:
    minigrad.seed(9)
    w = _weight((FAN, 500))
    assert init.kaiming_uniform_(w) is w
    _check_uniform(w.data, math.sqrt(6 / 500))
    init.xavier_uniform_(w, fan_in=10, fan_out=20)  # explicit fans win over the shape's
    _check_uniform(w.data, math.sqrt(6 / 30))
    init.constant_(w, 3.0)
    assert np.all(w.data == 3.0)
    init.zeros_(w)
    assert not w.data.any()
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))


def test_float32_and_float64_layers_get_the_same_draws() -> None:
    minigrad.seed(10)
    a = init.lecun_normal_(_weight((50, 40), np.float32))
    minigrad.seed(10)
    b = init.lecun_normal_(_weight((50, 40), np.float64))
    np.testing.assert_array_equal(a.data, b.data.astype(np.float32))


def test_initialization_errors_name_the_choices() -> None:
    lin = layers.Linear(2, 2)
    with pytest.raises(ValueError, match=r"unknown weight initialisation 'xavier'.*caffe_xavier"):
        init.initialize(lin, weight="xavier")
    with pytest.raises(ValueError, match="unknown bias initialisation"):
        init.initialize(lin, bias="ones")
    with pytest.raises(TypeError, match="std"):
        init.initialize(lin, weight="xavier_uniform", std=0.1)
    with pytest.raises(ValueError, match="variance_norm"):
        init.caffe_xavier_(lin.weight, variance_norm="FAN_IN")
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_normal_(lin.weight, mode="in")
    with pytest.raises(ValueError, match="nonlinearity"):
        init.kaiming_normal_(lin.weight, nonlinearity="swish")
    with pytest.raises(ValueError, match="a < b"):
        init.uniform_(lin.weight, 1.0, -1.0)


def test_initialize_on_the_device_draws_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same seed gives the same weights on the host and on a (stand-in) GPU.
    host = layers.Linear(6, 4)
    minigrad.seed(11)
    init.initialize(host, weight="xavier_normal", bias="torch_default")
    fake_cupy.install(monkeypatch)
    device = layers.Linear(6, 4).to("gpu")
    minigrad.seed(11)
    init.initialize(device, weight="xavier_normal", bias="torch_default")
    for p, q in zip(host.parameters(), device.parameters(), strict=True):
        assert q.device == "gpu"
        np.testing.assert_array_equal(p.data, minigrad.to_numpy(q.data))
