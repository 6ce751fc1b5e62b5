"""The training loop: train a model on a dataset with an optimizer, evaluate, checkpoint, resume.

A run is a sequence of epochs (:func:`train_one_epoch`, then :func:`evaluate` on the test split,
then :func:`save_checkpoint`); every step goes through :func:`experiments.stepping.train_step`,
the same call for every optimizer. Everything a run produces lives in its output folder, which
follows the rules of :mod:`experiments.run_folder` (one run at a time, no new run over an old
one, strict JSON lines):

- ``checkpoint.npz``: model, optimizer, RNG and stopping-rule state after the last *completed*
  epoch, written atomically and only when every weight and state value is finite, so a crash, a
  Ctrl-C or a diverging loss never destroys the last good one;
- ``metrics.jsonl``: one JSON object per logged window of steps (``"kind": "step"``, the mean
  loss of the window), per epoch (``"kind": "epoch"``) and, if it happens, the divergence
  (``"kind": "diverged"``, its loss ``null``);
- ``learning_curve.png``: those losses, and train/test accuracy per epoch;
- ``layer_telemetry.jsonl`` and ``layer_telemetry.png``: every ``telemetry_every`` steps, each
  layer's gradient norm and effective rate (:mod:`optimizers.telemetry`).

A resumed run continues bit-identically: the loader's order depends only on (seed, epoch), and
weights, optimizer state, the dropout generator and the stopping rule's window are restored.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from tqdm import tqdm

import datasets
import layers
import minigrad
import optimizers
from experiments.run_folder import (
    append_jsonl,
    check_writable_folder,
    read_jsonl,
    refuse_to_replace,
    remove_outputs,
    run_lock,
    write_jsonl,
)
from experiments.stepping import cross_entropy_per_sample, train_step
from minigrad import functional as F
from minigrad import random as mrandom
from minigrad.backend import check_device, get_array_module, to_device
from optimizers.telemetry import LayerTelemetry

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"
TELEMETRY = "layer_telemetry.jsonl"
TELEMETRY_PLOT = "layer_telemetry.png"
#: The files a run writes: their presence makes a folder "hold a run"; ``--overwrite`` deletes them.
RUN_OUTPUTS = (CHECKPOINT, METRICS, CURVE, TELEMETRY, TELEMETRY_PLOT)

# Settings a resumed run must share with the run that wrote the checkpoint.
RESUME_KEYS = (
    "model",
    "activation",
    "dataset",
    "optimizer",
    "hyperparams",
    "batch_size",
    "seed",
    "train_limit",
    "normalize",
)
#: What a training checkpoint holds besides being a valid minigrad save.
CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "rng", "config")


class TrainingDiverged(RuntimeError):
    """The training loss, the weights or the optimizer state became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; ``str()`` is the one line to show the user."""


@dataclass
class TrainConfig:
    """Everything that defines a training run."""

    model: str = "lenet5"
    activation: str = "relu"
    dataset: str = "mnist"
    data_root: str | None = None
    optimizer: str = "sgd"
    hyperparams: dict[str, Any] = field(default_factory=lambda: {"lr": 0.03, "momentum": 0.9, "schedule": "cosine"})
    batch_size: int = 64
    epochs: int = 1
    seed: int = 0
    device: str = "cpu"
    out_dir: str = "runs/lenet5-mnist"
    train_limit: int | None = None
    test_limit: int | None = None
    eval_batch_size: int = 1000
    log_every: int = 50
    progress: bool = True
    # Standardise pixels with the training split's mean and std (MNIST: 0.1307, 0.3081), the
    # usual MNIST recipe; it conditions the first layer and speeds up early training.
    normalize: bool = True
    # Steps between per-layer telemetry records (gradient norm, effective rate); 0 turns it off.
    telemetry_every: int = 20
    # Zheng et al.'s stopping rule: stop when the mean training loss of the last ``stop_window``
    # steps is less than ``stop_threshold`` below the mean of the ``stop_window`` steps before.
    stop_threshold: float | None = None
    stop_window: int = 1000

    def validate(self) -> None:
        """Raise ValueError for settings that cannot work."""
        check_device(self.device)
        if self.model not in layers.MODELS:
            raise ValueError(f"unknown model {self.model!r}: expected one of {sorted(layers.MODELS)}")
        if self.model not in layers.models.CLASSIFIERS:
            raise ValueError(
                f"model {self.model!r} is not a classifier (its task is {layers.MODELS[self.model].task}); "
                "minigrad train fits classifiers with cross-entropy: train it in a study (minigrad study run)"
            )
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}: expected one of {sorted(DATASETS)}")
        for name in ("batch_size", "epochs", "eval_batch_size", "log_every", "stop_window"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.telemetry_every, int) or self.telemetry_every < 0:
            raise ValueError(f"telemetry_every must be an integer >= 0, got {self.telemetry_every!r}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None (all of the split), got {value!r}")
        if self.stop_threshold is not None and not (
            isinstance(self.stop_threshold, (int, float)) and math.isfinite(self.stop_threshold)
        ):
            raise ValueError(f"stop_threshold must be a finite number or None, got {self.stop_threshold!r}")


#: The datasets a run may name (:data:`datasets.LOADERS`).
DATASETS = datasets.LOADERS


def load_data(config: TrainConfig) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Train and test arrays of the configured dataset, cut to the configured limits."""
    loader = DATASETS[config.dataset]
    kwargs = {"root": config.data_root} if config.data_root else {}
    train = loader("train", **kwargs)
    test = loader("test", **kwargs)
    if config.normalize:
        # Statistics of the full training split, per channel, so a subset run sees the same inputs.
        mean, std = datasets.channel_mean_std(train[0])
        train = datasets.standardize_channels(train[0], mean, std), train[1]
        test = datasets.standardize_channels(test[0], mean, std), test[1]
    if config.train_limit:
        train = datasets.take(*train, config.train_limit)
    if config.test_limit:
        test = datasets.take(*test, config.test_limit)
    if config.batch_size > len(train[1]):
        raise ValueError(
            f"batch size {config.batch_size} is larger than the {len(train[1])} training images"
            + (" (--limit-train)" if config.train_limit else "")
            + ": every step would see the whole set; use a smaller --batch-size"
        )
    return train, test


