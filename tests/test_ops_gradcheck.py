"""Every op of minigrad.ops against float64 finite differences (shapes drawn by hypothesis), conv and
pooling forward against naive loops, scipy and PyTorch, and gradcheck's own ability to fail."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad import Function, GradcheckError, Tensor, gradcheck, ops, to_numpy
from minigrad import functional as F
from tests import fake_cupy

CHECK = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

seeds = st.integers(0, 2**32 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nd_shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
pair_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=4)


# ----- value helpers: inputs away from kinks and ties ------------------------------------------------


def leaf(x: np.ndarray) -> Tensor:
    return Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


def uniform(rng: np.random.Generator, shape, low: float = -2.0, high: float = 2.0) -> Tensor:
    return leaf(rng.uniform(low, high, shape))


def away_from_zero(rng: np.random.Generator, shape, margin: float = 0.1, high: float = 2.0) -> Tensor:
    return leaf(rng.uniform(margin, high, shape) * rng.choice([-1.0, 1.0], size=shape))


def distinct(rng: np.random.Generator, shape, gap: float = 0.25) -> np.ndarray:
    """Values pairwise at least ``gap`` apart (no ties anywhere), shuffled."""
    size = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(size) * gap - size * gap / 2 + rng.uniform(0, 0.01)).reshape(shape)


def check(f, *inputs: Tensor) -> None:
    assert gradcheck(f, list(inputs))


# ----- element-wise ops ----------------------------------------------------------------------


@CHECK
@given(pair_shapes, seeds, st.sampled_from(["add", "sub", "mul", "div", "pow"]))
def test_binary_arithmetic(shapes_: hnp.BroadcastableShapes, seed: int, op: str) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = shapes_.input_shapes
    a, b = uniform(rng, sa), uniform(rng, sb)
    if op == "div":
        b = away_from_zero(rng, sb, margin=0.5)
    if op == "pow":
        a = uniform(rng, sa, 0.5, 2.0)  # positive base: d/db a^b = a^b log a
    fn = {
        "add": lambda x, y: x + y,
        "sub": lambda x, y: x - y,
        "mul": lambda x, y: x * y,
        "div": lambda x, y: x / y,
        "pow": lambda x, y: x**y,
    }[op]
    out = fn(a, b)
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power}[op]
    assert out.shape == shapes_.result_shape
    np.testing.assert_allclose(out.data, ref(a.data, b.data))
    check(fn, a, b)


@CHECK
@given(shapes, seeds)
def test_binary_ops_with_one_constant_input(shape, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = uniform(rng, shape)
    c = Tensor(rng.uniform(0.5, 2.0, shape))
    check(lambda x: ops.Mul.apply(c, x) + ops.Div.apply(x, c) - ops.Sub.apply(c, x), a)
    assert c.grad is None


@CHECK
@given(shapes, seeds)
def test_neg(shape, seed: int) -> None:
    a = uniform(np.random.default_rng(seed), shape)
    np.testing.assert_array_equal((-a).data, -a.data)
    check(lambda x: ops.Neg.apply(x), a)


@CHECK
@given(shapes, seeds, st.sampled_from([-2.0, -1.0, -0.5, 0.5, 1.0, 1.5, 2.0, 3.0]))
def test_pow_scalar(shape, seed: int, exponent: float) -> None:
    a = uniform(np.random.default_rng(seed), shape, 0.3, 2.0)
    np.testing.assert_allclose((a**exponent).data, a.data**exponent)
    check(lambda x: ops.PowScalar.apply(x, exponent=exponent), a)


@CHECK
@given(shapes, seeds)
def test_pow_scalar_integer_exponent_on_negative_base(shape, seed: int) -> None:
    a = away_from_zero(np.random.default_rng(seed), shape, margin=0.3)
    check(lambda x: x**3 + x**2, a)


@CHECK
@given(shapes, seeds, st.sampled_from(["exp", "log", "sqrt", "abs", "tanh", "sigmoid"]))
def test_unary_functions(shape, seed: int, name: str) -> None:
    rng = np.random.default_rng(seed)
    if name in ("log", "sqrt"):
        a = uniform(rng, shape, 0.2, 3.0)
    elif name == "abs":
        a = away_from_zero(rng, shape)
    elif name == "sigmoid":
        a = uniform(rng, shape, -30.0, 30.0)  # large |x| must not overflow
    else:
        a = uniform(rng, shape)
    ref = {
        "exp": np.exp,
        "log": np.log,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    }[name]
    np.testing.assert_allclose(getattr(a, name)().data, ref(a.data), rtol=1e-12, atol=1e-300)
    check(lambda x: getattr(x, name)(), a)


def test_sigmoid_saturates_without_overflow() -> None:
    x = leaf(np.array([-1000.0, 0.0, 1000.0]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = x.sigmoid()
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])


@CHECK
@given(pair_shapes, seeds)
def test_maximum_without_ties(shapes_: hnp.BroadcastableShapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = shapes_.input_shapes
    size_a = int(np.prod(sa, dtype=np.int64))
    values = distinct(rng, (size_a + int(np.prod(sb, dtype=np.int64)),))
    a, b = leaf(values[:size_a].reshape(sa)), leaf(values[size_a:].reshape(sb))
    np.testing.assert_array_equal(F.maximum(a, b).data, np.maximum(a.data, b.data))
    check(F.maximum, a, b)


def test_maximum_splits_ties_equally() -> None:
    a, b = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    F.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.0])


@CHECK
@given(pair_shapes, seeds)
def test_where(shapes_: hnp.BroadcastableShapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = shapes_.input_shapes
    cond = rng.random(shapes_.result_shape) > 0.5
    a, b = uniform(rng, sa), uniform(rng, sb)
    np.testing.assert_array_equal(F.where(cond, a, b).data, np.where(cond, a.data, b.data))
    check(lambda x, y: F.where(Tensor(cond), x, y), a, b)


@CHECK
@given(shapes, seeds)
def test_cast_float64_to_float64(shape, seed: int) -> None:
    a = uniform(np.random.default_rng(seed), shape)
    out = a.astype(np.float64)
    assert out.dtype == np.float64
    check(lambda x: x.astype(np.float64) * x, a)


@CHECK
@given(shapes, seeds, st.floats(0.01, 0.5))
def test_relu_and_leaky_relu_away_from_zero(shape, seed: int, slope: float) -> None:
    a = away_from_zero(np.random.default_rng(seed), shape)
    np.testing.assert_array_equal(F.relu(a).data, np.maximum(a.data, 0))
    np.testing.assert_allclose(F.leaky_relu(a, slope).data, np.where(a.data > 0, a.data, slope * a.data))
    check(F.relu, a)
    check(lambda x: F.leaky_relu(x, slope), a)


# ----- matmul -----------------------------------------------------------------------------------

MATMUL_CASES = {
    "1d@1d": lambda m, k, n, b: ((k,), (k,)),
    "1d@2d": lambda m, k, n, b: ((k,), (k, n)),
    "2d@1d": lambda m, k, n, b: ((m, k), (k,)),
    "2d@2d": lambda m, k, n, b: ((m, k), (k, n)),
    "batched": lambda m, k, n, b: ((b, m, k), (b, k, n)),
    "broadcast-batch": lambda m, k, n, b: ((2, 1, m, k), (b, k, n)),
    "matrix@batched": lambda m, k, n, b: ((m, k), (b, k, n)),
    "1d@batched": lambda m, k, n, b: ((k,), (b, k, n)),
    "batched@1d": lambda m, k, n, b: ((b, m, k), (k,)),
}


@CHECK
@given(
    st.sampled_from(sorted(MATMUL_CASES)),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 3),
    seeds,
)
def test_matmul(case: str, m: int, k: int, n: int, b: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sa, sb = MATMUL_CASES[case](m, k, n, b)
    x, y = uniform(rng, sa), uniform(rng, sb)
    np.testing.assert_allclose((x @ y).data, x.data @ y.data)
    check(lambda p, q: p @ q, x, y)


def test_matmul_vector_dot_vector() -> None:
    # Regression: MatMul.backward restored a's row axis first, and g[..., None, :] on the 0-d
    # gradient of vector @ vector raised IndexError.
    rng = np.random.default_rng(0)
    x, y = uniform(rng, (3,)), uniform(rng, (3,))
    assert (x @ y).shape == ()
    check(lambda p, q: p @ q, x, y)
    x.grad = y.grad = None
    (x @ y).backward()
    np.testing.assert_allclose(x.grad, y.data)
    np.testing.assert_allclose(y.grad, x.data)


def test_reflected_matmul_with_a_numpy_array() -> None:
    w = np.arange(6.0).reshape(2, 3)
    x = leaf(np.ones((3, 2)))
    y = w @ x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, w.T @ np.ones((2, 2)))


# ----- reductions ------------------------------------------------------------------------------


@st.composite
def shape_and_axis(draw):
    shape = draw(nd_shapes)
    ndim = len(shape)
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )
    return shape, axis


@CHECK
@given(shape_and_axis(), st.booleans(), seeds, st.sampled_from(["sum", "mean", "max"]))
def test_reductions(shape_axis, keepdims: bool, seed: int, name: str) -> None:
    shape, axis = shape_axis
    rng = np.random.default_rng(seed)
    a = leaf(distinct(rng, shape)) if name == "max" else uniform(rng, shape)
    out = getattr(a, name)(axis=axis, keepdims=keepdims)
    ref = getattr(np, {"sum": "sum", "mean": "mean", "max": "max"}[name])(
        a.data, axis=axis, keepdims=keepdims
    )
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref)
    check(lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), a)


def test_max_gradient_goes_to_the_first_maximum() -> None:
    a = leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    a.max(axis=1).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0, 1, 0], [1, 0, 0]])
    b = leaf([[3.0, 1.0], [3.0, 3.0]])
    b.max().backward()
    np.testing.assert_array_equal(b.grad, [[1, 0], [0, 0]])
    c = leaf(np.ones((2, 2, 2)))
    c.max(axis=(0, 2)).sum().backward()
    expected = np.zeros((2, 2, 2))
    expected[0, :, 0] = 1  # first in C order over the reduced axes (0, 2)
    np.testing.assert_array_equal(c.grad, expected)


# ----- shape ops -------------------------------------------------------------------------------


@CHECK
@given(nd_shapes, seeds, st.integers(0, 3))
def test_reshape(shape, seed: int, which: int) -> None:
    a = uniform(np.random.default_rng(seed), shape)
    target = [(-1,), (a.size, 1), tuple(reversed(shape)), (1, *shape, 1)][which]
    out = a.reshape(target)
    np.testing.assert_array_equal(out.data, a.data.reshape(target))
    check(lambda x: x.reshape(target), a)
    check(lambda x: x.flatten(), a)


@CHECK
@given(nd_shapes.flatmap(lambda s: st.tuples(st.just(s), st.permutations(range(len(s))))), seeds)
def test_transpose(shape_perm, seed: int) -> None:
    shape, perm = shape_perm
    a = uniform(np.random.default_rng(seed), shape)
    np.testing.assert_array_equal(a.transpose(*perm).data, a.data.transpose(perm))
    np.testing.assert_array_equal(a.T.data, a.data.T)
    check(lambda x: x.transpose(tuple(perm)), a)
    check(lambda x: x.T, a)
    negative = tuple(p - len(shape) for p in perm)
    check(lambda x: x.transpose(negative), a)


@CHECK
@given(nd_shapes.flatmap(lambda s: st.tuples(st.just(s), hnp.basic_indices(s, allow_newaxis=True))), seeds)
def test_getitem_basic(shape_index, seed: int) -> None:
    # Slices with any step (negative included), ints, Ellipsis, None.
    shape, index = shape_index
    a = uniform(np.random.default_rng(seed), shape)
    expected = a.data[index]
    assume(expected.size > 0)
    np.testing.assert_array_equal(a[index].data, expected)
    check(lambda x: x[index], a)


@CHECK
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), seeds)
def test_getitem_integer_arrays_with_repeats(n: int, m: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = uniform(rng, (n, m))
    idx = np.concatenate([[0, 0], rng.integers(-n, n, size=k)])  # always a repeated index
    rows = rng.integers(0, n, size=(2, 3))
    cols = rng.integers(0, m, size=(2, 3))
    for index in (idx, (idx, slice(None, None, -1)), (rows, cols), list(idx), Tensor(idx)):
        raw = index.data if isinstance(index, Tensor) else index
        np.testing.assert_array_equal(a[index].data, a.data[raw])
        check(lambda x, index=index: x[index], a)
    # The gradient of a repeated row counts every repeat.
    a.zero_grad()
    a[np.array([0, 0, 0])].sum().backward()
    assert a.grad[0].tolist() == [3.0] * m


@CHECK
@given(nd_shapes, seeds)
def test_getitem_boolean_mask(shape, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = uniform(rng, shape)
    mask = rng.random(shape) > 0.4
    mask.flat[rng.integers(mask.size)] = True  # never empty
    np.testing.assert_array_equal(a[mask].data, a.data[mask])
    check(lambda x: x[mask], a)
    row_mask = rng.random(shape[0]) > 0.4
    row_mask[rng.integers(shape[0])] = True
    check(lambda x: x[row_mask], a)
    check(lambda x: x[Tensor(mask)], a)


@CHECK
@given(nd_shapes, st.integers(1, 3), st.data(), seeds)
def test_concatenate(shape, count: int, data, seed: int) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    parts = []
    for s in sizes:
        part_shape = list(shape)
        part_shape[axis] = s
        parts.append(uniform(rng, tuple(part_shape)))
    out = F.concatenate(parts, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([p.data for p in parts], axis=axis))
    check(lambda *xs: F.concatenate(xs, axis=axis), *parts)


@CHECK
@given(shapes, st.integers(1, 3), st.data(), seeds)
def test_stack(shape, count: int, data, seed: int) -> None:
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [uniform(rng, shape) for _ in range(count)]
    out = F.stack(parts, axis=axis)
    np.testing.assert_array_equal(out.data, np.stack([p.data for p in parts], axis=axis))
    check(lambda *xs: F.stack(xs, axis=axis), *parts)


# ----- softmax, losses, linear ----------------------------------------------------------------


@CHECK
@given(nd_shapes, st.data(), seeds)
def test_softmax_and_log_softmax(shape, data, seed: int) -> None:
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    a = uniform(np.random.default_rng(seed), shape, -3, 3)
    e = np.exp(a.data - a.data.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(F.softmax(a, axis).data, ref)
    np.testing.assert_allclose(F.log_softmax(a, axis).data, np.log(ref))
    check(lambda x: F.softmax(x, axis), a)
    check(lambda x: F.log_softmax(x, axis), a)


def test_softmax_is_stable_for_large_logits() -> None:
    a = leaf([[1000.0, 1000.0, -1000.0]])
    np.testing.assert_allclose(F.softmax(a).data, [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(F.log_softmax(a).data[0, :2], np.log(0.5))


@CHECK
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from(["mean", "sum"]), seeds)
def test_cross_entropy(n: int, c: int, reduction: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = uniform(rng, (n, c), -3, 3)
    labels = rng.integers(0, c, size=n)
    z = logits.data - logits.data.max(axis=1, keepdims=True)
    nll = np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), labels]
    out = F.cross_entropy(logits, labels, reduction)
    np.testing.assert_allclose(out.item(), nll.mean() if reduction == "mean" else nll.sum())
    check(lambda x: F.cross_entropy(x, labels, reduction), logits)
    check(lambda x: ops.CrossEntropy.apply(x, labels=labels, reduction=reduction), logits)


@CHECK
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.booleans(), seeds)
def test_linear(n: int, fin: int, fout: int, bias: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, w = uniform(rng, (n, fin)), uniform(rng, (fout, fin))
    b = uniform(rng, (fout,)) if bias else None
    ref = x.data @ w.data.T + (b.data if bias else 0)
    np.testing.assert_allclose(F.linear(x, w, b).data, ref)
    if bias:
        check(lambda p, q, r: F.linear(p, q, r), x, w, b)
    else:
        check(lambda p, q: F.linear(p, q), x, w)


# ----- convolution -----------------------------------------------------------------------------


def conv_reference(x: np.ndarray, w: np.ndarray, b, stride, padding) -> np.ndarray:
    """Naive cross-correlation: loops over batch, filter, output row/col and kernel (c, i, j)."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, f, oh, ow))
    for bn in range(n):
        for fo in range(f):
            for r in range(oh):
                for q in range(ow):
                    acc = 0.0 if b is None else b[fo]
                    for ci in range(c):
                        for i in range(kh):
                            for j in range(kw):
                                acc += xp[bn, ci, r * sh + i, q * sw + j] * w[fo, ci, i, j]
                    out[bn, fo, r, q] = acc
    return out


