"""The Tensor and the backward engine: graph semantics, broadcasting, grad mode, dtypes,
errors, save/load and seeding."""

from __future__ import annotations

import io
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import layers
import minigrad
from minigrad import Parameter, Tensor, serialization
from minigrad import functional as F
from tests import fake_cupy


def leaf(values, dtype=np.float64) -> Tensor:
    return Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ----- graph semantics -----------------------------------------------------------------------


def test_reusing_a_node_adds_its_gradients() -> None:
    a = leaf(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert c.item() == 12.0
    assert a.grad == 4.0


def test_diamond_graph() -> None:
    # y = x·2 and z = x·3 both feed w = y·z = 6x², so dw/dx = 12x.
    x = leaf([1.0, -2.0, 0.5])
    y, z = x * 2, x * 3
    (y * z).sum().backward()
    np.testing.assert_allclose(x.grad, 12 * x.data)


def test_nested_diamond_through_a_shared_intermediate() -> None:
    # a = exp(x) is used twice: c = a + a·x, dc/dx = exp(x)(2 + x).
    x = leaf([0.3, -1.2])
    a = x.exp()
    c = a + a * x
    c.sum().backward()
    np.testing.assert_allclose(x.grad, np.exp(x.data) * (2 + x.data))


def test_one_tensor_used_by_several_ops() -> None:
    x = leaf([0.5, 1.5, -0.7])
    loss = (x * x).sum() + (x * 3).sum() + x.exp().sum() + x.tanh().mean()
    loss.backward()
    expected = 2 * x.data + 3 + np.exp(x.data) + (1 - np.tanh(x.data) ** 2) / 3
    np.testing.assert_allclose(x.grad, expected)


def test_ten_thousand_op_chain_backward() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.backward()
    expected = 1.0001**10_000
    assert math.isclose(y.item(), expected, rel_tol=1e-9)
    assert math.isclose(float(x.grad), expected, rel_tol=1e-9)


def test_gradients_accumulate_and_zero_grad_resets() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [4.0, 8.0])
    x.zero_grad()
    assert x.grad is None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])


def test_retain_grad_on_a_non_leaf() -> None:
    x = leaf([1.0, -3.0])
    y = (x * 2).retain_grad()
    h = y * 1.0  # an intermediate that does not retain its gradient
    (h * h).sum().backward()
    assert not y.is_leaf
    np.testing.assert_allclose(y.grad, 2 * y.data)
    np.testing.assert_allclose(x.grad, 4 * y.data)
    assert h.grad is None


def test_backward_with_an_explicit_gradient_is_a_vector_jacobian_product() -> None:
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    (x * x).backward(g)
    np.testing.assert_allclose(x.grad, 2 * x.data * g)


def test_leaf_gradients_do_not_share_memory() -> None:
    # Regression: Add.backward returns the same array for both inputs, and the engine stored it
    # as both leaves' .grad, so an in-place update of one (weight decay, clipping) changed the other.
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad, b.grad)
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_gradients_are_own_arrays_for_views_and_retained_grads() -> None:
    # Reshape's backward returns a view of its upstream gradient, and a retained non-leaf .grad is
    # that upstream gradient: neither may be shared with a leaf's .grad or with each other.
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x.reshape(4).retain_grad()
    z = (y + y.reshape(2, 2).reshape(4)).retain_grad()
    z.backward(np.arange(4.0))
    grads = [x.grad, y.grad, z.grad]
    for i, p in enumerate(grads):
        assert p.flags.writeable
        for q in grads[i + 1 :]:
            assert not np.shares_memory(p, q)
    np.testing.assert_array_equal(x.grad, 2 * np.arange(4.0).reshape(2, 2))
    # Accumulation gives a new array: a .grad the caller kept from the first call is not changed.
    first = x.grad
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(first, 2 * np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(x.grad, first + 1)


def test_leaf_gradient_does_not_alias_the_callers_gradient() -> None:
    x = leaf([1.0, 2.0])
    g = np.array([5.0, 7.0])
    (x + 0.0).backward(g)
    assert not np.shares_memory(x.grad, g)
    x.grad[:] = 0
    np.testing.assert_array_equal(g, [5.0, 7.0])
    # The same when backward starts at the leaf itself.
    x.zero_grad()
    x.backward(g)
    assert not np.shares_memory(x.grad, g)
    np.testing.assert_array_equal(x.grad, g)


# ----- broadcasting and scalars ----------------------------------------------------------------


def test_broadcast_column_plus_row() -> None:
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((3, 1))), leaf(rng.standard_normal((1, 4)))
    g = rng.standard_normal((3, 4))
    (a + b).backward(g)
    assert a.grad.shape == (3, 1) and b.grad.shape == (1, 4)
    np.testing.assert_allclose(a.grad, g.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.grad, g.sum(axis=0, keepdims=True))


