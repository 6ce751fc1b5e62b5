"""The training loop: train a model on a dataset with an optimizer, evaluate, checkpoint, resume.

Everything a run produces lives in its output folder:

- ``checkpoint.npz``: model, optimizer and RNG state after the last *completed* epoch, written
  atomically, so a crash or a diverging loss never destroys the last good one;
- ``metrics.jsonl``: one JSON object per logged step (``"kind": "step"``) and per epoch
  (``"kind": "epoch"``);
- ``learning_curve.png``: training loss per step, and train/test accuracy per epoch;
- ``layer_telemetry.jsonl`` and ``layer_telemetry.png``: every ``telemetry_every`` steps, each
  layer's gradient norm and effective rate (:mod:`optimizers.telemetry`).

A resumed run continues bit-identically: the loader's order depends only on (seed, epoch), and
weights, optimizer state and the dropout generator are restored exactly.
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
from typing import Any

import numpy as np
from tqdm import tqdm

import datasets
import layers
import minigrad
import optimizers
from experiments.stepping import cross_entropy_per_sample, train_step
from minigrad import functional as F
from minigrad import random as mrandom
from minigrad.backend import check_device, to_device
from optimizers.telemetry import LayerTelemetry

CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.jsonl"
CURVE = "learning_curve.png"
TELEMETRY = "layer_telemetry.jsonl"
TELEMETRY_PLOT = "layer_telemetry.png"

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


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


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
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}: expected one of {sorted(DATASETS)}")
        for name in ("batch_size", "epochs", "eval_batch_size", "log_every", "stop_window"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.telemetry_every, int) or self.telemetry_every < 0:
            raise ValueError(f"telemetry_every must be an integer >= 0, got {self.telemetry_every!r}")
        if self.stop_threshold is not None and not (
            isinstance(self.stop_threshold, (int, float)) and math.isfinite(self.stop_threshold)
        ):
            raise ValueError(f"stop_threshold must be a finite number or None, got {self.stop_threshold!r}")


DATASETS = {"mnist": datasets.mnist, "fashion_mnist": datasets.fashion_mnist}


def load_data(config: TrainConfig) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Train and test arrays of the configured dataset, cut to the configured limits."""
    loader = DATASETS[config.dataset]
    kwargs = {"root": config.data_root} if config.data_root else {}
    train = loader("train", **kwargs)
    test = loader("test", **kwargs)
    if config.normalize:
        # Statistics of the full training split, so a subset run sees the same inputs.
        mean, std = float(train[0].mean(dtype=np.float64)), float(train[0].std(dtype=np.float64))
        train = ((train[0] - mean) / std).astype(np.float32), train[1]
        test = ((test[0] - mean) / std).astype(np.float32), test[1]
    if config.train_limit:
        train = datasets.take(*train, config.train_limit)
    if config.test_limit:
        test = datasets.take(*test, config.test_limit)
    return train, test


def build(config: TrainConfig, steps_per_epoch: int = 1) -> tuple[layers.Module, optimizers.Optimizer]:
    """The seeded model on its device and its optimizer (one parameter group per layer)."""
    minigrad.seed(config.seed)
    model = layers.MODELS[config.model](activation_name=config.activation).to(config.device)
    hyper = dict(config.hyperparams)
    if hyper.get("schedule") == "cosine":  # anneal over the whole run unless told otherwise
        hyper.setdefault("schedule_total_steps", config.epochs * steps_per_epoch)
    if hyper.get("schedule") == "epoch":
        hyper.setdefault("schedule_steps_per_epoch", steps_per_epoch)
    optimizer = optimizers.build_optimizer(config.optimizer, model.layer_groups(), **hyper)
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


def _checkpoint_state(
    model: layers.Module, optimizer: optimizers.Optimizer, epoch: int, config: TrainConfig
) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": epoch,
        # The bit generator's 128-bit state does not fit an integer array: keep it as JSON text.
        "rng": json.dumps(mrandom.get_state()),
        "config": json.dumps(asdict(config)),
    }