def build(config: TrainConfig, steps_per_epoch: int = 1) -> tuple[layers.Module, optimizers.Optimizer]:
    """The seeded model on its device and its optimizer (one parameter group per layer)."""
    minigrad.seed(config.seed)
    classes = datasets.NUM_CLASSES[config.dataset]
    model = layers.MODELS[config.model](activation_name=config.activation, num_classes=classes).to(config.device)
    optimizer = optimizers.build_optimizer(config.optimizer, model.layer_groups(), total_steps=config.epochs *
                                           steps_per_epoch, steps_per_epoch=steps_per_epoch, **config.hyperparams)
    return model, optimizer


def evaluate(
    model: layers.Module, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str
) -> dict[str, float]:
    """Mean cross-entropy and accuracy over a dataset, in eval mode, without a graph."""
    model.eval()
    loss_sum = correct = 0.0
    with minigrad.no_grad():
        for x, y in datasets.DataLoader(images, labels, batch_size=batch_size, device=device):
            logits = model(x)
            loss_sum = loss_sum + F.cross_entropy(logits, y, reduction="sum").data
            correct = correct + (logits.data.argmax(axis=1) == y).sum()
    model.train()
    n = len(labels)
    return {"loss": float(loss_sum) / n, "accuracy": float(correct) / n}


# ----- the stopping rule ---------------------------------------------------------------------------
class PlateauStop:
    """Zheng et al. (2019)'s stopping rule over consecutive windows of ``window`` steps.

    Stop when the mean training loss of the latest window is less than ``threshold`` below the
    mean of the window before it (Zheng et al. end training once the loss has decreased by no more
    than a threshold over 1,000 iterations). Window means, not single minibatch losses, which are too noisy to compare.
    Its state travels in the checkpoint, so a resumed run stops exactly where a straight one would.
    """

    def __init__(self, threshold: float, window: int) -> None:
        self.threshold, self.window = threshold, window
        self.previous: float | None = None
        self.total, self.count = 0.0, 0

    def add(self, mean_loss: float, steps: int) -> bool:
        """Fold in the mean loss of ``steps`` more steps; True when training should stop."""
        self.total += mean_loss * steps
        self.count += steps
        if self.count < self.window:
            return False
        mean, self.total, self.count = self.total / self.count, 0.0, 0
        previous, self.previous = self.previous, mean
        return previous is not None and previous - mean < self.threshold

    def state_dict(self) -> dict[str, Any]:
        """The window in progress and the previous window's mean."""
        return {"previous": self.previous, "total": self.total, "count": self.count}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.previous, self.total, self.count = state["previous"], float(state["total"]), int(state["count"])