def test_broadcast_vector_times_3d() -> None:
    rng = np.random.default_rng(1)
    a, b = leaf(rng.standard_normal(4)), leaf(rng.standard_normal((2, 3, 4)))
    g = rng.standard_normal((2, 3, 4))
    (a * b).backward(g)
    np.testing.assert_allclose(a.grad, (g * b.data).sum(axis=(0, 1)))
    np.testing.assert_allclose(b.grad, g * a.data)


def test_scalar_operands() -> None:
    x = leaf([1.0, 2.0, 4.0])
    ((x * 2.5 + 1) - 3).sum().backward()
    np.testing.assert_allclose(x.grad, [2.5, 2.5, 2.5])
    x.zero_grad()
    ((x / 4) ** 3).sum().backward()
    np.testing.assert_allclose(x.grad, 3 * x.data**2 / 64)


def test_scalar_operand_keeps_the_tensor_dtype() -> None:
    x = leaf([1.0, 2.0], dtype=np.float32)
    for y in (x * 2.5, 2.5 * x, x + 1, 1 - x, 2 / x, 2**x, x**2):
        assert y.dtype == np.float32


def test_reflected_ops() -> None:
    x = leaf([0.5, 1.0, 2.0])
    cases = [
        (lambda t: 2 - t, lambda v: -np.ones_like(v), lambda v: 2 - v),
        (lambda t: 2 / t, lambda v: -2 / v**2, lambda v: 2 / v),
        (lambda t: 2**t, lambda v: 2**v * np.log(2), lambda v: 2**v),
        (lambda t: 3 + t, lambda v: np.ones_like(v), lambda v: 3 + v),
        (lambda t: 3 * t, lambda v: 3 * np.ones_like(v), lambda v: 3 * v),
    ]
    for fn, grad, value in cases:
        x.zero_grad()
        y = fn(x)
        assert isinstance(y, Tensor)
        np.testing.assert_allclose(y.data, value(x.data))
        y.sum().backward()
        np.testing.assert_allclose(x.grad, grad(x.data))


def test_numpy_array_times_tensor_is_a_tensor() -> None:
    x = leaf([1.0, 2.0, 3.0])
    arr = np.array([2.0, -1.0, 0.5])
    y = arr * x
    assert isinstance(y, Tensor)
    np.testing.assert_allclose(y.data, arr * x.data)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, arr)
    x.zero_grad()
    z = arr - x
    assert isinstance(z, Tensor)
    z.sum().backward()
    np.testing.assert_allclose(x.grad, -np.ones(3))


def test_gradient_dtype_matches_the_leaf_when_mixed_with_float64_arrays() -> None:
    # Regression: F.mse_loss(float32 prediction, float64 numpy target) gave every float32
    # parameter a float64 gradient; the engine now casts each gradient to its input's dtype.
    lin = layers.Linear(3, 2)
    x = np.ones((4, 3), dtype=np.float32)
    target = np.zeros((4, 2))  # float64, as numpy makes it
    F.mse_loss(lin(x), target).backward()
    assert lin.weight.grad.dtype == np.float32 and lin.bias.grad.dtype == np.float32
    # Same values as an all-float32 computation.
    expected = [p.grad.copy() for p in (lin.weight, lin.bias)]
    lin.weight.grad = lin.bias.grad = None
    F.mse_loss(lin(x), target.astype(np.float32)).backward()
    for got, ref in zip(expected, (lin.weight.grad, lin.bias.grad), strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_gradient_dtype_for_each_input_of_a_mixed_dtype_op() -> None:
    a = leaf([1.0, 2.0], dtype=np.float32)
    b = leaf([3.0, 4.0], dtype=np.float64)
    c = leaf(0.5, dtype=np.float16)
    (a * b + c).sum().backward()
    assert (a.grad.dtype, b.grad.dtype, c.grad.dtype) == (np.float32, np.float64, np.float16)
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])
    np.testing.assert_array_equal(b.grad, [1.0, 2.0])
    assert c.grad == 2.0