@st.composite
def conv_geometry(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 7))
    w = draw(st.integers(max(1, kw - 2 * pw), 7))
    return n, c, f, (h, w), (kh, kw), (sh, sw), (ph, pw)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_geometry(), st.booleans(), seeds)
def test_conv2d_forward_matches_naive_loops(geom, bias: bool, seed: int) -> None:
    n, c, f, (h, w), k, s, p = geom
    rng = np.random.default_rng(seed)
    x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, *k))
    b = rng.standard_normal(f) if bias else None
    out = F.conv2d(Tensor(x), Tensor(wt), None if b is None else Tensor(b), stride=s, padding=p)
    ref = conv_reference(x, wt, b, s, p)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.data, ref, rtol=1e-10, atol=1e-12)


def test_conv2d_geometry_includes_uneven_strides() -> None:
    # (H + 2p − k) not a multiple of the stride: the rest of the input is simply not read.
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 8, 7)), rng.standard_normal((3, 2, 3, 2))
    out = F.conv2d(Tensor(x), Tensor(w), stride=(3, 2), padding=(1, 0))
    assert out.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(out.data, conv_reference(x, w, None, (3, 2), (1, 0)), atol=1e-12)


def test_conv2d_matches_scipy_correlate() -> None:
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((9, 11)), rng.standard_normal((3, 4))
    out = F.conv2d(Tensor(x[None, None]), Tensor(w[None, None]))
    np.testing.assert_allclose(out.data[0, 0], signal.correlate(x, w, mode="valid"), atol=1e-12)
    padded = F.conv2d(Tensor(x[None, None]), Tensor(w[None, None]), padding=(2, 3))
    np.testing.assert_allclose(
        padded.data[0, 0], signal.correlate(np.pad(x, ((2, 2), (3, 3))), w, mode="valid")
    )


