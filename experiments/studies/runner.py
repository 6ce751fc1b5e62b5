"""Running a study: hand its cells to any ``concurrent.futures.Executor`` and store what comes back.

:func:`run_study` takes any executor. Cells, not threads, are the parallelism: each cell pins
BLAS to one thread (:func:`experiments.studies.cell.run_cell`), so a machine with n cores runs n
cells at once. Where cells can run:

- :func:`process_pool` (the default): a ``ProcessPoolExecutor`` with one worker per core;
- :class:`InlineExecutor`: in the driver's own process, one cell after the other (debugging);
- :func:`dask_local`: a ``distributed.LocalCluster`` of worker processes with one thread each;
- :func:`dask_connect`: the workers of a running Dask scheduler (``tcp://HOST:8786``), on any
  number of machines (``pip install ".[cluster]"``).

The driver keeps at most one cell per worker in flight, so every cell it has handed out is
running. Only the driver writes the store, one transaction per finished cell: a killed driver
loses only the running cells, and running the study again resumes it. A worker that dies takes
its running cells with it; each such cell is tried once more, alone (on a fresh pool when the
driver made the pool), so that a second death is its own and not a neighbour's; a cell that dies
on both tries is recorded as ``lost`` (a later run tries it again) and the study goes on.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from experiments.studies.cell import run_cell
from experiments.studies.spec import Cell, Study, validate_study
from experiments.studies.store import DEFAULT_STORE, StudyStore

#: Test hook: the driver SIGKILLs itself after storing this many cells (a crash with no cleanup).
KILL_ENV = "MINIGRAD_DEBUG_KILL_DRIVER_AFTER"
#: How often a cell is tried when its worker dies (the first try and one retry).
MAX_ATTEMPTS = 2


class StudyInterrupted(RuntimeError):
    """The study stopped before its end (its finished cells are stored; run it again to resume)."""


class InlineExecutor(Executor):
    """An executor that runs each call in the calling process when it is submitted."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` now; return a finished future with its result or exception."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: B036 - a future carries any exception to its reader
            future.set_exception(err)
        return future


def _die_with_parent() -> None:
    """Pool initializer: on Linux, a worker is killed when the driver dies, instead of lingering."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class Workers:
    """An executor with how many cells it runs at once, and how to replace it if it breaks."""

    executor: Executor
    capacity: Callable[[], int]
    description: str
    #: Makes a fresh executor after a worker death broke this one (None: cannot be replaced).
    remake: Callable[[], Executor] | None = None
    close: Callable[[], None] = field(default=lambda: None)
    #: Stops the running cells now (the driver was interrupted); by default they run to their end.
    abandon: Callable[[], None] = field(default=lambda: None)
    #: The ``distributed.Client`` behind a Dask executor (None otherwise).
    client: Any = None


def process_pool(workers: int | None = None) -> Workers:
    """A pool of ``workers`` processes (default: one per core) made and closed by the driver.

    Workers are forked where the platform allows (the driver's loaded data is shared and a
    script needs no ``__main__`` guard), and die with the driver on Linux.
    """
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise ValueError(f"workers must be >= 1, got {n}")
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)

    def make() -> Executor:
        return ProcessPoolExecutor(max_workers=n, mp_context=context, initializer=_die_with_parent)

    handle = Workers(make(), lambda: n, f"process pool, {n} worker(s)", remake=make)

    def abandon() -> None:
        # ProcessPoolExecutor cannot stop a running call (before Python 3.14's terminate_workers):
        # end the worker processes themselves, so an interrupted driver does not wait for them.
        for process in list(getattr(handle.executor, "_processes", {}).values()):
            process.terminate()
        handle.executor.shutdown(wait=True, cancel_futures=True)

    handle.close = lambda: handle.executor.shutdown(wait=True, cancel_futures=True)
    handle.abandon = abandon
    return handle


def inline() -> Workers:
    """Cells run one by one in the driver's process."""
    return Workers(InlineExecutor(), lambda: 1, "in-process")


def _dask_workers(client: Any, description: str, close: Callable[[], None]) -> Workers:
    def capacity() -> int:
        return max(1, sum(client.nthreads().values()))

    executor = client.get_executor(pure=False)
    # shutdown(wait=False) cancels the executor's running futures, here and on the workers.
    return Workers(
        executor, capacity, description, close=close, abandon=lambda: executor.shutdown(wait=False), client=client
    )


