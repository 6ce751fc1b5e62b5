"""RMSprop (Tieleman & Hinton 2012) as Mosca & Magoulas (2017) eq. 1 write it, with torch.optim's options."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import boolean, nonnegative, positive, unit_interval


class RMSprop(Optimizer):
    """RMSprop: Mosca & Magoulas (2017) eq. 1 for the divisor, Tieleman & Hinton (2012) lecture 6e.

    With α the decay, g the gradient with weight decay and λ_k = lr·s(k) the (scheduled) rate::

        θ_v ← α·θ_v + (1 − α)·g²                  (eq. 1, α = 0.9)
        θ ← θ − λ_k·g / (√θ_v + ε)                (ε = 1e-8 outside the root)

    The paper and the lecture print no ε; we add torch's, outside the root, and require ε > 0
    (a gradient that is zero so far would give 0/0). Variants:
    ``eps_inside=True`` puts it inside, √(θ_v + ε) (Graves 2013, TensorFlow);
    ``centered=True`` divides by the root of the variance, θ_v − ḡ² with ḡ ← α·ḡ + (1 − α)·g
    (Graves 2013; clipped at 0 against rounding); ``momentum`` μ > 0 is torch's form,
    b ← μ·b + g/den, θ ← θ − λ_k·b. torch.optim.RMSprop's rules are these with α = 0.99 (its
    default, where the paper's is 0.9) and lr 1e-2.
    """

    hyperparameters = {"lr": nonnegative, "alpha": unit_interval, "eps": positive, "eps_inside": boolean,
                       "centered": boolean, "momentum": unit_interval, "weight_decay": nonnegative}

    def __init__(self, params: ParamsLike, lr: float = 0.001, alpha: float = 0.9, eps: float = 1e-8,
                 eps_inside: bool = False, centered: bool = False, momentum: float = 0.0, weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, eps_inside=eps_inside, centered=centered, momentum=momentum,
                        weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """θ_v, the running mean of g²; ḡ when centered; b with momentum. Zeros like the parameter."""
        zeros = p.xp.zeros_like
        state = {"square_avg": zeros(p.data)}
        if group["centered"]:
            state["grad_avg"] = zeros(p.data)
        if group["momentum"]:
            state["momentum_buffer"] = zeros(p.data)
        return state

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """θ_v ← αθ_v + (1−α)g²; θ ← θ − λ·g/(√θ_v + ε), with the variant flags."""
        xp, alpha, eps = p.xp, group["alpha"], group["eps"]
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg *= alpha
            g_avg += (1 - alpha) * g
            v = xp.maximum(v - g_avg * g_avg, 0)
        den = xp.sqrt(v + eps) if group["eps_inside"] else xp.sqrt(v) + eps
        if group["momentum"]:
            b = state["momentum_buffer"]
            b *= group["momentum"]
            b += g / den
            p.data -= self.rate(group) * b
        else:
            p.data -= self.rate(group) * g / den
