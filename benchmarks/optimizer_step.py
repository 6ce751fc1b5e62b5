"""Time each optimizer's ``step()`` on LeNet-5's parameters, relative to plain SGD's.

Two measures. The default times the update alone (below). ``--training-step`` times a whole
training step instead (forward, backward and update on one MNIST batch of 64, through a closure
for the optimizers that re-evaluate the loss, as ``minigrad train`` runs them), which is the
wall-time overhead a user sees: Singh et al. claim very little for layer-specific rates; Ravaut's
second order costs extra forward passes, ESGD and the equilibrated curvature two extra
forward-backward passes every k-th step.

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
import itertools
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import datasets
import layers
import minigrad
import optimizers
from experiments.stepping import cross_entropy_per_sample, train_step

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
    ("layer_sgd", "layer_sgd", {}),
    ("layer_momentum", "layer_momentum", {}),
    ("layer_nesterov", "layer_nesterov", {}),
    ("layer_adagrad", "layer_adagrad", {}),
    ("layer_sgd blob", "layer_sgd", {"grouping": "blob"}),
    ("wame", "wame", {}),
    ("sgd_hd", "sgd_hd", {}),
    ("sgdn_hd", "sgdn_hd", {}),
    ("adam_hd", "adam_hd", {}),
]

# Optimizers that cannot step without a closure (they re-evaluate the loss, or read it): only
# --training-step can time them.
CLOSURE_CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("llb_sgd", "llb_sgd", {}),
    ("ravaut1", "ravaut1", {}),
    ("ravaut2 (eta_max 0.3)", "ravaut2", {"eta_max": 0.3}),  # uncapped it diverges on LeNet; same cost
    ("esgd (k = 20)", "esgd", {}),
    ("dozat equilibrated (k = 20)", "dozat", {"curvature": "equilibrated", "eps": 0.03, "lr": 0.02}),
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


def training_step_timer(name: str, hyper: dict[str, Any], batches: list[tuple[Any, Any]]) -> Callable[[int], float]:
    """A function ``steps -> seconds per training step`` for a fresh LeNet-5 and optimizer ``name``.

    It trains on ``batches`` in turn (one batch over and over would drive the hypergradient
    methods' rate up without bound) and raises if the weights stop being finite, since a step
    on NaN weights is not the training step this benchmark names.
    """
    minigrad.seed(0)
    model = layers.LeNet5()
    opt = optimizers.build_optimizer(name, model.layer_groups(), **dict(hyper))
    count = itertools.count()

    def run(steps: int) -> float:
        tic = time.perf_counter()
        for _ in range(steps):
            x, y = batches[next(count) % len(batches)]
            train_step(model, opt, cross_entropy_per_sample, (x, y))
        seconds = (time.perf_counter() - tic) / steps
        if not all(np.isfinite(p.data).all() for p in model.parameters()):
            raise FloatingPointError(f"{name} {hyper}: the weights became non-finite while timing")
        return seconds

    return run


def interleaved(timers: dict[str, Callable[[int], float]], rounds: int, steps: int) -> dict[str, dict[str, float]]:
    """Median seconds per step and median per-round ratio to "sgd", timers run in shuffled rounds."""
    times: dict[str, list[float]] = {label: [] for label in timers}
    ratios: dict[str, list[float]] = {label: [] for label in timers}
    order, shuffle = list(timers), random.Random(0)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for label in order:
            times[label].append(timers[label](steps))
        for label in timers:
            ratios[label].append(times[label][-1] / times["sgd"][-1])
    return {label: {"ms": 1e3 * statistics.median(times[label]), "vs_sgd": statistics.median(ratios[label])}
            for label in timers}


def training_step_main(rounds: int, steps: int) -> dict[str, dict[str, float]]:
    """Time whole LeNet-5 training steps (batch 64) per optimizer; print and return the medians."""
    images, labels = datasets.take(*datasets.mnist("train"), 64 * 16)
    images = ((images - images.mean()) / images.std()).astype(np.float32)
    batches = [(minigrad.Tensor(images[i : i + 64]), labels[i : i + 64]) for i in range(0, len(images), 64)]
    configs = [c for c in CONFIGS if c[0] in ("sgd", "momentum", "nesterov", "adagrad", "adam", "rmsprop")
               or c[1] in ("layer_sgd", "layer_momentum", "layer_nesterov", "layer_adagrad", "wame",
                           "sgd_hd", "adam_hd")] + CLOSURE_CONFIGS
    timers = {label: training_step_timer(name, hyper, batches) for label, name, hyper in configs}
    for run in timers.values():  # warm up; also draws the closure methods' first curvature sample
        run(2)
    result = interleaved(timers, rounds, steps)
    print(f"LeNet-5 training step (forward + backward + update, batch 64), {rounds} rounds x {steps} steps, "
          f"interleaved; NumPy {np.__version__}")
    print(f"  {'optimizer':30s} {'ms/step':>8s} {'× SGD':>7s}")
    for label, r in result.items():
        print(f"  {label:30s} {r['ms']:8.2f} {r['vs_sgd']:7.2f}")
    return result


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Run the benchmark and print its table; returns {label: {"us", "vs_sgd", "vs_momentum"}} (medians)."""
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50, help="steps per block")
    parser.add_argument("--fast", action="store_true", help="3 rounds of 5 steps")
    parser.add_argument("--training-step", action="store_true", help="time whole training steps (see above)")
    args = parser.parse_args(argv)
    rounds, steps = (3, 5) if args.fast else (args.rounds, args.steps)
    if args.training_step:
        # 20 steps per block so that every block holds one curvature draw of ESGD / equilibrated (k = 20).
        return training_step_main(rounds if not args.fast else 2, 20 if not args.fast else 3)

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