def _check_resumable(saved: dict[str, Any], config: TrainConfig) -> None:
    before = {k: saved[k] for k in RESUME_KEYS}
    now = {k: asdict(config)[k] for k in RESUME_KEYS}
    diff = {k: (before[k], now[k]) for k in RESUME_KEYS if before[k] != now[k]}
    if diff:
        raise ValueError(f"cannot resume: the checkpoint was written with other settings {diff} (saved, now)")


def _read_metrics(path: Path, up_to_epoch: int) -> list[dict[str, Any]]:
    """Records of completed epochs only (a killed run may have logged part of the next one)."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r["epoch"] <= up_to_epoch]


def plot_learning_curve(records: list[dict[str, Any]], path: Path, title: str) -> None:
    """Training loss per logged step and accuracy per epoch, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in records if r["kind"] == "step"]
    epochs = [r for r in records if r["kind"] == "epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot([r["step"] for r in steps], [r["loss"] for r in steps], lw=1, label="train (running mean)")
    ax_loss.plot([r["step"] for r in epochs], [r["test_loss"] for r in epochs], "o-", label="test")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", yscale="log", title="loss")
    ax_loss.legend()
    ax_acc.plot([r["epoch"] for r in epochs], [100 * r["train_accuracy"] for r in epochs], "o-", label="train")
    ax_acc.plot([r["epoch"] for r in epochs], [100 * r["test_accuracy"] for r in epochs], "o-", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


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


class PlateauStop:
    """Zheng et al. (2019)'s stopping rule over consecutive windows of ``window`` steps.

    Stop when the mean training loss of the latest window is less than ``threshold`` below the
    mean of the window before it (the paper: "the loss falls by less than the threshold over
    1,000 iterations"). Window means, not single minibatch losses, which are too noisy to compare.
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


def train(config: TrainConfig, resume: bool = False) -> dict[str, Any]:
    """Run (or resume) training as configured; returns the last epoch's metrics.

    Raises :class:`TrainingDiverged` when the loss becomes NaN or infinite; the checkpoint of
    the last completed epoch is left untouched.
    """
    config.validate()
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (train_x, train_y), (test_x, test_y) = load_data(config)
    batches = len(train_y) // config.batch_size + (len(train_y) % config.batch_size > 0)
    model, optimizer = build(config, batches)
    # Labels are checked once, on the host: a per-batch check would cost a GPU sync every step.
    with minigrad.no_grad():
        num_classes = model.eval()(to_device(train_x[:1], config.device)).shape[1]
    model.train()
    for labels in (train_y, test_y):
        F.check_labels(labels, num_classes)
    start_epoch = 0
    if resume:
        saved = minigrad.load(out / CHECKPOINT)
        _check_resumable(json.loads(saved["config"]), config)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        mrandom.set_state(json.loads(saved["rng"]))
        start_epoch = int(saved["epoch"])
    records = _read_metrics(out / METRICS, start_epoch)
    if any(r.get("stopped_early") for r in records):
        return {}  # the stopping rule ended this run: there is nothing to continue
    (out / METRICS).write_text("".join(json.dumps(r) + "\n" for r in records))
    telemetry_records = _read_metrics(out / TELEMETRY, start_epoch)
    (out / TELEMETRY).write_text("".join(json.dumps(r) + "\n" for r in telemetry_records))
    telemetry = LayerTelemetry(optimizer.param_groups, config.telemetry_every) if config.telemetry_every else None
    plateau = PlateauStop(config.stop_threshold, config.stop_window) if config.stop_threshold is not None else None
    stopped = False

    loader = datasets.DataLoader(
        train_x, train_y, config.batch_size, shuffle=True, seed=config.seed, device=config.device
    )
    steps_per_epoch = len(loader)
    # Reading the loss is a host sync on the GPU: there, do it only every log_every steps.
    sync_every = 1 if config.device == "cpu" else config.log_every
    kill_at = int(os.environ.get("MINIGRAD_DEBUG_KILL_AT_STEP", "0"))  # tests simulate a crash
    last: dict[str, Any] = {}
    for epoch in range(start_epoch + 1, config.epochs + 1):
        loader.set_epoch(epoch - 1)
        model.train()
        tic = time.perf_counter()
        epoch_loss = epoch_correct = 0.0
        seen = 0
        window_loss, window_steps = 0.0, 0
        bar = tqdm(
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{config.epochs}",
            unit="batch",
            disable=not config.progress,
            dynamic_ncols=True,
            leave=True,
        )
        for i, (x, y) in enumerate(loader, start=1):
            step = (epoch - 1) * steps_per_epoch + i
            if kill_at and step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            with telemetry.watch(step) if telemetry else contextlib.nullcontext():
                result = train_step(model, optimizer, cross_entropy_per_sample, (x, y))
            logits_data, loss_data = result.output, result.loss
            if telemetry and telemetry.records and telemetry.records[-1]["step"] == step:
                with open(out / TELEMETRY, "a") as f:
                    f.write(json.dumps({"epoch": epoch, **telemetry.records[-1]}) + "\n")
            window_loss = window_loss + loss_data
            window_steps += 1
            epoch_correct = epoch_correct + (logits_data.argmax(axis=1) == y).sum()
            seen += len(y)
            if i % sync_every == 0 or i == steps_per_epoch:
                value = float(window_loss) / window_steps
                if not math.isfinite(value):
                    bar.close()
                    raise TrainingDiverged(
                        f"training loss became {value} at epoch {epoch}, step {step}; the checkpoint of the last "
                        f"completed epoch ({start_epoch if epoch == start_epoch + 1 else epoch - 1}) in {out} is kept. "
                        "Try a smaller learning rate."
                    )
                epoch_loss += value * window_steps
                stopped = plateau is not None and plateau.add(value, window_steps)
                window_loss, window_steps = 0.0, 0
                if i % config.log_every == 0 or i == steps_per_epoch:
                    records.append({"kind": "step", "epoch": epoch, "step": step, "loss": value})
                    with open(out / METRICS, "a") as f:
                        f.write(json.dumps(records[-1]) + "\n")
                elapsed = time.perf_counter() - tic
                bar.set_postfix(
                    loss=f"{value:.4f}", samples_per_s=f"{i * config.batch_size / elapsed:.0f}", refresh=False
                )
            bar.update(1)
            if stopped:
                break
        bar.close()
        train_time = time.perf_counter() - tic
        steps_done = i
        test = evaluate(model, test_x, test_y, config.eval_batch_size, config.device)
        last = {
            "kind": "epoch",
            "epoch": epoch,
            "step": (epoch - 1) * steps_per_epoch + steps_done,
            "train_loss": epoch_loss / steps_done,
            "train_accuracy": float(epoch_correct) / seen,
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "epoch_time_s": train_time,
            "samples_per_s": seen / train_time,
        }
        if stopped:
            last["stopped_early"] = (
                f"the mean loss fell by less than {config.stop_threshold} over {config.stop_window} steps"
            )
        records.append(last)
        with open(out / METRICS, "a") as f:
            f.write(json.dumps(last) + "\n")
        minigrad.save(_checkpoint_state(model, optimizer, epoch, config), out / CHECKPOINT)
        plot_learning_curve(
            records, out / CURVE, f"{config.model} on {config.dataset}, {config.optimizer} {config.hyperparams}"
        )
        if telemetry:
            plot_layer_telemetry(
                _read_metrics(out / TELEMETRY, epoch), out / TELEMETRY_PLOT, f"{config.model}, {config.optimizer}"
            )
        if config.progress:
            tqdm.write(
                f"epoch {epoch}: train loss {last['train_loss']:.4f}, test loss {test['loss']:.4f}, "
                f"test accuracy {100 * test['accuracy']:.2f}% ({train_time:.1f} s)"
                + (f"; stopped: {last['stopped_early']}" if stopped else "")
            )
        if stopped:
            break
    return last
