"""Rprop (Riedmiller & Braun 1993) with weight-backtracking, and iRprop− (Igel & Hüsken 2000, torch.optim)."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import choice, interval, nonnegative, positive


class Rprop(Optimizer):
    """Resilient backpropagation: Riedmiller & Braun (1993), the original rule with weight-backtracking.

    Per weight, with c = sign(g_t·g_{t−1}) (g_0 = 0) and Δ the weight's own step size::

        c > 0:  Δ ← min(η⁺·Δ, Δmax);  Δθ ← −sign(g_t)·Δ
        c < 0:  Δ ← max(η⁻·Δ, Δmin);  Δθ ← −Δθ_{t−1}  (undo the last step);  g_t ← 0
        c = 0:                         Δθ ← −sign(g_t)·Δ
        θ ← θ + Δθ

    Setting g_t ← 0 after a sign flip makes the next step a c = 0 step, so Δ is not cut twice.
    ``form="irprop-"`` is iRprop− (torch.optim.Rprop): no backtracking, and after a flip no
    move at all (sign(0) = 0). Defaults are the paper's: Δ_0 = ``lr`` = 0.1 (torch.optim.Rprop:
    0.01), η⁻ = 0.5, η⁺ = 1.2, Δmin = 1e-6, Δmax = 50. Only signs matter, so there is no ε.
    Rprop has no global rate; a schedule s(k) scales each step taken, s(k)·Δ, and leaves Δ's
    own adaptation alone (a group's ``lr_mults`` are refused). g includes weight decay.
    """

    hyperparameters = {"lr": positive, "eta_minus": interval(0, 1, open_low=True, open_high=True),
                       "eta_plus": interval(1, None, open_low=True), "step_min": positive, "step_max": positive,
                       "form": choice("backtracking", "irprop-"), "weight_decay": nonnegative}
    takes_lr_mults = False

    def __init__(self, params: ParamsLike, lr: float = 0.1, eta_minus: float = 0.5, eta_plus: float = 1.2,
                 step_min: float = 1e-6, step_max: float = 50.0, form: str = "backtracking", weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, eta_minus=eta_minus, eta_plus=eta_plus, step_min=step_min, step_max=step_max,
                        form=form, weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def validate_group(self, group: dict[str, Any]) -> None:
        """step_min ≤ lr ≤ step_max: the initial step Δ_0 lies within the clipping bounds."""
        if not group["step_min"] <= group["lr"] <= group["step_max"]:
            raise ValueError(f"lr must lie in [step_min, step_max] (it is the initial step Δ_0), got {group['lr']}")

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The previous gradient and the last step (zeros), and the step sizes Δ = Δ_0 = ``lr``."""
        xp = p.xp
        return {"prev": xp.zeros_like(p.data), "last_step": xp.zeros_like(p.data),
                "step_size": xp.full_like(p.data, group["lr"])}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Adapt Δ from the sign of g_t·g_{t−1}, then step against sign(g), or backtrack after a flip."""
        xp, delta = p.xp, state["step_size"]
        c = xp.sign(g * state["prev"])  # the sign of g_t·g_{t−1}, as torch computes it
        grew, flipped = c > 0, c < 0
        # Δ ← η⁺Δ where c > 0, η⁻Δ where c < 0, then clipped. Masks times scalars of Δ's dtype rather
        # than xp.where, whose branches on random signs make it several times slower on the CPU.
        dtype = delta.dtype.type
        delta *= 1 + dtype(group["eta_plus"] - 1) * grew + dtype(group["eta_minus"] - 1) * flipped
        xp.clip(delta, group["step_min"], group["step_max"], out=delta)
        g = g * ~flipped  # g_t ← 0 after a flip
        step = -self.lr_factor * xp.sign(g) * delta  # 0 where the sign flipped: sign(0) = 0
        if group["form"] == "backtracking":
            step -= flipped * state["last_step"]  # there: Δθ = −Δθ_{t−1}, undo the last step
        p.data += step
        state["prev"], state["last_step"] = g, step
