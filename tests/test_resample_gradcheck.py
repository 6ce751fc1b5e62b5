"""The resampling ops (minigrad.ops.resample) and the layers built on them: Upsample2d, CaffePool2d,
WithinChannelLRN. Float64 gradient checks over hypothesis-drawn shapes, forward and backward against
independent loops and PyTorch (upsampling, ceil-mode pooling), and the argument checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layers
from minigrad import Tensor, gradcheck, ops
from minigrad import functional as F

CHECK = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)


def leaf(x: np.ndarray) -> Tensor:
    return Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)


def distinct(rng: np.random.Generator, shape: tuple[int, ...], gap: float = 0.25) -> np.ndarray:
    """Values pairwise at least ``gap`` apart (no ties for a max to split), shuffled."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * gap - size * gap / 2).reshape(shape)


@st.composite
def images(draw, max_side: int = 6):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return n, c, draw(st.integers(1, max_side)), draw(st.integers(1, max_side))


# ----- nearest-neighbour upsampling -----------------------------------------------------------------


@CHECK
@given(images(), st.integers(1, 3), st.integers(1, 3), seeds)
def test_upsample_forward_backward_and_gradcheck(shape, sh: int, sw: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal(shape))
    out = ops.UpsampleNearest2d.apply(x, scale=(sh, sw))
    n, c, h, w = shape
    assert out.shape == (n, c, h * sh, w * sw)
    for r in range(h * sh):
        for q in range(w * sw):
            np.testing.assert_array_equal(out.data[:, :, r, q], x.data[:, :, r // sh, q // sw])
    g = rng.standard_normal(out.shape)
    out.backward(g)
    want = np.zeros(shape)
    for r in range(h * sh):
        for q in range(w * sw):
            want[:, :, r // sh, q // sw] += g[:, :, r, q]
    np.testing.assert_allclose(x.grad, want, atol=1e-12)
    x.grad = None
    assert gradcheck(lambda a: ops.UpsampleNearest2d.apply(a, scale=(sh, sw)), [x])


def test_upsample_matches_torch_nearest() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    got = layers.Upsample2d((2, 3))(Tensor(x)).data
    want = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=(2, 3), mode="nearest").numpy()
    np.testing.assert_array_equal(got, want)


def test_upsample_of_a_conv_output_gradcheck() -> None:
    # Conv outputs are batch-innermost views (see minigrad.ops.conv): the op must not care.
    rng = np.random.default_rng(1)
    x, w = leaf(rng.standard_normal((2, 2, 4, 4))), leaf(rng.standard_normal((3, 2, 3, 3)))
    up = layers.Upsample2d(2)
    assert gradcheck(lambda a, k: F.conv2d(up(F.conv2d(a, k, padding=1)), k.transpose(1, 0, 2, 3), padding=2), [x, w])


# ----- constant padding -------------------------------------------------------------------------------


@CHECK
@given(images(), st.tuples(*[st.integers(0, 3)] * 4), st.sampled_from([0.0, -1.5, float("-inf")]), seeds)
def test_pad_forward_and_gradcheck(shape, pads, value: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal(shape))
    top, bottom, left, right = pads
    out = ops.Pad2d.apply(x, pads=pads, value=value)
    want = np.pad(x.data, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)
    np.testing.assert_array_equal(out.data, want)
    if np.isfinite(value):
        assert gradcheck(lambda a: ops.Pad2d.apply(a, pads=pads, value=value), [x])
    x.grad = None  # gradcheck leaves its last gradient behind
    g = rng.standard_normal(out.shape)
    out.backward(g)
    np.testing.assert_array_equal(x.grad, g[:, :, top : top + shape[2], left : left + shape[3]])


# ----- Caffe's pooling: output size rounded up ----------------------------------------------------


def caffe_pool_reference(x: np.ndarray, k: int, s: int, p: int, method: str) -> np.ndarray:
    """Caffe's PoolingLayer::Forward_cpu, transcribed loop by loop (square kernels).

    Caffe drops a last window starting past the padded input only when p > 0; with p = 0 it
    would pool an empty window (stride > kernel). That window is dropped here too, as CaffePool2d
    and PyTorch do.
    """
    n, c, h, w = x.shape
    oh = -(-(h + 2 * p - k) // s) + 1
    ow = -(-(w + 2 * p - k) // s) + 1
    oh -= (oh - 1) * s >= h + p
    ow -= (ow - 1) * s >= w + p
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h + p), min(ws + k, w + p)
            area = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            window = x[:, :, hs:he, ws:we]
            out[:, :, i, j] = window.max(axis=(2, 3)) if method == "max" else window.sum(axis=(2, 3)) / area
    return out


@st.composite
def caffe_geometry(draw):
    k = draw(st.integers(1, 4))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h = draw(st.integers(max(1, k - 2 * p), 9))
    w = draw(st.integers(max(1, k - 2 * p), 9))
    return (n, c, h, w), k, s, p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caffe_geometry(), st.sampled_from(["max", "avg"]), seeds)
def test_caffe_pool_matches_caffe_loops_and_torch_ceil_mode(geom, method: str, seed: int) -> None:
    shape, k, s, p = geom
    rng = np.random.default_rng(seed)
    x = distinct(rng, shape)
    t = leaf(x)
    out = layers.CaffePool2d(k, s, p, method=method)(t)
    np.testing.assert_allclose(out.data, caffe_pool_reference(x, k, s, p, method), atol=1e-12)
    torch = pytest.importorskip("torch")
    if p > k // 2:
        return  # Caffe allows padding up to k − 1, PyTorch only up to k / 2
    tx = torch.tensor(x, requires_grad=True)
    pool = torch.nn.functional.max_pool2d if method == "max" else torch.nn.functional.avg_pool2d
    tout = pool(tx, k, s, p, ceil_mode=True)
    assert tuple(tout.shape) == out.shape
    g = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(g))
    out.backward(g)
    np.testing.assert_allclose(t.grad, tx.grad.numpy(), atol=1e-12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caffe_geometry(), st.sampled_from(["max", "avg"]), seeds)
def test_caffe_pool_gradcheck(geom, method: str, seed: int) -> None:
    shape, k, s, p = geom
    x = leaf(distinct(np.random.default_rng(seed), shape))
    assert gradcheck(layers.CaffePool2d(k, s, p, method=method), [x])


def test_caffe_pool_rounds_up_where_floor_pooling_does_not() -> None:
    x = Tensor(np.arange(32 * 32, dtype=np.float64).reshape(1, 1, 32, 32))
    assert layers.CaffePool2d(3, 2)(x).shape == (1, 1, 16, 16)  # Caffe: ⌈29/2⌉ + 1
    assert F.max_pool2d(x, 3, 2).shape == (1, 1, 15, 15)  # floor: ⌊29/2⌋ + 1
    # The overhanging last window of the average covers a 2-wide strip: it divides by 2·3, not 9.
    avg = layers.CaffePool2d(3, 2, method="avg")(x).data
    assert avg[0, 0, 0, 15] == x.data[0, 0, 0:3, 30:32].mean()


def test_caffe_pool_argument_checks() -> None:
    with pytest.raises(ValueError, match="method must be one of"):
        layers.CaffePool2d(3, 2, method="min")
    with pytest.raises(ValueError, match="padding .* must be smaller than the kernel"):
        layers.CaffePool2d(3, 2, padding=3)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1"):
        layers.CaffePool2d(0)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, C, H, W\)"):
        layers.CaffePool2d(2)(Tensor(np.zeros((3, 4, 4))))
    with pytest.raises(ValueError, match="larger than the padded input"):
        layers.CaffePool2d(5)(Tensor(np.zeros((1, 1, 3, 3))))


