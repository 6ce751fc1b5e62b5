"""The fast NumPy paths of conv, pooling and ReLU against their plain reference versions, and the thread pool.

- Blocked convolution vs the whole-column-matrix reference: close, not bit-equal, because BLAS
  sums each block's GEMM on its own and the weight/bias gradients are summed block by block
  (a different summation order); the input gradient receives its terms in block order.
- Pooling and ReLU in blocks vs on the whole array: bit-identical (the same element-wise
  arithmetic on every element).
- Every fast path gives the same bits with 1, 2 or 3 threads: block geometry depends on shapes only.
- The pool's thread count follows set_num_threads, MINIGRAD_NUM_THREADS and threadpoolctl's limit.

Small block sizes and thresholds are patched in so that small, fast inputs cut into many blocks.
"""

from __future__ import annotations

import os
import select
import signal
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import minigrad
from minigrad import Tensor, gradcheck, parallel
from minigrad import functional as F
from minigrad.ops import activation, conv
from tests import fake_cupy


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few hundred bytes, and the pool used from the smallest sizes on."""
    monkeypatch.setattr(conv, "CHUNK_BYTES", 512)
    monkeypatch.setattr(conv, "SHARE_BYTES", 256)
    monkeypatch.setattr(conv, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(conv, "POOL_BLOCK", 64)
    monkeypatch.setattr(conv, "PARALLEL_MIN", 1)
    monkeypatch.setattr(parallel, "ELEMENTWISE_BLOCK", 100)
    monkeypatch.setattr(parallel, "ELEMENTWISE_MIN", 1)


@pytest.fixture(autouse=True)
def automatic_threads() -> Any:
    yield
    parallel.set_num_threads(None)


def _conv_case(seed: int, n: int, c: int, f: int, size: int, k: int, stride: int, pad: int, dtype: Any) -> tuple:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, size, size)).astype(dtype)
    w = rng.standard_normal((f, c, k, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return x, w, b, (stride, stride), (pad, pad)


def _padded(x: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(conv._batch_inner_padded(x, *pad, 0.0))


conv_cases = st.tuples(
    st.integers(0, 2**16),
    st.integers(1, 9),  # batch
    st.integers(1, 4),  # input channels
    st.integers(1, 5),  # filters
    st.integers(5, 11),  # image size
    st.integers(1, 4),  # kernel
    st.integers(1, 3),  # stride
    st.integers(0, 2),  # padding
)


@settings(max_examples=40, deadline=None)
@given(conv_cases, st.sampled_from([np.float32, np.float64]))
def test_blocked_conv_matches_the_reference(case: tuple, dtype: Any) -> None:
    seed, n, c, f, size, k, s, p = case
    x, w, b, stride, pad = _conv_case(seed, n, c, f, size, k, s, p, dtype)
    x_pad = _padded(x, pad)
    oh = conv.output_size(size, k, s, p)
    old = conv.CHUNK_BYTES, conv.SHARE_BYTES, conv.PARALLEL_MIN_BYTES
    conv.CHUNK_BYTES = conv.SHARE_BYTES = 64  # many blocks: rows, or segments of a row
    conv.PARALLEL_MIN_BYTES = 0  # and the input gradient in two halves
    try:
        out = conv.conv2d_forward_blocked(x_pad, w, b, stride, oh, oh)
        ref, col = conv.conv2d_forward_reference(x_pad, w, b, stride, oh, oh)
        g4 = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(dtype)
        got = conv.conv2d_backward_blocked(x_pad, w, g4, stride, (True, True, True))
        want = conv.conv2d_backward_reference(col, w, g4, stride, x_pad.shape, (True, True, True))
    finally:
        conv.CHUNK_BYTES, conv.SHARE_BYTES, conv.PARALLEL_MIN_BYTES = old
    # Not bit-equal: the GEMMs and sums run in other orders (see the module docstring).
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(out, ref, **tol)
    for a, r in zip(got, want):
        np.testing.assert_allclose(a, r, **tol)


def test_position_blocks_are_cache_sized_rows_or_row_segments() -> None:
    limit = conv.CHUNK_BYTES
    # LeNet-5's first layer at batch 16: 45 KB of columns per output row, so several rows a block.
    blocks = conv.position_blocks(28, 28, 25 * 16 * 4)
    assert all(q0 == 0 and q1 == 28 for _, _, q0, q1 in blocks)
    assert [r for r0, r1, _, _ in blocks for r in range(r0, r1)] == list(range(28))
    assert all((r1 - r0) * 28 * 25 * 16 * 4 <= limit for r0, r1, _, _ in blocks)
    # At batch 256 one row has 0.7 MB of columns: each row is cut into segments.
    blocks = conv.position_blocks(28, 28, 25 * 256 * 4)
    assert all(r1 == r0 + 1 for r0, r1, _, _ in blocks)
    assert all((q1 - q0) * 25 * 256 * 4 <= limit for _, _, q0, q1 in blocks)
    for row in range(28):
        segments = [(q0, q1) for r0, _, q0, q1 in blocks if r0 == row]
        assert segments[0][0] == 0 and segments[-1][1] == 28
        assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))


def _conv_step(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Any, pad: Any) -> list[np.ndarray]:
    xt, wt, bt = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)
    y = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    g = np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)
    y.backward(g)
    return [y.data, xt.grad, wt.grad, bt.grad]


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("geometry", [(1, 0), (1, 2), (2, 1)])
def test_conv_is_bit_identical_for_any_thread_count(geometry: tuple[int, int], monkeypatch) -> None:
    stride, pad = geometry
    x, w, b, stride2, pad2 = _conv_case(3, 6, 3, 4, 12, 3, stride, pad, np.float32)
    split: list[tuple[int, int]] = []  # (pieces of work, threads) of every pool call
    real = parallel.for_each_chunk

    def spy(fn: Any, n: int, calls_blas: bool = False, threads: int | None = None) -> None:
        split.append((n, parallel.get_num_threads() if threads is None else threads))
        real(fn, n, calls_blas, threads)

    monkeypatch.setattr(parallel, "for_each_chunk", spy)
    results = []
    for threads in (1, 2, 3):
        parallel.set_num_threads(threads)
        results.append(_conv_step(x, w, b, stride2, pad2))
    assert len(split) == 9 and all(n > 3 for n, _ in split[:2]) and {t for _, t in split} == {1, 2, 3}
    for other in results[1:]:
        for a, r in zip(other, results[0]):
            assert np.array_equal(a, r)


@pytest.mark.usefixtures("small_blocks")
def test_blocked_conv_passes_gradcheck_over_many_blocks() -> None:
    x, w, b, stride, pad = _conv_case(5, 3, 2, 3, 7, 3, 2, 1, np.float64)
    parallel.set_num_threads(2)
    inputs = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda a, q, r: F.conv2d(a, q, r, stride=stride, padding=pad), inputs)


@pytest.mark.usefixtures("small_blocks")
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("geometry", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (0, 1))])
def test_pooling_in_blocks_is_bit_identical_to_whole_arrays(mode: str, geometry: tuple, monkeypatch) -> None:
    kernel, stride, pad = geometry
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 7, 9, 10)).astype(np.float32)
    x[:, :, ::2, ::3] = 0.5  # ties: the gradient must go to the first maximum in both paths
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d

    def step() -> list[np.ndarray]:
        xt = Tensor(x.copy(), requires_grad=True)
        y = pool(xt, kernel, stride, pad)
        y.backward(np.random.default_rng(2).standard_normal(y.shape).astype(np.float32))
        return [y.data, xt.grad]

    results = []
    for threads in (1, 2, 3):
        parallel.set_num_threads(threads)
        results.append(step())
    monkeypatch.setattr(conv, "PARALLEL_MIN", 10**9)  # whole arrays, one call per offset
    results.append(step())
    for other in results[1:]:
        for a, r in zip(other, results[0]):
            assert np.array_equal(a, r)


@pytest.mark.usefixtures("small_blocks")
def test_relu_in_blocks_is_bit_identical_to_the_reference() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 5, 8, 9)).astype(np.float32)
    x[0, 0, 0, :5] = [0.0, -0.0, np.nan, np.inf, -np.inf]  # gradient 0 at 0; signed zeros and NaN kept
    g = rng.standard_normal(x.shape).astype(np.float32)
    want_y, want_g = np.maximum(x, 0), g * (x > 0)
    for threads in (1, 2, 3):
        parallel.set_num_threads(threads)
        for layout in (x, np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)):
            xt = Tensor(layout.copy(), requires_grad=True)
            y = F.relu(xt)
            y.backward(g)
            for got, want in ((y.data, want_y), (xt.grad, want_g)):
                assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.usefixtures("small_blocks")
def test_relu_blocks_need_one_dense_layout() -> None:
    x = np.arange(-20.0, 20.0, dtype=np.float32).reshape(5, 8)
    assert activation._relu_blocked(x[:, ::2]) is None  # strided: the plain expression runs instead
    assert activation._relu_grad_blocked(np.ones((8, 5), np.float32).T, x) is None  # another layout
    xt = Tensor(x[:, ::2], requires_grad=True)
    y = F.relu(xt)
    y.backward(np.ones(y.shape, np.float32))
    assert np.array_equal(y.data, np.maximum(x[:, ::2], 0)) and np.array_equal(xt.grad, (x[:, ::2] > 0) * 1.0)


def test_flat_memory_follows_the_layout() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(parallel.flat_memory(a), np.arange(24.0))
    inner = np.ascontiguousarray(a.transpose(1, 2, 0)).transpose(2, 0, 1)  # batch innermost
    assert np.array_equal(parallel.flat_memory(inner), inner.transpose(1, 2, 0).reshape(-1))
    assert parallel.flat_memory(a[:, :, ::2]) is None


# ----- the pool ---------------------------------------------------------------------------------


def test_set_num_threads_rejects_bad_values() -> None:
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int or None"):
            parallel.set_num_threads(bad)  # type: ignore[arg-type]
    parallel.set_num_threads(3)
    assert parallel.get_num_threads() == 3


def test_use_threads_restores_the_setting_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    with parallel.use_threads(3):
        assert parallel.get_num_threads() == 3
    with threadpool_limits(limits=1):
        assert parallel.get_num_threads() == 1  # automatic again, not frozen at the count seen before
    parallel.set_num_threads(2)
    with parallel.use_threads(None), threadpool_limits(limits=1):
        assert parallel.get_num_threads() == 1
    assert parallel.get_num_threads() == 2


def test_environment_variable_sets_the_thread_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV_VAR, "3")
    assert parallel.get_num_threads() == 3
    parallel.set_num_threads(1)  # the program's own setting wins
    assert parallel.get_num_threads() == 1
    parallel.set_num_threads(None)
    monkeypatch.setenv(parallel.ENV_VAR, "two")
    with pytest.raises(ValueError, match="MINIGRAD_NUM_THREADS must be a positive integer, got 'two'"):
        parallel.get_num_threads()


def test_automatic_thread_count_follows_threadpoolctl_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(parallel.ENV_VAR, raising=False)
    with threadpool_limits(limits=1):
        assert parallel.get_num_threads() == 1  # a study worker pinned to one thread
    assert parallel.get_num_threads() <= parallel._cpu_count()


def test_for_each_chunk_covers_the_range_once_and_raises_errors() -> None:
    parallel.set_num_threads(3)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def record(a: int, b: int) -> None:
        with lock:
            seen.append((a, b))

    parallel.for_each_chunk(record, 10)
    assert sorted(seen) == [(0, 3), (3, 6), (6, 10)]

    def fail(a: int, b: int) -> None:
        if a > 0:
            raise KeyError(f"piece {a}")

    with pytest.raises(KeyError, match="piece"):
        parallel.for_each_chunk(fail, 10)


def test_pieces_no_worker_has_started_run_on_the_caller() -> None:
    parallel.set_num_threads(2)
    pool = parallel._executor(1)
    gate, started = threading.Event(), threading.Semaphore(0)

    def occupy() -> None:
        started.release()
        gate.wait(30)

    blockers = [pool.submit(occupy) for _ in range(parallel._pool_size)]  # every worker is busy
    try:
        for _ in blockers:
            assert started.acquire(timeout=30)
        ran: list[tuple[int, int, str]] = []
        parallel.for_each_chunk(lambda a, b: ran.append((a, b, threading.current_thread().name)), 2)
        assert sorted((a, b) for a, b, _ in ran) == [(0, 1), (1, 2)]
        assert {name for _, _, name in ran} == {threading.current_thread().name}
    finally:
        gate.set()
        for blocker in blockers:
            blocker.result()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_a_pool_of_its_own() -> None:
    parallel.set_num_threads(2)
    parallel.for_each_chunk(lambda a, b: None, 2)  # the parent's pool exists now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: with the parent's dead pool this would wait forever
        seen: list[int] = []
        parallel.for_each_chunk(lambda a, b: seen.append(a), 2)
        os.write(write, bytes([len(seen)]))
        os._exit(0)
    os.close(write)
    ready: list[int] = []
    try:
        ready, _, _ = select.select([read], [], [], 20.0)
        assert ready, "the forked child hung on the parent's thread pool"
        assert os.read(read, 1) == bytes([2])
    finally:
        if not ready:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_blas_is_held_at_one_thread_inside_the_pool_and_restored() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        parallel.set_num_threads(2)
        inside: list[list[int]] = []
        parallel.for_each_chunk(lambda a, b: inside.append(blas_threads()), 2, calls_blas=True)
        assert inside and all(t == [1] * len(before) for t in inside)
        assert blas_threads() == before


def test_scratch_buffers_are_private_to_each_thread() -> None:
    mine = parallel.scratch("test", (4, 5), np, np.float32)
    assert parallel.scratch("test", (2, 3), np, np.float32).base is mine.base  # reused, not reallocated
    other: list[Any] = []
    t = threading.Thread(target=lambda: other.append(parallel.scratch("test", (4, 5), np, np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(other[0], mine)


def test_gpu_arrays_never_reach_the_pool(monkeypatch: pytest.MonkeyPatch, small_blocks: None) -> None:
    fake_cupy.install(monkeypatch)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the thread pool was used on device arrays")

    monkeypatch.setattr(parallel, "for_each_chunk", refuse)
    parallel.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 2, 8, 8)).astype(np.float32)).to("gpu").requires_grad_()
    w = Tensor(rng.standard_normal((3, 2, 3, 3)).astype(np.float32)).to("gpu").requires_grad_()
    y = F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2)
    y.sum().backward()
    assert minigrad.device_of(x.grad) == "gpu" and minigrad.device_of(w.grad) == "gpu"