# ----- checkpoints ---------------------------------------------------------------------------------
def _arrays(value: Any) -> list[Any]:
    """Every array inside a (nested) state dict."""
    if isinstance(value, Mapping):
        return [a for v in value.values() for a in _arrays(v)]
    return [value] if hasattr(value, "shape") else []


def non_finite_entries(state: Mapping[str, Any]) -> list[str]:
    """Names of the arrays in a (nested) state dict that hold a NaN or an infinity (one host read each)."""
    bad = []
    for key, value in state.items():
        if isinstance(value, Mapping):
            bad += [f"{key}/{name}" for name in non_finite_entries(value)]
        elif hasattr(value, "shape") and getattr(value.dtype, "kind", "") in "fc" and value.size:
            if not bool(get_array_module(value).isfinite(value).all()):
                bad.append(str(key))
    return bad


def save_checkpoint(
    path: Path,
    model: layers.Module,
    optimizer: optimizers.Optimizer,
    epoch: int,
    config: TrainConfig,
    plateau: PlateauStop | None,
) -> None:
    """Write the run's state after ``epoch``, atomically; refuse (TrainingDiverged) if anything is non-finite."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        # The bit generator's 128-bit state does not fit an integer array: keep it as JSON text.
        "rng": json.dumps(mrandom.get_state()),
        "config": json.dumps(asdict(config)),
        "plateau": json.dumps(plateau.state_dict() if plateau else None),
    }
    bad = non_finite_entries({"model": state["model"], "optimizer": state["optimizer"]})
    if bad:
        raise TrainingDiverged(f"after epoch {epoch} these are not finite: {', '.join(bad[:5])}")
    minigrad.save(state, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a training checkpoint; a clear ValueError for a minigrad save that is not one."""
    saved = minigrad.load(path)
    missing = [k for k in CHECKPOINT_KEYS if k not in saved]
    if missing:
        raise ValueError(
            f"{path} is a minigrad save but not a training checkpoint (it lacks {missing}): written by another "
            "program or another minigrad version? Start over with --overwrite, or use another --out."
        )
    return saved


def check_resumable(saved_config: Mapping[str, Any], config: TrainConfig, steps_per_epoch: int) -> None:
    """Refuse to resume a checkpoint written with other settings, or with a schedule sized for another length."""
    now = asdict(config)
    diff = {k: (saved_config.get(k), now[k]) for k in RESUME_KEYS if saved_config.get(k) != now[k]}
    if diff:
        raise ValueError(f"cannot resume: the checkpoint was written with other settings {diff} (saved, now)")
    before, after = (
        repr(optimizers.build_schedule(config.hyperparams, total_steps=epochs * steps_per_epoch,
                                       steps_per_epoch=steps_per_epoch))
        for epochs in (saved_config["epochs"], config.epochs)
    )
    if before != after:
        changed = (before, after)
        raise ValueError(
            f"cannot resume with --epochs {config.epochs}: the run's {config.hyperparams.get('schedule')} schedule "
            f"was sized for {saved_config['epochs']} epoch(s) {changed} (saved, now), and resizing it would move "
            f"the rate (a cosine schedule would jump back up). Resume with --epochs {saved_config['epochs']}, or "
            "start over with --overwrite and a schedule length of your own (--opt schedule_total_steps=N)."
        )


# ----- one epoch -----------------------------------------------------------------------------------
@dataclass
class RunPosition:
    """Where a run is: the epoch being trained, the global step, and the epoch of the checkpoint on disk."""

    epoch: int = 0
    step: int = 0
    kept_epoch: int | None = None

    def kept(self, folder: Path) -> str:
        """'the checkpoint of epoch K in FOLDER is kept', or that there is none yet."""
        if self.kept_epoch is None:
            return f"no checkpoint was written yet in {folder}"
        return f"the checkpoint of epoch {self.kept_epoch} in {folder} is kept"


