"""Adam and Adamax (Kingma & Ba 2015, Alg. 1 and 2), and Nadam (Dozat 2016: Nesterov momentum in Adam)."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import boolean, choice, nonnegative, positive, unit_interval

#: The checks every moment method shares (ε > 0: a gradient that is zero so far would give 0/0).
MOMENTS = {"lr": nonnegative, "beta1": unit_interval, "beta2": unit_interval, "eps": positive,
           "weight_decay": nonnegative}


class _Moments(Optimizer):
    """The shared part: first and second moment state."""

    second_moment = "exp_avg_sq"

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """m and the second moment (v, or u for Adamax), zeros like the parameter."""
        return {"exp_avg": p.xp.zeros_like(p.data), self.second_moment: p.xp.zeros_like(p.data)}


class Adam(_Moments):
    """Adam: Kingma & Ba (2015), Algorithm 1. With α_k = lr·s(k) and g the gradient with weight decay::

        m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
        m̂ = m / (1 − β1^t);     v̂ = v / (1 − β2^t)
        θ ← θ − α_k·m̂ / (√v̂ + ε)                  (ε = 1e-8 outside the root, after bias correction)

    This is also torch.optim.Adam. ``efficient=True`` is the paper's "more efficient" ordering
    (§2, end): α_t = α_k·√(1 − β2^t)/(1 − β1^t), θ ← θ − α_t·m / (√v + ε̂), which puts ε̂ = eps
    before the bias correction; it equals Algorithm 1 only when ε̂ = ε·√(1 − β2^t). At t = 1
    the step is α·g/(|g| + ε) ≈ α·sign(g); a zero gradient gives a zero step. torch.optim.Adam
    has the same defaults.
    """

    hyperparameters = {**MOMENTS, "efficient": boolean}

    def __init__(self, params: ParamsLike, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, efficient: bool = False, weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, efficient=efficient, weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← β1m + (1−β1)g; v ← β2v + (1−β2)g²; θ ← θ − α·m̂/(√v̂ + ε)."""
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

        m ← β1·m + (1 − β1)·g                     (g with weight decay)
        u ← max(β2·u, |g| + ε)                    (ε = 0: Algorithm 2 has none)
        θ ← θ − (α_k / (1 − β1^t))·m / u

    ``eps`` > 0 is torch.optim.Adamax's variant, ε inside the max (torch's default is 1e-8; the
    default here is the paper's 0). ε = 0 is kept as the default and the rule made safe where
    u = 0 instead: there the weight does not move (u = 0 means a zero gradient now and, with
    β2 > 0, a zero u before: m/u is 0/0, whose limit along only zero gradients is 0), and u is
    floored at the dtype's smallest normal number elsewhere (a no-op whenever u is normal).
    """

    second_moment = "exp_inf"
    hyperparameters = {**MOMENTS, "eps": nonnegative}

    def __init__(self, params: ParamsLike, lr: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 0.0, weight_decay: float = 0.0, schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay), schedule)

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← β1m + (1−β1)g; u ← max(β2u, |g| + ε); θ ← θ − α/(1−β1^t)·m/u (no move where u = 0)."""
        xp, t, b1 = p.xp, state["step"], group["beta1"]
        m, u = state["exp_avg"], state["exp_inf"]
        m *= b1
        m += (1 - b1) * g
        u[...] = xp.maximum(group["beta2"] * u, xp.abs(g) + group["eps"])
        tiny = float(xp.finfo(u.dtype).tiny)
        # Where u = 0 (only with ε = 0) m may still be nonzero (β2 = 0, or u underflowed): no step there.
        m = xp.where(u > 0, m, 0) if not group["eps"] else m
        p.data -= self.rate(group) / (1 - b1**t) * m / xp.maximum(u, tiny)


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
    keeps a constant β1 there, as torch.optim.NAdam does (with the same defaults).
    ``form="constant"`` drops the warming altogether, μ_t = β1 at every t (so P_t = β1^t)::

        m ← β1·m + (1 − β1)·g;   m̄ = β1·m / (1 − β1^(t+1)) + (1 − β1)·g / (1 − β1^t)

    the NAdam of optax (``optax.nadam``), which ``form="torch"`` reaches only in the limit of a
    huge ``momentum_decay``. ψ is torch's ``momentum_decay`` (unused by the constant form). ε sits
    outside the root as in torch (Dozat's code puts it inside).
    """

    hyperparameters = {**MOMENTS, "momentum_decay": nonnegative, "form": choice("dozat", "torch", "constant")}

    def __init__(self, params: ParamsLike, lr: float = 0.002, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, momentum_decay: float = 0.004, form: str = "dozat", weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, momentum_decay=momentum_decay, form=form,
                        weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """m, v and the running product P of the μ_t (a Python float, 1 before the first step)."""
        return {**super().init_state(p, group), "mu_product": 1.0}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """m ← μ_t·m + (1−μ_t)g; v ← β2v + (1−β2)g²; θ ← θ − α·m̄/(√v̂ + ε)."""
        t, b1, b2 = state["step"], group["beta1"], group["beta2"]
        if group["form"] == "constant":
            mu_t = mu_next = b1
        else:
            mu_t, mu_next = (warming(b1, group["momentum_decay"], s) for s in (t, t + 1))
        P = state["mu_product"] = state["mu_product"] * mu_t
        mu_ema = mu_t if group["form"] == "dozat" else b1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= mu_ema
        m += (1 - mu_ema) * g
        v *= b2
        v += (1 - b2) * g * g
        m_bar = mu_next * m / (1 - P * mu_next) + (1 - mu_t) * g / (1 - P)
        p.data -= self.rate(group) * m_bar / (p.xp.sqrt(v / (1 - b2**t)) + group["eps"])
