"""AdaDelta (Zeiler 2012, Algorithm 1): a per-weight rate from the ratio of two running RMS values."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import nonnegative, positive, unit_interval


class AdaDelta(Optimizer):
    """AdaDelta: Zeiler (2012), Algorithm 1 (lines 4–7), with torch.optim.Adadelta's optional rate.

    With ρ the decay, g the gradient with weight decay and t_k = lr·s(k)::

        E[g²] ← ρ·E[g²] + (1 − ρ)·g²
        Δx ← −(√(E[Δx²] + ε) / √(E[g²] + ε))·g      (E[Δx²] of the previous step)
        E[Δx²] ← ρ·E[Δx²] + (1 − ρ)·Δx²
        θ ← θ + t_k·Δx

    ε sits inside both square roots, as in the paper. The paper has no rate: lr = 1 (the
    default) is Algorithm 1 exactly; another lr is torch's variant, which scales the step but
    still accumulates the unscaled Δx. Defaults ρ = 0.95, ε = 1e-6 are the paper's experiments
    (torch.optim.Adadelta: ρ = 0.9). ε > 0 is required: with ε = 0 the first Δx is 0 and never grows.
    """

    hyperparameters = {"lr": nonnegative, "rho": unit_interval, "eps": positive, "weight_decay": nonnegative}

    def __init__(self, params: ParamsLike, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6,
                 weight_decay: float = 0.0, schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay), schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """E[g²] and E[Δx²], zeros like the parameter."""
        return {"square_avg": p.xp.zeros_like(p.data), "acc_delta": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """E[g²] ← ρE[g²] + (1−ρ)g²; Δx ← −RMS[Δx]/RMS[g]·g; E[Δx²] ← ρE[Δx²] + (1−ρ)Δx²; θ ← θ + t·Δx."""
        rho, eps, sqrt = group["rho"], group["eps"], p.xp.sqrt
        Eg2, Edx2 = state["square_avg"], state["acc_delta"]
        Eg2 *= rho
        Eg2 += (1 - rho) * g * g
        dx = -sqrt(Edx2 + eps) / sqrt(Eg2 + eps) * g
        Edx2 *= rho
        Edx2 += (1 - rho) * dx * dx
        p.data += self.rate(group) * dx
