"""How studies scale: one fixed small study on 1 and 2 process-pool workers and on a 2-worker Dask LocalCluster.

Prints cells per minute for each, the speedup of 2 workers over 1 (goal ≥ 1.7× on 2 cores) and
Dask's overhead against the 2-worker process pool (goal ≤ 10 %), and checks that the three runs
stored bit-identical numbers. Cells are independent and pin BLAS to one thread each, so on an
otherwise idle machine the speedup is bounded by the cores; a shared machine gives less.

The study: LeNet-5 on MNIST, NAG against layer-specific NAG, batch 64 on the first 2,048
training images, evaluated on 1,000 test images halfway and at the end. Each worker loads and
prepares the data before the clock starts (the process pool forks from a driver that holds it;
Dask workers prepare it through ``client.run``), and the Dask cluster's start-up is timed apart,
so the figures compare steady-state cell throughput. Modes run in interleaved rounds (a fresh
store each time); the median round of each is reported.

    python -m benchmarks.study_scaling             # 8 cells of 200 iterations, 3 rounds (a few minutes)
    python -m benchmarks.study_scaling --small     # 4 cells of 60 iterations, 1 round (while developing)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.arguments import positive_int
from experiments.studies import runner
from experiments.studies.cell import prepare_data
from experiments.studies.spec import Study, study_from_dict
from experiments.studies.store import StudyStore

GOAL_SPEEDUP = 1.7
GOAL_DASK_OVERHEAD = 0.10


def scaling_study(seeds: int, iterations: int) -> Study:
    """The benchmark's study: 2 methods × ``seeds`` seeds of ``iterations`` steps each."""
    hyper = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv"}
    return study_from_dict(
        {
            "name": "study-scaling",
            "iterations": iterations,
            "eval_at": sorted({iterations // 2 or 1, iterations}),
            "seeds": list(range(seeds)),
            "model": {"name": "lenet5"},
            "data": {
                "preprocess": "scale",
                "scale": 1 / 256,
                "batch_size": 64,
                "train_limit": 2048,
                "eval_limit": 1000,
            },
            "methods": [
                {"label": "NAG", "optimizer": "nesterov", **hyper},
                {"label": "layer-NAG", "optimizer": "layer_nesterov", **hyper},
            ],
        },
        source="<benchmarks.study_scaling>",
    )


def _time_run(study: Study, workers: runner.Workers, store: Path) -> tuple[float, dict[str, Any]]:
    tic = time.perf_counter()
    summary = runner.run_study(study, workers, store, progress=False)
    seconds = time.perf_counter() - tic
    if summary.done != len(study.cells()):
        raise RuntimeError(f"the benchmark study did not finish cleanly: {summary}")
    with StudyStore.open(store) as st:
        return seconds, st.result_numbers(study.name)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its figures; returns them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="4 cells of 60 iterations, 1 round")
    parser.add_argument("--seeds", type=positive_int, default=None, help="seeds per method (default 4; --small 2)")
    parser.add_argument(
        "--iterations", type=positive_int, default=None, help="steps per cell (default 200; --small 60)"
    )
    parser.add_argument("--rounds", type=positive_int, default=None, help="interleaved rounds (default 3; --small 1)")
    parser.add_argument("--no-dask", action="store_true", help="the process pool only")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.small else 4)
    iterations = args.iterations or (60 if args.small else 200)
    rounds = args.rounds or (1 if args.small else 3)
    study = scaling_study(seeds, iterations)
    runner_modes: dict[str, Any] = {
        "process pool, 1 worker": lambda: runner.process_pool(1),
        "process pool, 2 workers": lambda: runner.process_pool(2),
    }
    prepare_data(study.data)  # forked pool workers inherit it
    dask_workers = None
    dask_start = None
    if not args.no_dask:
        tic = time.perf_counter()
        dask_workers = runner.dask_local(2)
        dask_workers.client.run(prepare_data, study.data)
        dask_start = time.perf_counter() - tic
        runner_modes["Dask LocalCluster, 2 workers"] = lambda: dask_workers
    times: dict[str, list[float]] = {mode: [] for mode in runner_modes}
    results: dict[str, dict[str, Any]] = {}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"study_scaling: {len(study.cells())} cells (2 methods × {seeds} seeds, {iterations} iterations of batch 64, "
        f"LeNet-5), {rounds} round(s), {cpus} CPU(s) available"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(rounds):
                for mode, make in runner_modes.items():
                    workers = make()
                    try:
                        seconds, numbers = _time_run(study, workers, Path(tmp) / f"{r}-{len(times[mode])}-{mode}.db")
                    finally:
                        if workers is not dask_workers:
                            workers.close()
                    times[mode].append(seconds)
                    results[mode] = numbers
    finally:
        if dask_workers is not None:
            dask_workers.close()
    n = len(study.cells())
    medians = {mode: statistics.median(ts) for mode, ts in times.items()}
    figures: dict[str, Any] = {"cells": n, "seconds": medians, "cells_per_minute": {}}
    for mode, seconds in medians.items():
        figures["cells_per_minute"][mode] = 60.0 * n / seconds
        print(
            f"  {mode:<30} {seconds:7.2f} s  {60.0 * n / seconds:7.1f} cells/min  (rounds: "
            + ", ".join(f"{t:.2f}" for t in times[mode])
            + ")"
        )
    speedup = medians["process pool, 1 worker"] / medians["process pool, 2 workers"]
    figures["speedup"] = speedup
    print(f"  speedup of 2 workers over 1: ×{speedup:.2f} (goal ≥ {GOAL_SPEEDUP})")
    if dask_workers is not None:
        overhead = medians["Dask LocalCluster, 2 workers"] / medians["process pool, 2 workers"] - 1.0
        figures["dask_overhead"], figures["dask_start_s"] = overhead, dask_start
        print(
            f"  Dask's overhead against the 2-worker pool: {100 * overhead:+.1f} % (goal ≤ "
            f"{100 * GOAL_DASK_OVERHEAD:.0f} %); cluster start-up {dask_start:.1f} s, not counted"
        )
    identical = all(numbers == next(iter(results.values())) for numbers in results.values())
    figures["identical"] = identical
    print(f"  bit-identical numbers in every mode: {'yes' if identical else 'NO'}")
    return figures


if __name__ == "__main__":  # Dask's worker processes import this module without running it
    main()
