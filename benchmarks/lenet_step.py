"""Time minigrad's LeNet-5 training step against PyTorch's on the CPU, side by side.

One step = forward, cross-entropy, backward and an SGD-momentum update on a batch of 64
float32 MNIST images. Blocks of minigrad steps and PyTorch steps alternate in one process, so
drift in the machine's speed hits both; the ratio is taken per round and its median reported.
Then one full epoch of each (data loading included) is timed.

    python -m benchmarks.lenet_step            # full run
    python -m benchmarks.lenet_step --fast     # a few seconds, as the tests run it
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import datasets
import layers
import minigrad
import optimizers
from minigrad import functional as F


def minigrad_step_fn(batch: int, seed: int = 0) -> tuple[Callable[[np.ndarray, np.ndarray], None], layers.Module]:
    """A closure running one minigrad training step on (images, labels)."""
    minigrad.seed(seed)
    model = layers.LeNet5()
    opt = optimizers.SGD(model.parameters(), lr=0.05, momentum=0.9)

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


def torch_step_fn(seed: int = 0) -> Callable[[np.ndarray, np.ndarray], None] | None:
    """The same step in PyTorch eager mode, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    nn = torch.nn
    model = build_torch_lenet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        loss = nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_block(step: Callable[[np.ndarray, np.ndarray], None], batches: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Seconds per step over one pass through ``batches``."""
    tic = time.perf_counter()
    for x, y in batches:
        step(x, y)
    return (time.perf_counter() - tic) / len(batches)


def time_epoch(
    step: Callable[[np.ndarray, np.ndarray], None], images: np.ndarray, labels: np.ndarray, batch: int
) -> float:
    """Seconds for one shuffled epoch through the DataLoader."""
    loader = datasets.DataLoader(images, labels, batch_size=batch, shuffle=True, seed=0)
    tic = time.perf_counter()
    for x, y in loader:
        step(x, y)
    return time.perf_counter() - tic


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Run the benchmark and print its table; returns the measured figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40, help="steps per block")
    parser.add_argument("--fast", action="store_true", help="3 rounds of 5 steps and a 640-image 'epoch'")
    parser.add_argument("--no-epoch", action="store_true", help="skip the full-epoch timing")
    args = parser.parse_args(argv)
    rounds, steps = (3, 5) if args.fast else (args.rounds, args.steps)

    images, labels = datasets.mnist("train")
    epoch_images, epoch_labels = (images[:640], labels[:640]) if args.fast else (images, labels)
    batches = [
        (
            np.ascontiguousarray(images[i * args.batch : (i + 1) * args.batch]),
            labels[i * args.batch : (i + 1) * args.batch].copy(),
        )
        for i in range(steps)
    ]
    ours, _ = minigrad_step_fn(args.batch)
    theirs = torch_step_fn()
    for step in (ours, theirs):  # warm up caches, allocators and BLAS threads
        if step is not None:
            time_block(step, batches[:3])

    mine, torch_times, ratios = [], [], []
    for _ in range(rounds):
        mine.append(time_block(ours, batches))
        if theirs is not None:
            torch_times.append(time_block(theirs, batches))
            ratios.append(mine[-1] / torch_times[-1])
    result = {"minigrad_step_ms": 1e3 * statistics.median(mine)}
    print(
        f"LeNet-5 training step, batch {args.batch}, float32, SGD momentum; "
        f"{rounds} rounds x {steps} steps, interleaved"
    )
    print(f"  minigrad  median {result['minigrad_step_ms']:.2f} ms/step (min {1e3 * min(mine):.2f})")
    if theirs is not None:
        import torch

        result["torch_step_ms"] = 1e3 * statistics.median(torch_times)
        result["ratio"] = statistics.median(ratios)
        print(
            f"  PyTorch   median {result['torch_step_ms']:.2f} ms/step (min {1e3 * min(torch_times):.2f}); "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads"
        )
        print(
            f"  ratio minigrad/PyTorch: median {result['ratio']:.3f} "
            f"(per-round range {min(ratios):.3f}-{max(ratios):.3f})"
        )
    else:
        print("  PyTorch not installed: no ratio (pip install torch==2.13.0)")
    if not args.no_epoch:
        result["minigrad_epoch_s"] = time_epoch(ours, epoch_images, epoch_labels, args.batch)
        line = f"  epoch of {len(epoch_labels)} images: minigrad {result['minigrad_epoch_s']:.2f} s"
        if theirs is not None:
            result["torch_epoch_s"] = time_epoch(theirs, epoch_images, epoch_labels, args.batch)
            line += f", PyTorch {result['torch_epoch_s']:.2f} s"
        print(line)
    return result


if __name__ == "__main__":
    main()
