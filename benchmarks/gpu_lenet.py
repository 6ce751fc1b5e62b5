"""Train LeNet-5 on MNIST with minigrad on CuPy and with PyTorch eager CUDA, side by side.

Per batch size, both frameworks train the same LeNet-5 (PyTorch's copy starts from minigrad's
initial weights) with the same SGD-momentum recipe on the same shuffled batches, and the table
gives the epoch time of each, their ratio, and the test accuracy. Then a sweep times one minigrad
training step on NumPy (CPU) and on CuPy (GPU) over batch sizes and names the crossover, the
smallest batch size from which the GPU is faster.

Timing on a GPU needs care, and this script takes it:

- kernel launches are asynchronous: a Python call returns when the kernel is *queued*, so a
  wall-clock timer around GPU code measures launch overhead, not work. Each timed region is
  bracketed by CUDA events recorded on the stream (``cupy.cuda.Event``, ``torch.cuda.Event``),
  and the host waits for the end event before reading the elapsed time;
- the first calls pay one-off costs (CuPy compiles each elementwise/reduction kernel on first use,
  cuBLAS and the memory pools initialise), so each framework first runs a few warm-up steps on a
  throwaway model.

Batches are cut on the host before the clock starts and moved to the device inside each step,
for both frameworks alike (what ``minigrad train --device gpu`` does).

    python -m benchmarks.gpu_lenet                                   # batches 64 and 256, 1 epoch, then the sweep
    python -m benchmarks.gpu_lenet --batch-sizes 64 256 --epochs 1 --limit 10000
    python -m benchmarks.gpu_lenet --device cpu --limit 2000         # CPU smoke run: NumPy vs PyTorch CPU, no sweep

Needs CuPy and a CUDA device (``pip install ".[gpu]"``) and PyTorch with CUDA for ``--device
gpu`` (the default); exits with status 2 and says what is missing otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import datasets
import layers
import minigrad
import optimizers
from benchmarks.lenet_step import build_torch_lenet5
from experiments.training import TrainConfig, evaluate, load_data
from minigrad import functional as F
from minigrad.backend import require_cupy, to_device, to_numpy

DEFAULT_BATCH_SIZES = (64, 256)
CROSSOVER_BATCH_SIZES = (1, 4, 16, 64, 256, 1024)
# The training recipe's rate and momentum, held constant: with a constant rate minigrad's SGD in
# torch's form and torch.optim.SGD compute the very same update.
LR, MOMENTUM = 0.03, 0.9
EXIT_MISSING = 2

Batch = tuple[np.ndarray, np.ndarray]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m benchmarks.gpu_lenet``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_lenet",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=list(DEFAULT_BATCH_SIZES))
    parser.add_argument("--epochs", type=_positive_int, default=1, help="timed epochs per batch size")
    parser.add_argument("--limit", type=_positive_int, default=None, help="use only the first N training images")
    parser.add_argument("--test-limit", type=_positive_int, default=None, help="use only the first N test images")
    parser.add_argument("--warmup", type=_positive_int, default=5, help="untimed steps on a throwaway model first")
    parser.add_argument("--crossover-batch-sizes", type=_positive_int, nargs="+", default=list(CROSSOVER_BATCH_SIZES))
    parser.add_argument("--crossover-steps", type=_positive_int, default=10, help="steps per timed block")
    parser.add_argument("--crossover-rounds", type=_positive_int, default=3, help="timed blocks (median taken)")
    parser.add_argument("--no-crossover", action="store_true", help="skip the CPU/GPU crossover sweep")
    parser.add_argument("--no-torch", action="store_true", help="time minigrad only")
    parser.add_argument(
        "--device",
        choices=["gpu", "cpu"],
        default="gpu",
        help="cpu: a smoke run of the same comparison on NumPy and PyTorch CPU (no crossover sweep)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (``argv`` without the program name; None reads ``sys.argv``)."""
    return build_parser().parse_args(argv)


def crossover_batch_size(timings: Mapping[int, tuple[float, float]]) -> int | None:
    """The smallest batch size from which the GPU is faster, given ``{batch: (cpu_s, gpu_s)}``.

    "From which": the GPU must also win at every larger batch size in the table, so one noisy
    win at a tiny batch does not count as the crossover. None when the GPU loses at the largest
    batch size (or the table is empty).
    """
    crossover = None
    for batch in sorted(timings, reverse=True):
        cpu_s, gpu_s = timings[batch]
        if not gpu_s < cpu_s:
            break
        crossover = batch
    return crossover


def copy_weights_to_torch(model: layers.Module, torch_model: Any) -> None:
    """Copy minigrad's parameters into the torch twin, in definition order (shapes must match)."""
    import torch

    ours, theirs = model.parameters(), list(torch_model.parameters())
    if len(ours) != len(theirs):
        raise ValueError(f"minigrad has {len(ours)} parameter arrays, torch {len(theirs)}")
    with torch.no_grad():
        for p, q in zip(ours, theirs):
            if tuple(p.shape) != tuple(q.shape):
                raise ValueError(f"shape mismatch: minigrad {p.shape}, torch {tuple(q.shape)}")
            q.copy_(torch.from_numpy(to_numpy(p.data)))


