"""minigrad's own small thread pool, for the NumPy loops that BLAS does not spread over the cores.

NumPy runs element-wise ufuncs, copies and reductions on one core, but releases the GIL inside
them. The conv, pooling and ReLU ops cut such work into blocks whose geometry depends on the
array shapes only, and :func:`for_each_chunk` hands contiguous runs of blocks to a persistent
pool of threads. Every block writes its own part of the output with the arithmetic a single
thread would use on it, so results are bit-identical for any number of threads (tested in
``tests/test_conv_fast_paths.py``).

How many threads, from strongest to weakest:

1. :func:`set_num_threads` ``(n)`` in the program (``None`` returns to automatic);
2. the environment variable ``MINIGRAD_NUM_THREADS`` (a positive integer);
3. automatic: as many as NumPy's BLAS may use now, as threadpoolctl reports it, and at most the
   CPUs this process may run on. So a study worker pinned with ``threadpool_limits(1)`` runs
   minigrad on one thread too, and a process whose BLAS uses both cores uses both for the rest.

The pool and BLAS never compete for the cores: while the pool runs blocks that call BLAS (the
conv GEMMs), BLAS is held at one thread and restored afterwards. The caller runs a piece of the
work itself and takes back any piece no worker has started by then, so a worker that a busy
machine does not schedule does not hold the caller up (a piece already started is waited for).
With one thread the pool is never touched, and CuPy arrays never reach it (the GPU has its own
parallelism). A forked child starts a pool of its own.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

ENV_VAR = "MINIGRAD_NUM_THREADS"

_explicit: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_blas: list[Any] | None = None
_lock = threading.Lock()
_local = threading.local()
_env_seen: tuple[str | None, int | None] = (None, None)
_cpus: int | None = None


def _parse_env() -> int | None:
    """``MINIGRAD_NUM_THREADS`` as an int, None when unset or empty; a ValueError names a bad value."""
    global _env_seen
    text = os.environ.get(ENV_VAR)
    if _env_seen[0] == text:  # read on every call (it may change), parsed once per value
        return _env_seen[1]
    value = None
    if text is not None and text.strip():
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"{ENV_VAR} must be a positive integer, got {text!r}")
        value = int(text)
    _env_seen = (text, value)
    return value


def _cpu_count() -> int:
    """The CPUs this process may run on (looked up once)."""
    global _cpus
    if _cpus is None:
        try:
            _cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            _cpus = os.cpu_count() or 1
    return _cpus


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (found once)."""
    global _blas
    if _blas is None:
        try:
            import numpy  # noqa: F401  (NumPy's BLAS must be loaded before threadpoolctl looks)
            from threadpoolctl import ThreadpoolController

            _blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        except ImportError:  # threadpoolctl is a dependency, but minigrad still runs without it
            _blas = []
    return _blas


def _blas_threads() -> int | None:
    """The thread count NumPy's BLAS would use now, or None when it cannot be read."""
    counts = [lib.num_threads for lib in _blas_libraries()]
    return min(counts) if counts else None


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for minigrad's parallel loops (1 turns the pool off; None: automatic)."""
    global _explicit
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_num_threads expects a positive int or None, got {n!r}")
    _explicit = n


@contextlib.contextmanager
def use_threads(n: int | None) -> Iterator[None]:
    """Run the body with :func:`set_num_threads` ``(n)``, then restore the setting before it (or automatic)."""
    global _explicit
    previous = _explicit
    set_num_threads(n)
    try:
        yield
    finally:
        _explicit = previous


