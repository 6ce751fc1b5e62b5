"""Time each optimizer's ``step()`` on LeNet-5's parameters, relative to plain SGD's.

Only the update is timed. Each optimizer steps on its own LeNet-5's ten parameter arrays
(61,706 float32 numbers), whose ``.grad`` cycle through four fixed sets of random gradients, so
that sign-dependent rules (Rprop) meet sign flips as often as in training; setting ten ``.grad``
attributes per step is part of every timing. The parameters drift, which does not change the
cost. Optimizers run in interleaved rounds (a block of steps of each, in a new shuffled order
every round), so drift in the machine's speed hits all of them; per round each one's time is
divided by SGD's and by momentum SGD's in that round, and the medians are reported.

    python -m benchmarks.optimizer_step            # full run
    python -m benchmarks.optimizer_step --fast     # a second or two
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import numpy as np

import layers
import minigrad
import optimizers

# (label, registry name, hyperparameters): every registered rule with its defaults, plus the
# variants whose cost differs (other forms, a schedule).
CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("sgd", "sgd", {}),
    ("momentum", "momentum", {}),
    ("momentum torch", "momentum", {"form": "torch"}),
    ("nesterov", "nesterov", {}),
    ("nesterov torch", "nesterov", {"form": "torch"}),
    ("sgd + inv schedule", "sgd", {"schedule": "inv"}),
    ("adagrad", "adagrad", {}),
    ("adadelta", "adadelta", {}),
    ("rmsprop", "rmsprop", {}),
    ("rmsprop centered+mom", "rmsprop", {"centered": True, "momentum": 0.9}),
    ("adam", "adam", {}),
    ("adamax", "adamax", {}),
    ("nadam", "nadam", {}),
    ("rprop", "rprop", {}),
    ("rprop irprop-", "rprop", {"form": "irprop-"}),
    ("dozat (defaults)", "dozat", {}),
    ("dozat = adam", "dozat", {"momentum": "classical", "nu": 0.999}),
    ("dozat = sgd", "dozat", {"momentum": "none", "accumulator": "none"}),
]


def make_optimizer(name: str, hyper: dict[str, Any], seed: int = 0) -> optimizers.Optimizer:
    """The optimizer ``name`` over the layer groups of a fresh LeNet-5."""
    minigrad.seed(seed)
    return optimizers.build_optimizer(name, layers.LeNet5().layer_groups(), **dict(hyper))


def time_block(opt: optimizers.Optimizer, grad_sets: list[list[np.ndarray]], steps: int) -> float:
    """Seconds per ``step()`` over ``steps`` steps, the gradients cycling through ``grad_sets``."""
    params = [p for group in opt.param_groups for p in group["params"]]
    tic = time.perf_counter()
    for k in range(steps):
        for p, g in zip(params, grad_sets[k % len(grad_sets)], strict=True):
            p.grad = g
        opt.step()
    return (time.perf_counter() - tic) / steps


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the benchmark and print its table; returns {label: {"us", "vs_sgd", "vs_momentum"}} (medians)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50, help="steps per block")
    parser.add_argument("--fast", action="store_true", help="3 rounds of 5 steps")
    args = parser.parse_args(argv)
    rounds, steps = (3, 5) if args.fast else (args.rounds, args.steps)

    rng = np.random.default_rng(0)
    shapes = [p.shape for group in layers.LeNet5().layer_groups() for p in group["params"]]
    grad_sets = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(4)]
    opts = {label: make_optimizer(name, hyper) for label, name, hyper in CONFIGS}
    for opt in opts.values():  # warm up: lazy state, allocator, caches
        time_block(opt, grad_sets, 4)

    times: dict[str, list[float]] = {label: [] for label in opts}
    vs_sgd: dict[str, list[float]] = {label: [] for label in opts}
    vs_momentum: dict[str, list[float]] = {label: [] for label in opts}
    order = list(opts)
    shuffle = random.Random(0)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for label in order:
            times[label].append(time_block(opts[label], grad_sets, steps))
        for label in opts:
            vs_sgd[label].append(times[label][-1] / times["sgd"][-1])
            vs_momentum[label].append(times[label][-1] / times["momentum"][-1])

    result = {
        label: {
            "us": 1e6 * statistics.median(times[label]),
            "vs_sgd": statistics.median(vs_sgd[label]),
            "vs_momentum": statistics.median(vs_momentum[label]),
        }
        for label in opts
    }
    size = sum(int(np.prod(s)) for s in shapes)
    print(
        f"optimizer step() on LeNet-5 ({len(shapes)} arrays, {size:,} float32), "
        f"{rounds} rounds x {steps} steps, interleaved; NumPy {np.__version__}"
    )
    print(f"  {'optimizer':22s} {'µs/step':>9s} {'× SGD':>7s} {'× momentum':>11s}")
    for label, r in result.items():
        print(f"  {label:22s} {r['us']:9.1f} {r['vs_sgd']:7.2f} {r['vs_momentum']:11.2f}")
    return result


if __name__ == "__main__":
    main()