def test_integer_tensor_with_a_float_scalar_is_not_truncated() -> None:
    # Regression: the scalar was made xp.asarray(x, dtype=tensor.dtype), so Tensor([1, 2, 3]) * 0.5
    # gave [0, 0, 0] and uint8 images * (1 / 255) gave all zeros.
    for y, expected in (
        (Tensor([1, 2, 3]) * 0.5, [0.5, 1.0, 1.5]),
        (Tensor([1, 2]) + 0.5, [1.5, 2.5]),
        (2.5 - Tensor([1, 2]), [1.5, 0.5]),
        (0.5 * Tensor([1, 2]), [0.5, 1.0]),
        (Tensor([1, 2]) / 0.5, [2.0, 4.0]),
        (Tensor(np.array([255, 51], dtype=np.uint8)) * (1 / 255), [1.0, 0.2]),
    ):
        assert y.dtype == np.float32  # the default float dtype, as in PyTorch
        np.testing.assert_allclose(y.data, expected, rtol=1e-6)
    assert (Tensor([True, False]) + 2).dtype == np.int64
    assert (Tensor(np.array([1, 2], dtype=np.int8)) * 3).dtype == np.int8


_PROMOTION_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(_PROMOTION_DTYPES),
    scalar=st.one_of(st.booleans(), st.integers(0, 5), st.floats(-4, 4, allow_nan=False, width=16)),
    op=st.sampled_from(["add", "radd", "mul", "rmul", "sub", "rsub"]),
)
def test_scalar_type_promotion_matches_pytorch(dtype: str, scalar: bool | int | float, op: str) -> None:
    torch = pytest.importorskip("torch")
    # Subtraction with a boolean tensor or scalar is an error in PyTorch (and NumPy for two bools).
    assume(not (op in ("sub", "rsub") and (dtype == "bool" or isinstance(scalar, bool))))
    values = np.array([0, 1, 2, 5], dtype=np.float64).astype(dtype)
    fn = {
        "add": lambda t: t + scalar,
        "radd": lambda t: scalar + t,
        "mul": lambda t: t * scalar,
        "rmul": lambda t: scalar * t,
        "sub": lambda t: t - scalar,
        "rsub": lambda t: scalar - t,
    }[op]
    ours = fn(Tensor(values))
    ref = fn(torch.from_numpy(values)).numpy()
    assert ours.dtype == ref.dtype
    np.testing.assert_allclose(ours.data.astype(np.float64), ref.astype(np.float64), rtol=1e-3)


