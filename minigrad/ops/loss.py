"""Loss ops other than cross-entropy: binary cross-entropy on logits."""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module
from minigrad.ops.arithmetic import stable_sigmoid


class BinaryCrossEntropyWithLogits(Function):
    """Element-wise −[t·log σ(x) + (1 − t)·log(1 − σ(x))] of logits x and targets t, fused for stability.

    Computed as max(x, 0) − x·t + log1p(e^−|x|), which never takes the log of a sigmoid that
    rounded to 0 or 1, so it stays finite for any |x|. Gradients: σ(x) − t for x, −x for t.
    The caller reduces (mean or sum) with the ordinary ops.
    """

    def forward(self, x: Any, t: Any) -> Any:
        xp = get_array_module(x)
        self.x, self.t = x, t
        return xp.maximum(x, 0) - x * t + xp.log1p(xp.exp(-abs(x)))

    def backward(self, g: Any) -> tuple[Any, Any]:
        gx = g * (stable_sigmoid(self.x) - self.t) if self.needs_input_grad[0] else None
        gt = -g * self.x if self.needs_input_grad[1] else None
        return gx, gt
