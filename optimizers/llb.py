"""LLb-SGD (Zheng et al. 2019), as minigrad RECONSTRUCTS it: layer-wise rates from weight changes.

The paper's equations are lost from every copy we could reach (docs/optimizers/llb-sgd.md). Its prose
fixes: one rate per layer; first-order information only, the average Frobenius norm of the change
of each convolution kernel (conv layers) or each neuron's weights (fully connected layers); a
direction taken from the training loss; a negative-exponential decay of each layer's rate, fast
early and slow late. This module is minigrad's reconstruction from that prose, not the paper's
formula, and every number it produces should be read that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minigrad import Tensor
from minigrad.backend import device_of, get_array_module, to_device
from optimizers.base import Optimizer, ParamsLike
from optimizers.closure import Closure, require_closure
from optimizers.validation import interval, nonnegative, unit_interval


def unit_change_norms(changes: list[Any]) -> Any:
    """‖ΔW_u‖_F for every unit u of a layer, from the changes of the layer's parameter arrays.

    A unit is a slice along axis 0, PyTorch's output axis: a convolution kernel (out, in, kh, kw)
    → one kernel per output channel, a fully connected weight (out, in) → one neuron's weights. A
    bias (out,) belongs to the units of the weight with the same output size. Arrays whose output
    sizes differ are units of their own; a 0-d array is one unit.
    """
    xp = get_array_module(changes[0])
    per_array = [(d * d).reshape(d.shape[0], -1).sum(axis=1) if d.ndim else (d * d).reshape(1) for d in changes]
    if all(a.shape == per_array[0].shape for a in per_array):
        squares = sum(per_array[1:], per_array[0])
    else:
        squares = xp.concatenate(per_array)
    return xp.sqrt(squares)


class LLbSGD(Optimizer):
    """LLb-SGD, layer-wise learning-rate SGD after Zheng et al. (2019): minigrad's RECONSTRUCTION.

    Not the paper's equations (lost; see the module docstring). Per layer l (parameter group), at
    step t, with α_l(0) = ``lr``::

        ξ_l = (1/U_l) Σ_u ‖W_{l,u}(t) − W_{l,u}(t−1)‖_F     mean change of the layer's U_l units
        δ   = 1 while the loss falls, κ when it rises        (EMA of the minibatch loss, decay 0.9)
        α_l ← α_l · exp(−β · ξ_l · δ)                        negative-exponential decay
        θ_l ← θ_l − α_l · g_l                                g with weight decay, Caffe's convention

    Rates are positive and never increase. Under SGD the change is α_l·g_l, so for small steps
    1/α_l ≈ 1/α_0 + β·Σ δ·(mean per-unit gradient norm): a per-layer, data-driven 1/t schedule
    that drops fast while gradients are large and slowly once they are small (Zheng et al.
    Fig. 6). The raw minibatch loss rises and falls from one step to the next, so its direction
    is read from an exponential moving average of it.

    β is not scale-free: ξ has the units of the weights, so β must be retuned when the
    parametrisation changes. The defaults β = 0.1, α_0 = 0.05 are minigrad's choice for LeNet-5 on
    MNIST at batch 64 (the runs behind them, and other β: docs/optimizers/llb-sgd.md). The
    paper's "threshold" is a stopping rule for training (stop when the loss falls by less than it
    over 1,000 iterations): ``minigrad train --stop-threshold``. A group's ``lr_mults`` are
    refused: every layer's rate is its own α_l.

    The step needs the current minibatch loss, so it needs a closure: ``loss = opt.step(closure)``
    (:mod:`optimizers.closure`); the loss is read on its device, without a host sync.
    """

    #: δ comes from the loss, which only the closure gives.
    needs_closure = True
    takes_lr_mults = False
    hyperparameters = {"lr": nonnegative, "beta": nonnegative, "kappa": interval(1, None),
                       "loss_decay": unit_interval, "weight_decay": nonnegative}

    def __init__(self, params: ParamsLike, lr: float = 0.05, beta: float = 0.1, kappa: float = 2.0,
                 loss_decay: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, beta=beta, kappa=kappa, loss_decay=loss_decay, weight_decay=weight_decay))
        self.loss_ema: Any = None  # EMA of the minibatch loss (0-d array on the loss's device)
        self.loss_rose: Any = False  # did the EMA rise at this step? (δ = κ then; κ ≥ 1)

    def step(self, closure: Closure | None = None) -> Any:
        """Evaluate the loss and gradient, read the loss's direction, update every layer; returns the loss."""
        loss = require_closure(self, closure)()
        self.observe_loss(loss)
        super().step()
        return loss

    def observe_loss(self, loss: Any) -> None:
        """Fold a minibatch loss into the EMA and note whether the EMA rose (δ = κ) or fell (δ = 1)."""
        if isinstance(loss, Tensor):
            loss = loss.data
        decay = self.param_groups[0]["loss_decay"]
        like = self.param_groups[0]["params"][0].data
        device, xp = device_of(like), get_array_module(like)
        loss = xp.asarray(to_device(loss, device) if hasattr(loss, "shape") else loss, dtype=xp.float64)
        if self.loss_ema is None:
            self.loss_ema = loss
            self.loss_rose = False
            return
        self.loss_ema = to_device(self.loss_ema, device)  # the model may have moved since
        new = decay * self.loss_ema + (1 - decay) * loss
        self.loss_rose = new > self.loss_ema  # a 0-d bool array: no host sync on the GPU
        self.loss_ema = new

    def update_group(self, group: dict[str, Any]) -> None:
        """One rate per layer: decay α_l by the layer's mean unit change, then take the SGD step."""
        work = [(p, g) for p, g in zip(group["params"], self.gradients(group)) if g is not None]
        if not work:
            return
        params = [p for p, _ in work]
        states = [self.state_for(p, group) for p in params]
        xp = params[0].xp
        dtype = params[0].data.dtype
        alpha = states[0].get("alpha")
        if alpha is None:
            alpha = xp.asarray(group["lr"], dtype=dtype)
        if "last_change" in states[0]:  # ξ_l is 0 before the first change
            xi = unit_change_norms([s["last_change"] for s in states]).mean()
            delta = xp.where(xp.asarray(self.loss_rose), group["kappa"], 1.0).astype(dtype)
            alpha = alpha * xp.exp(-group["beta"] * xi * delta).astype(dtype)
        for (p, g), state in zip(work, states):
            state["step"] += 1
            state["alpha"] = alpha
            change = -alpha * g
            p.data += change
            state["last_change"] = change

    def layer_rates(self) -> dict[str, Any]:
        """The current α_l of every layer that has stepped, by group name (0-d arrays)."""
        rates = {}
        for gi, group in enumerate(self.param_groups):
            first = next((self.state[p] for p in group["params"] if p in self.state), None)
            if first is not None:
                rates[group.get("name", f"group{gi}")] = first["alpha"]
        return rates

    def state_dict(self) -> dict[str, Any]:
        """The base state plus the loss EMA (as a 0-d array) and whether it rose last."""
        saved = super().state_dict()
        if self.loss_ema is not None:
            saved["loss_ema"] = self.loss_ema
            saved["loss_rose"] = get_array_module(self.loss_ema).asarray(self.loss_rose)
        return saved

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`, the loss EMA included, onto the parameters' device."""
        super().load_state_dict(saved)
        self.loss_ema = self.loss_rose = None
        if "loss_ema" in saved:
            device = device_of(self.param_groups[0]["params"][0].data)
            self.loss_ema = to_device(saved["loss_ema"], device)
            self.loss_rose = to_device(saved["loss_rose"], device)
        else:
            self.loss_rose = False