@FEW
@given(conv_geometry(), st.booleans(), seeds)
def test_conv2d_gradcheck(geom, bias: bool, seed: int) -> None:
    n, c, f, (h, w), k, s, p = geom
    rng = np.random.default_rng(seed)
    x, wt = uniform(rng, (n, c, h, w)), uniform(rng, (f, c, *k))
    if bias:
        b = uniform(rng, (f,))
        check(lambda a, q, r: F.conv2d(a, q, r, stride=s, padding=p), x, wt, b)
    else:
        check(lambda a, q: F.conv2d(a, q, stride=s, padding=p), x, wt)


def test_conv2d_gradcheck_full_jacobian_small() -> None:
    rng = np.random.default_rng(5)
    x, w, b = uniform(rng, (2, 2, 4, 3)), uniform(rng, (2, 2, 2, 2)), uniform(rng, (2,))
    f = lambda a, q, r: F.conv2d(a, q, r, stride=(2, 1), padding=(1, 0))  # noqa: E731
    assert f(x, w, b).size <= 64 and x.size <= 64  # so gradcheck also compares the whole Jacobian
    check(f, x, w, b)


def test_conv_output_feeds_a_second_conv() -> None:
    # Chained convs exercise the batch-innermost layout of the intermediate.
    rng = np.random.default_rng(6)
    x, w1, w2 = uniform(rng, (3, 2, 6, 6)), uniform(rng, (3, 2, 3, 3)), uniform(rng, (2, 3, 2, 2))
    check(lambda a, p, q: F.conv2d(F.conv2d(a, p, padding=1).tanh(), q, stride=2), x, w1, w2)


