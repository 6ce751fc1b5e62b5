"""AdaGrad (Duchi, Hazan & Singer 2011) as Singh et al. (2015) eq. 8 and Caffe's AdaGradSolver write it."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike
from optimizers.validation import boolean, nonnegative, positive


class AdaGrad(Optimizer):
    """AdaGrad: Singh et al. (2015) eq. 8, Duchi et al. (2011) diagonal form, Caffe's AdaGradSolver.

    With t_k = lr·s(k) the (scheduled) global rate and g the gradient with weight decay::

        H ← H + g²                    (H_0 = initial_accumulator_value, 0 in the paper)
        θ ← θ − t_k·g / (√H + δ)      (δ = eps = 1e-8 outside the root, Caffe's default)

    ε sits outside the square root, as in the paper, Caffe and torch.optim.Adagrad (whose
    eps default is 1e-10). ``eps_inside=True`` puts it inside, θ ← θ − t_k·g / √(H + ε), as
    Dive into Deep Learning's AdaGrad does (with ε = 1e-6). torch's ``lr_decay`` γ is
    ``schedule=InverseTime(γ)``. ε must be > 0: a gradient that is zero from the first step
    would otherwise give 0/0; with ε it gives a zero update.
    """

    hyperparameters = {"lr": nonnegative, "eps": positive, "eps_inside": boolean,
                       "initial_accumulator_value": nonnegative, "weight_decay": nonnegative}

    def __init__(self, params: ParamsLike, lr: float = 0.01, eps: float = 1e-8, eps_inside: bool = False,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0,
                 schedule: ScheduleLike | str | None = None) -> None:
        defaults = dict(lr=lr, eps=eps, eps_inside=eps_inside, initial_accumulator_value=initial_accumulator_value,
                        weight_decay=weight_decay)
        super().__init__(params, defaults, schedule)

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """H_0, the group's ``initial_accumulator_value`` everywhere."""
        return {"sum": p.xp.full_like(p.data, group["initial_accumulator_value"])}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """H ← H + g²; θ ← θ − t·g/(√H + δ), or θ ← θ − t·g/√(H + δ) with ``eps_inside``."""
        H, sqrt, eps = state["sum"], p.xp.sqrt, group["eps"]
        H += g * g
        p.data -= self.rate(group) * g / (sqrt(H + eps) if group["eps_inside"] else sqrt(H) + eps)
