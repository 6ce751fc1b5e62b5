"""Ravaut & Gorti (2018), learning the learning rate: the MNIST logistic-regression experiment and LeNet-5.

This module owns the reproduction page ``docs/reproductions/ravaut2018.md``, its figures
(``ravaut2018_*.png``) and its claims. It runs, with the optimizers of :mod:`optimizers.ravaut`
stepped through :func:`experiments.stepping.train_step`:

- **§4.2.2**, multinomial logistic regression on MNIST: the second-order and the first-order
  learned rates from η(0) = 0.01 beside fixed-rate SGD, with the test accuracy per epoch and the
  η each step used (the paper's Fig. 3 and Fig. 4);
- **"η stabilises around 0.4"**: the second order over a grid of the conditions that could decide
  it: the training dtype (float32, float64), the pixels ([0, 1] or standardised), the batch size
  (64 to 256) and several seeds; plus float32 with the naive probes in float32
  (``probe_dtype="param"``) to show why the probes default to float64;
- **LeNet-5 on MNIST** (CIFAR-10, the paper's, is not on this machine): the uncapped rule and the
  command line's cap ``eta_max`` = 0.3 beside SGD, a few hundred steps;
- **the quadratic**: the second order's η is the Barzilai-Borwein (BB1) step one step late, as
  measured here on a small quadratic and tested in
  ``tests/test_optimizers_ravaut.py::test_second_order_is_the_barzilai_borwein_step``.

Everything runs on one thread (BLAS and minigrad's pool held at one), so that the CPU time the
page reports is the process time of one core and a busy machine does not slow the small matrix
products down by oversubscription. ``python -m experiments.reproductions ravaut2018`` regenerates
the page; ``--smoke`` runs a few steps on a few hundred images, for CI.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import datasets
import layers
import minigrad
import optimizers
from experiments.reproductions.common import (
    DOCS,
    Claim,
    format_duration,
    markdown_table,
    mean_std,
    regenerate,
    write_page,
)
from experiments.stepping import cross_entropy_per_sample, optimizer_step, train_step
from experiments.training import evaluate
from minigrad import Parameter, Tensor, parallel

PAPER = "ravaut2018"
TITLE = "Ravaut & Gorti (2018): learning the learning rate"
COMMAND = "python -m experiments.reproductions ravaut2018"
PAGE = f"{PAPER}.md"

#: The paper's value of the second order's η on MNIST logistic regression (§4.2.2), and the band
#: counted as "around" it: within a factor of two.
TARGET_ETA = 0.4
BAND = (0.2, 0.8)
#: An η above this has run away (250 times the paper's 0.4).
RUNAWAY_ETA = 100.0
#: "η almost never reaches δ" (§4.1) is counted as holding in a run when at most this share of its steps sit on δ.
FLOOR_SHARE = 0.01

PIXELS = {"unit": "pixels in [0, 1]", "standardised": "standardised pixels"}
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Budget:
    """How much to run: the full page, or the seconds-long smoke version."""

    epochs: int
    seeds: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    main_batch: int
    train_limit: int | None
    test_limit: int | None
    lenet_steps: int
    lenet_seeds: tuple[int, ...]
    lenet_batch: int = 32


FULL = Budget(epochs=5, seeds=(0, 1, 2), batch_sizes=(64, 128, 256), main_batch=128, train_limit=None,
              test_limit=None, lenet_steps=300, lenet_seeds=(0, 1, 2))
SMOKE = Budget(epochs=2, seeds=(0,), batch_sizes=(64,), main_batch=64, train_limit=256, test_limit=200,
               lenet_steps=3, lenet_seeds=(0,))


@dataclass(frozen=True)
class Method:
    """An optimizer of the registry with its hyperparameters, under a label for tables and legends."""

    label: str
    optimizer: str
    hyper: Mapping[str, Any] = field(default_factory=dict)


#: The paper's second-order settings (η(0) = 0.01, ε = 1e-5, δ = 1e-6; §4.1, §6.1); uncapped, as in the paper.
SECOND = Method("second order", "ravaut2", {"lr": 0.01, "eps": 1e-5, "delta": 1e-6})
#: The first order from the same start; α = 1e-4 is minigrad's default (the paper's α is illegible in our copy).
FIRST = Method("first order, α = 1e-4", "ravaut1", {"lr": 0.01, "hypergrad_lr": 1e-4, "delta": 1e-6})
SGD_START = Method("SGD, η = 0.01", "sgd", {"lr": 0.01})
SGD_TARGET = Method(f"SGD, η = {TARGET_ETA:g}", "sgd", {"lr": TARGET_ETA})
MAIN_METHODS = (SGD_START, SGD_TARGET, FIRST, SECOND)
LENET_METHODS = (
    SGD_START,
    Method("second order, uncapped", "ravaut2", {"lr": 0.01, "eps": 1e-5, "delta": 1e-6}),
    Method("second order, eta_max = 0.3", "ravaut2", {"lr": 0.01, "eps": 1e-5, "delta": 1e-6, "eta_max": 0.3}),
)


@dataclass
class Mnist:
    """MNIST arrays for one pixel convention: images (N, 1, 28, 28) float32 and int64 labels."""

    pixels: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    #: The training split's pixel mean and std the images were standardised with (None for [0, 1] pixels).
    stats: tuple[float, float] | None = None


def load_mnist(pixels: str, train_limit: int | None = None, test_limit: int | None = None) -> Mnist:
    """MNIST with ``pixels`` ``"unit"`` ([0, 1], as stored) or ``"standardised"`` (training split's mean and std).

    The statistics come from the full training split, so a cut-down run sees the same inputs.
    """
    if pixels not in PIXELS:
        raise ValueError(f"pixels must be one of {sorted(PIXELS)}, got {pixels!r}")
    train_x, train_y = datasets.mnist("train")
    test_x, test_y = datasets.mnist("test")
    stats = None
    if pixels == "standardised":
        mean, std = datasets.channel_mean_std(train_x)
        train_x = datasets.standardize_channels(train_x, mean, std)
        test_x = datasets.standardize_channels(test_x, mean, std)
        stats = (float(mean[0]), float(std[0]))
    if train_limit:
        train_x, train_y = datasets.take(train_x, train_y, train_limit)
    if test_limit:
        test_x, test_y = datasets.take(test_x, test_y, test_limit)
    return Mnist(pixels, train_x, train_y, test_x, test_y, stats)


def logistic_regression() -> layers.Module:
    """Multinomial logistic regression on MNIST: Flatten → Linear(784, 10), PyTorch's default initialisation."""
    return layers.Sequential(layers.Flatten(), layers.Linear(784, 10))


def lenet5() -> layers.Module:
    """LeNet-5 as ``minigrad train`` builds it (ReLU, 10 classes)."""
    return layers.LeNet5()


@dataclass
class Run:
    """One training run: what each step used and saw, and the test set after each epoch.

    ``eta[k]`` is the rate step k + 1 used, ``loss[k]`` the minibatch loss before it; for the
    second order ``curvature[k]`` is that step's second difference D = f(η+2ε) + f(η−2ε) − 2f(η)
    (empty otherwise). ``test_accuracy[e]`` is measured after epoch e + 1 (or at the last step
    of a run cut short by ``max_steps``). ``diverged`` is the step whose loss was not finite.
    """

    method: Method
    pixels: str
    dtype: str
    batch: int
    seed: int
    steps_per_epoch: int
    probe: str = "float64"
    eta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    curvature: np.ndarray = field(default_factory=lambda: np.zeros(0))
    test_accuracy: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    diverged: int | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs (complete or not) the run covered."""
        return -(-len(self.eta) // self.steps_per_epoch)

    def epoch_eta(self, epoch: int) -> np.ndarray:
        """The η of every step of ``epoch`` (0-based; negative counts from the end)."""
        epoch = epoch % self.epochs
        return self.eta[epoch * self.steps_per_epoch : (epoch + 1) * self.steps_per_epoch]

    def epoch_medians(self) -> list[float]:
        """The median η of each epoch."""
        return [float(np.median(self.epoch_eta(e))) for e in range(self.epochs)]

    def stabilises_around_target(self) -> bool:
        """The paper's claim in one run: the median η of each of the last two epochs lies in :data:`BAND`."""
        medians = self.epoch_medians()[-2:]
        return all(BAND[0] <= m <= BAND[1] for m in medians)

    def runaway_step(self) -> int | None:
        """The first step (1-based) whose η exceeded :data:`RUNAWAY_ETA`, else None."""
        above = np.flatnonzero(self.eta > RUNAWAY_ETA)
        return int(above[0]) + 1 if above.size else None

    def floor_share(self, delta: float = 1e-6) -> float:
        """The share of steps that used η = δ, the floor of eq. 13."""
        return float(np.mean(self.eta <= delta)) if self.eta.size else 0.0

    def condition(self) -> str:
        """"float32, pixels in [0, 1], batch 64, seed 0" (with the probes when they are not float64)."""
        probes = "" if self.probe == "float64" else f", probes in {self.probe}"
        return f"{self.dtype}{probes}, {PIXELS[self.pixels]}, batch {self.batch}, seed {self.seed}"


def train(
    build_model: Callable[[], layers.Module],
    method: Method,
    data: Mnist,
    batch: int,
    seed: int,
    epochs: int,
    dtype: str = "float32",
    probe: str = "float64",
    max_steps: int | None = None,
) -> Run:
    """Train a fresh model (initialised with ``seed``) with ``method`` on ``data``; shuffled batches (``seed``).

    The model is built in float32 and cast to ``dtype``, so both dtypes start from the same
    weights; every batch is cast to ``dtype`` too. ``probe`` is the second order's
    ``probe_dtype``. The test set is evaluated after each epoch; ``max_steps`` cuts the run short
    (then the last evaluation is at that step). A non-finite loss stops the run.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    np_dtype = np.dtype(dtype)
    minigrad.seed(seed)
    model = build_model().to(np_dtype)
    hyper = dict(method.hyper)
    if method.optimizer == "ravaut2":
        hyper["probe_dtype"] = probe
    optimizer = optimizers.build_optimizer(method.optimizer, model.layer_groups(), **hyper)
    loader = datasets.DataLoader(data.train_x, data.train_y, batch_size=batch, shuffle=True, seed=seed)
    run = Run(method, data.pixels, dtype, batch, seed, len(loader), probe)
    etas: list[float] = []
    losses: list[float] = []
    curvature: list[float] = []
    start = time.process_time()
    # A run that diverges is recorded (``diverged``, and on the page), not warned about at every op on the way.
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(epochs):
            for x, y in loader:
                etas.append(float(optimizer.param_groups[0]["lr"]))  # the rate this step uses
                result = train_step(model, optimizer, cross_entropy_per_sample, (x.astype(np_dtype, copy=False), y))
                losses.append(float(result.loss))
                if method.optimizer == "ravaut2":
                    fm2, _, f0, _, fp2 = optimizer.last_probe_losses
                    curvature.append(fp2 + fm2 - 2 * f0)
                if not np.isfinite(losses[-1]):
                    run.diverged = len(losses)
                    break
                if max_steps is not None and len(losses) == max_steps:
                    break
            scores = evaluate(model, data.test_x, data.test_y, 1000, "cpu")
            run.test_accuracy.append(scores["accuracy"])
            run.test_loss.append(scores["loss"])
            if run.diverged or (max_steps is not None and len(losses) == max_steps):
                break
    run.cpu_seconds = time.process_time() - start
    run.eta, run.loss, run.curvature = np.array(etas), np.array(losses), np.array(curvature)
    return run


# ----- the quadratic ------------------------------------------------------------------------------------
def barzilai_borwein_check(size: int = 5, steps: int = 6, seed: int = 0, eps: float = 1e-5) -> float:
    """The largest relative gap between the second order's η and the BB1 step sᵀs / sᵀHs of the step before.

    On L(w) = ½ wᵀHw (H symmetric positive definite, drawn with ``seed``), every η from the second
    step on should be the BB1 step of the previous move s = w(k) − w(k−1). The paper's ε = 1e-5.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size))
    h = a @ a.T / size + np.eye(size)
    w = Parameter(rng.standard_normal((size, 1)))
    hessian = Tensor(h)
    optimizer = optimizers.build_optimizer("ravaut2", [w], lr=0.05, eps=eps)
    iterates = [w.data[:, 0].copy()]
    for _ in range(steps):
        optimizer_step(optimizer, lambda: (w * (hessian @ w)).sum() * 0.5)
        iterates.append(w.data[:, 0].copy())
    gaps = []
    for k in range(1, steps):
        s = iterates[k] - iterates[k - 1]
        bb1 = s @ s / (s @ h @ s)
        gaps.append(abs(optimizer.eta_history[k] - bb1) / bb1)
    return float(max(gaps))


# ----- figures ------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path, note: str) -> Path:
    fig.text(0.5, 0.005, note, ha="center", fontsize=7.5)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def _band(ax: Any) -> None:
    ax.axhspan(*BAND, color="tab:green", alpha=0.1, lw=0)
    ax.axhline(TARGET_ETA, color="tab:green", lw=0.8, ls="--")


def _epoch_axis(run: Run) -> np.ndarray:
    return np.arange(1, len(run.eta) + 1) / run.steps_per_epoch


def _chunk_medians(run: Run, parts: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """The median η of consecutive chunks of 1/``parts`` of an epoch, at each chunk's end (in epochs)."""
    size = max(run.steps_per_epoch // parts, 1)
    n = len(run.eta) // size * size
    if n == 0:
        return _epoch_axis(run), run.eta
    medians = np.median(run.eta[:n].reshape(-1, size), axis=1)
    return np.arange(1, len(medians) + 1) * size / run.steps_per_epoch, medians


def plot_main(main: Mapping[str, Mapping[str, list[Run]]], path: Path, note: str) -> Path:
    """The §4.2.2 figure: per pixel convention, training loss, test accuracy per epoch, and η per step."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(main), 3, figsize=(16, 4.2 * len(main)), squeeze=False)
    for row, (pixels, by_method) in zip(axes, main.items()):
        ax_loss, ax_acc, ax_eta = row
        by_method_first_seed = next(iter(by_method.values()))[0].seed
        for color, (label, runs) in zip(plt.cm.tab10.colors, by_method.items()):
            first = runs[0]
            window = max(first.steps_per_epoch // 10, 1)
            smooth = np.convolve(first.loss, np.ones(window) / window, mode="valid")
            ax_loss.plot(np.arange(window, len(first.loss) + 1) / first.steps_per_epoch, smooth, color=color,
                         label=label)
            acc = np.array([100 * np.array(r.test_accuracy) for r in runs])
            epochs = np.arange(1, acc.shape[1] + 1)
            ax_acc.errorbar(epochs, acc.mean(axis=0), acc.std(axis=0), color=color, marker="o", capsize=3,
                            label=label)
            for r in runs:  # every step faint, the median of each twentieth of an epoch bold
                ax_eta.plot(_epoch_axis(r), r.eta, color=color, lw=0.4, alpha=0.25)
                ax_eta.plot(*_chunk_medians(r), color=color, lw=1.4, label=label if r is first else None)
        ax_loss.set(xlabel="epoch", ylabel=f"training loss (running mean, seed {by_method_first_seed})",
                    title=f"{PIXELS[pixels]}: training loss", yscale="log")
        ax_acc.set(xlabel="epoch", ylabel="test accuracy (%), mean ± std over seeds",
                   title=f"{PIXELS[pixels]}: test accuracy")
        _band(ax_eta)
        ax_eta.set(xlabel="epoch", ylabel="η: each step (faint), median per 1/20 epoch", yscale="log",
                   title=f"{PIXELS[pixels]}: η (every seed); band: {BAND[0]:g}–{BAND[1]:g}")
        for ax in row:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, path, note)


def plot_grid(grid: Sequence[Run], path: Path, note: str) -> Path:
    """η per step of the second order, one panel per (pixels, batch); float32 solid, float64 dotted; colour = seed."""
    plt = _pyplot()
    runs = [r for r in grid if r.probe == "float64"]
    pixels = [p for p in PIXELS if any(r.pixels == p for r in runs)]
    batches = sorted({r.batch for r in runs})
    seeds = sorted({r.seed for r in runs})
    fig, axes = plt.subplots(len(pixels), len(batches), figsize=(5.2 * len(batches), 3.8 * len(pixels)),
                             squeeze=False, sharey=True)
    for i, p in enumerate(pixels):
        for j, b in enumerate(batches):
            ax = axes[i, j]
            _band(ax)
            for r in runs:
                if r.pixels == p and r.batch == b:
                    color = plt.cm.tab10.colors[seeds.index(r.seed) % 10]
                    ax.plot(_epoch_axis(r), r.eta, color=color, lw=0.6, ls="-" if r.dtype == "float32" else ":",
                            label=f"{r.dtype}, seed {r.seed}")
            ax.set(yscale="log", xlabel="epoch", ylabel="η used at each step", title=f"{PIXELS[p]}, batch {b}")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=6, ncol=2)
    return _save(fig, path, note)


def plot_probes(grid: Sequence[Run], batch: int, path: Path, note: str) -> Path:
    """float32 models: η with float64 probes (the default) against probes in float32, per pixel convention."""
    plt = _pyplot()
    pixels = [p for p in PIXELS if any(r.pixels == p for r in grid)]
    fig, axes = plt.subplots(1, len(pixels), figsize=(7 * len(pixels), 4.2), squeeze=False, sharey=True)
    for ax, p in zip(axes[0], pixels):
        _band(ax)
        for r in grid:
            if r.pixels == p and r.batch == batch and r.dtype == "float32":
                color = "tab:blue" if r.probe == "float64" else "tab:red"
                ax.plot(_epoch_axis(r), r.eta, color=color, lw=0.5, alpha=0.7,
                        label=f"probes in {r.probe}, seed {r.seed}")
        ax.set(yscale="log", xlabel="epoch", ylabel="η used at each step",
               title=f"float32 model, {PIXELS[p]}, batch {batch}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=2)
    return _save(fig, path, note)


def plot_lenet(runs: Mapping[str, list[Run]], path: Path, note: str) -> Path:
    """LeNet-5: η per step (every seed) and the training loss (running mean), per method."""
    plt = _pyplot()
    fig, (ax_eta, ax_loss) = plt.subplots(1, 2, figsize=(14, 4.5))
    for color, (label, method_runs) in zip(plt.cm.tab10.colors, runs.items()):
        for r in method_runs:
            steps = np.arange(1, len(r.eta) + 1)
            first = r is method_runs[0]
            ax_eta.plot(steps, r.eta, color=color, lw=0.7, alpha=0.8, label=label if first else None)
            window = max(min(20, len(r.loss) // 5), 1)
            smooth = np.convolve(r.loss, np.ones(window) / window, mode="valid")
            ax_loss.plot(np.arange(window, len(r.loss) + 1), smooth, color=color, lw=0.8, alpha=0.8,
                         label=label if first else None)
    ax_eta.axhline(TARGET_ETA, color="tab:green", lw=0.8, ls="--")
    ax_eta.set(yscale="log", xlabel="step", ylabel="η used at the step", title="LeNet-5 on MNIST: η")
    ax_loss.axhline(np.log(10), color="k", lw=0.8, ls=":", label="ln 10 (chance)")
    ax_loss.set(xlabel="step", ylabel="training loss (running mean of 20)", title="LeNet-5 on MNIST: loss",
                yscale="log")
    for ax in (ax_eta, ax_loss):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return _save(fig, path, note)


# ----- the page -----------------------------------------------------------------------------------------
def _pct(values: Sequence[float]) -> str:
    return mean_std([100 * v for v in values], 2) if len(values) > 1 else f"{100 * values[0]:.2f}"


def _span(values: Sequence[float]) -> str:
    """"lo–hi" of percentages, or one number when they agree to the digit shown."""
    lo, hi = f"{min(values):.0f}", f"{max(values):.0f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def run(smoke: bool = False, out: Path = DOCS) -> Path:
    """Run the experiments (``smoke``: a few steps on a few hundred images), write the page and its claims."""
    from threadpoolctl import threadpool_limits

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    budget = SMOKE if smoke else FULL
    start = time.process_time()
    with threadpool_limits(1), parallel.use_threads(1):
        data = {p: load_mnist(p, budget.train_limit, budget.test_limit) for p in PIXELS}
        grid = [
            train(logistic_regression, SECOND, data[p], b, s, budget.epochs, dtype=d)
            for p in PIXELS for d in DTYPES for b in budget.batch_sizes for s in budget.seeds
        ]
        grid += [
            train(logistic_regression, SECOND, data[p], budget.main_batch, s, budget.epochs, probe="param")
            for p in PIXELS for s in budget.seeds
        ]
        main: dict[str, dict[str, list[Run]]] = {}
        for p in PIXELS:
            main[p] = {}
            for method in MAIN_METHODS:
                if method is SECOND:  # the same runs as the grid's float32 cells at this batch size
                    runs = [r for r in grid if r.pixels == p and r.dtype == "float32" and r.probe == "float64"
                            and r.batch == budget.main_batch]
                else:
                    runs = [train(logistic_regression, method, data[p], budget.main_batch, s, budget.epochs)
                            for s in budget.seeds]
                main[p][method.label] = runs
        lenet = {
            m.label: [train(lenet5, m, data["standardised"], budget.lenet_batch, s, 1, max_steps=budget.lenet_steps)
                      for s in budget.lenet_seeds]
            for m in LENET_METHODS
        }
        bb_gap = barzilai_borwein_check()
    total_cpu = time.process_time() - start

    scale = ("SMOKE RUN: a few steps on a few hundred images, NOT the page's budget" if smoke else
             f"all 60,000 training and 10,000 test images, {budget.epochs} epochs")
    note = f"{scale}; minigrad, one thread; regenerate: {COMMAND}" + (" --smoke" if smoke else "")
    figures = {
        "main": plot_main(main, out / f"{PAPER}_logreg.png", note),
        "grid": plot_grid(grid, out / f"{PAPER}_eta_grid.png", note),
        "probes": plot_probes(grid, budget.main_batch, out / f"{PAPER}_float32_probes.png", note),
        "lenet": plot_lenet(lenet, out / f"{PAPER}_lenet5.png", note.replace(
            f"{budget.epochs} epochs", f"LeNet-5: {budget.lenet_steps} steps at batch {budget.lenet_batch}")),
    }
    claims = _claims(main, grid, lenet, bb_gap, budget)
    sections = [
        f"# {TITLE}",
        _introduction(smoke),
        _setup(budget, data["standardised"].stats),
        _main_section(main, budget, figures["main"]),
        _grid_section(grid, budget, figures["grid"]),
        _probe_section(grid, budget, figures["probes"]),
        _quadratic_section(bb_gap),
        _lenet_section(lenet, budget, figures["lenet"]),
        _claims_section(claims),
        "## Cost\n\n"
        f"{format_duration(total_cpu)} of CPU time for the whole page (process time, one thread), of which "
        f"logistic regression {format_duration(_cpu(grid) + _cpu_main(main))} and LeNet-5 "
        f"{format_duration(sum(_cpu(rs) for rs in lenet.values()))}.\n\n"
        + regenerate(COMMAND, smoke),
    ]
    return write_page(PAPER, sections, claims, out)


def _cpu(runs: Sequence[Run]) -> float:
    return float(sum(r.cpu_seconds for r in runs))


def _cpu_main(main: Mapping[str, Mapping[str, list[Run]]]) -> float:
    """CPU seconds of the main runs that the grid does not already count (every method but the second order)."""
    return sum(_cpu(runs) for by_method in main.values() for label, runs in by_method.items()
               if label != SECOND.label)


def _introduction(smoke: bool) -> str:
    warning = ("\n\n> **Smoke run**: a few steps on a few hundred images. These numbers say nothing about the "
               "paper; the committed page comes from the full run.") if smoke else ""
    return (
        "Ravaut & Gorti, *Learning the learning rate by finite differences* (2018), adapt one global learning "
        "rate η while training: a gradient step on f(η) = L(w − ηg) (first order, §3.1) or a Newton step on it "
        "from five loss values (second order, §3.2, §4.1). minigrad's implementation and its choices are in "
        "[docs/optimizers/learned-rate.md](../optimizers/learned-rate.md). This page reruns the paper's "
        "MNIST logistic-regression experiment (§4.2.2), tests its one number there, \"with the second-order "
        "method, the learning rate stabilizes around 0.4\", under the conditions that could decide it, and "
        "shows the same rule on LeNet-5." + warning
    )


def _setup(budget: Budget, stats: tuple[float, float] | None) -> str:
    limit = (f"the first {budget.train_limit} training and {budget.test_limit} test images" if budget.train_limit
             else "all 60,000 training images, the 10,000 test images")
    stats_text = f"{stats[0]:.4f}, {stats[1]:.4f}" if stats else "n/a"
    return f"""## What the paper leaves open, and what this page chose

Our copy of the paper loses the exponents of §4.2.2 ("the choice of ε was 10^? and we used a meta-learning
rate of α = 10^? for first-order") and gives neither η's start, the batch size, the number of epochs, the
pixel scaling nor the fixed rate of the "basic" SGD for this experiment. The choices:

- **Model**: multinomial logistic regression, Flatten → Linear(784, 10), PyTorch's default initialisation
  U(±1/√784), built in float32 from the run's seed (cast to float64 for the float64 runs, so both dtypes start
  from the same weights). Cross-entropy, mean over the batch (summed in float64 by the closure).
- **Second order**: the paper's settings elsewhere, η(0) = 0.01 (its LeNet start), ε = 1e-5 (§6.1: all its
  experiments), δ = 1e-6 (§4.1), no cap on η (the paper's rule), probes in float64 (minigrad's default,
  `probe_dtype="float64"`) unless stated.
- **First order**: η(0) = 0.01, α = 1e-4 (minigrad's default), δ = 1e-6.
- **Basic SGD**: no momentum, a fixed η = 0.01 (the adaptive methods' start) and a fixed η = 0.4 (the value
  the paper reports the second order settles at).
- **Data**: MNIST, {limit}; shuffled batches, the order drawn from the run's seed.
  Pixels in [0, 1] (as stored) and standardised with the training split's mean and std ({stats_text}):
  both are run, as the scale of the inputs sets the curvature along the gradient and so the Newton step.
- **Budget**: {budget.epochs} epochs; batch {budget.main_batch} for the comparison, batches
  {", ".join(map(str, budget.batch_sizes))} for the η grid; seeds {", ".join(map(str, budget.seeds))}
  (the seed sets both the initial weights and the batch order). Test accuracy on the test images after each
  epoch.
- **Machine**: one thread (BLAS and minigrad's pool), CPU time measured with `time.process_time()`."""


def _main_section(main: Mapping[str, Mapping[str, list[Run]]], budget: Budget, figure: Path) -> str:
    rows = []
    for pixels, by_method in main.items():
        for label, runs in by_method.items():
            acc_first = [r.test_accuracy[0] for r in runs]
            acc_last = [r.test_accuracy[-1] for r in runs]
            medians = [r.epoch_medians()[-1] for r in runs]
            learned = label in (FIRST.label, SECOND.label)
            rows.append((
                PIXELS[pixels], label, _pct(acc_first), _pct(acc_last),
                ", ".join(_fmt(m) for m in medians) if learned else "fixed",
                ", ".join(_fmt(float(r.eta.max())) for r in runs) if learned else "fixed",
                format_duration(_cpu(runs)),
            ))
    table = markdown_table(
        ("pixels", "method", "test accuracy after epoch 1 (%)", f"after epoch {budget.epochs} (%)",
         "median η of the last epoch, per seed", "largest η, per seed", "CPU time"),
        rows,
    )
    return f"""## §4.2.2: the learned rates against fixed-rate SGD

Batch {budget.main_batch}, float32, {len(budget.seeds)} seed(s): mean ± std of the test accuracy over the seeds. The
paper's Fig. 3 plots training and test loss and accuracy over epochs, its Fig. 4 the learning rate of both orders.

{table}

{_main_reading(main, budget)}

![logistic regression on MNIST: loss, test accuracy, η]({figure.name})"""


def _main_reading(main: Mapping[str, Mapping[str, list[Run]]], budget: Budget) -> str:
    """Which method leads after the first and the last epoch, per pixel convention (mean over seeds)."""
    def best(by_method: Mapping[str, list[Run]], epoch: int) -> str:
        means = {label: float(np.mean([r.test_accuracy[epoch] for r in runs])) for label, runs in by_method.items()}
        label = max(means, key=lambda k: means[k])
        return f"{label} ({100 * means[label]:.2f} %)"

    return "\n".join(f"- {PIXELS[p]}: highest mean test accuracy after epoch 1, {best(by_method, 0)}; after epoch "
                     f"{budget.epochs}, {best(by_method, -1)}." for p, by_method in main.items())


def _grid_rows(runs: Sequence[Run]) -> list[tuple[Any, ...]]:
    cells: dict[tuple[str, str, str, int], list[Run]] = {}
    for r in runs:
        cells.setdefault((r.pixels, r.dtype, r.probe, r.batch), []).append(r)
    rows = []
    for (pixels, dtype, probe, batch), cell in cells.items():
        held = sum(r.stabilises_around_target() for r in cell)
        runaway = [r.runaway_step() for r in cell]
        rows.append((
            PIXELS[pixels], dtype if probe == "float64" else f"{dtype}, probes in {probe}", batch,
            "; ".join(" → ".join(_fmt(m) for m in r.epoch_medians()) for r in cell),
            ", ".join(f"{100 * r.floor_share():.1f}" for r in cell),
            ", ".join("—" if k is None else str(k) for k in runaway),
            _pct([r.test_accuracy[-1] for r in cell]),
            f"{held} of {len(cell)}",
        ))
    return rows


def _grid_section(grid: Sequence[Run], budget: Budget, figure: Path) -> str:
    runs = [r for r in grid if r.probe == "float64"]
    table = markdown_table(
        ("pixels", "dtype", "batch", "median η per epoch (one sequence per seed)", "steps at δ (%)",
         f"first step with η > {RUNAWAY_ETA:g}", f"test accuracy after epoch {budget.epochs} (%)",
         "runs where it holds"),
        _grid_rows(runs),
    )
    held = [r for r in runs if r.stabilises_around_target()]
    away = [r for r in runs if r.runaway_step() is not None]
    return f"""## Does η stabilise around 0.4?

The criterion, fixed before the runs: in a run, the claim **holds** when the median η of each of the last two
epochs lies within a factor of two of 0.4, in [{BAND[0]:g}, {BAND[1]:g}]. A run **runs away** when some step's η
exceeds {RUNAWAY_ETA:g}. The second order at the paper's settings, probes in float64, {budget.epochs} epochs:

{table}

It holds in {len(held)} of {len(runs)} runs{_where(held)}. η ran away in {len(away)} of {len(runs)} runs{_where(away)}.

![η of the second order per step, every condition]({figure.name})

{_grid_reading(runs)}"""


def _where(runs: Sequence[Run]) -> str:
    if not runs:
        return ""
    cells = sorted({(r.pixels, r.batch) for r in runs}, key=lambda c: (list(PIXELS).index(c[0]), c[1]))
    return " (" + "; ".join(f"{PIXELS[p]}, batch {b}" for p, b in cells) + ")"


def parting_step(a: Run, b: Run, rtol: float = 0.01) -> int | None:
    """The first step (1-based) at which two runs' η differ by more than ``rtol`` (relative), None if never."""
    n = min(len(a.eta), len(b.eta))
    apart = np.flatnonzero(np.abs(a.eta[:n] - b.eta[:n]) > rtol * np.abs(b.eta[:n]))
    return int(apart[0]) + 1 if apart.size else None


def _grid_reading(runs: Sequence[Run]) -> str:
    """What the grid says, computed from it: the level η settles at, the runaways, and whether the dtype mattered."""
    lines = []
    for p in PIXELS:
        settled = [r.epoch_medians()[-1] for r in runs if r.pixels == p and r.runaway_step() is None]
        away = [r for r in runs if r.pixels == p and r.runaway_step() is not None]
        if settled:
            lines.append(f"- {PIXELS[p]}: in the {len(settled)} runs where η did not run away, the median η of the "
                         f"last epoch lies between {_fmt(min(settled))} and {_fmt(max(settled))}.")
        counts = {b: (sum(r.batch == b for r in away), sum(r.batch == b and r.pixels == p for r in runs))
                  for b in sorted({r.batch for r in runs})}
        by_batch = ", ".join(f"batch {b}: {n} of {m}" for b, (n, m) in counts.items())
        lines.append(f"- {PIXELS[p]}: runs where η ran away above {RUNAWAY_ETA:g}, by batch size: {by_batch}.")
    pairs: dict[tuple[str, int, int], dict[str, Run]] = {}
    for r in runs:
        pairs.setdefault((r.pixels, r.batch, r.seed), {})[r.dtype] = r
    both = [d for d in pairs.values() if len(d) == 2]
    if both:
        parts = [parting_step(d["float32"], d["float64"]) for d in both]
        known = [k for k in parts if k is not None]
        agree = sum(d["float32"].stabilises_around_target() == d["float64"].stabilises_around_target() for d in both)
        span = f"from step {min(known)} to {max(known)} (median {int(np.median(known))})" if known else "never"
        lines.append(
            f"- float32 against float64, same seed (same start, same batches): the two runs' η agree within 1 % "
            f"until they part, {span}; {len(parts) - len(known)} of {len(parts)} pairs never part. The training "
            "dtype only changes the rounding of the weight updates (the probes are float64 in both), but a line "
            "search on each batch amplifies any difference. Whether the claim holds agrees between the two dtypes "
            f"in {agree} of {len(both)} pairs."
        )
    return "What the grid says:\n\n" + "\n".join(lines)


def _probe_section(grid: Sequence[Run], budget: Budget, figure: Path) -> str:
    rows = []
    for r in grid:
        if r.dtype == "float32" and r.batch == budget.main_batch:
            d = r.curvature
            rows.append((PIXELS[r.pixels], r.probe, r.seed, f"{100 * np.mean(d == 0):.1f}",
                         f"{100 * np.mean(d < 0):.1f}", _fmt(float(np.median(r.eta))), _fmt(float(r.eta.max())),
                         f"{100 * r.test_accuracy[-1]:.2f}"))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    table = markdown_table(("pixels", "probes in", "seed", "steps with D = 0 (%)", "steps with D < 0 (%)",
                            "median η", "largest η", f"test accuracy after epoch {budget.epochs} (%)"), rows)
    return f"""## float32: why the probes are float64

The second difference D = f(η+2ε) + f(η−2ε) − 2f(η) is about 4ε²f″ ≈ 4·10⁻¹⁰·f″ at ε = 1e-5, below the
resolution of a float32 loss (one ulp is about 6·10⁻⁸ of it). minigrad therefore builds the probe points
w − (η + jε)g in float64 whatever the training dtype (`probe_dtype="float64"`, the default); the closure also
sums the per-sample losses in float64. With `probe_dtype="param"` a float32 model is probed in float32, the
naive implementation. Batch {budget.main_batch}, float32 model, both probe precisions:

{table}

{_probe_reading(grid, budget)}

![float32 model: η with float64 probes and with float32 probes]({figure.name})"""


def _probe_reading(grid: Sequence[Run], budget: Budget) -> str:
    """The naive probes against the float64 ones, computed from the runs."""
    lines = []
    for p in PIXELS:
        cell = {probe: [r for r in grid if r.pixels == p and r.dtype == "float32" and r.batch == budget.main_batch
                        and r.probe == probe] for probe in ("float64", "param")}
        if not all(cell.values()):
            continue
        concave = {k: [100 * float(np.mean(r.curvature < 0)) for r in v] for k, v in cell.items()}
        acc = {k: 100 * float(np.mean([r.test_accuracy[-1] for r in v])) for k, v in cell.items()}
        lines.append(
            f"- {PIXELS[p]}: D < 0 (f concave along g, which a convex loss never is) in "
            f"{_span(concave['param'])} % of the steps per run with float32 probes, against "
            f"{_span(concave['float64'])} % with float64 probes; mean test accuracy "
            f"after epoch {budget.epochs}: {acc['param']:.2f} % against {acc['float64']:.2f} %."
        )
    resolved = [r for r in grid if r.probe == "float64"]
    before = sum(int(np.sum(r.curvature[: (r.runaway_step() or len(r.curvature) + 1) - 1] <= 0)) for r in resolved)
    after = sum(int(np.sum(r.curvature[(r.runaway_step() or len(r.curvature) + 1) - 1 :] <= 0)) for r in resolved)
    return (
        "Logistic regression's loss is convex, so a resolved D is positive. With float32 probes D is rounding "
        "noise: when it is exactly 0 the paper's guard (eq. 11–12) divides the first difference by δ = 1e-6, and "
        "otherwise the Newton step takes the sign and size of the noise; η is then set by the noise, not by the "
        "curvature, whatever the accuracy it happens to reach. With float64 probes, over all the runs of the η "
        f"grid, D ≤ 0 at {before} steps while η had not yet run away above {RUNAWAY_ETA:g}, and at {after} steps "
        "after it had, where the softmax saturates and f is flat to rounding.\n\n" + "\n".join(lines)
    )


def _quadratic_section(gap: float) -> str:
    return f"""## On a quadratic the second order is the Barzilai–Borwein step

For L(w) = ½wᵀHw, f(η) = L(w − ηg) is a parabola, its central differences are exact, and the Newton step lands on
the exact line-search step gᵀg / gᵀHg of the gradient it probed, whatever η(k) was. That η is used one step
later, on the next gradient: with s = w(k+1) − w(k) = −η(k)g and y = Hs it equals sᵀs / sᵀy, the first step size
of Barzilai & Borwein (1988), BB1. Measured here on a 5-dimensional quadratic (H = AAᵀ/5 + I, A standard normal,
seed 0; η(0) = 0.05, the paper's ε = 1e-5), over six steps: every η from the second step on equals the BB1 step of
the move before to a relative {gap:.1e}.
`tests/test_optimizers_ravaut.py::test_second_order_is_the_barzilai_borwein_step` checks the same at ε = 1e-3 to a
relative 1e-8, and `test_second_order_step_is_the_exact_line_search_step` the line search itself.

BB methods are non-monotone by nature: the loss can rise for a few steps while they converge. That is one
explanation of the "sudden and extreme amplitude variations" the paper reports on linear regression and says it
cannot explain (§4.2.1). It also says what the rule does on a network: a line search on each minibatch, where the
rate that minimises one batch's loss along its own gradient can be far too large for the next batch."""


def _lenet_section(lenet: Mapping[str, list[Run]], budget: Budget, figure: Path) -> str:
    rows = []
    for label, runs in lenet.items():
        for r in runs:
            learned = r.method.optimizer == "ravaut2"
            rows.append((
                label, r.seed,
                " → ".join(_fmt(e) for e in r.eta[:4]) if learned else "fixed",
                _fmt(float(np.median(r.eta))) if learned else "fixed",
                _fmt(float(r.eta.max())) if learned else "fixed",
                f"loss not finite at step {r.diverged}" if r.diverged else f"{float(np.mean(r.loss[-50:])):.3f}",
                f"{100 * r.test_accuracy[-1]:.2f}",
                format_duration(r.cpu_seconds),
            ))
    table = markdown_table(("method", "seed", "η of the first steps", "median η", "largest η",
                            "training loss, mean of the last 50 steps", f"test accuracy after {budget.lenet_steps} "
                            "steps, or where the run stopped (%)", "CPU time"), rows)
    return f"""## LeNet-5: the uncapped rule runs away

The paper's LeNet runs are on CIFAR-10 (batch 32, η(0) = 0.01: "the network increases it to boost convergence,
but struggles to stabilize to a fixed zone", §4.2.3), which is not on this machine. The same rule on LeNet-5 and
MNIST, standardised pixels, float32, batch {budget.lenet_batch}, {budget.lenet_steps} steps, η(0) = 0.01:
the paper's uncapped rule, the command line's cap `eta_max` = 0.3 (`minigrad train --optimizer ravaut2`; not in
the paper), and SGD at a fixed 0.01. The test accuracy is measured on the test images after the last step; a
net at chance scores about 10 % and has a loss of ln 10 ≈ 2.30. A run whose loss is not finite stops there.

{table}

![LeNet-5 on MNIST: η and training loss]({figure.name})"""


def _claims(main: Mapping[str, Mapping[str, list[Run]]], grid: Sequence[Run], lenet: Mapping[str, list[Run]],
            bb_gap: float, budget: Budget) -> list[Claim]:
    """The page's claim lines, with verdicts computed from the runs."""
    claims = []

    def claim(text: str, theirs: str, ours: str, verdict: str, cpu: float) -> None:
        claims.append(Claim(TITLE, text, theirs, ours, verdict, COMMAND, format_duration(cpu) + " (process, 1 thread)",
                            PAGE))

    def first_epoch(p: str, label: str) -> float:
        return float(np.mean([r.test_accuracy[0] for r in main[p][label]]))

    def last_epoch(p: str, label: str) -> float:
        return float(np.mean([r.test_accuracy[-1] for r in main[p][label]]))

    # 1. faster than fixed-rate SGD
    beats_start = [first_epoch(p, SECOND.label) > first_epoch(p, SGD_START.label) for p in main]
    beats_target = [first_epoch(p, SECOND.label) > first_epoch(p, SGD_TARGET.label) for p in main]
    verdict = ("reproduced" if all(beats_start) and all(beats_target) else
               "partly reproduced" if any(beats_start) or any(beats_target) else "not reproduced")
    ours = "; ".join(
        f"{PIXELS[p]}: test accuracy after epoch 1 / {budget.epochs}: second order "
        f"{100 * first_epoch(p, SECOND.label):.2f} / {100 * last_epoch(p, SECOND.label):.2f} %, SGD 0.01 "
        f"{100 * first_epoch(p, SGD_START.label):.2f} / {100 * last_epoch(p, SGD_START.label):.2f} %, SGD 0.4 "
        f"{100 * first_epoch(p, SGD_TARGET.label):.2f} / {100 * last_epoch(p, SGD_TARGET.label):.2f} %"
        for p in main
    )
    claim("MNIST logistic regression (§4.2.2): the second order trains faster than fixed-rate SGD",
          "Fig. 3: faster initial convergence than SGD at a fixed rate (rate, batch and epochs not stated)",
          f"batch {budget.main_batch}, float32, mean of {len(budget.seeds)} seed(s); {ours}", verdict,
          _cpu_main(main) + sum(_cpu(main[p][SECOND.label]) for p in main))

    # 2. η stabilises around 0.4
    runs = [r for r in grid if r.probe == "float64"]
    held = [r for r in runs if r.stabilises_around_target()]
    away = [r for r in runs if r.runaway_step() is not None]
    verdict = "reproduced" if len(held) == len(runs) else "not reproduced" if not held else "partly reproduced"
    claim("MNIST logistic regression (§4.2.2): the second order's η stabilises around 0.4",
          "η stabilises around 0.4 (Fig. 4)",
          f"median η of the last two epochs in [{BAND[0]:g}, {BAND[1]:g}] in {len(held)} of {len(runs)} runs"
          f"{_where(held)}; η ran away above {RUNAWAY_ETA:g} in {len(away)}{_where(away)} "
          f"(float32 and float64, {len(budget.batch_sizes)} batch size(s), {len(budget.seeds)} seed(s), "
          f"{budget.epochs} epochs)",
          verdict, _cpu(runs))

    # 3. the first order is less efficient than the second order
    better = [first_epoch(p, SECOND.label) > first_epoch(p, FIRST.label) for p in main]
    verdict = "reproduced" if all(better) else "partly reproduced" if any(better) else "not reproduced"
    ours = "; ".join(
        f"{PIXELS[p]}: after epoch 1 first order {100 * first_epoch(p, FIRST.label):.2f} %, second order "
        f"{100 * first_epoch(p, SECOND.label):.2f} %; first order's η at the end "
        + ", ".join(_fmt(float(r.eta[-1])) for r in main[p][FIRST.label])
        for p in main
    )
    claim("The first order is less efficient than the second (§4.2)",
          "\"quite unstable and less efficient\" (α for MNIST illegible in our copy)",
          f"α = 1e-4 (minigrad's), η(0) = 0.01; {ours}", verdict,
          sum(_cpu(main[p][FIRST.label]) for p in main))

    # 4. η almost never reaches δ with the second order
    shares = np.array([r.floor_share() for r in runs])
    verdict = ("reproduced" if np.all(shares <= FLOOR_SHARE) else
               "not reproduced" if np.median(shares) > FLOOR_SHARE else "partly reproduced")
    claim("The second order's η almost never reaches the floor δ (§4.1)",
          "\"in practice the learning rate almost never reaches δ with the second-order method\"",
          f"steps at δ = 1e-6 per run: median {100 * np.median(shares):.2f} %, largest {100 * shares.max():.2f} %; "
          f"{int(np.sum(shares > FLOOR_SHARE))} of {len(runs)} runs above {100 * FLOOR_SHARE:g} % "
          "(MNIST logistic regression, the η grid)", verdict, _cpu(runs))

    # 5. LeNet on CIFAR-10
    uncapped = lenet[LENET_METHODS[1].label]
    capped = lenet[LENET_METHODS[2].label]
    sgd = lenet[LENET_METHODS[0].label]
    claim("LeNet on CIFAR-10 (§4.2.3): from η(0) = 0.01 the second order raises η and trains faster than SGD",
          "η rises and does not settle; same best test accuracy as SGD (59 %) in under 10 epochs against about 35",
          f"CIFAR-10 is not on this machine. On MNIST instead (LeNet-5, batch {budget.lenet_batch}, "
          f"{budget.lenet_steps} steps, {len(uncapped)} seed(s)): uncapped, median η "
          + ", ".join(_fmt(float(np.median(r.eta))) for r in uncapped)
          + ", test accuracy " + ", ".join(f"{100 * r.test_accuracy[-1]:.1f}"
                                           + (f" (loss not finite at step {r.diverged})" if r.diverged else "")
                                           for r in uncapped)
          + " %; capped at 0.3, " + ", ".join(f"{100 * r.test_accuracy[-1]:.1f}" for r in capped)
          + " %; SGD 0.01, " + ", ".join(f"{100 * r.test_accuracy[-1]:.1f}" for r in sgd) + " %",
          "not run: data not available", sum(_cpu(rs) for rs in lenet.values()))

    # 6. linear regression's swings
    claim("Linear regression on Boston Housing (§4.2.1): unexplained sudden, extreme swings of the second order",
          "\"sudden and extreme amplitude variations, that we cannot really explain\"",
          "Boston Housing is not shipped. On a quadratic the second order is the Barzilai–Borwein step (BB1) one "
          f"step late (measured: relative gap {bb_gap:.1e}; tests/test_optimizers_ravaut.py), a non-monotone "
          "method: one explanation of the swings", "not run: data not available", 0.0)
    return claims


def _claims_section(claims: Sequence[Claim]) -> str:
    rows = [(c.claim, c.theirs, c.ours, f"**{c.verdict}**", c.cpu_time) for c in claims]
    return "## Claims\n\n" + markdown_table(("claim", "paper", "minigrad", "verdict", "CPU time"), rows)


__all__ = [
    "BAND",
    "FULL",
    "SMOKE",
    "TARGET_ETA",
    "Budget",
    "Method",
    "Mnist",
    "Run",
    "barzilai_borwein_check",
    "load_mnist",
    "logistic_regression",
    "run",
    "train",
]