def test_len_and_bool_follow_numpy() -> None:
    assert len(Tensor(np.zeros((4, 2)))) == 4
    assert bool(Tensor([1.0])) and not bool(Tensor([0.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))


# ----- grad mode -------------------------------------------------------------------------------


def test_no_grad_records_no_graph() -> None:
    x = leaf([1.0, 2.0])
    with minigrad.no_grad():
        assert not minigrad.is_grad_enabled()
        y = x * 2 + 1
    assert minigrad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and y._ctx is None
    np.testing.assert_allclose(y.data, [3.0, 5.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_nested_no_grad_restores_state() -> None:
    with minigrad.no_grad():
        with minigrad.no_grad():
            assert not minigrad.is_grad_enabled()
        assert not minigrad.is_grad_enabled()
    assert minigrad.is_grad_enabled()
    with pytest.raises(KeyError), minigrad.no_grad():
        raise KeyError("boom")
    assert minigrad.is_grad_enabled()
    x = leaf([1.0])
    assert (x * 2).requires_grad


def test_ops_on_constants_need_no_grad() -> None:
    y = Tensor(np.ones(2)) * 3
    assert not y.requires_grad
    with pytest.raises(RuntimeError):
        y.sum().backward()


# ----- conversions and dtypes ------------------------------------------------------------------


def test_detach_cuts_the_graph_but_shares_data() -> None:
    x = leaf([2.0, 3.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert d.data is x.data
    (d * x).sum().backward()  # only the attached path counts
    np.testing.assert_allclose(x.grad, x.data)


def test_item() -> None:
    assert leaf(2.5).item() == 2.5
    assert isinstance(Tensor([[7]]).item(), int)
    assert Tensor(np.array([[1.5]])).item() == 1.5
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_dtype_rules() -> None:
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1, 2]).dtype.kind == "i"
    arr = np.ones(3, dtype=np.float64)
    t = Tensor(arr)
    assert t.dtype == np.float64 and t.data is arr  # arrays are kept as they are, no copy
    assert Tensor(np.ones(2, dtype=np.float16)).dtype == np.float16
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_only_floating_tensors_require_grad() -> None:
    with pytest.raises(TypeError, match="int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError):
        Tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf"):
        (leaf([1.0]) * 2).requires_grad_(False)


def test_parameter_requires_grad() -> None:
    p = Parameter(np.zeros((2, 3), dtype=np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter(")
    (p * 2).sum().backward()
    np.testing.assert_allclose(p.grad, 2 * np.ones((2, 3)))
    with pytest.raises(TypeError):
        Parameter(np.arange(3))


def test_cast_gradient_returns_in_the_input_dtype() -> None:
    x = leaf([1.0, 2.0], dtype=np.float32)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [2.0, 4.0])


def test_comparisons_are_constant() -> None:
    x = leaf([1.0, 2.0, 3.0])
    for mask in (x > 1.5, x < 2, x >= 2, x <= 2, x.eq(2.0)):
        assert mask.dtype == bool and not mask.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])


# ----- backward errors -------------------------------------------------------------------------


def test_backward_on_non_scalar_needs_a_gradient() -> None:
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()


def test_backward_gradient_shape_must_match() -> None:
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"\(3,\)"):
        y.backward(np.ones(3))


def test_function_returning_the_wrong_number_of_gradients() -> None:
    class Bad(minigrad.Function):
        def forward(self, a, b):
            return a + b

        def backward(self, g):
            return (g,)

    with pytest.raises(RuntimeError, match="1 gradients for 2 inputs"):
        Bad.apply(leaf([1.0]), leaf([2.0])).sum().backward()


def test_op_needs_a_tensor_input() -> None:
    with pytest.raises(TypeError, match="Add"):
        minigrad.ops.Add.apply(1.0, 2.0)


def test_mixing_devices_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CuPy stand-in from tests/fake_cupy.py makes .to("gpu") give a "device" array.
    fake_cupy.install(monkeypatch)
    on_cpu = Tensor(np.ones(3))
    on_gpu = Tensor(np.ones(3)).to("gpu")
    assert on_gpu.device == "gpu" and on_cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"input 1 is on gpu but input 0 is on cpu"):
        on_cpu * on_gpu


# ----- serialization ---------------------------------------------------------------------------


def _state() -> dict:
    return {
        "model": {
            "w": np.arange(6, dtype=np.float32).reshape(2, 3),
            "b": np.array([1.5, -2.0], dtype=np.float64),
            "deep": {"idx": np.array([3, 1, 4], dtype=np.int64)},
        },
        "epoch": 7,
        "lr": 0.125,
        "done": False,
        "name": "lenet5",
    }


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ckpt.npz"  # parent folders are created
    minigrad.save(_state(), path)
    back = minigrad.load(path)
    assert set(back) == {"model", "epoch", "lr", "done", "name"}
    assert set(back["model"]) == {"w", "b", "deep"}
    for key, ref in (("w", _state()["model"]["w"]), ("b", _state()["model"]["b"])):
        assert back["model"][key].dtype == ref.dtype
        np.testing.assert_array_equal(back["model"][key], ref)
    assert back["model"]["deep"]["idx"].dtype == np.int64
    np.testing.assert_array_equal(back["model"]["deep"]["idx"], [3, 1, 4])
    for key in ("epoch", "lr", "done", "name"):
        assert back[key] == _state()[key] and type(back[key]) is type(_state()[key]), key


def test_saved_file_loads_without_pickle(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.npz"
    minigrad.save(_state(), path)
    with np.load(path, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["model/w"], _state()["model"]["w"])
        assert int(data["epoch"]) == 7


def test_save_accepts_tensors_and_parameters(tmp_path: Path) -> None:
    p = Parameter(np.ones((2, 2), dtype=np.float32))
    minigrad.save({"p": p.data, "t": Tensor([1.0, 2.0])}, tmp_path / "t.npz")
    back = minigrad.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back["p"], np.ones((2, 2)))
    np.testing.assert_array_equal(back["t"], [1.0, 2.0])


def test_saving_an_object_array_raises_type_error(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="pickle"):
        minigrad.save({"bad": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError):
        minigrad.save({"none": None}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


def test_keys_with_the_separator_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="may not contain"):
        minigrad.save({"a/b": np.ones(1)}, tmp_path / "x.npz")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        minigrad.load(tmp_path / "nope.npz")


@pytest.mark.parametrize(
    "content",
    [b"", b"not a zip file at all" * 10, b"PK\x03\x04truncated"],
    ids=["empty", "garbage", "truncated-zip"],
)
def test_load_corrupt_file_names_the_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="corrupt.npz"):
        minigrad.load(path)


def test_load_truncated_checkpoint_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "cut.npz"
    minigrad.save(_state(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        minigrad.load(path)


def test_load_npy_file_names_the_path(tmp_path: Path) -> None:
    # Regression: np.load returns an ndarray for .npy files, and load() used it as a context
    # manager (TypeError).
    path = tmp_path / "array.npy"
    np.save(path, np.ones(3))
    with pytest.raises(ValueError, match=r"array\.npy is not a minigrad save"):
        minigrad.load(path)


@pytest.mark.parametrize(
    "members",
    [{"notes.txt": b"hello"}, {"w.npy": b""}, {"notes.txt": b"hello", "__python_scalars__.npy": b""}],
    ids=["no-npy", "npz-without-minigrad-marker", "marker-and-foreign-member"],
)
def test_load_foreign_zip_is_refused(tmp_path: Path, members: dict[str, bytes]) -> None:
    # Regression: a zip of non-.npy members loaded as raw bytes, without an error.
    path = tmp_path / "foreign.npz"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match=r"foreign\.npz is a zip file but not a minigrad save"):
        minigrad.load(path)


def test_top_level_key_file_round_trips(tmp_path: Path) -> None:
    # Regression: np.savez(f, **arrays) took the key "file" as its own argument.
    minigrad.save({"file": "train.idx", "x": np.ones(2)}, tmp_path / "k.npz")
    back = minigrad.load(tmp_path / "k.npz")
    assert back["file"] == "train.idx"
    np.testing.assert_array_equal(back["x"], np.ones(2))


def test_top_level_key_allow_pickle_round_trips(tmp_path: Path) -> None:
    # Regression: np.savez silently dropped a key "allow_pickle" (one of its own arguments).
    minigrad.save({"allow_pickle": np.arange(2.0), "x": np.ones(2)}, tmp_path / "k.npz")
    back = minigrad.load(tmp_path / "k.npz")
    np.testing.assert_array_equal(back["allow_pickle"], [0.0, 1.0])
    np.testing.assert_array_equal(back["x"], np.ones(2))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(
        # Not "/" (the separator), NUL (refused) or "\\" (zipfile makes it "/" on Windows).
        st.text(st.characters(blacklist_characters="/\x00\\", blacklist_categories=("Cs",)), max_size=12),
        min_size=1,
        max_size=6,
        unique=True,
    ).filter(lambda ks: serialization._SCALARS_KEY not in ks)
)
def test_any_string_key_round_trips(tmp_path: Path, keys: list[str]) -> None:
    awkward = ["file", "allow_pickle", "args", "kwds", "mmap_mode", "encoding", "", "x.npy", " ", "ü €"]
    state = {k: np.full(2, i, dtype=np.int64) for i, k in enumerate(awkward)}
    state.update({k: f"value {i}" for i, k in enumerate(keys)})
    state["nested"] = {k: float(i) for i, k in enumerate(keys)}
    minigrad.save(state, tmp_path / "keys.npz")
    back = minigrad.load(tmp_path / "keys.npz")
    assert set(back) == set(state)
    for k, v in state.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(back[k], v)
        else:
            assert back[k] == v
    with np.load(tmp_path / "keys.npz", allow_pickle=False) as data:  # still a standard .npz
        assert set(data.files) == set(serialization.flatten(state)) | {serialization._SCALARS_KEY}


def test_key_with_a_nul_character_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NUL"):
        minigrad.save({"a\x00b": np.ones(1)}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


def test_load_reads_files_written_by_np_savez(tmp_path: Path) -> None:
    # Checkpoints saved before save() wrote the zip itself (with np.savez) still load.
    path = tmp_path / "old.npz"
    np.savez(path, **{"model/w": np.ones(2), "epoch": np.asarray(7), "__python_scalars__": np.asarray(["epoch"])})
    back = minigrad.load(path)
    assert back["epoch"] == 7 and type(back["epoch"]) is int
    np.testing.assert_array_equal(back["model"]["w"], np.ones(2))


def test_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.npz"
    minigrad.save(_state(), path)
    before = path.read_bytes()
    # An unsaveable value: refused before anything is written.
    with pytest.raises(TypeError):
        minigrad.save({"w": np.ones(2), "bad": object()}, path)
    assert path.read_bytes() == before
    # A failure in the middle of writing (disk full, interrupt): the old file stays, no temp left.

    def half_write(f, array, **kwargs):
        f.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np.lib.format, "write_array", half_write)
    with pytest.raises(OSError, match="disk full"):
        minigrad.save({"w": np.zeros(5)}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]
    monkeypatch.undo()
    assert minigrad.load(path)["epoch"] == 7


# ----- seeding ---------------------------------------------------------------------------------


def _weights(model: layers.Module) -> list[np.ndarray]:
    return [p.data.copy() for p in model.parameters()]


def test_seed_makes_initialisation_reproducible() -> None:
    minigrad.seed(123)
    a = _weights(layers.LeNet5())
    minigrad.seed(123)
    b = _weights(layers.LeNet5())
    minigrad.seed(124)
    c = _weights(layers.LeNet5())
    assert len(a) == len(b) == 10
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert all(not np.array_equal(x, z) for x, z in zip(a, c, strict=True))
    # Two models built after one seed differ from each other (the stream moves on).
    minigrad.seed(123)
    layers.LeNet5()
    d = _weights(layers.LeNet5())
    assert not np.array_equal(a[0], d[0])


def test_seed_makes_dropout_masks_reproducible() -> None:
    x = Tensor(np.ones((64, 32), dtype=np.float32))
    drop = layers.Dropout(0.5)
    minigrad.seed(7)
    m1, m2 = drop(x).data.copy(), drop(x).data.copy()
    minigrad.seed(7)
    n1 = drop(x).data
    assert not np.array_equal(m1, m2)
    np.testing.assert_array_equal(m1, n1)


def test_seed_rejects_negative_and_non_integers() -> None:
    for bad in (-1, 1.5, "3"):
        with pytest.raises(ValueError):
            minigrad.seed(bad)


# ----- Python conversions, dtypes of NumPy scalars, refused inputs ---------------------------------


def test_float_and_int_of_a_one_element_tensor() -> None:
    assert float(Tensor([[2.5]])) == 2.5 and isinstance(float(Tensor([[2.5]])), float)
    assert float(leaf(1.5)) == 1.5
    assert int(Tensor(np.array([7]))) == 7
    assert int(Tensor(-2.7)) == -2 and int(Tensor(2.7)) == 2  # toward zero, as int(2.7)
    assert math.isclose(math.sqrt(Tensor(np.float64(4.0))), 2.0)  # anything calling __float__
    for convert in (float, int):
        with pytest.raises(ValueError, match=rf"{convert.__name__}\(\) needs a one-element tensor, got shape \(2,\)"):
            convert(Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"got shape \(0,\)"):
        float(Tensor(np.zeros(0)))


@pytest.mark.parametrize(
    ("value", "dtype"),
    [
        (np.float64(1.0), np.float64),
        (np.float32(1.0), np.float32),
        (np.float16(1.0), np.float16),
        (np.int32(3), np.int32),
        (np.bool_(True), np.bool_),
        (1.0, np.float32),
        ([1.0, 2.0], np.float32),
        ((1.5,), np.float32),
        (3, np.int64),
        (True, np.bool_),
    ],
)
def test_numpy_scalars_keep_their_dtype_python_floats_become_float32(value, dtype) -> None:
    # Regression: Tensor(np.float64(1.0)) was float32 (NumPy scalars were treated as Python floats).
    assert Tensor(value).dtype == dtype
    assert Tensor(value, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ("abc", TypeError, r"dtype <U3 \(strings\)"),
        (b"abc", TypeError, r"\(bytes\)"),
        (["1.0", "2.0"], TypeError, "strings"),
        (None, TypeError, r"Tensor\(None\)"),
        (object(), TypeError, "Python objects"),
        ([1.0, None], TypeError, "Python objects"),
        (1 + 2j, TypeError, "complex"),
        (np.array([1 + 1j]), TypeError, "complex128"),
        (np.array(["a"]), TypeError, "strings"),
        (np.array([1, "a"], dtype=object), TypeError, "object"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), TypeError, "datetimes"),
        ([[1, 2], [3]], ValueError, r"item \[1\] has shape \(1,\) but item \[0\] has shape \(2,\)"),
        ([[1, 2], [3, [4]]], ValueError, r"item \[1\]\[1\] has shape \(1,\) but item \[1\]\[0\] has shape \(\)"),
        ([np.zeros(2), np.zeros(3)], ValueError, r"item \[1\] has shape \(3,\)"),
    ],
    ids=[
        "str",
        "bytes",
        "list-of-str",
        "None",
        "object",
        "list-with-None",
        "complex",
        "complex-array",
        "str-array",
        "object-array",
        "datetime-array",
        "ragged",
        "ragged-deep",
        "ragged-arrays",
    ],
)
def test_tensor_refuses_non_numeric_and_ragged_data(data, error, message) -> None:
    # Regression: strings became '<U3' tensors, None/objects object tensors, complex numbers complex
    # tensors; ragged lists raised NumPy's message, which names no row.
    with pytest.raises(error, match=message):
        Tensor(data)


