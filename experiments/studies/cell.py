"""One cell of a study: train one method from one seed, evaluate at the spec's iterations, return the numbers.

:func:`run_cell` is a pure function of its :class:`~experiments.studies.spec.Cell`: the same cell
gives bit-identical numbers in the driver's process, in a process pool or on a Dask worker,
because everything random comes from the seed and BLAS is pinned to one thread inside every cell
(so the reduction order cannot depend on how many cores the worker has):

- the weights: ``minigrad.seed(seed)`` right before the model is built (then the spec's init
  scheme, drawn from the same generator), so within a seed every method starts from the same
  weights;
- the batches: ``DataLoader(shuffle=True, seed=seed)`` (epoch e visits a permutation that depends
  on (seed, e) alone) or the files' order, so within a seed every method sees the same batches;
- anything else random (dropout) from the same seeded minigrad generator.

Two fingerprints let anyone check the paired design afterwards: ``init_hash`` (SHA-256 of the
initial weights) and ``data_hash`` (SHA-256 of the sample indices of every batch, in order).

A cell never raises: a diverging loss or an exception becomes a ``failed`` result with its
message and whatever it measured before. It only returns plain data (no arrays), so results
travel cheaply from any worker to the driver, which alone writes the store.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import datasets
import layers
import minigrad
import optimizers
from experiments.stepping import train_step
from experiments.studies.spec import Cell, DataSpec, ModelSpec
from experiments.studies.tasks import TASKS

#: Test hook: the key of a cell whose worker process dies (``os._exit``) on its first attempt,
#: or on every attempt with a trailing ``*``. Ignored in the driver's own process.
CRASH_ENV = "MINIGRAD_DEBUG_CRASH_CELL"


class CellDiverged(RuntimeError):
    """The training loss (or the evaluation loss) became NaN or infinite."""


@dataclass
class CellResult:
    """What a cell sends back to the driver: plain numbers and strings only.

    ``measurements`` holds one dict per evaluation iteration and evaluated split: ``iteration``,
    ``split``, ``train_loss`` (the mean minibatch loss over the steps since the previous
    evaluation; None at iteration 0), ``eval_loss`` and the task's other metrics as
    ``eval_<name>``. ``curve`` is the training loss as ``(iteration, mean minibatch loss of the
    curve_stride steps up to it)``. ``wall_time`` is the
    whole cell (data included), ``train_time`` the optimizer steps alone.
    """

    key: str
    status: str  # "done" or "failed"
    error: str | None = None
    attempt: int = 1
    wall_time: float = 0.0
    train_time: float = 0.0
    host: str = ""
    device: str = "cpu"
    init_hash: str | None = None
    data_hash: str | None = None
    measurements: list[dict[str, Any]] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)

    def numbers(self) -> dict[str, Any]:
        """Everything the cell computed, without timings and host: equal for equal cells."""
        return {
            "key": self.key,
            "status": self.status,
            "error": self.error,
            "init_hash": self.init_hash,
            "data_hash": self.data_hash,
            "measurements": self.measurements,
            "curve": self.curve,
        }


# ----- building what a cell trains -----------------------------------------------------------------
def build_model(spec: ModelSpec, seed: int) -> layers.Module:
    """The model of ``spec`` with its initial weights for ``seed``, on the host."""
    minigrad.seed(seed)
    kwargs = dict(spec.kwargs)
    if spec.activation is not None:
        kwargs["activation_name"] = spec.activation
    model = layers.MODELS[spec.name](**kwargs)
    if spec.init is not None:
        try:
            from layers import init as layer_init
        except ImportError:
            raise ValueError(
                "model.init needs layers.init (weight-init schemes), which this version of minigrad does not have"
            ) from None
        layer_init.initialize(model, **spec.init)
    return model


def param_groups(cell: Cell, model: layers.Module) -> list[dict[str, Any]]:
    """One group per layer (``Module.layer_groups()``), with the cell's group and parameter overrides.

    A ``[[methods.groups]]`` table sets hyperparameters of the groups whose name matches; a
    ``[[methods.params]]`` table sets ``lr_mult`` of the parameters whose dotted name matches,
    as the group's ``lr_mults`` list (one factor per parameter of the group). Later tables win.
    """
    names = {id(p): name for name, p in model.named_parameters()}
    groups = model.layer_groups()
    for group in groups:
        for override in cell.groups:
            if fnmatchcase(group["name"], override.match):
                group.update(override.settings)
        mults = [1.0] * len(group["params"])
        for override in cell.params:
            for i, p in enumerate(group["params"]):
                if fnmatchcase(names[id(p)], override.match):
                    mults[i] = float(override.settings.get("lr_mult", mults[i]))
        if any(m != 1.0 for m in mults):
            group["lr_mults"] = mults
    return groups


def build_optimizer(cell: Cell, model: layers.Module, steps_per_epoch: int) -> optimizers.Optimizer:
    """The cell's optimizer over ``model``'s groups.

    A schedule that needs the run's length gets the cell's: ``cosine`` anneals over its
    ``iterations``, ``epoch`` counts epochs of ``steps_per_epoch`` batches (unless the spec gives
    ``schedule_total_steps`` or ``schedule_steps_per_epoch`` itself).
    """
    return optimizers.build_optimizer(
        cell.optimizer,
        param_groups(cell, model),
        total_steps=cell.iterations,
        steps_per_epoch=steps_per_epoch,
        **cell.hyper,
    )


# ----- data ---------------------------------------------------------------------------------------
#: The datasets a study may name (:data:`datasets.LOADERS`).
DATASETS = datasets.LOADERS
Arrays = tuple[np.ndarray, np.ndarray]
_DATA_CACHE: dict[DataSpec, tuple[Arrays, dict[str, Arrays]]] = {}
_DATA_CACHE_MAX = 4


def prepare_data(spec: DataSpec) -> tuple[Arrays, dict[str, Arrays]]:
    """``((train_x, train_y), {split: (x, y)})`` as the spec says: split, preprocessed, limited.

    Cached per process (the arrays are read-only, shared by every cell of the process).
    The preprocessing statistics come from the whole training part (after any validation
    hold-out, before ``train_limit``), so a smoke run sees the same pixel values as the full study.
    """
    if spec in _DATA_CACHE:
        return _DATA_CACHE[spec]
    load = DATASETS[spec.dataset]
    kwargs = {"root": spec.data_root} if spec.data_root else {}
    train_x, train_y = load("train", **kwargs)
    evals: dict[str, Arrays] = {}
    if "validation" in spec.eval_split:
        n = spec.validation_size
        if n >= len(train_y):
            raise ValueError(f"validation_size {n} leaves no training images out of {len(train_y)}")
        evals["validation"] = train_x[-n:], train_y[-n:]
        train_x, train_y = train_x[:-n], train_y[:-n]
    if "test" in spec.eval_split:
        evals["test"] = load("test", **kwargs)
    mean = std = None
    if spec.preprocess == "standardize":
        mean, std = float(train_x.mean(dtype=np.float64)), float(train_x.std(dtype=np.float64))
    elif spec.preprocess == "standardize_channels":
        mean, std = datasets.channel_mean_std(train_x)
    if spec.train_limit is not None:
        train_x, train_y = datasets.take(train_x, train_y, min(spec.train_limit, len(train_y)))
    if spec.eval_limit is not None:
        evals = {k: datasets.take(x, y, min(spec.eval_limit, len(y))) for k, (x, y) in evals.items()}
    if spec.batch_size > len(train_y):
        raise ValueError(f"batch_size {spec.batch_size} is larger than the {len(train_y)} training images")

    def transform(x: np.ndarray) -> np.ndarray:
        if spec.preprocess == "scale":
            # The datasets give k/255 in float32; k is recovered exactly, then scaled in float64.
            raw = np.rint(x.astype(np.float64) * 255.0)
            out = (raw * spec.scale).astype(np.float32)
        elif spec.preprocess == "standardize":
            out = ((x - mean) / std).astype(np.float32)
        elif spec.preprocess == "standardize_channels":
            out = datasets.standardize_channels(x, mean, std)
        else:
            out = np.array(x, dtype=np.float32)
        out.flags.writeable = False  # shared by every cell of this process
        return out

    prepared = (transform(train_x), train_y), {k: (transform(x), y) for k, (x, y) in evals.items()}
    if len(_DATA_CACHE) >= _DATA_CACHE_MAX:
        del _DATA_CACHE[next(iter(_DATA_CACHE))]
    _DATA_CACHE[spec] = prepared
    return prepared


def weights_hash(model: layers.Module) -> str:
    """SHA-256 over the parameters' names, shapes and bytes, in definition order."""
    digest = hashlib.sha256()
    for name, p in model.named_parameters():
        array = np.ascontiguousarray(minigrad.to_numpy(p.data))
        digest.update(f"{name}{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# ----- running a cell -----------------------------------------------------------------------------
def _maybe_crash(cell: Cell, attempt: int) -> None:
    target = os.environ.get(CRASH_ENV, "")
    if not target or multiprocessing.parent_process() is None:
        return  # never kill the driver's own process
    always = target.endswith("*")
    if target.rstrip("*") == cell.key and (always or attempt == 1):
        os._exit(70)


def run_cell(cell: Cell, attempt: int = 1) -> CellResult:
    """Train and evaluate one cell; never raises (a failure is a ``failed`` result with its message).

    ``attempt`` counts the driver's tries of this cell (2 after a worker died); it changes nothing
    in the numbers.
    """
    tic = time.perf_counter()
    result = CellResult(key=cell.key, status="done", attempt=attempt, host=socket.gethostname(), device=cell.device)
    _maybe_crash(cell, attempt)
    with threadpool_limits(limits=1):
        try:
            _train(cell, result)
        except Exception as err:  # the cell failed; the study goes on
            result.status = "failed"
            result.error = f"{type(err).__name__}: {err}" if not isinstance(err, CellDiverged) else str(err)
    result.wall_time = time.perf_counter() - tic
    return result


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise CellDiverged(f"diverged: {what} became {value}")
    return value


def _train(cell: Cell, result: CellResult) -> None:
    task = TASKS[cell.task]
    (train_x, train_y), evals = prepare_data(cell.data)
    model = build_model(cell.model, cell.seed)
    result.init_hash = weights_hash(model)
    model.to(cell.device)
    loader = datasets.DataLoader(
        train_x, train_y, cell.data.batch_size, shuffle=cell.data.order == "shuffle", seed=cell.seed, device=cell.device
    )
    optimizer = build_optimizer(cell, model, steps_per_epoch=len(loader))
    eval_points = set(cell.eval_at)
    data_digest = hashlib.sha256()

    def measure(iteration: int, train_loss: float | None) -> None:
        for split in cell.data.eval_split:
            metrics = task.evaluate(model, *evals[split], cell.data.eval_batch_size, cell.device)
            _finite(metrics["loss"], f"the {split} loss at iteration {iteration}")
            result.measurements.append(
                {
                    "iteration": iteration,
                    "split": split,
                    "train_loss": train_loss,
                    **{f"eval_{k}": v for k, v in metrics.items()},
                }
            )

    if 0 in eval_points:
        measure(0, None)
    step = epoch = 0
    window_sum: Any = 0.0  # on the device: read back only every curve_stride steps
    eval_sum: Any = 0.0
    window_start = eval_start = 0
    train_time = 0.0
    while step < cell.iterations:
        loader.set_epoch(epoch)
        batches = min(len(loader), cell.iterations - step)
        data_digest.update(loader.order(epoch)[: batches * loader.batch_size].astype(np.int64).tobytes())
        for x, y in loader:
            tic = time.perf_counter()
            out = train_step(model, optimizer, task.loss, (x, task.target(x, y)))
            train_time += time.perf_counter() - tic
            step += 1
            window_sum = window_sum + out.loss
            eval_sum = eval_sum + out.loss
            if step % cell.curve_stride == 0 or step == cell.iterations:
                mean = _finite(
                    float(window_sum) / (step - window_start),
                    f"the training loss at iterations {window_start + 1}-{step}",
                )
                result.curve.append((step, mean))
                window_sum, window_start = 0.0, step
            if step in eval_points:
                mean = _finite(float(eval_sum) / (step - eval_start), f"the training loss before iteration {step}")
                measure(step, mean)
                eval_sum, eval_start = 0.0, step
            if step == cell.iterations:
                break
        epoch += 1
    result.train_time = train_time
    result.data_hash = data_digest.hexdigest()
