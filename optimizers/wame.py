"""WAME, weight-wise adaptive learning rates (Mosca & Magoulas 2017, Algorithm 1)."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import choice, interval, nonnegative, positive, unit_interval


class WAME(Optimizer):
    """WAME: Mosca & Magoulas (2017), Algorithm 1, with a per-weight acceleration factor ζ.

    With λ = lr·s(k) the (scheduled) rate and g = ∂E(t)/∂w (with weight decay)::

        if g·g_prev > 0:  ζ ← min(ζ·η+, ζmax)          (lines 4–5)
        if g·g_prev < 0:  ζ ← max(ζ·η−, ζmin)          (lines 6–7)
        Z ← α·Z + (1 − α)·ζ                            (line 9)
        θ ← α·θ + (1 − α)·g²                           (line 10)
        Δw = −λ·Z·g / (√θ + ε)                         (line 11, ``denominator="sqrt"``)
        Δw = −λ·Z·g / (θ + ε)                          (line 11 as printed, ``denominator="theta"``)

    ζ(0) = 1, Z(0) = 0, θ(0) = 0 (line 2). The first step has no previous gradient, so ζ stays 1
    and the step is −λ·0.1·g/(√(0.1·g²) + ε) ≈ −λ·√0.1·sign(g). Defaults α = 0.9, η+ = 1.2,
    η− = 0.1, ζmin = 0.01, ζmax = 100 are the paper's (§3); lr = 1e-3 and ε = 1e-11 are the
    authors' code's.

    Line 11 as printed divides by θ, an average of g², which makes the step scale like 1/|g|
    (it grows as gradients shrink); the authors' code divides by √θ, an RMSprop-like
    normalisation, which is the default here. ``"theta"`` is offered to study the printed form:
    its ε guards g = 0 and nothing else, so ε must be > 0. The sign test uses the previous
    *gradient* (the authors' code stores the parameter there by mistake; docs/optimizers/wame.md).
    A gradient component that is exactly 0 now or before leaves its ζ unchanged (line 8's
    implicit else). ζ starts at 1, so the bounds must satisfy ζmin ≤ 1 ≤ ζmax, and
    η− ≤ 1 ≤ η+.
    """

    hyperparameters = {
        "lr": nonnegative, "alpha": unit_interval, "eta_plus": interval(1, None),
        "eta_minus": interval(0, 1, open_low=True), "zeta_min": interval(0, 1, open_low=True),
        "zeta_max": interval(1, None), "eps": positive, "denominator": choice("sqrt", "theta"),
        "weight_decay": nonnegative,
    }

    def __init__(self, params: ParamsLike, lr: float = 1e-3, alpha: float = 0.9, eta_plus: float = 1.2,
                 eta_minus: float = 0.1, zeta_min: float = 0.01, zeta_max: float = 100.0, eps: float = 1e-11,
                 denominator: str = "sqrt", weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, alpha=alpha, eta_plus=eta_plus, eta_minus=eta_minus, zeta_min=zeta_min,
                        zeta_max=zeta_max, eps=eps, denominator=denominator, weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """ζ = 1, Z = 0, θ = 0 (line 2), and the previous gradient (0: no sign at the first step)."""
        xp = p.xp
        return {
            "zeta": xp.ones_like(p.data),
            "Z": xp.zeros_like(p.data),
            "theta": xp.zeros_like(p.data),
            "prev_grad": xp.zeros_like(p.data),
        }

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Algorithm 1, lines 4–12, for one weight array."""
        xp, a = p.xp, group["alpha"]
        zeta, Z, theta = state["zeta"], state["Z"], state["theta"]
        agreement = g * state["prev_grad"]  # lines 4, 6: the sign of ∂E(t)·∂E(t−1)
        scale = xp.where(agreement > 0, group["eta_plus"], xp.where(agreement < 0, group["eta_minus"], 1.0))
        zeta *= scale.astype(zeta.dtype, copy=False)
        xp.clip(zeta, group["zeta_min"], group["zeta_max"], out=zeta)  # lines 5, 7: clipped when stored
        Z *= a
        Z += (1 - a) * zeta  # line 9
        theta *= a
        theta += (1 - a) * g * g  # line 10
        denominator = xp.sqrt(theta) if group["denominator"] == "sqrt" else theta
        p.data -= self.rate(group) * Z * g / (denominator + group["eps"])  # lines 11–12
        state["prev_grad"][...] = g