def test_tensor_refuses_a_non_numeric_dtype_argument() -> None:
    with pytest.raises(TypeError, match="complex64"):
        Tensor([1.0, 2.0], dtype=np.complex64)


# ----- shape errors of binary ops ---------------------------------------------------------------


def test_matmul_shape_mismatch_names_both_shapes() -> None:
    a = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"MatMul on inputs of shapes \(2, 3\), \(4, 5\): the last dimension "
                       r"of the first \(3\) must equal the second-to-last dimension of the second \(4\)"):
        a @ Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3\), \(2,\): .*length of the second \(2\)"):
        a @ Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"\(2, 2, 3\), \(3, 3, 4\)"):  # batch dimensions that do not broadcast
        Tensor(np.ones((2, 2, 3))) @ Tensor(np.ones((3, 3, 4)))
    with pytest.raises(ValueError, match=r"\(\), \(3,\): matmul needs operands of at least one dimension"):
        Tensor(np.float64(2.0)) @ Tensor(np.ones(3))


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a - b, "Sub"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a / b, "Div"),
        (lambda a, b: a**b, "Pow"),
        (lambda a, b: F.maximum(a, b), "Maximum"),
        (lambda a, b: F.where(np.ones((2, 3), dtype=bool), a, b), "Where"),
    ],
)
def test_broadcasting_failures_name_the_op_and_both_shapes(fn, name: str) -> None:
    a, b = leaf(np.ones((2, 3))), leaf(np.ones(4))
    with pytest.raises(ValueError, match=rf"^{name} on inputs of shapes \(2, 3\), \(4,\): "):
        fn(a, b)


