"""Time minigrad's LeNet training step against PyTorch's on the CPU, side by side, over batch sizes.

One step = forward, cross-entropy, backward and an SGD-momentum update on a batch of float32
MNIST images. For each batch size, blocks of minigrad steps and PyTorch steps alternate in one
process, so drift in the machine's speed hits both; the ratio minigrad/PyTorch is taken per
round and its median reported, beside each framework's median ms/step and µs per sample.

Threads: by default each framework uses what the machine gives it. ``--threads N`` sets torch's
intra-op threads to N, limits every BLAS/OpenMP pool in the process to N (threadpoolctl) and sets
minigrad's own pool (:func:`minigrad.parallel.set_num_threads`) to N, so ``--threads 1`` measures
what one worker of a study gets.

``--memory`` runs three training steps per framework in a fresh subprocess at the largest batch
size and reports their peak resident memory above what the process held before the first step
(Linux: the kernel's high-water mark, reset through ``/proc/self/clear_refs``), plus, for
minigrad, tracemalloc's peak of the NumPy arrays allocated during the steps.

    python -m benchmarks.lenet_step                                          # batch 64, then an epoch each
    python -m benchmarks.lenet_step --batch-sizes 16 32 64 128 256 --threads 2 --no-epoch
    python -m benchmarks.lenet_step --batch-sizes 16 32 64 128 256 --threads 1 --model caffe_lenet
    python -m benchmarks.lenet_step --batch-sizes 256 --memory --no-epoch
    python -m benchmarks.lenet_step --fast                                   # a few seconds, as the tests run it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import datasets
import layers
import minigrad
import optimizers
from minigrad import functional as F

MODELS = ("lenet5", "caffe_lenet")
Step = Callable[[np.ndarray, np.ndarray], None]
LR, MOMENTUM = 0.05, 0.9


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def minigrad_step_fn(batch: int, seed: int = 0, model_name: str = "lenet5") -> tuple[Step, layers.Module]:
    """A closure running one minigrad training step on (images, labels); ``batch`` is unused (kept for callers)."""
    del batch
    minigrad.seed(seed)
    model = layers.MODELS[model_name]()
    opt = optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step, model


def build_torch_lenet5() -> Any:
    """PyTorch's twin of :class:`layers.LeNet5` (ReLU, 10 classes): same layers, order and shapes."""
    import torch

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def build_torch_caffe_lenet() -> Any:
    """PyTorch's twin of :class:`layers.CaffeLeNet` (ReLU, 10 classes): same layers, order and shapes."""
    import torch

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(50 * 4 * 4, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )


TORCH_BUILDERS = {"lenet5": build_torch_lenet5, "caffe_lenet": build_torch_caffe_lenet}


def torch_step_fn(seed: int = 0, model_name: str = "lenet5") -> Step | None:
    """The same step in PyTorch eager mode, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    model = TORCH_BUILDERS[model_name]()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Run the body with torch, every BLAS/OpenMP pool and minigrad's pool at ``threads`` (None: as they are)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    from minigrad import parallel

    torch: Any = None
    with contextlib.suppress(ImportError):
        import torch
    previous_torch = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads), parallel.use_threads(threads):
            yield
    finally:
        if torch is not None and previous_torch is not None:
            torch.set_num_threads(previous_torch)


def time_block(step: Step, batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Seconds per step over one pass through ``batches``."""
    tic = time.perf_counter()
    for x, y in batches:
        step(x, y)
    return (time.perf_counter() - tic) / len(batches)


def time_epoch(step: Step, images: np.ndarray, labels: np.ndarray, batch: int) -> float:
    """Seconds for one shuffled epoch through the DataLoader."""
    loader = datasets.DataLoader(images, labels, batch_size=batch, shuffle=True, seed=0)
    tic = time.perf_counter()
    for x, y in loader:
        step(x, y)
    return time.perf_counter() - tic


