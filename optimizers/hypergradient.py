"""Hypergradient descent (Baydin et al. 2018): SGD-HD, SGDN-HD and Adam-HD.

This module owns the three optimizers that learn their learning rate α online from the dot
product of the current gradient with the previous update direction, the online (next-minibatch)
form of Ravaut & Gorti's first-order method (:class:`optimizers.ravaut.RavautFirstOrder`). They
need no closure. α lives in each group's ``"lr"``, where it can be read, and is saved with it.
"""

from __future__ import annotations

from typing import Any

from minigrad import Parameter, no_grad
from minigrad.backend import get_array_module, to_numpy
from optimizers.base import Optimizer, ParamsLike
from optimizers.closure import device_dot
from optimizers.validation import boolean, nonnegative, positive, unit_interval

#: The checks every hypergradient method shares.
HYPERGRADIENT = {"lr": nonnegative, "hypergrad_lr": nonnegative, "weight_decay": nonnegative}


def read_scalars(values: list[Any]) -> list[float]:
    """Python floats from a list of device 0-d arrays (or floats), in one host transfer."""
    xp = get_array_module(*values)
    return to_numpy(xp.stack([xp.asarray(v, dtype=xp.float64) for v in values])).tolist()


class _Hypergradient(Optimizer):
    """The shared rule, Baydin et al. (2018) §2: α_t = α_{t−1} − β·h_t, h_t = g_t · ∇_α u_{t−1}.

    u_t is the update θ_t − θ_{t−1}; each subclass stores −∇_α u_t (its update direction, zero
    before the first step) in ``state["direction"]``, so h_t = −g_t·direction and the new α is
    used by the update of the same step. By default (``per_group=False``) α is one number for all
    parameters and h_t one dot product over all of them, as in the paper; all groups must then
    share their settings. ``per_group=True`` gives every parameter group (a layer, with
    ``model.layer_groups()``) its own α from its own dot product, a variant not in the paper.
    Weight decay λ is added to g before anything else, the dot product included (as in the
    authors' code). Unlike Ravaut & Gorti, nothing keeps α positive: the paper has no floor.
    α is the rate itself, so a group's ``lr_mults`` are refused.
    """

    takes_lr_mults = False
    shared_reason = "learns one α for all parameters (pass per_group=True for one α per group)"

    def __init__(self, params: ParamsLike, defaults: dict[str, Any], per_group: bool = False) -> None:
        self.per_group = boolean("per_group", per_group)
        # With one global α every setting is shared: read by add_param_group, which the base constructor calls.
        self.shared = () if per_group else tuple(self.hyperparameters)
        super().__init__(params, defaults)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The previous update direction −∇_α u, zeros like the parameter."""
        return {"direction": p.xp.zeros_like(p.data)}

    def step(self, closure: Any = None) -> Any:
        """Update every α from its hypergradient, then every parameter with the new α."""
        loss = closure() if closure is not None else None
        with no_grad():
            work = []
            for group in self.param_groups:
                present = [(p, g) for p, g in zip(group["params"], self.gradients(group)) if g is not None]
                items = [(p, self.state_for(p, group)) for p, _ in present]
                work.append((group, items, [g for _, g in present]))
            # −h_t = g_t · direction_{t−1}: per group, or summed over all groups for one global α;
            # summed on the device and read back in one transfer per step (α is a Python float).
            dots = [device_dot(grads, [s["direction"] for _, s in items]) for _, items, grads in work]
            dots = [float(sum(dots))] * len(dots) if not self.per_group else read_scalars(dots)
            for (group, items, grads), d in zip(work, dots):
                group["lr"] = group["lr"] + group["hypergrad_lr"] * d
                for (p, state), g in zip(items, grads):
                    state["step"] += 1
                    self.update(p, g, state, group)
        return loss


class SGDHD(_Hypergradient):
    """SGD with hypergradient descent on α: Baydin et al. (2018), Algorithm 1 (SGD-HD)::

        g_t = ∇f(θ_{t−1}) (+ λ·θ_{t−1})
        α_t = α_{t−1} + β·g_t·g_{t−1}          (g_0 = 0: the first step uses α_0)
        θ_t = θ_{t−1} − α_t·g_t

    β is ``hypergrad_lr``; α_0 = β = 1e-3 are the authors' settings (their ``run.sh``).
    """

    hyperparameters = HYPERGRADIENT

    def __init__(
        self, params: ParamsLike, lr: float = 1e-3, hypergrad_lr: float = 1e-3, weight_decay: float = 0.0,
        per_group: bool = False,
    ) -> None:
        super().__init__(params, dict(lr=lr, hypergrad_lr=hypergrad_lr, weight_decay=weight_decay), per_group)

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """θ ← θ − α·g; the direction is g."""
        p.data -= group["lr"] * g
        state["direction"][...] = g


class SGDNHD(_Hypergradient):
    """SGD with Nesterov momentum and hypergradient descent on α: Baydin et al. (2018), SGDN-HD::

        α_t = α_{t−1} + β·g_t·d_{t−1}          (d_0 = 0)
        v_t = μ·v_{t−1} + g_t
        d_t = g_t + μ·v_t
        θ_t = θ_{t−1} − α_t·d_t

    (torch's Nesterov form, rate outside the buffer). α_0 = β = 1e-3, μ = 0.9 are the authors'
    settings. With μ = 0 it is exactly :class:`SGDHD`.
    """

    hyperparameters = {**HYPERGRADIENT, "momentum": unit_interval}

    def __init__(
        self, params: ParamsLike, lr: float = 1e-3, hypergrad_lr: float = 1e-3, momentum: float = 0.9,
        weight_decay: float = 0.0, per_group: bool = False,
    ) -> None:
        super().__init__(params, dict(lr=lr, hypergrad_lr=hypergrad_lr, momentum=momentum, weight_decay=weight_decay),
                         per_group)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The direction d and the velocity v, zeros like the parameter."""
        return {**super().init_state(p, group), "velocity": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """v ← μv + g; d = g + μv; θ ← θ − α·d."""
        v = state["velocity"]
        v *= group["momentum"]
        v += g
        d = g + group["momentum"] * v
        p.data -= group["lr"] * d
        state["direction"][...] = d


class AdamHD(_Hypergradient):
    """Adam with hypergradient descent on α: Baydin et al. (2018), Algorithm 3 (Adam-HD)::

        α_t = α_{t−1} + β·g_t·û_{t−1}          (û_0 = 0)
        m_t = β1·m_{t−1} + (1 − β1)·g_t;   v_t = β2·v_{t−1} + (1 − β2)·g_t²
        û_t = m̂_t / (√v̂_t + ε),  m̂_t = m_t/(1 − β1^t),  v̂_t = v_t/(1 − β2^t)
        θ_t = θ_{t−1} − α_t·û_t

    ε sits outside the root after bias correction, as in Kingma & Ba's Algorithm 1 and the
    paper (the authors' code adds ε before bias correction). One dot product over all
    parameters, as in the paper (their code updates α inside the per-tensor loop). α_0 = 1e-3,
    β = 1e-7 are the authors' settings. With β = 0 it is Adam (torch.optim.Adam's rule).
    ε > 0: a gradient that is zero so far would give 0/0.
    """

    hyperparameters = {**HYPERGRADIENT, "beta1": unit_interval, "beta2": unit_interval, "eps": positive}

    def __init__(
        self, params: ParamsLike, lr: float = 1e-3, hypergrad_lr: float = 1e-7, beta1: float = 0.9,
        beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0, per_group: bool = False,
    ) -> None:
        defaults = dict(lr=lr, hypergrad_lr=hypergrad_lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, per_group)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The direction û and the moments m, v, zeros like the parameter."""
        zeros = p.xp.zeros_like
        return {**super().init_state(p, group), "m": zeros(p.data), "v": zeros(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Adam's moments and direction û, then θ ← θ − α·û."""
        b1, b2, t = group["beta1"], group["beta2"], state["step"]
        m, v = state["m"], state["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        u = (m / (1 - b1**t)) / (p.xp.sqrt(v / (1 - b2**t)) + group["eps"])
        p.data -= group["lr"] * u
        state["direction"][...] = u