def get_num_threads() -> int:
    """The number of threads minigrad's parallel loops use now (see the module docstring)."""
    if _explicit is not None:
        return _explicit
    env = _parse_env()
    if env is not None:
        return env
    blas, cpus = _blas_threads(), _cpu_count()
    return max(1, min(cpus, blas) if blas is not None else cpus)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The persistent pool, replaced by a larger one when more workers are asked for."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool, _pool_size = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minigrad"), workers
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _forget_pool_after_fork() -> None:
    """In a forked child the pool's threads do not exist: start a new pool on first use."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[None]:
    """Hold every BLAS library at one thread for the body, then restore it.

    The setting is the library's, for the whole process: inside the body each of the pool's
    threads runs its own GEMMs on its own core, instead of each GEMM waking BLAS's threads too.
    """
    saved = [(lib, lib.num_threads) for lib in _blas_libraries()]
    for lib, n in saved:
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in saved:
            if n != 1:
                lib.set_num_threads(n)


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """``range(n)`` cut into ``min(parts, n)`` contiguous (start, stop) pieces of near-equal size."""
    parts = max(1, min(parts, n))
    bounds = [n * k // parts for k in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def for_each_chunk(
    fn: Callable[[int, int], None], n: int, calls_blas: bool = False, threads: int | None = None
) -> None:
    """Call ``fn(start, stop)`` on contiguous pieces of ``range(n)``, one per thread; the caller runs one.

    ``fn`` must write disjoint parts of its outputs for disjoint ranges, and compute each index
    the same way whichever range it comes in: then the result does not depend on the thread
    count. ``calls_blas``: ``fn`` calls BLAS, which is held at one thread while the pool runs.
    With one thread (or ``n`` ≤ 1) this is just ``fn(0, n)``. The caller runs the first piece,
    then any piece no worker has started yet. An exception in any piece is raised here, after
    every piece has finished. ``threads``: the count if the caller has it already.
    """
    pieces = chunks(n, get_num_threads() if threads is None else threads)
    if len(pieces) <= 1:
        fn(0, n)
        return
    pool = _executor(len(pieces) - 1)
    with _blas_single_thread() if calls_blas else contextlib.nullcontext():
        futures: list[Future[None]] = [pool.submit(fn, a, b) for a, b in pieces[1:]]
        errors: list[BaseException | None] = []
        try:
            fn(*pieces[0])
            # A piece no worker has started yet (its thread not scheduled: a busy machine) is
            # taken back and run here rather than waited for.
            for future, (a, b) in zip(futures, pieces[1:]):
                if future.cancel():
                    fn(a, b)
        finally:
            errors = [None if f.cancelled() else f.exception() for f in futures]  # waits for the rest
    for error in errors:
        if error is not None:
            raise error


def scratch(name: str, shape: tuple[int, ...], xp: Any, dtype: Any) -> Any:
    """A work array of ``shape`` private to the calling thread, reused across calls (contents undefined).

    For buffers that never leave an op (one im2col block): reusing them spares the allocator and
    the page faults of fresh memory. Each thread keeps one buffer per (name, dtype), grown as needed.
    """
    buffers = _local.__dict__.setdefault("buffers", {})
    size = 1
    for s in shape:
        size *= s
    key = (name, xp.dtype(dtype).str)
    buf = buffers.get(key)
    if buf is None or buf.size < size:
        buf = buffers[key] = xp.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


# Elements of one element-wise block: it, its mask and its output stay in L2 together.
ELEMENTWISE_BLOCK = 1 << 16
# Below this many elements an element-wise pass runs in one call: handing work to a thread costs
# 30-50 µs, a pass over 2^19 float32 values about 0.2 ms.
ELEMENTWISE_MIN = 1 << 19


def flat_memory(a: Any) -> Any | None:
    """A 1-D view of ``a``'s elements in memory order, or None when they are not one dense block.

    An NCHW view of batch-innermost memory is dense, for instance: its flat view runs over (C, H, W, N).
    """
    if a.flags.c_contiguous:
        return a.reshape(-1)
    order = sorted(range(a.ndim), key=lambda d: a.strides[d], reverse=True)
    t = a.transpose(order)
    return t.reshape(-1) if t.flags.c_contiguous else None


def blockwise(fn: Callable[..., None], *arrays: Any, threads: int | None = None) -> bool:
    """Call ``fn(*blocks)`` on aligned blocks of the arrays' flat memory, spread over the pool.

    The arrays must have one shape and the same strides, and be dense (the outputs among them
    made with ``empty_like`` of an input). Returns False, having done nothing, when they are not:
    the caller then runs its plain whole-array expression. Element-wise work gives the same bits
    in blocks as on the whole array, so the result does not depend on the thread count.
    """
    first = arrays[0]
    if any(a.shape != first.shape or a.strides != first.strides for a in arrays[1:]):
        return False
    flats = [flat_memory(a) for a in arrays]
    if any(f is None for f in flats):
        return False
    size = first.size
    bounds = [(s, min(size, s + ELEMENTWISE_BLOCK)) for s in range(0, size, ELEMENTWISE_BLOCK)]

    def run(start: int, stop: int) -> None:
        for a, b in bounds[start:stop]:
            fn(*(f[a:b] for f in flats))

    for_each_chunk(run, len(bounds), threads=threads)
    return True
