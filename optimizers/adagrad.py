"""AdaGrad (Duchi, Hazan & Singer 2011) as Singh et al. (2015) eq. 8 and Caffe's AdaGradSolver write it."""

from __future__ import annotations

from typing import Any

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike, ScheduleLike, check_nonnegative, with_weight_decay


class AdaGrad(Optimizer):
    """AdaGrad: Singh et al. (2015) eq. 8, Duchi et al. (2011) diagonal form, Caffe's AdaGradSolver.

    With t_k = lr·s(k) the (scheduled) global rate and λ the weight decay::

        g ← ∇L(θ) + λ·θ
        H ← H + g²                    (H_0 = initial_accumulator_value, 0 in the paper)
        θ ← θ − t_k·g / (√H + δ)      (δ = eps = 1e-8 outside the root, Caffe's default)

    ε sits outside the square root, as in the paper, Caffe and torch.optim.Adagrad (whose
    eps default is 1e-10). torch's ``lr_decay`` γ is ``schedule=InverseTime(γ)``. A zero
    gradient at the first step gives √0 + δ in the denominator and a zero update.
    """

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.01,
        eps: float = 1e-8,
        initial_accumulator_value: float = 0.0,
        weight_decay: float = 0.0,
        schedule: ScheduleLike | str | None = None,
    ) -> None:
        defaults = {"lr": lr, "eps": eps, "initial_accumulator_value": initial_accumulator_value,
                    "weight_decay": weight_decay}
        super().__init__(params, defaults, schedule)

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr, eps, initial_accumulator_value and weight_decay ≥ 0."""
        for name in ("lr", "eps", "initial_accumulator_value", "weight_decay"):
            check_nonnegative(name, group[name])

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """H ← H + g²; θ ← θ − t·g/(√H + δ)."""
        g = with_weight_decay(p, g, group["weight_decay"])
        if "sum" not in state:  # H_0 is a group setting, which init_state cannot see
            state["sum"] = p.xp.full_like(p.data, group["initial_accumulator_value"])
        H = state["sum"]
        H += g * g
        p.data -= self.rate(group) * g / (p.xp.sqrt(H) + group["eps"])