# ----- timing --------------------------------------------------------------------------------------
def time_region(fn: Callable[[], object], clock: str) -> float:
    """Seconds that ``fn()`` takes on ``clock``: "cupy" or "torch" (CUDA events), or "cpu".

    On a GPU the queue is drained first, so earlier work is not billed to ``fn``, and the host
    waits for the end event, so work ``fn`` only queued is billed to it.
    """
    if clock == "cupy":
        cp = require_cupy()
        cp.cuda.get_current_stream().synchronize()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / 1e3
    if clock == "torch":
        import torch

        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


@dataclass
class Trainer:
    """One framework's model and optimizer behind a common face: a step on host batches, an accuracy."""

    name: str
    step: Callable[[np.ndarray, np.ndarray], None]
    accuracy: Callable[[np.ndarray, np.ndarray], float]
    clock: str
    model: Any

    def run(self, batches: Sequence[Batch]) -> None:
        """One step per batch."""
        for x, y in batches:
            self.step(x, y)


def minigrad_trainer(device: str, seed: int) -> Trainer:
    """minigrad's LeNet-5 and SGD momentum on ``device`` ("cpu": NumPy, "gpu": CuPy)."""
    minigrad.seed(seed)
    model = layers.LeNet5().to(device)
    opt = optimizers.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, form="torch")

    def step(x: np.ndarray, y: np.ndarray) -> None:
        loss = F.cross_entropy(model(to_device(x, device)), to_device(y, device))
        opt.zero_grad()
        loss.backward()
        opt.step()

    def accuracy(images: np.ndarray, labels: np.ndarray) -> float:
        return evaluate(model, images, labels, 1000, device)["accuracy"]

    return Trainer("minigrad", step, accuracy, "cupy" if device == "gpu" else "cpu", model)


def torch_trainer(device: str, init: layers.Module) -> Trainer:
    """PyTorch eager LeNet-5 on CUDA (or the CPU), starting from ``init``'s weights, same SGD momentum."""
    import torch

    dev = torch.device("cuda" if device == "gpu" else "cpu")
    model = build_torch_lenet5()
    copy_weights_to_torch(init, model)
    model.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(x: np.ndarray, y: np.ndarray) -> None:
        logits = model(torch.from_numpy(x).to(dev))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y).to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()

    def accuracy(images: np.ndarray, labels: np.ndarray) -> float:
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, len(labels), 1000):
                logits = model(torch.from_numpy(np.ascontiguousarray(images[i : i + 1000])).to(dev))
                correct += int((logits.argmax(1).cpu().numpy() == labels[i : i + 1000]).sum())
        model.train()
        return correct / len(labels)

    return Trainer("torch", step, accuracy, "torch" if device == "gpu" else "cpu", model)


def check_requirements(device: str, need_torch: bool) -> str | None:
    """None when the run can go ahead, else a message saying what is missing and how to get it."""
    if device == "gpu":
        try:
            require_cupy()
        except RuntimeError as exc:
            return str(exc)
    if need_torch:
        try:
            import torch
        except ImportError:
            return "the comparison needs PyTorch (pip install torch), or pass --no-torch to time minigrad alone"
        if device == "gpu" and not torch.cuda.is_available():
            return (
                f"PyTorch {torch.__version__} sees no CUDA device (a CPU-only build?): install a CUDA build "
                "of torch, or pass --no-torch to time minigrad alone"
            )
    return None


# ----- the two measurements --------------------------------------------------------------------------
def compare_epochs(args: argparse.Namespace, train: Batch, test: Batch) -> list[dict[str, Any]]:
    """Per batch size: epoch seconds and test accuracy of minigrad and (unless --no-torch) PyTorch."""
    rows = []
    for batch in args.batch_sizes:
        loader = datasets.DataLoader(*train, batch_size=batch, shuffle=True, seed=args.seed)
        # Warm-up on throwaway models: kernel compilation and allocator growth are paid here.
        warm = [b for _, b in zip(range(args.warmup), loader)]
        throwaway = minigrad_trainer(args.device, args.seed + 1)
        spares = [throwaway] + ([] if args.no_torch else [torch_trainer(args.device, throwaway.model)])
        for trainer in spares:
            time_region(lambda t=trainer, warm=warm: t.run(warm), trainer.clock)

        ours = minigrad_trainer(args.device, args.seed)
        trainers = [ours] + ([] if args.no_torch else [torch_trainer(args.device, ours.model)])
        seconds: dict[str, list[float]] = {t.name: [] for t in trainers}
        for epoch in range(args.epochs):
            loader.set_epoch(epoch)
            batches = list(loader)  # cut on the host before the clock starts: the same batches for both
            for trainer in trainers:  # interleaved per epoch, so drift in the machine's speed hits both
                elapsed = time_region(lambda t=trainer, batches=batches: t.run(batches), trainer.clock)
                seconds[trainer.name].append(elapsed)
        row: dict[str, Any] = {"batch_size": batch, "steps_per_epoch": len(loader)}
        for trainer in trainers:
            row[f"{trainer.name}_epoch_s"] = statistics.mean(seconds[trainer.name])
            row[f"{trainer.name}_accuracy"] = trainer.accuracy(*test)
        if not args.no_torch:
            row["ratio"] = row["minigrad_epoch_s"] / row["torch_epoch_s"]
        rows.append(row)
        _print_epoch_row(row, args.no_torch)
    return rows


