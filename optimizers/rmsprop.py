"""RMSprop (Tieleman & Hinton 2012) as Mosca & Magoulas (2017) eq. 1 write it, with torch.optim's options."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import (
    Optimizer,
    ParamsLike,
    ScheduleLike,
    check_bool,
    check_nonnegative,
    check_unit_interval,
    lazy_zeros,
    with_weight_decay,
)


class RMSprop(Optimizer):
    """RMSprop: Mosca & Magoulas (2017) eq. 1 for the divisor, Tieleman & Hinton (2012) lecture 6e.

    With α the decay, λ the weight decay and λ_k = lr·s(k) the (scheduled) rate::

        g ← ∇L(θ) + λ·θ
        θ_v ← α·θ_v + (1 − α)·g²                  (eq. 1, α = 0.9)
        θ ← θ − λ_k·g / (√θ_v + ε)                (ε = 1e-8 outside the root)

    The paper and the lecture print no ε; we add torch's, outside the root. Variants:
    ``eps_inside=True`` puts it inside, √(θ_v + ε) (Graves 2013, TensorFlow);
    ``centered=True`` divides by the root of the variance, θ_v − ḡ² with ḡ ← α·ḡ + (1 − α)·g
    (Graves 2013; clipped at 0 against rounding); ``momentum`` μ > 0 is torch's form,
    b ← μ·b + g/den, θ ← θ − λ_k·b. With α = 0.99 these are torch.optim.RMSprop's rules.
    """

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.001,
        alpha: float = 0.9,
        eps: float = 1e-8,
        eps_inside: bool = False,
        centered: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "eps_inside": eps_inside, "centered": centered,
                    "momentum": momentum, "weight_decay": weight_decay}
        super().__init__(params, defaults, schedule)

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr, eps, weight_decay ≥ 0; alpha and momentum in [0, 1); eps_inside and centered bools."""
        for name in ("lr", "eps", "weight_decay"):
            check_nonnegative(name, group[name])
        check_unit_interval("alpha", group["alpha"])
        check_unit_interval("momentum", group["momentum"])
        check_bool("eps_inside", group["eps_inside"])
        check_bool("centered", group["centered"])

    def init_state(self, p: Parameter) -> dict[str, Any]:
        """θ_v, the running mean of g², zeros like the parameter (ḡ and b are made when a flag needs them)."""
        return {"square_avg": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """θ_v ← αθ_v + (1−α)g²; θ ← θ − λ·g/(√θ_v + ε), with the variant flags."""
        g = with_weight_decay(p, g, group["weight_decay"])
        xp, alpha, eps = p.xp, group["alpha"], group["eps"]
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            g_avg = lazy_zeros(state, "grad_avg", p.data)
            g_avg *= alpha
            g_avg += (1 - alpha) * g
            v = xp.maximum(v - g_avg * g_avg, 0)
        den = xp.sqrt(v + eps) if group["eps_inside"] else xp.sqrt(v) + eps
        if group["momentum"]:
            b = lazy_zeros(state, "momentum_buffer", p.data)
            b *= group["momentum"]
            b += g / den
            p.data -= self.rate(group) * b
        else:
            p.data -= self.rate(group) * g / den
