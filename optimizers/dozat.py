"""Dozat's "hyperalgorithm" (Optimizing CNNs, 2016, Algorithm 1): one optimizer, the others its settings.

Algorithm 1, for step t = 1, 2, … with α_t the (scheduled) rate, μ_t and ν_t the decay schedules::

    h_t ← ∇f_t(θ_{t−1})  or  H_t·u, u ~ N(0, I)   (curvature source "gradient" or "equilibrated")
    v_t ← ν_t·v_{t−1} + {(1 − ν_t) or 1}·h_t^p
    v̄_t ← v_t^(1/p) + ε
    g_t ← {1 or α_t / v̄_t}·∇f_t(θ_{t−1})
    m_t ← μ_t·m_{t−1} + {(1 − μ_t) or 1}·g_t
    m̄_t ← {μ_{t+1}·m_t + {(1 − μ_t) or 1}·g_t   or   m_t}
    Δ_t ← {α_t / v̄_t or 1}·m̄_t
    θ_t ← θ_{t−1} − Δ_t

Each {a or b} is a switch of :class:`Dozat`. The named optimizers are the settings below (each
equality is a test in tests/test_optimizers_identities.py); unlisted switches keep no effect:

==================  ==========  ======  =========  ================  ==========  ====  ================
optimizer           momentum    scaled  mom. acc.  mu_schedule       accumulator norm  nu_schedule
==================  ==========  ======  =========  ================  ==========  ====  ================
SGD                 none        –       –          –                 none        –     –
Momentum (Caffe)    classical   True    sum        constant          none        –     –
Momentum (torch)    classical   False   sum        constant          none        –     –
Nesterov (Caffe)    nesterov    True    sum        constant          none        –     –
Nesterov (torch)    nesterov    False   sum        constant          none        –     –
AdaGrad             none        –       –          –                 sum         2     –
RMSprop             none        –       –          –                 mean        2     constant (ν = α)
Adam                classical   False   mean       bias_correction   mean        2     bias_correction
Adamax (eps = 0)    classical   False   mean       bias_correction   mean        inf   constant
Nadam               nesterov    False   mean       nadam             mean        2     bias_correction
==================  ==========  ======  =========  ================  ==========  ====  ================
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from minigrad import Parameter
from optimizers.adam import warming
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.closure import PROBE_DTYPES, Closure, require_closure
from optimizers.esgd import random_hessian_products
from optimizers.validation import boolean, choice, count, nonnegative, optional, positive, unit_interval

DECAY_SCHEDULES = ("constant", "bias_correction", "true_mean", "sutskever", "nadam")
NADAM_PSI = 0.004  # 1/250, the period of Dozat's warming schedule


def decay_schedule(name: str, base: float, t: int, product: float = 1.0) -> float:
    """The decay parameter (μ_t or ν_t) of schedule ``name`` at step t ≥ 1 for the base value μ.

    - ``constant``: μ_t = μ.
    - ``bias_correction``: μ_t = μ(1 − μ^(t−1))/(1 − μ^t) (Dozat §2.1): a decaying mean with it
      equals Kingma & Ba's bias-corrected m̂_t, and μ_1 = 0, so the zero start has no weight.
    - ``true_mean``: μ_t = (t − 1)/t, the arithmetic mean (the limit μ → 1 of bias_correction).
    - ``sutskever``: Sutskever et al. (2013)'s hand-crafted schedule
      μ_t = min(1 − 2^(−1 − log2(⌊t/250⌋ + 1)), μ) = min(1 − 1/(2(⌊t/250⌋ + 1)), μ).
    - ``nadam``: Dozat's warming sequence b_t = μ(1 − ½·0.96^(t/250)) with Nadam's bias
      correction folded in: μ_t = b_t(1 − P_{t−1})/(1 − P_t), P_t = b_1…b_t, which is the
      bias_correction formula for a non-constant base. ``product`` is P_{t−1}.
    """
    if name == "constant":
        return base
    if name == "bias_correction":
        return base * (1 - base ** (t - 1)) / (1 - base**t)
    if name == "true_mean":
        return (t - 1) / t
    if name == "sutskever":
        return min(1 - 1 / (2 * (t // 250 + 1)), base)
    b = warming(base, NADAM_PSI, t)
    return b * (1 - product) / (1 - product * b)


class Dozat(Optimizer):
    """Dozat (2016) Algorithm 1, the hyperalgorithm (see the module docstring for the box and presets).

    Switches (one per brace of Algorithm 1):

    - ``momentum``: "none" (m̄_t = g_t), "classical" (m̄_t = m_t) or "nesterov"
      (m̄_t = μ_{t+1}·m_t + w·g_t);
    - ``scaled``: True stores the scaled gradient g_t = α_t/v̄_t·∇f in m ("scaled gradient
      momentum", Δ_t = m̄_t); False stores ∇f and scales the step, Δ_t = α_t/v̄_t·m̄_t (Adam);
    - ``momentum_accumulator``: "mean" (weight w = 1 − μ_t) or "sum" (w = 1);
    - ``accumulator``: "none" (v̄_t = 1, no ε), "sum" (v_t = v_{t−1} + h_t^p, AdaGrad: the limit
      ν → 1 of Algorithm 1's note) or "mean" (v_t = ν_t·v_{t−1} + (1 − ν_t)·h_t^p);
    - ``norm`` p in {1, 2, inf}: h^p is |h| or h²; v̄ = v^(1/p) + ε. For p = inf the max form,
      v_t = max(ν_t·v_{t−1}, |h_t|) (Kingma & Ba §7.1; "sum" uses ν_t = 1), v̄ = v + ε;
    - ``mu_schedule``, ``nu_schedule``: see :func:`decay_schedule`; ``mu``, ``nu`` their bases;
    - ``curvature``: "gradient" (h_t = ∇f) or "equilibrated" (h_t = H·u, u ~ N(0, I), Dauphin
      et al. 2015: with ``accumulator="sum"`` and p = 2, v̄ = √(Σ(Hu)²) is ESGD's preconditioner
      up to the 1/i of its mean). H·u is a central difference of two gradients through a closure
      (:func:`optimizers.esgd.hessian_vector_product`; ``hvp_r``, ``probe_dtype``), drawn every
      ``curvature_every`` steps (steps 1, k+1, …) and folded into v only then; ν_t's t counts
      those samples. The optimizer then needs a closure: ``opt.step(closure)``. ε then plays
      ESGD's damping λ and must be set like it (e.g. ε = 0.03, lr = 0.02 on LeNet-5): weights
      into ReLUs that are dead on the sampled minibatch get H·u = 0 exactly, and with ε = 1e-8
      their steps are lr·m/1e-8 (what that does to LeNet-5: docs/optimizers/dozat.md).

    ε sits outside the root, as Algorithm 1 prints it. It must be > 0 wherever v̄ is divided by,
    except for the max form (``norm=inf``) with gradient curvature: there ε = 0 is Adamax's
    Algorithm 2, and as in :class:`~optimizers.adam.Adamax` a weight whose v̄ is 0 does not move.
    t is the parameter's own step count.
    Defaults follow the paper's findings (§4.3–§6): NAG with unscaled gradients, decaying means
    with bias correction for both μ = 0.9 and ν = 0.9, the L2 norm, α = 0.002 (the rate the L2
    variants preferred), ε = 1e-8: Nadam as Dozat's own code runs it, with ε outside the root.
    """

    hyperparameters = {
        "lr": nonnegative, "momentum": choice("none", "classical", "nesterov"), "mu": unit_interval,
        "mu_schedule": choice(*DECAY_SCHEDULES), "scaled": boolean, "momentum_accumulator": choice("sum", "mean"),
        "accumulator": choice("none", "sum", "mean"), "norm": choice(1, 2, math.inf, aliases={"inf": math.inf,
        "max": math.inf}), "nu": unit_interval, "nu_schedule": choice(*DECAY_SCHEDULES), "eps": nonnegative,
        "curvature": choice("gradient", "equilibrated"), "curvature_every": count, "hvp_r": optional(positive),
        "probe_dtype": choice(*PROBE_DTYPES), "weight_decay": nonnegative,
    }
    # One H·u over all parameters per draw: its settings cannot differ between groups.
    shared = ("curvature", "curvature_every", "hvp_r", "probe_dtype")
    shared_reason = "draws curvature for all parameters at once"

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.002,
        momentum: str = "nesterov",
        mu: float = 0.9,
        mu_schedule: str = "bias_correction",
        scaled: bool = False,
        momentum_accumulator: str = "mean",
        accumulator: str = "mean",
        norm: float = 2,
        nu: float = 0.9,
        nu_schedule: str = "bias_correction",
        eps: float = 1e-8,
        curvature: str = "gradient",
        curvature_every: int = 20,
        hvp_r: float | None = None,
        probe_dtype: str = "float64",
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, mu=mu, mu_schedule=mu_schedule, scaled=scaled,
                        momentum_accumulator=momentum_accumulator, accumulator=accumulator, norm=norm, nu=nu,
                        nu_schedule=nu_schedule, eps=eps, curvature=curvature, curvature_every=curvature_every,
                        hvp_r=hvp_r, probe_dtype=probe_dtype, weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)
        self.needs_closure = self.param_groups[0]["curvature"] == "equilibrated"
        self.steps = 0  # step() calls, which decide when to draw H·u

    def validate_group(self, group: dict[str, Any]) -> None:
        """eps > 0 wherever the rule divides by v̄ = v^(1/p) + ε and v can be 0 while g is not (see above)."""
        divides = group["accumulator"] != "none"
        adamax_like = group["norm"] == math.inf and group["curvature"] == "gradient"
        if divides and not adamax_like:
            positive("eps", group["eps"])

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The running products P of the "nadam" schedules (Python floats), v and m as the switches need them.

        With the "equilibrated" source also the number of curvature samples folded into v.
        """
        zeros = p.xp.zeros_like
        state: dict[str, Any] = {"mu_product": 1.0, "nu_product": 1.0}
        if group["accumulator"] != "none":
            state["v"] = zeros(p.data)
        if group["momentum"] != "none":
            state["m"] = zeros(p.data)
        if group["curvature"] == "equilibrated":
            state["samples"] = 0
        return state

    def step(self, closure: Closure | None = None) -> Any:
        """Algorithm 1 for every parameter; with the "equilibrated" source, draw H·u every k steps first."""
        first = self.param_groups[0]
        if first["curvature"] != "equilibrated":
            return super().step(closure)
        closure = require_closure(self, closure)
        loss = closure()
        self.steps += 1
        if (self.steps - 1) % first["curvature_every"] == 0:
            pairs = [(p, g) for g in self.param_groups for p in g["params"]]
            products = random_hessian_products(closure, [p for p, _ in pairs], first["hvp_r"], first["probe_dtype"])
            for (p, group), hu in zip(pairs, products):
                state = self.state_for(p, group)
                state["curvature"] = hu  # consumed by the next update of p
                state["samples"] += 1
        super().step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base state dict plus the step count that schedules the curvature draws."""
        return {**super().state_dict(), "dozat": {"steps": self.steps}}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (older ones without the curvature step count start it at 0)."""
        super().load_state_dict(saved)
        self.steps = int(saved.get("dozat", {}).get("steps", 0))

    def decay(self, group: dict[str, Any], which: str, t: int, state: dict[str, Any]) -> tuple[float, float]:
        """(μ_t, μ_{t+1}) for ``which`` = "mu", or (ν_t, ν_{t+1}) for "nu"; advances P for "nadam"."""
        name, base, product = group[f"{which}_schedule"], group[which], state[f"{which}_product"]
        now = decay_schedule(name, base, t, product)
        if name == "nadam":
            product = state[f"{which}_product"] = product * warming(base, NADAM_PSI, t)
        return now, decay_schedule(name, base, t + 1, product)

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """One pass of Algorithm 1's loop body for one parameter."""
        xp, t, norm, scaled = p.xp, state["step"], group["norm"], group["scaled"]
        step_size = self.rate(group)  # α_t, becomes α_t / v̄_t with an accumulator
        if group["accumulator"] != "none":
            if group["curvature"] == "gradient":
                h, t_h = g, t
            else:  # H·u, folded in once per draw; between draws v stays as it is
                h, t_h = state.pop("curvature", None), state["samples"]
            v = state["v"]
            if h is not None:
                nu = 1.0 if group["accumulator"] == "sum" else self.decay(group, "nu", t_h, state)[0]
                if norm == math.inf:
                    v[...] = xp.maximum(nu * v, xp.abs(h))
                else:
                    v *= nu
                    v += (1.0 if group["accumulator"] == "sum" else 1 - nu) * (h * h if norm == 2 else xp.abs(h))
            v_bar = (xp.sqrt(v) if norm == 2 else v) + group["eps"]
            if group["eps"]:
                step_size = step_size / v_bar
            else:  # the max form with ε = 0 (Adamax): no step where v̄ = 0, and v̄ floored elsewhere
                step_size = xp.where(v_bar > 0, step_size / xp.maximum(v_bar, float(xp.finfo(v.dtype).tiny)), 0)
        g_t = step_size * g if scaled else g
        if group["momentum"] == "none":
            m_bar = g_t
        else:
            mu, mu_next = self.decay(group, "mu", t, state)
            w = 1.0 if group["momentum_accumulator"] == "sum" else 1 - mu
            m = state["m"]
            m *= mu
            m += w * g_t
            m_bar = m if group["momentum"] == "classical" else mu_next * m + w * g_t
        p.data -= m_bar if scaled else step_size * m_bar