class _Diverged(Exception):
    def __init__(self, value: float) -> None:
        self.value = value


def train_one_epoch(
    model: layers.Module,
    optimizer: optimizers.Optimizer,
    loader: datasets.DataLoader,
    config: TrainConfig,
    out: Path,
    position: RunPosition,
    telemetry: LayerTelemetry | None,
    plateau: PlateauStop | None,
) -> dict[str, Any]:
    """Train for one epoch; log the mean loss of every ``log_every`` steps; returns the epoch's summary.

    Losses are summed on the device and read back once per chunk of gcd(log_every, stop_window)
    steps (once per log window without a stopping rule): the logged value is the window's mean on
    CPU and GPU alike, at one host sync per chunk. Raises ``_Diverged`` when a chunk's loss is not
    finite.
    """
    epoch, steps_per_epoch = position.epoch, len(loader)
    kill_at = int(os.environ.get("MINIGRAD_DEBUG_KILL_AT_STEP", "0"))  # tests simulate a crash or a Ctrl-C
    kill_signal = getattr(signal, os.environ.get("MINIGRAD_DEBUG_KILL_SIGNAL", "SIGKILL"))
    # Losses are summed on the device and read back once per chunk of steps: every log window and
    # every stopping-rule window is a whole number of chunks, so both see exact window means.
    chunk = math.gcd(config.log_every, config.stop_window) if plateau else config.log_every
    tic = time.perf_counter()
    epoch_loss, epoch_correct, seen = 0.0, 0, 0
    chunk_loss, chunk_steps = 0.0, 0
    log_loss, log_steps = 0.0, 0
    stopped = False
    bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", unit="batch",
               disable=not config.progress, dynamic_ncols=True, leave=True)
    try:
        for i, (x, y) in enumerate(loader, start=1):
            position.step = (epoch - 1) * steps_per_epoch + i
            if kill_at and position.step == kill_at:
                os.kill(os.getpid(), kill_signal)
            with telemetry.watch(position.step) if telemetry else contextlib.nullcontext():
                result = train_step(model, optimizer, cross_entropy_per_sample, (x, y))
            if telemetry and telemetry.records and telemetry.records[-1]["step"] == position.step:
                append_jsonl(out / TELEMETRY, {"epoch": epoch, **telemetry.records[-1]})
            chunk_loss = chunk_loss + result.loss
            chunk_steps += 1
            epoch_correct = epoch_correct + (result.output.argmax(axis=1) == y).sum()
            seen += len(y)
            if i % chunk and i != steps_per_epoch:
                bar.update(1)
                continue
            total = float(chunk_loss)  # the one host read of the chunk
            if not math.isfinite(total):
                raise _Diverged(total / chunk_steps)
            epoch_loss += total
            log_loss, log_steps = log_loss + total, log_steps + chunk_steps
            stopped = plateau is not None and plateau.add(total / chunk_steps, chunk_steps)
            chunk_loss, chunk_steps = 0.0, 0
            if i % config.log_every == 0 or i == steps_per_epoch or stopped:
                value = log_loss / log_steps
                append_jsonl(out / METRICS, {"kind": "step", "epoch": epoch, "step": position.step, "loss": value,
                                             "window": log_steps})
                log_loss, log_steps = 0.0, 0
                elapsed = time.perf_counter() - tic
                bar.set_postfix(loss=f"{value:.4f}", samples_per_s=f"{seen / elapsed:.0f}", refresh=False)
            bar.update(1)
            if stopped:
                break
    finally:
        bar.close()
    train_time = time.perf_counter() - tic
    return {
        "steps": i,
        "train_loss": epoch_loss / i,
        "train_accuracy": float(epoch_correct) / seen,
        "epoch_time_s": train_time,
        "samples_per_s": seen / train_time,
        "stopped": stopped,
    }