def test_an_ops_own_value_error_subclass_is_not_rewrapped() -> None:
    class Solve(minigrad.Function):
        def forward(self, a):
            return np.linalg.inv(a)

    with pytest.raises(np.linalg.LinAlgError):
        Solve.apply(leaf(np.zeros((2, 2))))


def test_function_apply_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: Function.apply ran `from minigrad.tensor import Tensor` on every op call.
    import builtins

    x = leaf([1.0, 2.0])
    imports: list[str] = []
    real_import = builtins.__import__

    def counting_import(name, *args, **kwargs):
        imports.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", counting_import)
    ((x * 2 + 1.0) @ x).backward()
    monkeypatch.undo()
    assert imports == []
    np.testing.assert_allclose(x.grad, 4 * x.data + 1)


# ----- Tensor.to with a dtype --------------------------------------------------------------------


def test_tensor_to_a_dtype_is_a_differentiable_cast() -> None:
    x = leaf([1.0, 2.0], dtype=np.float32)
    assert x.to(np.float32) is x and x.to("cpu") is x
    y = x.to(np.float64)
    assert y.dtype == np.float64 and not y.is_leaf
    z = x.to("cpu", dtype="float64")
    assert z.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with pytest.raises(TypeError, match="dtype given twice"):
        x.to(np.float64, dtype=np.float32)
    with pytest.raises(ValueError, match="unknown device 'float64'"):  # strings are devices, never dtypes
        x.to("float64")