def _print_epoch_row(row: Mapping[str, Any], no_torch: bool) -> None:
    line = (
        f"  batch {row['batch_size']:>5} ({row['steps_per_epoch']} steps): minigrad {row['minigrad_epoch_s']:7.2f} s "
        f"(test acc {100 * row['minigrad_accuracy']:.2f} %)"
    )
    if not no_torch:
        line += (
            f" | torch {row['torch_epoch_s']:7.2f} s (test acc {100 * row['torch_accuracy']:.2f} %)"
            f" | minigrad/torch {row['ratio']:.2f}"
        )
    print(line, flush=True)


def step_seconds(trainer: Trainer, batch: Batch, steps: int, rounds: int, warmup: int = 3) -> float:
    """Median over ``rounds`` blocks of ``steps`` training steps on one resident batch: seconds per step."""
    x, y = batch
    time_region(lambda: [trainer.step(x, y) for _ in range(warmup)], trainer.clock)
    blocks = [time_region(lambda: [trainer.step(x, y) for _ in range(steps)], trainer.clock) for _ in range(rounds)]
    return statistics.median(blocks) / steps


def crossover_sweep(args: argparse.Namespace, images: np.ndarray, labels: np.ndarray) -> dict[int, tuple[float, float]]:
    """``{batch: (cpu_s, gpu_s)}`` per training step of minigrad on NumPy and on CuPy."""
    timings = {}
    cpu, gpu = minigrad_trainer("cpu", args.seed), minigrad_trainer("gpu", args.seed)
    for batch in sorted(args.crossover_batch_sizes):
        # The batch is cut (wrapping round the data if it must) and placed on each device once:
        # this times the step's compute, not the host-to-device copy.
        idx = np.arange(batch) % len(labels)
        x, y = np.ascontiguousarray(images[idx]), labels[idx]
        cpu_s = step_seconds(cpu, (x, y), args.crossover_steps, args.crossover_rounds)
        gpu_s = step_seconds(
            gpu, (to_device(x, "gpu"), to_device(y, "gpu")), args.crossover_steps, args.crossover_rounds
        )
        timings[batch] = (cpu_s, gpu_s)
        print(
            f"  batch {batch:>5}: NumPy {1e3 * cpu_s:9.3f} ms/step | CuPy {1e3 * gpu_s:9.3f} ms/step "
            f"| GPU speed-up {cpu_s / gpu_s:6.2f}x",
            flush=True,
        )
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its tables; returns the exit status (2 when CuPy, a device or torch is missing)."""
    args = parse_args(argv)
    missing = check_requirements(args.device, need_torch=not args.no_torch)
    if missing:
        print(f"benchmarks.gpu_lenet: error: {missing}", file=sys.stderr)
        return EXIT_MISSING
    train, test = load_data(TrainConfig(train_limit=args.limit, test_limit=args.test_limit))
    where = "CuPy on the GPU vs PyTorch eager CUDA" if args.device == "gpu" else "NumPy vs PyTorch on the CPU"
    print(
        f"LeNet-5 on MNIST ({len(train[1])} training, {len(test[1])} test images), SGD lr {LR} momentum {MOMENTUM}, "
        f"{args.epochs} epoch(s) per batch size, {args.warmup} warm-up steps; minigrad {where}"
    )
    if args.device == "gpu":
        cp = require_cupy()
        name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
        print(f"  device: {name.decode() if isinstance(name, bytes) else name}, CuPy {cp.__version__}")
    if not args.no_torch:
        import torch

        print(f"  torch {torch.__version__}")
    compare_epochs(args, train, test)

    if args.device != "gpu" or args.no_crossover:
        print("crossover sweep skipped" + (": it needs --device gpu" if args.device != "gpu" else ""))
        return 0
    print(
        f"CPU/GPU crossover: minigrad training step, median of {args.crossover_rounds} x {args.crossover_steps} steps"
    )
    timings = crossover_sweep(args, *train)
    batch = crossover_batch_size(timings)
    if batch is None:
        print(f"  the GPU did not win up to batch {max(timings)}")
    else:
        print(f"  the GPU wins from batch size {batch} on")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
