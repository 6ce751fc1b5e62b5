"""Module and the layers: parameter discovery, modes, state dicts, devices, agreement with PyTorch,
argument checks, model shapes, and the conv output's memory layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import layers
import minigrad
from layers import Module
from minigrad import Parameter, Tensor
from minigrad import functional as F


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(
        np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max() / max(np.abs(b).max(), 1e-12)
    )


# ----- parameter discovery ---------------------------------------------------------------------


class Block(Module):
    def __init__(self) -> None:
        self.lin = layers.Linear(3, 4)
        self.scale = Parameter(np.ones(4, dtype=np.float32))

    def forward(self, x):
        return self.lin(x) * self.scale


class Net(Module):
    def __init__(self) -> None:
        self.stem = layers.Linear(2, 3)
        self.blocks = [Block(), Block()]
        self.heads = {"a": layers.Linear(4, 1), "b": layers.Linear(4, 2, bias=False)}
        self._private = Parameter(np.ones(1, dtype=np.float32))  # underscore attributes are skipped
        self.not_a_param = Tensor(np.ones(3, dtype=np.float32))


def test_named_parameters_walk_nested_lists_and_dicts() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "stem.weight",
        "stem.bias",
        "blocks.0.scale",
        "blocks.0.lin.weight",
        "blocks.0.lin.bias",
        "blocks.1.scale",
        "blocks.1.lin.weight",
        "blocks.1.lin.bias",
        "heads.a.weight",
        "heads.a.bias",
        "heads.b.weight",
    ]
    params = net.parameters()
    assert len({id(p) for p in params}) == len(params) == 11
    assert net.num_parameters() == 2 * 3 + 3 + 2 * (4 + 12 + 4) + 4 + 1 + 8
    assert [n for n, _ in net.named_modules()][:4] == ["", "stem", "blocks.0", "blocks.0.lin"]


def test_shared_parameter_counted_once_under_its_first_name() -> None:
    class Tied(Module):
        def __init__(self) -> None:
            self.enc = layers.Linear(3, 3)
            self.dec = layers.Linear(3, 3)
            self.dec.weight = self.enc.weight

    model = Tied()
    assert [n for n, _ in model.named_parameters()] == ["enc.weight", "enc.bias", "dec.bias"]
    assert model.num_parameters() == 9 + 3 + 3
    groups = model.layer_groups()
    assert [g["name"] for g in groups] == ["enc", "dec"]
    assert groups[0]["params"] == [model.enc.weight, model.enc.bias] and groups[1]["params"] == [
        model.dec.bias
    ]
    assert sorted(model.state_dict()) == ["dec.bias", "enc.bias", "enc.weight"]


def test_shared_module_counted_once() -> None:
    shared = layers.Linear(3, 3)
    seq = layers.Sequential(shared, layers.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert seq.num_parameters() == 12
    assert len(seq.layer_groups()) == 1


def test_sequential_names_by_position() -> None:
    model = layers.LeNet5()
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == ["features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias"]
    assert names[4:] == [f"classifier.{i}.{k}" for i in (1, 3, 5) for k in ("weight", "bias")]
    assert isinstance(model.features[0], layers.Conv2d) and len(model.features) == 6
    assert [type(m).__name__ for m in model.features][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    with pytest.raises(TypeError, match="Sequential item 1"):
        layers.Sequential(layers.ReLU(), lambda x: x)


def test_layer_groups_one_per_owning_module() -> None:
    model = layers.LeNet5()
    groups = model.layer_groups()
    assert [g["name"] for g in groups] == [
        "features.0",
        "features.3",
        "classifier.1",
        "classifier.3",
        "classifier.5",
    ]
    owners = [
        model.features[0],
        model.features[3],
        model.classifier[1],
        model.classifier[3],
        model.classifier[5],
    ]
    for g, owner in zip(groups, owners, strict=True):
        assert len(g["params"]) == 2
        assert g["params"][0] is owner.weight and g["params"][1] is owner.bias
    net = Net()
    net_groups = net.layer_groups()
    assert [g["name"] for g in net_groups] == [
        "stem",
        "blocks.0",
        "blocks.0.lin",
        "blocks.1",
        "blocks.1.lin",
        "heads.a",
        "heads.b",
    ]
    assert net_groups[1]["params"] == [net.blocks[0].scale]

    # Parameters owned by the root itself form a group named after its class.
    class Root(Module):
        def __init__(self) -> None:
            self.w = Parameter(np.ones(2, dtype=np.float32))
            self.sub = layers.Linear(2, 2)

    assert [g["name"] for g in Root().layer_groups()] == ["Root", "sub"]


def test_parameter_counts_of_the_models() -> None:
    assert layers.LeNet5().num_parameters() == 61706
    assert layers.CaffeLeNet().num_parameters() == 431080
    assert layers.LeNet5(num_classes=5).num_parameters() == 61706 - 5 * 85
    assert {"lenet5", "caffe_lenet"} <= set(layers.MODELS)  # the registry grows with the papers' nets


# ----- modes -----------------------------------------------------------------------------------


def test_train_and_eval_propagate() -> None:
    model = layers.Sequential(layers.Linear(2, 2), layers.Sequential(layers.Dropout(0.5), layers.ReLU()))
    assert model.eval() is model
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model[1].eval()
    assert model.training and not model[1].training and not model[1][0].training


def test_dropout_is_identity_in_eval_and_scaled_in_training() -> None:
    drop = layers.Dropout(0.3)
    x = Tensor(np.ones((400, 500), dtype=np.float32))
    drop.eval()
    assert drop(x) is x
    drop.train()
    minigrad.seed(0)
    y = drop(x).data
    assert y.dtype == np.float32
    zeros = float((y == 0).mean())
    assert abs(zeros - 0.3) < 0.01
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.02


def test_dropout_backward_uses_the_same_mask() -> None:
    minigrad.seed(1)
    x = Tensor(np.full((50, 40), 2.0, dtype=np.float32), requires_grad=True)
    y = layers.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, y.data / 2.0)


def test_dropout_probability_validation() -> None:
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match="dropout probability"):
            layers.Dropout(bad)
    x = Tensor(np.ones(3, dtype=np.float32))
    assert layers.Dropout(0.0)(x) is x
    with pytest.raises(ValueError):
        F.dropout(x, 1.0)


# ----- state dicts -----------------------------------------------------------------------------


def test_state_dict_round_trip_through_save_and_load(tmp_path: Path) -> None:
    minigrad.seed(0)
    a = layers.LeNet5()
    minigrad.seed(1)
    b = layers.LeNet5()
    minigrad.save({"model": a.state_dict()}, tmp_path / "m.npz")
    params_before = b.parameters()
    b.load_state_dict(minigrad.load(tmp_path / "m.npz")["model"])
    assert all(p is q for p, q in zip(params_before, b.parameters(), strict=True))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert q.dtype == np.float32
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    # Loaded arrays are copies: changing the source leaves the model alone.
    state = a.state_dict()
    b.load_state_dict(state)
    state["features.0.bias"][...] = 99.0
    assert not np.any(b.features[0].bias.data == 99.0)


def test_load_state_dict_strict_key_mismatch() -> None:
    model = layers.LeNet5()
    state = model.state_dict()
    state.pop("classifier.5.bias")
    state["extra.weight"] = np.ones(1, dtype=np.float32)
    with pytest.raises(KeyError) as info:
        model.load_state_dict(state)
    assert "classifier.5.bias" in str(info.value) and "extra.weight" in str(info.value)
    # Non-strict: loads what matches and ignores the rest.
    minigrad.seed(5)
    other = layers.LeNet5()
    other.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(other.features[0].weight.data, model.features[0].weight.data)


def test_load_state_dict_shape_mismatch_names_the_parameter() -> None:
    model = layers.LeNet5()
    state = model.state_dict()
    state["classifier.3.weight"] = np.ones((84, 121), dtype=np.float32)
    with pytest.raises(ValueError, match=r"classifier\.3\.weight"):
        model.load_state_dict(state)


# ----- devices ---------------------------------------------------------------------------------


def test_to_cpu_keeps_parameter_identity() -> None:
    model = layers.LeNet5()
    before = [(p, p.data) for p in model.parameters()]
    assert model.to("cpu") is model
    assert all(p is q and p.data is d for (p, d), q in zip(before, model.parameters(), strict=True))
    t = Tensor(np.ones(2, dtype=np.float32))
    assert t.to("cpu") is t and t.device == "cpu"


@pytest.mark.skipif(minigrad.cupy_available(), reason="CuPy with a GPU is available")
def test_to_gpu_without_cupy_explains() -> None:
    model = layers.Linear(2, 2)
    with pytest.raises(RuntimeError, match="CuPy"):
        model.to("gpu")
    with pytest.raises(RuntimeError, match="CuPy"):
        Tensor(np.ones(2)).to("gpu")
    assert model.weight.device == "cpu"


def test_unknown_device() -> None:
    with pytest.raises(ValueError, match="unknown device"):
        layers.Linear(2, 2).to("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        Tensor(np.ones(2)).to("cuda")


# ----- agreement with PyTorch (float32, copied weights) -------------------------------------------


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


def _t(torch, a: np.ndarray, grad: bool = False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _compare_module(torch, ours, theirs, x: np.ndarray, atol: float = 1e-5) -> None:
    """Forward and input/parameter gradients of ``ours`` vs ``theirs`` for a random upstream gradient."""
    xt = Tensor(x, requires_grad=True)
    out = ours(xt)
    tx = _t(torch, x, grad=True)
    tout = theirs(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-5, atol=atol)
    g = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(_t(torch, g))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-5, atol=atol)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert rel_err(p.grad, tp.grad.numpy()) < 1e-5, name


def test_linear_matches_torch(torch) -> None:
    for bias in (True, False):
        ours = layers.Linear(7, 5, bias=bias)
        theirs = torch.nn.Linear(7, 5, bias=bias)
        with torch.no_grad():
            theirs.weight.copy_(_t(torch, ours.weight.data))
            if bias:
                theirs.bias.copy_(_t(torch, ours.bias.data))
        x = np.random.default_rng(1).standard_normal((6, 7)).astype(np.float32)
        _compare_module(torch, ours, theirs, x)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"),
    [(3, 1, 0), (5, 1, 2), ((3, 2), (2, 1), (1, 0)), (3, 3, 1), ((2, 4), (3, 2), (0, 2))],
)
def test_conv2d_matches_torch(torch, kernel, stride, padding) -> None:
    ours = layers.Conv2d(3, 4, kernel, stride=stride, padding=padding)
    theirs = torch.nn.Conv2d(3, 4, kernel, stride=stride, padding=padding)
    with torch.no_grad():
        theirs.weight.copy_(_t(torch, ours.weight.data))
        theirs.bias.copy_(_t(torch, ours.bias.data))
    x = np.random.default_rng(2).standard_normal((5, 3, 11, 10)).astype(np.float32)
    _compare_module(torch, ours, theirs, x)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1)), (3, 1, 0)]
)
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_layers_match_torch(torch, mode, kernel, stride, padding) -> None:
    ours = (layers.MaxPool2d if mode == "max" else layers.AvgPool2d)(kernel, stride, padding)
    theirs = (torch.nn.MaxPool2d if mode == "max" else torch.nn.AvgPool2d)(kernel, stride, padding)
    x = np.random.default_rng(3).standard_normal((4, 3, 9, 8)).astype(np.float32)
    _compare_module(torch, ours, theirs, x)
    ties = np.random.default_rng(4).integers(0, 3, (4, 3, 9, 8)).astype(np.float32)
    _compare_module(torch, ours, theirs, ties)


def test_activations_match_torch(torch) -> None:
    x = np.random.default_rng(5).standard_normal((6, 9)).astype(np.float32) * 3
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink
    _compare_module(torch, layers.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1), x)
    _compare_module(torch, layers.ReLU(), torch.nn.ReLU(), x)
    for axis in (-1, 0):
        _compare_module(torch, layers.Softmax(axis), torch.nn.Softmax(dim=axis), x)
        _compare_module(torch, layers.LogSoftmax(axis), torch.nn.LogSoftmax(dim=axis), x)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_loss_matches_torch(torch, reduction) -> None:
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((8, 10)).astype(np.float32) * 4
    labels = rng.integers(0, 10, 8)
    ours = Tensor(logits, requires_grad=True)
    loss = layers.CrossEntropyLoss(reduction)(ours, labels)
    tl = _t(torch, logits, grad=True)
    tloss = torch.nn.CrossEntropyLoss(reduction=reduction)(tl, torch.tensor(labels))
    loss.backward()
    tloss.backward()
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    np.testing.assert_allclose(ours.grad, tl.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_mse_loss_matches_torch(torch) -> None:
    rng = np.random.default_rng(7)
    pred, target = (
        rng.standard_normal((5, 3)).astype(np.float32),
        rng.standard_normal((5, 3)).astype(np.float32),
    )
    ours = Tensor(pred, requires_grad=True)
    loss = layers.MSELoss()(ours, target)
    tp = _t(torch, pred, grad=True)
    tloss = torch.nn.MSELoss()(tp, _t(torch, target))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad, tp.grad.numpy(), rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="target shape"):
        layers.MSELoss()(ours, target[:4])


def _torch_lenet5(torch, act):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        act(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        act(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        act(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, 10),
    )


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_lenet5_forward_and_backward_match_torch(torch, activation) -> None:
    minigrad.seed(0)
    ours = layers.LeNet5(activation_name=activation)
    theirs = _torch_lenet5(torch, torch.nn.ReLU if activation == "relu" else torch.nn.LeakyReLU)
    with torch.no_grad():
        for p, tp in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert tuple(tp.shape) == p.shape
            tp.copy_(_t(torch, p.data))
    rng = np.random.default_rng(8)
    x = rng.random((16, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 16)
    logits = ours(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    tlogits = theirs(_t(torch, x))
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.tensor(y))
    tloss.backward()
    assert logits.shape == (16, 10)
    assert rel_err(logits.data, tlogits.detach().numpy()) < 1e-5
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert p.grad is not None and p.grad.dtype == np.float32, name
        assert rel_err(p.grad, tp.grad.numpy()) < 1e-4, name


# ----- argument checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0.0, 1.0, 2.0]), "integer"),
        (np.array([0, 1, 10]), r"\[0, 10\)"),
        (np.array([0, -1, 2]), "min -1"),
        (np.array([0, 1]), "do not match"),
        (np.array([[0, 1, 2]]), "do not match"),
        ([0, 1], "do not match"),
        ([0.0, 1.0, 2.0], "integer"),
        ([0, 1, 10], r"\[0, 10\)"),
        (np.eye(3, 10), r"expected class indices of shape \(3,\), got one-hot/probabilities of shape \(3, 10\)"),
        (np.eye(3, 10, dtype=np.int64), "one-hot"),
    ],
    ids=["float", "too-large", "negative", "short", "2d", "short-list", "float-list", "list-too-large", "one-hot",
         "one-hot-int"],
)
def test_cross_entropy_label_checks(labels, message) -> None:
    logits = Tensor(np.zeros((3, 10), dtype=np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=message):
        layers.CrossEntropyLoss()(logits, labels)


def test_cross_entropy_other_checks() -> None:
    logits = Tensor(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, np.zeros(3, dtype=np.int64), reduction="max")
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.cross_entropy(Tensor(np.zeros((3, 4, 1), dtype=np.float32)), np.zeros(3, dtype=np.int64))
    # Labels given as a Tensor are accepted.
    assert F.cross_entropy(logits, Tensor(np.array([0, 1, 3]))).item() == pytest.approx(np.log(4))


def test_shape_errors() -> None:
    x = Tensor(np.zeros((2, 3, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="channels"):
        layers.Conv2d(2, 4, 3)(x)
    with pytest.raises(ValueError, match="larger than the padded input"):
        layers.Conv2d(3, 4, 9)(x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        layers.Conv2d(3, 4, 3)(Tensor(np.zeros((3, 8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match="stride"):
        layers.Conv2d(3, 4, 3, stride=0)(x)
    with pytest.raises(ValueError, match=r"expected \(N, 5\)"):
        layers.Linear(5, 2)(Tensor(np.zeros((2, 4), dtype=np.float32)))
    with pytest.raises(ValueError, match="does not fit"):
        layers.Linear(5, 2)(Tensor(np.zeros(5, dtype=np.float32)))
    for pool in (layers.MaxPool2d, layers.AvgPool2d):
        with pytest.raises(ValueError, match="larger than the padded input"):
            pool(9)(x)
        with pytest.raises(ValueError, match="at most half the kernel"):
            pool(2, padding=2)(x)
        with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
            pool(2)(Tensor(np.zeros((8, 8), dtype=np.float32)))
    with pytest.raises(ValueError, match="kernel_size"):
        layers.Conv2d(3, 4, -1)


# ----- shapes of layers and models ------------------------------------------------------------


def test_global_avg_pool_and_flatten_shapes() -> None:
    x = np.random.default_rng(9).standard_normal((2, 3, 4, 5)).astype(np.float32)
    g = layers.GlobalAvgPool2d()(x)
    assert g.shape == (2, 3)
    np.testing.assert_allclose(g.data, x.mean(axis=(2, 3)), rtol=1e-6)
    with pytest.raises(ValueError):
        layers.GlobalAvgPool2d()(x[0])
    assert layers.Flatten()(x).shape == (2, 60)
    assert layers.Flatten(2)(x).shape == (2, 3, 20)
    assert layers.Flatten(0)(x).shape == (120,)


@pytest.mark.parametrize("model_cls", [layers.LeNet5, layers.CaffeLeNet])
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_model_output_shapes(model_cls, activation) -> None:
    model = model_cls(activation_name=activation)
    act_type = layers.ReLU if activation == "relu" else layers.LeakyReLU
    assert any(isinstance(m, act_type) for m in model.modules())
    for n in (1, 3):
        x = np.random.default_rng(n).standard_normal((n, 1, 28, 28)).astype(np.float32)
        out = model(x)
        assert out.shape == (n, 10) and out.dtype == np.float32
        assert np.all(np.isfinite(out.data))


def test_unknown_activation() -> None:
    for cls in (layers.LeNet5, layers.CaffeLeNet):
        with pytest.raises(ValueError, match="unknown activation 'tanh'"):
            cls(activation_name="tanh")


def test_mlp_shapes() -> None:
    mlp = layers.MLP(12, (8, 6), 3)
    assert mlp(np.ones((4, 3, 4), dtype=np.float32)).shape == (4, 3)
    assert mlp.num_parameters() == 12 * 8 + 8 + 8 * 6 + 6 + 6 * 3 + 3


def test_repr_lists_submodules() -> None:
    text = repr(layers.LeNet5())
    assert "(features): Sequential(" in text and "Conv2d(1, 6, kernel_size=(5, 5)" in text
    assert "(0): Conv2d" in text and "MaxPool2d(kernel_size=2, stride=2" in text


# ----- the batch-innermost memory layout stays internal ---------------------------------------


def test_conv_output_layout_does_not_leak(torch) -> None:
    conv = layers.Conv2d(2, 3, 3, stride=1, padding=1)
    tconv = torch.nn.Conv2d(2, 3, 3, stride=1, padding=1)
    with torch.no_grad():
        tconv.weight.copy_(_t(torch, conv.weight.data))
        tconv.bias.copy_(_t(torch, conv.bias.data))
    x = np.random.default_rng(10).standard_normal((4, 2, 6, 5)).astype(np.float32)
    out = conv(x)
    ref = tconv(_t(torch, x)).detach().numpy()
    arr = out.numpy()
    assert arr.shape == (4, 3, 6, 5)
    np.testing.assert_allclose(arr, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arr.ravel(), ref.ravel(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.frombuffer(arr.tobytes(), np.float32).reshape(arr.shape), ref, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(out.reshape(4, -1).data, ref.reshape(4, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.flatten(1).data, ref.reshape(4, -1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1, 2].data, ref[1, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[:, :, 1:4:2, ::-1].data, ref[:, :, 1:4:2, ::-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        out.transpose(0, 2, 3, 1).reshape(-1, 3).data,
        ref.transpose(0, 2, 3, 1).reshape(-1, 3),
        rtol=1e-5,
        atol=1e-6,
    )
    assert out[0, 0, 0, 0].item() == pytest.approx(float(ref[0, 0, 0, 0]), rel=1e-5, abs=1e-6)
    pooled = layers.MaxPool2d(2)(out)
    tpooled = torch.nn.functional.max_pool2d(_t(torch, ref), 2).numpy()
    np.testing.assert_allclose(pooled.numpy().reshape(4, -1), tpooled.reshape(4, -1), rtol=1e-5, atol=1e-6)
    saved = {"act": out.numpy()}
    np.testing.assert_allclose(saved["act"][2], ref[2], rtol=1e-5, atol=1e-6)


# ----- losses: labels as lists, empty batches -----------------------------------------------------


def test_cross_entropy_labels_as_a_python_list_are_class_indices() -> None:
    # Lists are converted to int64 (PyTorch refuses them); before, they were refused as "do not match".
    rng = np.random.default_rng(11)
    logits = Tensor(rng.standard_normal((4, 5)).astype(np.float32))
    labels = [3, 0, 4, 1]
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_array_equal(
            F.cross_entropy(logits, labels, reduction).data, F.cross_entropy(logits, np.array(labels), reduction).data
        )
    assert layers.CrossEntropyLoss()(logits, (3, 0, 4, 1)).item() == F.cross_entropy(logits, labels).item()


@pytest.mark.parametrize(
    "call",
    [
        lambda: F.cross_entropy(Tensor(np.zeros((0, 10), dtype=np.float32)), np.zeros(0, dtype=np.int64)),
        lambda: F.cross_entropy(Tensor(np.zeros((0, 10), dtype=np.float32)), [], reduction="sum"),
        lambda: F.cross_entropy(Tensor(np.zeros((3, 0), dtype=np.float32)), np.zeros(3, dtype=np.int64)),
        lambda: F.mse_loss(Tensor(np.zeros((0, 2), dtype=np.float32)), np.zeros((0, 2), dtype=np.float32)),
        lambda: F.binary_cross_entropy_with_logits(Tensor(np.zeros(0, dtype=np.float32)), np.zeros(0)),
    ],
    ids=["cross-entropy", "cross-entropy-sum", "no-classes", "mse", "bce"],
)
def test_losses_refuse_an_empty_batch(call) -> None:
    # Regression: the mean over no samples was NaN (with a RuntimeWarning), the sum 0.
    with pytest.raises(ValueError, match="empty"):
        call()


def test_mse_loss_reductions_and_list_targets(torch) -> None:
    pred = np.random.default_rng(12).standard_normal((3, 2)).astype(np.float32)
    target = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    for reduction in ("mean", "sum", "none"):
        ours = layers.MSELoss(reduction)(Tensor(pred), target)
        theirs = torch.nn.functional.mse_loss(torch.tensor(pred), torch.tensor(target), reduction=reduction)
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(Tensor(pred), target, reduction="max")


def test_bce_with_logits_loss_layer() -> None:
    x = Tensor(np.zeros((4, 1), dtype=np.float32), requires_grad=True)
    loss = layers.BCEWithLogitsLoss()(x, np.ones((4, 1)))
    assert loss.item() == pytest.approx(np.log(2))
    assert layers.BCEWithLogitsLoss("none")(x, np.ones((4, 1))).shape == (4, 1)


# ----- zero and negative sizes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: layers.Linear(0, 3), "in_features"),
        (lambda: layers.Linear(3, -1), "out_features"),
        (lambda: layers.Linear(2.5, 3), "in_features"),
        (lambda: layers.Conv2d(0, 4, 3), "in_channels"),
        (lambda: layers.Conv2d(3, 0, 3), "out_channels"),
        (lambda: layers.Conv2d(3, 4, 0), "kernel_size"),
        (lambda: layers.Conv2d(3, 4, (3, 0)), "kernel_size"),
        (lambda: layers.Conv2d(3, 4, 3, stride=0), "stride"),
        (lambda: layers.Conv2d(3, 4, 3, stride=(1, -2)), "stride"),
        (lambda: layers.Conv2d(3, 4, 3, padding=-1), "padding"),
        (lambda: layers.MaxPool2d(0), "kernel_size"),
        (lambda: layers.MaxPool2d(2, stride=0), "stride"),
        (lambda: layers.AvgPool2d(-2), "kernel_size"),
        (lambda: layers.AvgPool2d(2, padding=-1), "padding"),
    ],
)
def test_layers_refuse_zero_or_negative_sizes_when_built(build, name: str) -> None:
    # Regression: Linear(3, 0) and Conv2d(3, 0, 3) built empty layers, Linear(0, 3) and
    # Conv2d(3, 4, 0) raised "float division by zero", MaxPool2d(0) failed only at its first forward.
    with pytest.raises(ValueError, match=name):
        build()


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda x: F.conv2d(x, Tensor(np.zeros((4, 3, 0, 3), dtype=np.float32))), "kh, kw"),
        (lambda x: F.conv2d(x, Tensor(np.zeros((0, 3, 3, 3), dtype=np.float32))), "out_channels"),
        (lambda x: F.conv2d(x, Tensor(np.zeros((4, 3, 3, 3), dtype=np.float32)), stride=0), "stride"),
        (lambda x: F.conv2d(x[:, :0], Tensor(np.zeros((4, 0, 3, 3), dtype=np.float32))), "in_channels"),
        (lambda x: F.max_pool2d(x, 0), "kernel_size"),
        (lambda x: F.avg_pool2d(x, 2, stride=0), "stride"),
        (lambda x: F.max_pool2d(x, (2, -1)), "kernel_size"),
        (lambda x: F.linear(Tensor(np.zeros((2, 0), dtype=np.float32)), Tensor(np.zeros((3, 0)))), "in_features"),
        (lambda x: F.linear(Tensor(np.zeros((2, 4), dtype=np.float32)), Tensor(np.zeros((0, 4)))), "out_features"),
    ],
)
def test_functional_forms_refuse_zero_or_negative_sizes(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call(Tensor(np.zeros((2, 3, 8, 8), dtype=np.float32)))


# ----- dtypes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float16, "float64"])
def test_layers_with_parameters_take_a_dtype(dtype) -> None:
    minigrad.seed(3)
    lin32, conv32 = layers.Linear(4, 3), layers.Conv2d(2, 3, 3)
    minigrad.seed(3)
    lin, conv = layers.Linear(4, 3, dtype=dtype), layers.Conv2d(2, 3, 3, dtype=dtype)
    for ours, ref in ((lin, lin32), (conv, conv32)):
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            assert p.dtype == np.dtype(dtype) and q.dtype == np.float32
            # The same draws, rounded to each dtype.
            np.testing.assert_allclose(p.data.astype(np.float32), q.data, rtol=1e-3 if dtype == np.float16 else 1e-7)
    x = np.ones((2, 2, 5, 5), dtype=dtype)
    assert conv(x).dtype == np.dtype(dtype)
    with pytest.raises(TypeError, match="floating-point dtype"):
        layers.Linear(4, 3, dtype=np.int32)
    with pytest.raises(TypeError, match="complex"):
        layers.Conv2d(2, 3, 3, dtype=np.complex64)


def test_default_initialisation_is_unchanged_by_the_dtype_argument() -> None:
    # The draws a seeded float32 model gets are pinned: checkpoints and figures depend on them.
    minigrad.seed(0)
    lin = layers.Linear(3, 2)
    rng = np.random.default_rng(0)
    bound = 1 / np.sqrt(3)
    np.testing.assert_array_equal(lin.weight.data, rng.uniform(-bound, bound, (2, 3)).astype(np.float32))
    np.testing.assert_array_equal(lin.bias.data, rng.uniform(-bound, bound, (2,)).astype(np.float32))


def test_module_to_a_dtype_keeps_parameter_identity() -> None:
    minigrad.seed(4)
    model = layers.LeNet5()
    x = np.random.default_rng(13).standard_normal((2, 1, 28, 28))
    before = [(p, p.data.copy()) for p in model.parameters()]
    model.parameters()[0].grad = np.ones_like(model.parameters()[0].data)
    assert model.to(np.float64) is model
    for (p, data), q in zip(before, model.parameters(), strict=True):
        assert p is q and q.dtype == np.float64
        np.testing.assert_array_equal(q.data, data)  # float32 values are exact in float64
    assert model.parameters()[0].grad.dtype == np.float64
    out = model(x)
    assert out.dtype == np.float64
    F.cross_entropy(out, np.array([1, 7])).backward()
    assert all(p.grad.dtype == np.float64 for p in model.parameters())
    assert model.to("cpu", np.float32) is model and model.parameters()[3].dtype == np.float32
    assert model.to(dtype="float64").parameters()[0].dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        model.to(np.int64)
    with pytest.raises(ValueError, match="unknown device"):
        model.to("cuda", np.float64)
    with pytest.raises(TypeError, match="device .* or a dtype"):
        model.to()
    assert model.parameters()[0].dtype == np.float64  # a refused call changed nothing