# ----- save: atomic, durable, ordinary permissions; load: hostile headers ----------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_saved_file_gets_the_permissions_of_ordinary_files(tmp_path: Path, umask: int) -> None:
    # Regression: the temporary file of mkstemp (mode 0600) was renamed into place as it was.
    if not hasattr(os, "fchmod"):
        pytest.skip("no POSIX file modes on this platform")
    previous = os.umask(umask)
    try:
        minigrad.save(_state(), tmp_path / "ckpt.npz")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "ckpt.npz").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)


def test_save_flushes_the_file_and_its_folder_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(serialization.os, "fsync", recording_fsync)
    minigrad.save(_state(), tmp_path / "ckpt.npz")
    expected = ["file", "folder"] if hasattr(os, "O_DIRECTORY") else ["file"]
    assert synced == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]


def _npy_bytes(header_shape: tuple[int, ...], data: bytes, version: tuple[int, int] = (1, 0)) -> bytes:
    """A .npy file whose header claims ``header_shape`` (float64) but which holds only ``data``."""
    buffer = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": header_shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue() + data


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_load_refuses_a_header_claiming_more_than_the_member_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: tuple[int, int]
) -> None:
    # Regression: np.lib.format.read_array allocated the array its header described (here 8 GB)
    # before finding the data missing.
    path = tmp_path / "hostile.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__python_scalars__.npy", _npy_bytes((0,), b""))
        z.writestr("weights.npy", _npy_bytes((1_000_000_000,), b"\0" * 16, version))
    read_sizes: list[int] = []
    real_read_array = serialization.np.lib.format.read_array

    def spy(fp, *args, **kwargs):
        array = real_read_array(fp, *args, **kwargs)
        read_sizes.append(array.nbytes)
        return array

    monkeypatch.setattr(serialization.np.lib.format, "read_array", spy)
    with pytest.raises(ValueError, match=r"hostile\.npz .*key 'weights'.*claims .*8000000000 bytes.*only 16 bytes"):
        minigrad.load(path)
    assert all(size == 0 for size in read_sizes)  # the scalars list at most: weights were never read


def test_load_refuses_a_stored_member_larger_than_the_file(tmp_path: Path) -> None:
    # A zip directory that lies about a member's size as well as its .npy header.
    path = tmp_path / "liar.npz"
    minigrad.save({"w": np.ones(4)}, path)
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")  # central directory entries: sizes at +20, name at +46
    while not data[entry + 46 :].startswith(b"w.npy"):
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 20 : entry + 28] = (2**31).to_bytes(4, "little") * 2  # compressed and uncompressed sizes
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("w.npy").file_size == 2**31
    with pytest.raises(ValueError, match=r"liar\.npz .*key 'w'"):
        minigrad.load(path)


def test_load_still_reads_compressed_npz(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **{"w": np.zeros((50, 50)), "__python_scalars__": np.asarray([], dtype=str)})
    np.testing.assert_array_equal(minigrad.load(path)["w"], np.zeros((50, 50)))