# ----- Caffe's within-channel LRN ---------------------------------------------------------------------


def lrn_reference(x: np.ndarray, size: int, alpha: float, beta: float) -> np.ndarray:
    """y = x · (1 + α/size² · Σ x² over the size×size neighbourhood, zeros outside)^(−β), by loops."""
    n, c, h, w = x.shape
    half = size // 2
    out = np.empty_like(x)
    for i in range(h):
        for j in range(w):
            window = x[:, :, max(i - half, 0) : i + half + 1, max(j - half, 0) : j + half + 1]
            scale = 1 + alpha / size**2 * (window**2).sum(axis=(2, 3))
            out[:, :, i, j] = x[:, :, i, j] * scale**-beta
    return out


@CHECK
@given(images(), st.sampled_from([1, 3, 5]), seeds)
def test_within_channel_lrn_forward_and_gradcheck(shape, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = leaf(rng.standard_normal(shape) * 3)
    # A large alpha, so the normalisation is far from the identity and a wrong gradient shows.
    lrn = layers.WithinChannelLRN(size, alpha=2.0, beta=0.75)
    np.testing.assert_allclose(lrn(x).data, lrn_reference(x.data, size, 2.0, 0.75), rtol=1e-12)
    assert gradcheck(lrn, [x])


def test_within_channel_lrn_caffe_defaults_and_checks() -> None:
    lrn = layers.WithinChannelLRN()
    assert (lrn.size, lrn.alpha, lrn.beta) == (3, 5e-5, 0.75)
    with pytest.raises(ValueError, match="odd positive int"):
        layers.WithinChannelLRN(4)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        layers.WithinChannelLRN(3, alpha=-1.0)


def test_upsample_argument_checks() -> None:
    with pytest.raises(ValueError, match="scale_factor must be an int >= 1"):
        layers.Upsample2d(0)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, C, H, W\)"):
        layers.Upsample2d(2)(Tensor(np.zeros((4, 4))))


# ----- why the autoencoder's decoder needs no transposed convolution ---------------------------------


def test_stride_one_transposed_conv_is_a_full_conv_with_the_flipped_kernel() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 3))  # w: (in, out, kh, kw) as torch's
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w)).numpy()
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    got = F.conv2d(Tensor(x), Tensor(flipped), padding=2).data
    np.testing.assert_allclose(got, want, atol=1e-12)


# ----- what WAME's CIFAR net uses from the existing layers: strided 3×3, 1×1, global average ---------------


def test_strided_conv_one_by_one_conv_and_global_average_gradcheck() -> None:
    rng = np.random.default_rng(3)
    x = leaf(rng.standard_normal((2, 3, 6, 6)))
    w3, w1 = leaf(rng.standard_normal((4, 3, 3, 3))), leaf(rng.standard_normal((5, 4, 1, 1)))
    gap = layers.GlobalAvgPool2d()

    def block(a: Tensor, k3: Tensor, k1: Tensor) -> Tensor:
        h = F.conv2d(a, k3, stride=2, padding=1)  # 6 → 3, as WAME's "/2" convolutions halve 32 → 16
        return gap(F.conv2d(h * h, k1))  # h·h: smooth, so no kink for the finite differences

    assert block(x, w3, w1).shape == (2, 5)
    assert gradcheck(block, [x, w3, w1])