def cut_batches(images: np.ndarray, labels: np.ndarray, batch: int, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` consecutive batches of the training set, each a contiguous array of its own."""
    if batch * steps > len(labels):
        raise ValueError(f"{steps} steps of batch {batch} need {batch * steps} images; the set has {len(labels)}")
    return [
        (images[i * batch : (i + 1) * batch].copy(), labels[i * batch : (i + 1) * batch].copy())
        for i in range(steps)
    ]


def compare(
    batch: int, steps: int, rounds: int, model_name: str, images: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Interleaved rounds of ``steps`` minigrad and PyTorch steps at one batch size; medians and ratios."""
    batches = cut_batches(images, labels, batch, steps)
    ours, _ = minigrad_step_fn(batch, model_name=model_name)
    theirs = torch_step_fn(model_name=model_name)
    for step in (ours, theirs):  # warm up caches, allocators and thread pools
        if step is not None:
            time_block(step, batches[:3])
    mine, torch_times, ratios = [], [], []
    for _ in range(rounds):
        mine.append(time_block(ours, batches))
        if theirs is not None:
            torch_times.append(time_block(theirs, batches))
            ratios.append(mine[-1] / torch_times[-1])
    row: dict[str, Any] = {"batch": batch, "steps": steps, "minigrad_step_ms": 1e3 * statistics.median(mine)}
    if theirs is not None:
        row.update(
            torch_step_ms=1e3 * statistics.median(torch_times),
            ratio=statistics.median(ratios),
            ratio_min=min(ratios),
            ratio_max=max(ratios),
        )
    return row


def format_row(row: dict[str, Any]) -> str:
    """One table line: ms/step and µs/sample of each framework, then the per-round ratio."""
    batch = row["batch"]
    line = f"{batch:>6} {row['minigrad_step_ms']:>9.2f} {1e3 * row['minigrad_step_ms'] / batch:>8.1f}"
    if "torch_step_ms" in row:
        line += (
            f" {row['torch_step_ms']:>9.2f} {1e3 * row['torch_step_ms'] / batch:>8.1f}"
            f" {row['ratio']:>7.3f}  {row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        )
    return line


# ----- peak memory, one fresh process per framework ---------------------------------------------


def _rss_kib(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` of this process in KiB (None off Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def measure_memory(framework: str, model_name: str, batch: int, threads: int | None, steps: int = 3) -> dict[str, Any]:
    """Peak memory of the first ``steps`` training steps in this process (meant to run in a fresh one).

    The model, optimizer and (random) batches are built first; the peak is measured from the resident
    size just before the first step, so it counts what the steps allocate (activations, gradients,
    momentum buffers, the frameworks' work buffers) and not the imported libraries. For minigrad,
    tracemalloc's peak of the NumPy arrays allocated during the steps is reported too.
    """
    # Random images rather than MNIST: loading the data set would leave freed heap behind that
    # the steps could reuse unseen by the resident size; memory does not depend on the values.
    rng = np.random.default_rng(0)
    batches = [
        (rng.standard_normal((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)) for _ in range(steps)
    ]
    with thread_limit(threads):
        if framework == "minigrad":
            step: Step | None = minigrad_step_fn(batch, model_name=model_name)[0]
        else:
            step = torch_step_fn(model_name=model_name)
            if step is None:
                raise RuntimeError("--memory for torch needs PyTorch installed (pip install torch==2.13.0)")
        before_kib = _rss_kib("VmRSS")
        reset = _reset_peak_rss()
        if framework == "minigrad":
            tracemalloc.start()
        for x, y in batches:
            step(x, y)
        result: dict[str, Any] = {"framework": framework, "batch": batch, "rss_before_mib": (before_kib or 0) / 1024}
        if framework == "minigrad":
            result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        peak_kib = _rss_kib("VmHWM")
        if reset and peak_kib is not None and before_kib is not None:
            result["rss_peak_mib"] = peak_kib / 1024
            result["rss_step_peak_mib"] = (peak_kib - before_kib) / 1024
    return result


def memory_in_subprocess(framework: str, model_name: str, batch: int, threads: int | None) -> dict[str, Any]:
    """Run :func:`measure_memory` in a fresh Python process, so that the two frameworks' peaks do not mix."""
    code = (
        "import json, sys\n"
        "from benchmarks.lenet_step import measure_memory\n"
        "threads = None if sys.argv[4] == 'none' else int(sys.argv[4])\n"
        "print(json.dumps(measure_memory(sys.argv[1], sys.argv[2], int(sys.argv[3]), threads)))\n"
    )
    args = [sys.executable, "-c", code, framework, model_name, str(batch), "none" if threads is None else str(threads)]
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=dict(os.environ))
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement of {framework} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print its table; returns the measured figures (``rows``: one per batch size)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=[64])
    parser.add_argument("--model", choices=MODELS, default="lenet5")
    parser.add_argument("--threads", type=_positive_int, default=None, help="threads per framework (default: as is)")
    parser.add_argument("--rounds", type=_positive_int, default=15)
    parser.add_argument(
        "--samples", type=_positive_int, default=2560, help="images per timed block (steps = samples / batch, >= 4)"
    )
    parser.add_argument("--fast", action="store_true", help="3 rounds of 5 steps and a 640-image 'epoch'")
    parser.add_argument("--no-epoch", action="store_true", help="skip the full-epoch timing (at the first batch size)")
    parser.add_argument("--memory", action="store_true", help="peak memory of a step at the largest batch size")
    args = parser.parse_args(argv)

    images, labels = datasets.mnist("train")
    result: dict[str, Any] = {"model": args.model, "threads": args.threads, "rows": []}
    with thread_limit(args.threads):
        import_torch_threads = None
        with contextlib.suppress(ImportError):
            import torch

            import_torch_threads = torch.get_num_threads()
        from minigrad import parallel

        print(
            f"{args.model} training step, float32, SGD momentum; minigrad/PyTorch interleaved in one process; "
            f"threads: torch {import_torch_threads}, minigrad pool {parallel.get_num_threads()}, "
            f"BLAS {_blas_threads()}"
        )
        print(f"{'batch':>6} {'minigrad':>9} {'us/samp':>8} {'PyTorch':>9} {'us/samp':>8} {'ratio':>7}  per-round")
        print(f"{'':>6} {'ms/step':>9} {'':>8} {'ms/step':>9} {'':>8} {'median':>7}  range")
        for batch in args.batch_sizes:
            steps = 5 if args.fast else max(4, args.samples // batch)
            rounds = 3 if args.fast else args.rounds
            row = compare(batch, steps, rounds, args.model, images, labels)
            result["rows"].append(row)
            print(format_row(row), flush=True)
        first = result["rows"][0]
        result.update({k: v for k, v in first.items() if k in ("minigrad_step_ms", "torch_step_ms", "ratio")})
        if not args.no_epoch:
            n = 640 if args.fast else len(labels)
            batch = args.batch_sizes[0]
            ours, _ = minigrad_step_fn(batch, model_name=args.model)
            result["minigrad_epoch_s"] = time_epoch(ours, images[:n], labels[:n], batch)
            line = f"epoch of {n} images at batch {batch}: minigrad {result['minigrad_epoch_s']:.2f} s"
            theirs = torch_step_fn(model_name=args.model)
            if theirs is not None:
                result["torch_epoch_s"] = time_epoch(theirs, images[:n], labels[:n], batch)
                line += f", PyTorch {result['torch_epoch_s']:.2f} s"
            print(line)
    if "torch_step_ms" not in first:
        print("PyTorch not installed: no ratio (pip install torch==2.13.0)")
    if args.memory:
        batch = max(args.batch_sizes)
        frameworks = ["minigrad"] + (["torch"] if "torch_step_ms" in first else [])
        result["memory"] = [memory_in_subprocess(fw, args.model, batch, args.threads) for fw in frameworks]
        print(f"peak memory of the first training steps at batch {batch} (a fresh process each):")
        for m in result["memory"]:
            line = f"  {m['framework']:>8}: RSS before {m['rss_before_mib']:.1f} MiB"
            if "rss_step_peak_mib" in m:
                line += f", peak during the steps +{m['rss_step_peak_mib']:.1f} MiB"
            if "tracemalloc_peak_mib" in m:
                line += f", NumPy arrays (tracemalloc peak) {m['tracemalloc_peak_mib']:.1f} MiB"
            print(line)
    return result


def _blas_threads() -> str:
    """The thread counts of the BLAS libraries loaded in this process, as threadpoolctl reports them."""
    from threadpoolctl import threadpool_info

    return ", ".join(f"{p.get('internal_api')} {p.get('num_threads')}" for p in threadpool_info()) or "none found"


if __name__ == "__main__":
    main()
