"""The closure contract: how an optimizer that needs extra loss or gradient evaluations gets them.

Every optimizer is stepped the same way, ``optimizer.step(closure)``, as torch.optim's LBFGS is:
the closure computes the loss and the gradients, and the optimizer calls it. Rules that need only
the gradient call it once; rules that need more evaluations (Ravaut & Gorti's learned learning
rate, ESGD, the hyperalgorithm's equilibrated curvature source) or the loss itself (LLb-SGD) call
it as often as they need. This module owns that contract, the helper that builds such closures
(:func:`loss_closure`), and :func:`evaluate_at`, the one place where parameters are moved to a
probe point and put back. :mod:`experiments.stepping` is the driver every loop uses.

The contract
------------
A closure has the signature ``closure(need_grad: bool = True) -> float`` and

1. re-evaluates the loss on the **same** minibatch every time it is called, at the parameters'
   *current* ``.data``. It must be deterministic: no dropout masks drawn per call, no data
   augmentation, no new batch. It must read the weights at call time (through the model), never
   cache or cast them: during a probe ``p.data`` may be a float64 array although the model
   trains in float32, and the forward pass must simply compute in that precision.
2. with ``need_grad=True``: first clears every parameter's ``.grad`` (sets it to None), then
   runs the forward pass with a graph and backward of the **mean** loss, so every parameter the
   loss depends on gets a fresh ``.grad`` array (never one mutated in place).
3. with ``need_grad=False``: runs the forward pass under :func:`minigrad.no_grad` and leaves
   ``.grad`` alone. This is the cheap call used by loss probes.
4. returns the mean loss over the minibatch as a float64 scalar left on the device (a
   ``numpy.float64``, i.e. a Python float, on the CPU; ``float(...)`` reads it from the GPU),
   **computed by summing the per-sample losses in float64**. Ravaut & Gorti's second difference
   f(η+2ε) + f(η−2ε) − 2f(η) is about 4ε²·f″ ≈ 1e-10 of the loss at ε = 1e-5: a float32 mean
   (one ulp ≈ 6e-8 of the loss) turns it into rounding noise, often exactly 0
   (docs/optimizers/learned-rate.md). Compute per-sample losses
   (``F.cross_entropy(logits, y, reduction="none")``) and let :func:`loss_closure` sum them in float64.
   The sum alone is not enough: the probe *points* and the forward pass must be float64 too,
   which is why optimizers probe with float64 ``p.data`` (point 1; see
   :class:`optimizers.ravaut.RavautSecondOrder`).

``step(closure)`` calls the closure itself (``closure()``, i.e. with a gradient) at the current
parameters, so the caller does **not** call ``backward`` before it; ``step`` returns that first
loss (the minibatch loss before the update). After ``step`` every ``.grad`` again holds the
gradient the update used, whatever the extra evaluations did in between. Rules that work from
``.grad`` alone also accept the PyTorch idiom ``loss.backward(); optimizer.step()``; an optimizer
that cannot work without a closure sets the class attribute ``needs_closure = True`` and raises a
ValueError when called without one.

Ravaut & Gorti's validation-batch variant (§5.3) needs a second closure over a *validation*
minibatch. It is passed to the same call, ``step(closure, validation_closure=...)``, and follows
the same contract. An optimizer that needs it says so with ``needs_validation_closure``
(True only when built with ``validation=True``) and raises a ValueError when it is missing.

A training loop therefore does, per minibatch ``(x, y)``, whatever the optimizer::

    closure = loss_closure(lambda: F.cross_entropy(model(x), y, reduction="none"), model.parameters())
    loss = optimizer.step(closure)

which is what :func:`experiments.stepping.train_step` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from minigrad import Parameter, Tensor, no_grad
from minigrad.backend import get_array_module

PROBE_DTYPES = ("float64", "param")


class Closure(Protocol):
    """``closure(need_grad=True) -> float``: see the module docstring for the full contract."""

    def __call__(self, need_grad: bool = True) -> float: ...


def loss_closure(forward: Callable[[], Tensor], params: Iterable[Parameter]) -> Closure:
    """Build a closure that follows the contract from ``forward``, a function returning the loss.

    ``forward()`` computes the loss on one fixed minibatch from the parameters' current values and
    returns either per-sample losses (a 1-d Tensor; preferred: their mean is taken in float64) or
    an already reduced scalar Tensor (then the value has only the Tensor's own precision, which is
    not enough for Ravaut & Gorti's second differences in float32). ``params`` are the parameters
    whose ``.grad`` the closure clears and fills.
    """
    params = list(params)

    def closure(need_grad: bool = True) -> float:
        """Evaluate the loss on the fixed minibatch; with ``need_grad`` also fill every ``.grad``."""
        if not need_grad:
            with no_grad():
                return _mean_float64(forward())
        for p in params:
            p.grad = None
        losses = forward()
        (losses.mean() if losses.ndim else losses).backward()
        return _mean_float64(losses)

    return closure


def _mean_float64(losses: Tensor) -> Any:
    """The mean of per-sample losses accumulated in float64, left on the device (a scalar as it is).

    On the CPU this is a ``numpy.float64``, which is a Python float; on the GPU a 0-d CuPy array,
    so that a step that does not need the value on the host does not wait for it.
    """
    data = losses.data
    return data.sum(dtype=losses.xp.float64) / max(data.size, 1) if data.ndim else data


def require_closure(optimizer: Any, closure: Closure | None, name: str = "closure") -> Closure:
    """Return ``closure``, or raise the contract's ValueError saying that ``optimizer`` needs one."""
    if closure is None:
        raise ValueError(
            f"{type(optimizer).__name__}.step() needs a {name} that re-evaluates the loss on a fixed minibatch, "
            "called as step(closure) or step(closure, validation_closure=...) instead of backward() then step(); "
            "build one with optimizers.closure.loss_closure(forward, params) (contract: optimizers/closure.py)"
        )
    if not callable(closure):
        raise ValueError(f"{name} must be callable as {name}(need_grad: bool = True) -> float, got {closure!r}")
    return closure


def check_probe_dtype(value: str) -> str:
    """Raise a ValueError naming ``probe_dtype`` unless ``value`` is ``"float64"`` or ``"param"``."""
    if value not in PROBE_DTYPES:
        raise ValueError(f"probe_dtype must be one of {PROBE_DTYPES}, got {value!r}")
    return value


def probe_base(p: Parameter, probe_dtype: str) -> Any:
    """The array a probe point is built from: ``p.data`` itself, or a float64 copy of it."""
    return p.data if probe_dtype == "param" else p.data.astype(p.xp.float64)


def evaluate_at(
    closure: Closure, params: Sequence[Parameter], values: Sequence[Any], need_grad: bool = False
) -> tuple[float, list[Any]]:
    """Evaluate ``closure`` with each ``params[i].data`` temporarily set to ``values[i]``.

    Returns the loss and, with ``need_grad``, the gradient arrays at that point (zeros for a
    parameter the loss does not reach; an empty list without ``need_grad``). Afterwards every
    parameter holds again the very array object it held before, and its ``.grad`` the same array
    as before. The original arrays are never written to, so "restored" means bit-identical by
    construction, not recomputed: this is what lets probes run in float64 while the model trains
    in float32.
    """
    saved = [(p.data, p.grad) for p in params]
    try:
        for p, v in zip(params, values):
            p.data = v
        loss = float(closure(need_grad=need_grad))
        grads: list[Any] = []
        if need_grad:
            grads = [p.grad if p.grad is not None else p.xp.zeros_like(v) for p, v in zip(params, values)]
            for i, (g, v) in enumerate(zip(grads, values)):
                if tuple(g.shape) != tuple(v.shape):
                    raise ValueError(f"the closure's .grad of parameter {i} has shape {tuple(g.shape)} "
                                     f"but the parameter has shape {tuple(v.shape)}")
    finally:
        for p, (data, grad) in zip(params, saved):
            p.data, p.grad = data, grad
    return loss, grads


def device_dot(a: Sequence[Any], b: Sequence[Any]) -> Any:
    """Σᵢ aᵢ·bᵢ over lists of arrays, accumulated in float64, left on the arrays' device (no sync).

    0.0 (a Python float) for empty lists.
    """
    total: Any = 0.0
    for x, y in zip(a, b):
        total = total + (x * y).sum(dtype=get_array_module(x).float64)
    return total


def dot(a: Sequence[Any], b: Sequence[Any]) -> float:
    """:func:`device_dot` returned as a Python float (one sync)."""
    return float(device_dot(a, b))