# ----- pooling ---------------------------------------------------------------------------------


def pool_reference(x: np.ndarray, g: np.ndarray, kernel, stride, padding, mode: str):
    """Naive pooling forward and backward; max ties go to the first maximum in scan order."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out, dx = np.zeros((n, c, oh, ow)), np.zeros_like(x)
    for bn, ch, r, q in itertools.product(range(n), range(c), range(oh), range(ow)):
        cells = [(r * sh + i - ph, q * sw + j - pw) for i in range(kh) for j in range(kw)]
        if mode == "avg":
            out[bn, ch, r, q] = sum(x[bn, ch, a, b] for a, b in cells if 0 <= a < h and 0 <= b < w) / (
                kh * kw
            )
            for a, b in cells:
                if 0 <= a < h and 0 <= b < w:
                    dx[bn, ch, a, b] += g[bn, ch, r, q] / (kh * kw)
        else:
            best = None
            for a, b in cells:
                if (
                    0 <= a < h
                    and 0 <= b < w
                    and (best is None or x[bn, ch, a, b] > x[bn, ch, best[0], best[1]])
                ):
                    best = (a, b)
            out[bn, ch, r, q] = x[bn, ch, best[0], best[1]]
            dx[bn, ch, best[0], best[1]] += g[bn, ch, r, q]
    return out, dx


@st.composite
def pool_geometry(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 7))
    w = draw(st.integers(max(1, kw - 2 * pw), 7))
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw)


def _pool(mode: str):
    return F.max_pool2d if mode == "max" else F.avg_pool2d


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_geometry(), st.sampled_from(["max", "avg"]), st.booleans(), seeds)
def test_pooling_matches_naive_loops(geom, mode: str, ties: bool, seed: int) -> None:
    shape, k, s, p = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    g = rng.standard_normal(
        (
            shape[0],
            shape[1],
            (shape[2] + 2 * p[0] - k[0]) // s[0] + 1,
            (shape[3] + 2 * p[1] - k[1]) // s[1] + 1,
        )
    )
    t = leaf(x)
    out = _pool(mode)(t, k, s, p)
    out.backward(g)
    ref_out, ref_dx = pool_reference(x, g, k, s, p, mode)
    np.testing.assert_allclose(out.data, ref_out, atol=1e-12)
    np.testing.assert_allclose(t.grad, ref_dx, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_geometry(), st.sampled_from(["max", "avg"]), st.booleans(), seeds)
def test_pooling_matches_torch(geom, mode: str, ties: bool, seed: int) -> None:
    torch = pytest.importorskip("torch")
    shape, k, s, p = geom
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    tx = torch.tensor(x, requires_grad=True)
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    tout = pool(tx, k, s, p)
    g = rng.standard_normal(tuple(tout.shape))
    tout.backward(torch.tensor(g))
    t = leaf(x)
    out = _pool(mode)(t, k, s, p)
    out.backward(g)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), atol=1e-12)


def test_max_pool_ties_go_to_the_first_maximum() -> None:
    x = leaf(np.ones((1, 1, 2, 4)))
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])
    # Overlapping windows (stride 1): each window's first maximum, accumulated.
    y = leaf(np.array([[[[5.0, 5.0, 5.0]]]]))
    F.max_pool2d(y, (1, 2), stride=1).sum().backward()
    np.testing.assert_array_equal(y.grad[0, 0], [[1, 1, 0]])


@FEW
@given(pool_geometry(), seeds)
def test_max_pool_gradcheck(geom, seed: int) -> None:
    shape, k, s, p = geom
    x = leaf(distinct(np.random.default_rng(seed), shape))
    check(lambda a: F.max_pool2d(a, k, s, p), x)


@FEW
@given(pool_geometry(), seeds)
def test_avg_pool_gradcheck(geom, seed: int) -> None:
    shape, k, s, p = geom
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda a: F.avg_pool2d(a, k, s, p), x)


def test_pool_after_conv_gradcheck() -> None:
    rng = np.random.default_rng(8)
    x, w = uniform(rng, (2, 1, 6, 6)), uniform(rng, (2, 1, 3, 3))
    check(lambda a, q: F.avg_pool2d(F.conv2d(a, q, padding=1), 2), x, w)
    check(lambda a, q: F.max_pool2d(F.conv2d(a, q, padding=1) * 1.0, 3, 2, 1).sum(axis=(2, 3)), x, w)


# ----- gradcheck itself ----------------------------------------------------------------------


class WrongSquare(Function):  # an op with a wrong backward
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return g * 3 * self.a  # should be 2·a


def test_gradcheck_catches_a_wrong_backward() -> None:
    x = uniform(np.random.default_rng(9), (3,), 0.5, 2.0)
    with pytest.raises(GradcheckError) as info:
        gradcheck(WrongSquare.apply, [x])
    message = str(info.value)
    assert "backprop" in message and "numeric" in message


def test_gradcheck_catches_a_wrong_jacobian_entry() -> None:
    # Wrong only off the diagonal of a 2×2 Jacobian, so a single direction may pass by chance but
    # the full Jacobian cannot.
    class Swap(Function):
        def forward(self, a):
            return a[::-1].copy()

        def backward(self, g):
            return g  # should be g[::-1]

    x = uniform(np.random.default_rng(10), (2,))
    with pytest.raises(GradcheckError, match="backprop"):
        gradcheck(Swap.apply, [x])


def test_gradcheck_accepts_a_right_backward() -> None:
    assert gradcheck(lambda a: a * a, [uniform(np.random.default_rng(11), (3,))])


def test_gradcheck_rejects_float32() -> None:
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda a: a * a, [x])


def test_gradcheck_needs_an_input_requiring_grad() -> None:
    with pytest.raises(ValueError):
        gradcheck(lambda a: a * a, [Tensor(np.ones(3))])


def test_gradcheck_on_an_empty_output() -> None:
    # Regression: the Jacobian check did np.stack of no rows. An empty output's gradient is zero.
    x = uniform(np.random.default_rng(12), (3,))
    assert gradcheck(lambda a: a[3:], [x])
    np.testing.assert_array_equal(x.grad, np.zeros(3))
    assert gradcheck(lambda a: a[:, :0] * 2, [uniform(np.random.default_rng(13), (2, 3))])
    assert gradcheck(lambda a: a * 2, [uniform(np.random.default_rng(14), (0, 3))])  # empty input too


def test_gradcheck_rejects_a_nonzero_gradient_from_an_empty_output() -> None:
    class Leaky(Function):
        def forward(self, a):
            return a[:0]

        def backward(self, g):
            return np.ones(3)

    with pytest.raises(GradcheckError):
        gradcheck(lambda a: Leaky.apply(a), [uniform(np.random.default_rng(15), (3,))])


# ----- sin, cos, softplus, log-sigmoid, binary cross-entropy on logits ------------------------------

_NEW_UNARY = {
    "sin": (lambda x: x.sin(), np.sin),
    "cos": (lambda x: x.cos(), np.cos),
    "F.sin": (F.sin, np.sin),
    "F.cos": (F.cos, np.cos),
    "softplus": (F.softplus, lambda v: np.logaddexp(0.0, v)),
    "softplus-beta2": (lambda x: F.softplus(x, beta=2.0), lambda v: np.logaddexp(0.0, 2.0 * v) / 2.0),
    "softplus-beta0.5": (lambda x: F.softplus(x, beta=0.5), lambda v: np.logaddexp(0.0, 0.5 * v) / 0.5),
    "log_sigmoid": (F.log_sigmoid, lambda v: -np.logaddexp(0.0, -v)),
}


@CHECK
@given(shapes, seeds, st.sampled_from(sorted(_NEW_UNARY)), st.sampled_from([3.0, 40.0]))
def test_sin_cos_softplus_log_sigmoid(shape, seed: int, name: str, scale: float) -> None:
    fn, ref = _NEW_UNARY[name]
    a = uniform(np.random.default_rng(seed), shape, -scale, scale)  # 40: far into the saturated tails
    np.testing.assert_allclose(fn(a).data, ref(a.data), rtol=1e-12, atol=1e-300)
    check(fn, a)


def test_softplus_and_log_sigmoid_are_stable_for_huge_inputs() -> None:
    x = leaf(np.array([-1e4, -50.0, 0.0, 50.0, 1e4]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        sp, ls = F.softplus(x), F.log_sigmoid(x)
        (sp.sum() + ls.sum()).backward()
    np.testing.assert_allclose(sp.data, np.logaddexp(0.0, x.data), rtol=1e-15)
    np.testing.assert_allclose(ls.data, -np.logaddexp(0.0, -x.data), rtol=1e-15)
    assert sp.data[-1] == 1e4 and ls.data[0] == -1e4
    sigmoid = 1 / (1 + np.exp(-np.clip(x.data, -700, 700)))
    np.testing.assert_allclose(x.grad, sigmoid + (1 - sigmoid), rtol=1e-15)  # d softplus + d log sigmoid
    for bad in (0.0, -1.0, True):
        with pytest.raises(ValueError, match="beta"):
            F.softplus(x, beta=bad)


@CHECK
@given(shapes, seeds, st.sampled_from(["mean", "sum", "none"]), st.booleans())
def test_binary_cross_entropy_with_logits(shape, seed: int, reduction: str, target_grad: bool) -> None:
    rng = np.random.default_rng(seed)
    logits = uniform(rng, shape, -6, 6)
    targets = uniform(rng, shape, 0.0, 1.0) if target_grad else Tensor(rng.uniform(0.0, 1.0, shape))
    p = 1 / (1 + np.exp(-logits.data))
    elementwise = -(targets.data * np.log(p) + (1 - targets.data) * np.log(1 - p))
    expected = {"mean": elementwise.mean(), "sum": elementwise.sum(), "none": elementwise}[reduction]
    out = F.binary_cross_entropy_with_logits(logits, targets, reduction=reduction)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10)
    check(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), logits, targets)


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits() -> None:
    logits = leaf(np.array([-1e4, -100.0, 0.0, 100.0, 1e4]))
    targets = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss.sum().backward()
    np.testing.assert_allclose(loss.data, [1e4, np.log1p(np.exp(-100.0)), np.log(2), np.log1p(np.exp(-100.0)), 1e4])
    np.testing.assert_allclose(logits.grad, [-1.0, 0.0, 0.0, 0.0, 1.0], atol=1e-40)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_matches_torch(dtype, reduction: str) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    x = (rng.standard_normal((7, 3)) * 30).astype(dtype)  # some logits far into the tails
    t = rng.uniform(0.0, 1.0, (7, 3)).astype(dtype)
    t[0] = [0.0, 1.0, 1.0]
    ours_x, ours_t = Tensor(x, requires_grad=True), Tensor(t, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(ours_x, ours_t, reduction=reduction)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(tx, tt, reduction=reduction)
    g = rng.standard_normal(loss.shape).astype(dtype)
    loss.backward(g)
    tloss.backward(torch.tensor(g))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours_x.grad, tx.grad.numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ours_t.grad, tt.grad.numpy(), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", ["softplus", "log_sigmoid", "sin", "cos"])
def test_new_functions_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    x = np.linspace(-60, 60, 49).astype(np.float32)
    ours = Tensor(x, requires_grad=True)
    out = getattr(F, name)(ours)
    tx = torch.tensor(x, requires_grad=True)
    tfn = {
        "softplus": torch.nn.functional.softplus,
        "log_sigmoid": torch.nn.functional.logsigmoid,
        "sin": torch.sin,
        "cos": torch.cos,
    }[name]
    tout = tfn(tx)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.grad, tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda x: F.binary_cross_entropy_with_logits(x, np.zeros(3)), ValueError, r"targets of shape \(3,\)"),
        (lambda x: F.binary_cross_entropy_with_logits(x, np.zeros((2, 3)), "max"), ValueError, "reduction"),
        (lambda x: F.binary_cross_entropy_with_logits(x[:0], np.zeros((0, 3))), ValueError, "empty batch"),
        (lambda x: F.binary_cross_entropy_with_logits(Tensor([[1, 2]]), [[0, 1]]), TypeError, "floating point"),
        (lambda x: F.binary_cross_entropy_with_logits(x, "ones"), TypeError, "target must be"),
    ],
    ids=["shape", "reduction", "empty", "integer-logits", "string-targets"],
)
def test_binary_cross_entropy_with_logits_checks(call, error, message) -> None:
    with pytest.raises(error, match=message):
        call(leaf(np.zeros((2, 3))))


def test_binary_cross_entropy_with_logits_casts_constant_targets() -> None:
    x = Tensor(np.zeros((2, 2), dtype=np.float32), requires_grad=True)
    for targets in ([[1, 0], [0, 1]], np.array([[True, False], [False, True]]), np.eye(2), Tensor(np.eye(2))):
        loss = F.binary_cross_entropy_with_logits(x, targets)
        assert loss.dtype == np.float32
        assert loss.item() == pytest.approx(np.log(2))


def test_new_functions_run_on_the_device_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # No hard-coded NumPy call, no host array mixed in, no read back to the host: the same values
    # and gradients as on the host.
    rng = np.random.default_rng(17)
    x_host, t_host = rng.standard_normal((4, 3)) * 20, rng.uniform(0, 1, (4, 3))

    def run(to_device: bool) -> tuple[Tensor, Tensor]:
        x = Tensor(x_host, requires_grad=True)
        t = Tensor(t_host)
        if to_device:
            x, t = x.to("gpu"), t.to("gpu")
        loss = (
            F.softplus(x, beta=2.0).sum()
            + F.log_sigmoid(x).sum()
            + x.sin().sum()
            + F.cos(x).sum()
            + F.binary_cross_entropy_with_logits(x, t)
            + F.binary_cross_entropy_with_logits(x, [[1, 0, 1]] * 4, reduction="sum")
            + F.mse_loss(x, t, reduction="sum")
            + F.cross_entropy(x, [0, 2, 1, 1])
        )
        loss.backward()
        return loss, x

    expected_loss, expected_x = run(False)
    fake_cupy.install(monkeypatch)
    loss, x = run(True)
    assert fake_cupy.host_reads == []
    assert loss.device == "gpu" and x.grad.__class__ is fake_cupy.DeviceArray
    np.testing.assert_allclose(to_numpy(loss.data), expected_loss.data, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(x.grad), expected_x.grad, rtol=1e-12)