#: The environment Dask's nanny gives each worker process it starts (its ``pre-spawn-environ``):
#: Dask's own one-thread settings, without its ``MALLOC_TRIM_THRESHOLD_=65536``. Setting that
#: variable turns off glibc's adaptive mmap threshold, so every large temporary array becomes a
#: fresh mmap whose pages are faulted in again; it doubled the CPU time of LeNet-5 training steps
#: (measured: 1.48 s against 0.73 s for 120 steps, batch 64, one thread).
DASK_WORKER_ENVIRON = {"OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1}


def dask_local(workers: int | None = None) -> Workers:
    """A ``distributed.LocalCluster`` of ``workers`` processes (default: one per core), one thread each.

    The scheduler does not retry tasks itself (``allowed-failures`` 0): a cell whose worker dies
    comes back to the driver, which tries it once more, as with a process pool. Workers start
    with :data:`DASK_WORKER_ENVIRON`.
    """
    import dask
    from distributed import Client, LocalCluster

    n = workers or os.cpu_count() or 1
    settings = {
        "distributed.scheduler.allowed-failures": 0,
        "distributed.nanny.pre-spawn-environ": DASK_WORKER_ENVIRON,
    }
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    client = Client(cluster)

    def close() -> None:
        client.close()
        cluster.close()

    return _dask_workers(client, f"Dask LocalCluster, {n} worker process(es)", close)


#: How to start workers for :func:`dask_connect`: Dask's configuration can override its
#: ``MALLOC_TRIM_THRESHOLD_`` from the environment but not remove it, so give glibc thresholds that
#: behave like its adaptive default (measured: 0.71 s of CPU for the 120 steps above, as without
#: the variable).
DASK_WORKER_COMMAND = (
    "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="
    '\'{"MALLOC_TRIM_THRESHOLD_": 1073741824, "MALLOC_MMAP_THRESHOLD_": 33554432}\' '
    "dask worker tcp://HOST:8786 --nworkers -1 --nthreads 1"
)


def dask_connect(address: str) -> Workers:
    """The workers of the Dask scheduler at ``address`` (``tcp://HOST:8786``).

    The workers must have minigrad installed (the same version) and its data: a cell imports
    ``experiments.studies.cell`` and loads its dataset on the worker. Start them as
    :data:`DASK_WORKER_COMMAND` says; :func:`slow_malloc_workers` finds those that were not.
    """
    from distributed import Client

    client = Client(address)
    return _dask_workers(client, f"Dask scheduler {address}", client.close)


def _malloc_settings() -> tuple[str | None, str | None]:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_")


def slow_malloc_workers(client: Any) -> list[str]:
    """The workers that run with a fixed ``MALLOC_TRIM_THRESHOLD_`` and no ``MALLOC_MMAP_THRESHOLD_``.

    That is Dask's default for the workers it starts, and it doubles the CPU time of a cell
    (see :data:`DASK_WORKER_ENVIRON`).
    """
    settings = client.run(_malloc_settings)
    return sorted(address for address, (trim, mmap) in settings.items() if trim is not None and mmap is None)


def workers_for(executor: Executor, max_in_flight: int | None = None) -> Workers:
    """Wrap a caller's executor; it runs ``max_in_flight`` cells at once (default: its worker count)."""
    if max_in_flight is None:
        max_in_flight = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
    if isinstance(executor, InlineExecutor):
        max_in_flight = 1
    n = max_in_flight
    return Workers(executor, lambda: n, type(executor).__name__)


@dataclass
class StudySummary:
    """What :func:`run_study` did."""

    name: str
    total: int
    skipped: int
    done: int = 0
    failed: int = 0
    lost: int = 0
    retried: int = 0
    wall_time: float = 0.0
    where: str = ""

    def __str__(self) -> str:
        return (
            f"study {self.name!r} on {self.where}: {self.done} cell(s) done, {self.failed} failed, {self.lost} lost "
            f"({self.retried} retried), {self.skipped} already finished, of {self.total}; {self.wall_time:.1f} s"
        )


def run_study(
    study: Study,
    executor: Executor | Workers | None = None,
    store: str | Path | StudyStore = DEFAULT_STORE,
    *,
    restart: bool = False,
    progress: bool = True,
    max_in_flight: int | None = None,
) -> StudySummary:
    """Run every unfinished cell of ``study`` on ``executor`` and store the results; returns a summary.

    ``executor``: any ``concurrent.futures.Executor`` (kept open: it is the caller's), a
    :class:`Workers` handle, or None for a :func:`process_pool` with one worker per core (closed
    at the end). ``store``: a path or an open :class:`StudyStore`. ``restart`` deletes a stored
    study of the same name with another spec instead of refusing it (:class:`StudyChanged`).

    Cells that finished in an earlier run are skipped. A cell that diverges or raises is stored as
    ``failed`` and the study goes on. Raises :class:`StudyInterrupted` when a caller's executor
    breaks (it cannot be replaced), and re-raises KeyboardInterrupt; in both cases every finished
    cell is stored and the running ones go back to ``pending``.
    """
    validate_study(study)
    st = store if isinstance(store, StudyStore) else StudyStore.open(store, create=True)
    try:
        todo = st.begin_study(study, restart=restart)
        total = len(study.cells())
        summary = StudySummary(study.name, total=total, skipped=total - len(todo))
        if not todo:
            return summary
        if isinstance(executor, Workers):
            handle, owned = executor, False
        elif executor is None:
            handle, owned = process_pool(), True
        else:
            handle, owned = workers_for(executor, max_in_flight), False
        summary.where = handle.description
        try:
            _drive(study.name, todo, handle, st, summary, progress)
        finally:
            if owned:
                handle.close()
        return summary
    finally:
        if st is not store:
            st.close()


def _drive(name: str, todo: list[Cell], handle: Workers, st: StudyStore, summary: StudySummary, progress: bool) -> None:
    """The driver's loop: keep the workers busy, store each result as it arrives."""
    tic = time.perf_counter()
    kill_after = int(os.environ.get(KILL_ENV, "0"))
    pending: deque[Cell] = deque(todo)
    suspects: deque[Cell] = deque()  # cells whose worker died, to be tried once more
    attempts: dict[str, int] = {}
    in_flight: dict[str, tuple[Cell, int]] = {}  # key -> (cell, executor generation)
    arrived: queue.Queue[tuple[str, Future]] = queue.Queue()
    generation = 0
    bar = tqdm(
        total=summary.total,
        initial=summary.skipped,
        desc=name,
        unit="cell",
        disable=not progress,
        dynamic_ncols=True,
        smoothing=0.1,
    )

    def replace_executor(broken_generation: int, err: BaseException) -> None:
        nonlocal generation
        if broken_generation != generation:
            return  # already replaced after this break
        if handle.remake is None:
            raise StudyInterrupted(
                f"the executor broke ({type(err).__name__}: {err}) and is the caller's, so it cannot be replaced; "
                "finished cells are stored: run the study again to resume"
            ) from err
        handle.executor.shutdown(wait=False, cancel_futures=True)
        handle.executor = handle.remake()
        generation += 1

    def submit(cell: Cell) -> None:
        attempt = attempts[cell.key] = attempts.get(cell.key, 0) + 1
        st.mark_running(name, cell.key, attempt)
        try:
            future = handle.executor.submit(run_cell, cell, attempt)
        except BrokenExecutor as err:  # broke after the last result came back: replace it, try again
            replace_executor(generation, err)
            future = handle.executor.submit(run_cell, cell, attempt)
        in_flight[cell.key] = (cell, generation)
        future.add_done_callback(lambda f, key=cell.key: arrived.put((key, f)))

    try:
        while pending or suspects or in_flight:
            # A cell whose worker died runs again alone, so that a second death is its own: the
            # cells that merely shared the broken pool with it are not blamed for it.
            if suspects:
                if not in_flight:
                    submit(suspects.popleft())
            else:
                while pending and len(in_flight) < handle.capacity():
                    submit(pending.popleft())
            key, future = arrived.get()
            cell, born = in_flight.pop(key)
            try:
                result = future.result()
            except Exception as err:  # the worker died, or its result could not come back
                if isinstance(err, BrokenExecutor):
                    replace_executor(born, err)
                message = f"worker lost on attempt {attempts[key]}: {type(err).__name__}: {err}"
                if attempts[key] < MAX_ATTEMPTS:
                    summary.retried += 1
                    suspects.append(cell)
                    if progress:
                        tqdm.write(f"{key}: {message}; trying it once more, alone")
                else:
                    st.record_lost(name, key, attempts[key], message)
                    summary.lost += 1
                    bar.update(1)
                continue
            st.record(name, result)
            if result.status == "done":
                summary.done += 1
            else:
                summary.failed += 1
                if progress:
                    tqdm.write(f"{key}: failed: {result.error}")
            bar.update(1)
            bar.set_postfix(failed=summary.failed + summary.lost, refresh=False)
            if kill_after and summary.done + summary.failed >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
    except BaseException:
        st.mark_pending(name, [*in_flight, *(c.key for c in suspects)])
        handle.abandon()
        raise
    finally:
        bar.close()
        summary.wall_time = time.perf_counter() - tic
