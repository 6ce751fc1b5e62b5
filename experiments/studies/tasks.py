"""What a cell optimizes and measures: the loss, the training target and the evaluation metrics of a task.

A study's ``task`` names one of :data:`TASKS`. Each task gives the per-sample training loss, the
target a batch trains towards, and an evaluation over a split that returns its loss and metrics
(:data:`experiments.studies.spec.TASK_METRICS`), so the cell, the store and the report never ask
which task they hold:

- ``classification``: cross-entropy against the labels; metrics ``loss``, ``error``, ``accuracy``;
- ``reconstruction``: the mean squared error between the output and the input itself (an
  autoencoder, Dozat 2016 §4.2); metric ``loss`` (the MSE). The output may have any shape with
  as many elements per sample as the input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import datasets
import minigrad
from experiments.stepping import cross_entropy_per_sample
from experiments.training import evaluate as evaluate_classifier
from minigrad import Tensor


def mse_per_sample(output: Tensor, target: Any) -> Tensor:
    """Mean squared error of each sample (N,), the target reshaped to the output's shape."""
    n = output.shape[0]
    if target.size != output.size:
        raise ValueError(
            f"reconstruction: the output {output.shape} and the input {tuple(target.shape)} have different sizes"
        )
    diff = output - target.reshape(output.shape)
    return (diff * diff).reshape(n, -1).mean(axis=1)


def _evaluate_reconstruction(
    model: Any, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str
) -> dict[str, float]:
    model.eval()
    total = 0.0
    with minigrad.no_grad():
        for x, _ in datasets.DataLoader(images, labels, batch_size=batch_size, device=device):
            total = total + mse_per_sample(model(x), x).data.astype(np.float64).sum()
    model.train()
    return {"loss": float(total) / len(labels)}


def _evaluate_classification(
    model: Any, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str
) -> dict[str, float]:
    result = evaluate_classifier(model, images, labels, batch_size, device)
    return {"loss": result["loss"], "accuracy": result["accuracy"], "error": 1.0 - result["accuracy"]}


@dataclass(frozen=True)
class Task:
    """A task: ``loss(output, target)`` per sample, ``target(x, y)``, ``evaluate(...)`` → metrics by name."""

    name: str
    loss: Callable[[Tensor, Any], Tensor]
    target: Callable[[Any, Any], Any]
    evaluate: Callable[[Any, np.ndarray, np.ndarray, int, str], dict[str, float]]


TASKS: dict[str, Task] = {
    "classification": Task("classification", cross_entropy_per_sample, lambda x, y: y, _evaluate_classification),
    "reconstruction": Task("reconstruction", mse_per_sample, lambda x, y: x, _evaluate_reconstruction),
}
