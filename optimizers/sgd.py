"""Stochastic gradient descent with classical momentum, in Caffe's form (Singh et al. 2015, eq. 6)."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, check_nonnegative, check_unit_interval


class SGD(Optimizer):
    """SGD with optional momentum and L2 weight decay.

    Singh et al. (2015), eq. 6 (the rate sits inside the velocity, as in Caffe)::

        g ← ∇L(θ) + λ·θ            (weight decay λ, added to the gradient first)
        v ← μ·v − lr·g
        θ ← θ + v

    With μ = 0 this is plain SGD, θ ← θ − lr·g (Singh eq. 4). At a constant rate it equals
    torch.optim.SGD's form v ← μv + g, θ ← θ − lr·v.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr ≥ 0, momentum in [0, 1), weight_decay ≥ 0."""
        check_nonnegative("lr", group["lr"])
        check_unit_interval("momentum", group["momentum"])
        check_nonnegative("weight_decay", group["weight_decay"])

    def init_state(self, p: Parameter) -> dict[str, Any]:
        """The velocity v, zeros like the parameter."""
        return {"velocity": p.xp.zeros_like(p.data)}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """v ← μv − lr·g; θ ← θ + v."""
        if group["weight_decay"]:
            g = g + group["weight_decay"] * p.data
        v = state["velocity"]
        v *= group["momentum"]
        v -= group["lr"] * g
        p.data += v