def plot_learning_curve(records: list[dict[str, Any]], path: Path, title: str) -> None:
    """Write :func:`learning_curve_figure` of ``records`` as a PNG at ``path``."""
    import matplotlib.pyplot as plt

    fig = learning_curve_figure(records, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curve_figure(records: list[dict[str, Any]], title: str) -> Any:
    """Training loss per logged window and test loss and accuracies per epoch, side by side (a Figure).

    Each line's legend says what it is: the training loss is the mean over each logged window of
    steps (``--log-every``), the test loss is measured at the end of each epoch. A divergence is
    marked where it happened. Accuracies are drawn as markers labelled with their values, so a
    one-epoch run shows two readable points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r["kind"] == "step" and r.get("loss") is not None]
    epochs = [r for r in records if r["kind"] == "epoch"]
    diverged = [r for r in records if r["kind"] == "diverged"]
    window = steps[0].get("window", 1) if steps else 1
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    ax_loss.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1,
                 label=f"train: mean over each window of {window} steps")
    ax_loss.plot([r["step"] for r in epochs], [r["test_loss"] for r in epochs], "o-", label="test: end of each epoch")
    for r in diverged:
        ax_loss.axvline(r["step"], color="red", ls="--", lw=1, label=f"diverged at step {r['step']}")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="loss")
    ax_loss.legend(fontsize=8)
    numbers = [r["epoch"] for r in epochs]
    lines = (("train_accuracy", "train (running, during the epoch)"), ("test_accuracy", "test (end of epoch)"))
    for key, label in lines:
        values = [100 * r[key] for r in epochs]
        ax_acc.plot(numbers, values, "o-", ms=7, label=label)
        for n, v in zip(numbers, values):
            ax_acc.annotate(f"{v:.2f}%", (n, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    if numbers:
        ax_acc.set_xticks(numbers)
        ax_acc.set_xlim(numbers[0] - 0.5, numbers[-1] + 0.5)
        low = min(100 * min(r[k] for k in ("train_accuracy", "test_accuracy")) for r in epochs)
        ax_acc.set_ylim(max(0.0, low - 2), 100.5)
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_layer_telemetry(records: Sequence[Mapping[str, Any]], path: Any, title: str = "") -> None:
    """Two log-scale panels, ‖g_l‖ and the effective rate per layer against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(records[0]["layers"]) if records else []
    steps = [r["step"] for r in records]
    fig, (ax_g, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.cm.viridis([i / max(len(names) - 1, 1) for i in range(len(names))])
    for name, color in zip(names, colors):
        ax_g.plot(steps, [r["layers"][name]["grad_norm"] for r in records], color=color, lw=1, label=name)
        ax_r.plot(steps, [r["layers"][name]["rate"] for r in records], color=color, lw=1, label=name)
    ax_g.set(xlabel="step", ylabel="‖g_l‖₂", yscale="log", title="gradient norm per layer")
    ax_r.set(xlabel="step", ylabel="‖Δθ_l‖ / ‖g_l‖", yscale="log", title="effective rate per layer")
    ax_r.legend(fontsize=8, title="layer (input → output)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----- the run -------------------------------------------------------------------------------------
def prepare_folder(config: TrainConfig, resume: bool, overwrite: bool) -> Path:
    """Check the output folder before anything is loaded (see :mod:`experiments.run_folder`)."""
    out = Path(config.out_dir)
    check_writable_folder(out)
    if resume and overwrite:
        raise ValueError("--resume continues the run in the folder, --overwrite deletes it: choose one")
    if resume and not (out / CHECKPOINT).exists():
        raise FileNotFoundError(f"cannot resume: no {CHECKPOINT} in {out} (a run writes it after its first epoch)")
    return out


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) training as configured; returns the last epoch's metrics ({} when nothing was left to do).

    Raises :class:`TrainingDiverged` when the loss, the weights or the optimizer state become NaN
    or infinite (the checkpoint of the last good epoch is kept), :class:`TrainingInterrupted` on
    Ctrl-C, and :class:`~experiments.run_folder.RunFolderError` for a folder that is locked by
    another run or holds one (without ``resume`` or ``overwrite``).
    """
    config.validate()
    out = prepare_folder(config, resume, overwrite)
    with run_lock(out):
        if overwrite:
            remove_outputs(out, RUN_OUTPUTS)
        elif not resume:
            refuse_to_replace(out, RUN_OUTPUTS)
        return _run(config, out, resume)


def _run(config: TrainConfig, out: Path, resume: bool) -> dict[str, Any]:
    (train_x, train_y), (test_x, test_y) = load_data(config)
    loader = datasets.DataLoader(train_x, train_y, config.batch_size, shuffle=True, seed=config.seed,
                                 device=config.device)
    model, optimizer = build(config, len(loader))
    # Labels are checked once, on the host: a per-batch check would cost a GPU sync every step.
    with minigrad.no_grad():
        num_classes = model.eval()(to_device(train_x[:1], config.device)).shape[1]
    model.train()
    for labels in (train_y, test_y):
        F.check_labels(labels, num_classes)
    plateau = PlateauStop(config.stop_threshold, config.stop_window) if config.stop_threshold is not None else None
    position = RunPosition()
    if resume:
        saved = load_checkpoint(out / CHECKPOINT)
        check_resumable(json.loads(saved["config"]), config, len(loader))
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        mrandom.set_state(json.loads(saved["rng"]))
        saved_plateau = json.loads(saved.get("plateau", "null"))
        if plateau is not None and saved_plateau is not None:
            plateau.load_state_dict(saved_plateau)
        position.kept_epoch = int(saved["epoch"])
    start_epoch = position.kept_epoch or 0
    # Keep only what the checkpoint covers: a killed run may have logged part of the next epoch.
    records = [r for r in read_jsonl(out / METRICS) if r.get("epoch", 0) <= start_epoch]
    if any(r.get("stopped_early") for r in records):
        return {}  # the stopping rule ended this run: there is nothing to continue
    write_jsonl(out / METRICS, records)
    write_jsonl(out / TELEMETRY, [r for r in read_jsonl(out / TELEMETRY) if r.get("epoch", 0) <= start_epoch])
    telemetry = LayerTelemetry(optimizer.param_groups, config.telemetry_every) if config.telemetry_every else None
    title = f"{config.model} on {config.dataset}, {config.optimizer} {config.hyperparams}"

    last: dict[str, Any] = {}
    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            position.epoch = epoch
            loader.set_epoch(epoch - 1)
            model.train()
            try:
                summary = train_one_epoch(model, optimizer, loader, config, out, position, telemetry, plateau)
            except _Diverged as exc:
                return _diverged(out, position, f"training loss became {exc.value} at epoch {epoch}, "
                                 f"step {position.step}")
            test = evaluate(model, test_x, test_y, config.eval_batch_size, config.device)
            stopped = summary.pop("stopped")
            last = {"kind": "epoch", "epoch": epoch, "step": (epoch - 1) * len(loader) + summary.pop("steps"),
                    **summary, "test_loss": test["loss"], "test_accuracy": test["accuracy"]}
            if stopped:
                last["stopped_early"] = (
                    f"the mean loss fell by less than {config.stop_threshold} over {config.stop_window} steps"
                )
            try:
                save_checkpoint(out / CHECKPOINT, model, optimizer, epoch, config, plateau)
            except TrainingDiverged as exc:
                return _diverged(out, position, str(exc))
            position.kept_epoch = epoch
            records.append(last)
            append_jsonl(out / METRICS, last)
            plot_learning_curve(records, out / CURVE, title)
            if telemetry:
                plot_layer_telemetry(read_jsonl(out / TELEMETRY), out / TELEMETRY_PLOT,
                                     f"{config.model}, {config.optimizer}")
            if config.progress:
                tqdm.write(
                    f"epoch {epoch}: train loss {last['train_loss']:.4f}, test loss {test['loss']:.4f}, "
                    f"test accuracy {100 * test['accuracy']:.2f}% ({last['epoch_time_s']:.1f} s)"
                    + (f"; stopped: {last['stopped_early']}" if stopped else "")
                )
            if stopped:
                break
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted at epoch {position.epoch} step {position.step}; {position.kept(out)}"
            + ("; continue with --resume" if position.kept_epoch is not None else "")
        ) from None
    return last


def _diverged(out: Path, position: RunPosition, what: str) -> NoReturn:
    """Record the divergence in the metrics (loss null) and raise TrainingDiverged naming the checkpoint kept."""
    append_jsonl(out / METRICS, {"kind": "diverged", "epoch": position.epoch, "step": position.step,
                                 "loss": None, "message": what})
    raise TrainingDiverged(f"{what}; {position.kept(out)}. Try a smaller learning rate.")
