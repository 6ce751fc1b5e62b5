"""Stochastic gradient descent, classical momentum and Nesterov's accelerated gradient.

Singh et al. (2015) §II write all three with the rate t inside the velocity, as Caffe's solvers
do (eq. 6, 7), with the rate annealed by a schedule such as Caffe's ``inv`` (eq. 4, see
:mod:`optimizers.schedules`). torch.optim.SGD keeps the rate outside the velocity instead. At a
constant rate the two forms give the same iterates; under a schedule they differ, because the
Caffe form remembers each past step with the rate it was taken at, while the torch form applies
today's rate to the whole remembered gradient sum. ``form="torch"`` selects torch.optim's.
"""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import choice, nonnegative, unit_interval


class Momentum(Optimizer):
    """Classical momentum (Polyak 1964) in Caffe's form: Singh et al. (2015) eq. 6.

    With t_k = lr·s(k) the (scheduled) rate, g the gradient with weight decay and μ the momentum::

        v ← μ·v − t_k·g              (the rate inside the velocity)
        θ ← θ + v

    ``form="torch"`` is torch.optim.SGD(momentum=μ): b ← μ·b + g; θ ← θ − t_k·b (b starts at
    0, so b_1 = g_1 as in torch). No ε. μ = 0 is plain SGD. torch.optim.SGD's defaults differ:
    lr 1e-3, momentum 0, and its form (``form="torch"`` here).
    """

    hyperparameters = {"lr": nonnegative, "momentum": unit_interval, "weight_decay": nonnegative,
                       "form": choice("caffe", "torch")}

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0,
                 form: str = "caffe", schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, form=form), schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The velocity v, zeros like the parameter."""
        return {"velocity": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Caffe: v ← μv − t·g; θ ← θ + v.  torch: v ← μv + g; θ ← θ − t·v."""
        rate, mu, v = self.rate(group), group["momentum"], state["velocity"]
        v *= mu
        if group["form"] == "caffe":
            v -= rate * g
            p.data += v
        else:
            v += g
            p.data -= rate * v


class SGD(Momentum):
    """Stochastic gradient descent: Singh et al. (2015) eq. 2–3, θ ← θ − t_k·g, g with weight decay.

    t_k = lr·s(k) is the rate of the optimizer's schedule s (e.g. Caffe's ``inv``, eq. 4). No ε.
    With ``momentum`` μ > 0 it is :class:`Momentum` (Caffe's form, eq. 6, unless ``form="torch"``),
    so ``SGD(params, lr, momentum=0.9)`` is the SGD-with-momentum of Caffe and Singh et al.
    torch.optim.SGD's default lr is 1e-3, and its momentum takes ``form="torch"``.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0,
                 form: str = "caffe", schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(params, lr, momentum, weight_decay, form, schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The velocity, only with momentum (μ > 0)."""
        return super().init_state(p, group) if group["momentum"] else {}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """θ ← θ − t·g; with momentum, the classical-momentum update."""
        if group["momentum"]:
            return super().update(p, g, state, group)
        p.data -= self.rate(group) * g


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in Sutskever's form, as Caffe computes it: Singh et al. (2015) eq. 7.

    Sutskever et al. (2013) take the gradient at the look-ahead point θ + μv. Caffe's
    NesterovSolver stores the look-ahead point itself as the parameter, which turns the update
    into one that needs only the gradient g (with weight decay) at the stored θ (h is Caffe's
    ``history``, −v)::

        h_old ← h
        h ← μ·h + t_k·g              (the rate inside the history)
        θ ← θ − ((1 + μ)·h − μ·h_old)

    ``form="torch"`` is torch.optim.SGD(momentum=μ, nesterov=True): b ← μ·b + g;
    θ ← θ − t_k·(g + μ·b). The two agree at a constant rate and differ under a schedule. No ε.
    """

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The history h, zeros like the parameter."""
        return {"history": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Caffe: h ← μh + t·g; θ ← θ − ((1+μ)h − μh_old).  torch: b ← μb + g; θ ← θ − t(g + μb)."""
        rate, mu, h = self.rate(group), group["momentum"], state["history"]
        if group["form"] == "caffe":
            h_old = h.copy()
            h *= mu
            h += rate * g
            p.data -= (1 + mu) * h - mu * h_old
        else:
            h *= mu
            h += g
            p.data -= rate * (g + mu * h)
