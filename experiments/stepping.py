"""One optimizer step, taken the same way for every optimizer: the driver of every loop in minigrad.

Every optimizer is called as ``optimizer.step(closure)`` (the contract of :mod:`optimizers.closure`):
the closure clears the gradients, evaluates the loss on one fixed minibatch and back-propagates
it, and the optimizer calls it as often as its rule needs (once for SGD or Adam, twice for
Ravaut & Gorti's first order, six times for their second order). The training loop, the saddle
lab, the studies, the benchmarks and the tutorials all step through the two functions here, so
no loop asks which kind of optimizer it holds.

>>> import numpy as np, layers, optimizers
>>> import minigrad as mg
>>> mg.seed(0)
>>> model = layers.Linear(3, 2)
>>> opt = optimizers.build_optimizer("sgd", model.layer_groups(), lr=0.1)
>>> x, y = np.ones((4, 3), np.float32), np.array([0, 1, 1, 0])
>>> first = train_step(model, opt, cross_entropy_per_sample, (x, y))
>>> second = train_step(model, opt, cross_entropy_per_sample, (x, y))
>>> first.output.shape, bool(second.loss <= first.loss)
((4, 2), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minigrad import Tensor
from minigrad import functional as F
from optimizers.base import Optimizer
from optimizers.closure import loss_closure

#: ``loss_fn(output, target) -> Tensor``: per-sample losses (N,), or an already reduced scalar.
LossFn = Callable[[Tensor, Any], Tensor]


def cross_entropy_per_sample(logits: Tensor, labels: Any) -> Tensor:
    """The per-sample cross-entropy (N,): the closure averages it in float64 (see :mod:`optimizers.closure`)."""
    return F.cross_entropy(logits, labels, reduction="none")


@dataclass
class StepResult:
    """What one training step gives back, without reading anything from the GPU.

    ``loss`` is the minibatch's mean loss at the weights *before* the update, a float64 scalar on
    the batch's device; ``output`` is the model's output array at those weights (the first
    closure call's), for accuracy without another forward pass.
    """

    loss: Any
    output: Any


def optimizer_step(
    optimizer: Optimizer, forward: Callable[[], Tensor], validation: Callable[[], Tensor] | None = None
) -> Any:
    """Take one step of ``optimizer`` on the loss that ``forward()`` computes; return the loss before it.

    ``forward()`` evaluates the loss on one fixed minibatch from the parameters' current values
    (per-sample losses preferred, see :func:`optimizers.closure.loss_closure`). ``validation``
    is the same on a validation minibatch, for the optimizers that ask for one
    (``needs_validation_closure``, Ravaut & Gorti §5.3); giving it to any other is an error.
    """
    params = [p for group in optimizer.param_groups for p in group["params"]]
    closure = loss_closure(forward, params)
    if getattr(optimizer, "needs_validation_closure", False) or validation is not None:
        if validation is None:
            raise ValueError(f"{type(optimizer).__name__} was built with validation=True: pass a validation forward")
        return optimizer.step(closure, validation_closure=loss_closure(validation, params))
    return optimizer.step(closure)


def train_step(
    model: Callable[[Any], Tensor],
    optimizer: Optimizer,
    loss_fn: LossFn,
    batch: tuple[Any, Any],
    validation_batch: tuple[Any, Any] | None = None,
) -> StepResult:
    """One step of ``optimizer`` on ``loss_fn(model(x), y)`` for ``batch = (x, y)``.

    The model is only called, so any callable from inputs to a Tensor works. Returns the loss
    before the update and the model's output at those weights (see :class:`StepResult`).
    """
    x, y = batch
    first_output: list[Any] = []

    def forward() -> Tensor:
        output = model(x)
        if not first_output:  # by the contract, the first call is at the current weights
            first_output.append(output.data)
        return loss_fn(output, y)

    validation = None
    if validation_batch is not None:
        vx, vy = validation_batch

        def validation() -> Tensor:
            return loss_fn(model(vx), vy)

    loss = optimizer_step(optimizer, forward, validation)
    return StepResult(loss=loss, output=first_output[0])
