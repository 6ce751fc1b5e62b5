"""Adam and Adamax (Kingma & Ba 2015, Alg. 1 and 2), and Nadam (Dozat 2016: Nesterov momentum in Adam)."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import (
    Optimizer,
    ParamsLike,
    ScheduleLike,
    check_bool,
    check_choice,
    check_nonnegative,
    check_unit_interval,
    with_weight_decay,
)


class _Moments(Optimizer):
    """The shared part: β1, β2 in [0, 1), lr, eps and weight decay ≥ 0, and first/second moment state."""

    second_moment = "exp_avg_sq"

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr, eps, weight_decay ≥ 0; beta1, beta2 in [0, 1)."""
        for name in ("lr", "eps", "weight_decay"):
            check_nonnegative(name, group[name])
        check_unit_interval("beta1", group["beta1"])
        check_unit_interval("beta2", group["beta2"])

    def init_state(self, p: Parameter) -> dict[str, Any]:
        """m and the second moment (v, or u for Adamax), zeros like the parameter."""
        return {"exp_avg": p.xp.zeros_like(p.data), self.second_moment: p.xp.zeros_like(p.data)}


class Adam(_Moments):
    """Adam: Kingma & Ba (2015), Algorithm 1. With α_k = lr·s(k) and λ the weight decay::

        g ← ∇L(θ) + λ·θ
        m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1^t);     v̂ = v / (1 − β2^t)
        θ ← θ − α_k·m̂ / (√v̂ + ε)                  (ε = 1e-8 outside the root, after bias correction)

    This is also torch.optim.Adam. ``efficient=True`` is the paper's "more efficient" ordering
    (§2, end): α_t = α_k·√(1 − β2^t)/(1 − β1^t), θ ← θ − α_t·m / (√v + ε̂), which puts ε̂ = eps
    before the bias correction; it equals Algorithm 1 only when ε̂ = ε·√(1 − β2^t). At t = 1
    the step is α·g/(|g| + ε) ≈ α·sign(g); a zero gradient gives a zero step.
    """

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        efficient: bool = False,
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "efficient": efficient,
                    "weight_decay": weight_decay}
        super().__init__(params, defaults, schedule)

    def validate_group(self, group: dict[str, Any]) -> None:
        """As every moment method, and ``efficient`` a bool."""
        super().validate_group(group)
        check_bool("efficient", group["efficient"])

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; θ ← θ − α·m̂/(√v̂ + ε)."""
        g = with_weight_decay(p, g, group["weight_decay"])
        t, b1, b2, eps, sqrt = state["step"], group["beta1"], group["beta2"], group["eps"], p.xp.sqrt
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        if group["efficient"]:
            alpha_t = self.rate(group) * (1 - b2**t) ** 0.5 / (1 - b1**t)
            p.data -= alpha_t * m / (sqrt(v) + eps)
        else:
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            p.data -= self.rate(group) * m_hat / (sqrt(v_hat) + eps)


class Adamax(_Moments):
    """Adamax: Kingma & Ba (2015), Algorithm 2, Adam with the infinity norm. With α_k = lr·s(k)::

        g ← ∇L(θ) + λ·θ
        m ← β1·m + (1 − β1)·g
        u ← max(β2·u, |g| + ε)                    (ε = 0: Algorithm 2 has none)
        θ ← θ − (α_k / (1 − β1^t))·m / u

    ``eps`` > 0 is torch.optim.Adamax's variant, ε inside the max (torch: 1e-8). With ε = 0 and
    only zero gradients so far, u = 0 and m = 0: the step's limit is 0, and u is floored at the
    dtype's smallest normal number so that 0/0 does not give NaN (a no-op whenever u is normal).
    """

    second_moment = "exp_inf"

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 0.0,
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults, schedule)

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← β1m + (1−β1)g; u ← max(β2u, |g| + ε); θ ← θ − α/(1−β1^t)·m/u."""
        g = with_weight_decay(p, g, group["weight_decay"])
        xp, t, b1 = p.xp, state["step"], group["beta1"]
        m, u = state["exp_avg"], state["exp_inf"]
        m *= b1
        m += (1 - b1) * g
        u[...] = xp.maximum(group["beta2"] * u, xp.abs(g) + group["eps"])
        tiny = float(xp.finfo(u.dtype).tiny)
        p.data -= self.rate(group) / (1 - b1**t) * m / xp.maximum(u, tiny)


FORMS = ("dozat", "torch")


def warming(beta1: float, psi: float, t: int) -> float:
    """Dozat's momentum schedule μ_t = β1·(1 − ½·0.96^(t·ψ)), ψ = 1/250 in the paper (0.004)."""
    return beta1 * (1 - 0.5 * 0.96 ** (t * psi))


class Nadam(_Moments):
    """Nadam: Dozat (2016), "Incorporating Nesterov momentum into Adam", Algorithm 2.

    With μ_t = β1·(1 − ½·0.96^(t·ψ)) (:func:`warming`), P_t = μ_1·…·μ_t and α_k = lr·s(k)::

        g ← ∇L(θ) + λ·θ
        m ← μ_t·m + (1 − μ_t)·g                  (form "torch": β1·m + (1 − β1)·g)
        v ← β2·v + (1 − β2)·g²
        m̄ = μ_{t+1}·m / (1 − P_{t+1}) + (1 − μ_t)·g / (1 − P_t)
        θ ← θ − α_k·m̄ / (√(v / (1 − β2^t)) + ε)   (ε = 1e-8 outside the root)

    The default keeps μ_t inside the moving average, as Dozat's paper and his own code do; then
    1 − P_t is exactly the sum of m's weights, so m / (1 − P_t) is unbiased. ``form="torch"``
    keeps a constant β1 there, as Keras and torch.optim.NAdam do. ψ is torch's
    ``momentum_decay``. ε sits outside the root as in torch (Dozat's code puts it inside).
    """

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        momentum_decay: float = 0.004,
        form: str = "dozat",
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "momentum_decay": momentum_decay,
                    "form": form, "weight_decay": weight_decay}
        super().__init__(params, defaults, schedule)

    def validate_group(self, group: dict[str, Any]) -> None:
        """As every moment method; momentum_decay ≥ 0; form "dozat" or "torch"."""
        super().validate_group(group)
        check_nonnegative("momentum_decay", group["momentum_decay"])
        check_choice("form", group["form"], FORMS)

    def init_state(self, p: Parameter) -> dict[str, Any]:
        """m, v and the running product P of the μ_t (a Python float, 1 before the first step)."""
        return {**super().init_state(p), "mu_product": 1.0}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← μ_t·m + (1−μ_t)g; v ← β2v + (1−β2)g²; θ ← θ − α·m̄/(√v̂ + ε)."""
        g = with_weight_decay(p, g, group["weight_decay"])
        t, b2 = state["step"], group["beta2"]
        mu_t, mu_next = (warming(group["beta1"], group["momentum_decay"], s) for s in (t, t + 1))
        P = state["mu_product"] = state["mu_product"] * mu_t
        mu_ema = mu_t if group["form"] == "dozat" else group["beta1"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= mu_ema
        m += (1 - mu_ema) * g
        v *= b2
        v += (1 - b2) * g * g
        m_bar = mu_next * m / (1 - P * mu_next) + (1 - mu_t) * g / (1 - P)
        p.data -= self.rate(group) * m_bar / (p.xp.sqrt(v / (1 - b2**t)) + group["eps"])
