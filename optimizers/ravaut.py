"""Learning the learning rate online: Ravaut & Gorti (2018), first order (§3.1) and second order (§3.2, §4.1).

This module owns the two optimizers that adapt one global learning rate η by looking at the loss
along the current gradient, f(η) = L(w − η·g), with the momentum on η of §5.2 and the
validation-batch f of §5.3 as options. Both need a closure (contract: :mod:`optimizers.closure`).
η is one scalar for the whole model (f is a function of one number), mirrored into every
group's ``"lr"``; every step's η is appended to ``optimizer.eta_history``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import Parameter
from optimizers.base import Optimizer, ParamsLike
from optimizers.closure import PROBE_DTYPES, Closure, dot, evaluate_at, probe_base, require_closure
from optimizers.validation import boolean, choice, nonnegative, optional, positive, unit_interval

#: The checks both orders share.
LEARNED_RATE = {"lr": positive, "delta": positive, "momentum": unit_interval, "eta_max": optional(positive),
                "validation": boolean}


class _LearnedRate(Optimizer):
    """The shared bookkeeping: one η, its momentum (§5.2), the guards η ≥ δ (eq. 13) and η ≤ eta_max.

    f(η) is a function of one number for the whole model, so there is one η and one setting: every
    hyperparameter is shared by all groups, and a group's ``lr_mults`` are refused.
    """

    needs_closure = True
    takes_lr_mults = False
    shared_reason = "learns one η for all parameters"

    def __init__(self, params: ParamsLike, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        self.eta_history: list[float] = []  # the η that step k used, at index k − 1
        self.eta_velocity = 0.0  # b(t) of §5.2; stays 0 without momentum

    @property
    def needs_validation_closure(self) -> bool:
        """True when built with ``validation=True``: ``step`` then needs ``validation_closure`` (§5.3)."""
        return bool(self.param_groups[0]["validation"])

    @property
    def eta(self) -> float:
        """The learning rate the next step will use."""
        return float(self.param_groups[0]["lr"])

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr ≥ delta (the floor of eq. 13), and eta_max None or ≥ lr."""
        if group["lr"] < group["delta"]:
            raise ValueError(f"lr must be >= delta (the floor of eq. 13), got lr={group['lr']}, delta={group['delta']}")
        if group["eta_max"] is not None and group["eta_max"] < group["lr"]:
            raise ValueError(f"eta_max must be >= lr, got eta_max={group['eta_max']}, lr={group['lr']}")

    def step(self, closure: Closure | None = None, validation_closure: Closure | None = None) -> float:
        """One weight update with η(k), then η(k+1) (the paper's order, §4.1); returns the loss before it."""
        closure = require_closure(self, closure)
        if self.needs_validation_closure:
            f_closure = require_closure(self, validation_closure, "validation_closure")
        elif validation_closure is not None:
            raise ValueError(f"{type(self).__name__} got a validation_closure but was built with validation=False")
        else:
            f_closure = closure
        loss = closure()
        everything = [p for group in self.param_groups for p in group["params"]]
        kept = [p.grad for p in everything]
        present = [(p, g) for group in self.param_groups for p, g in zip(group["params"], self.gradients(group))
                   if g is not None]
        params, grads = [p for p, _ in present], [g for _, g in present]
        group, eta = self.param_groups[0], self.eta
        increment = self.eta_increment(params, grads, eta, f_closure, group)
        for p, g in zip(everything, kept):  # the contract: .grad is the gradient the update used
            p.grad = g
        self.eta_velocity = group["momentum"] * self.eta_velocity + increment
        new_eta = max(eta + self.eta_velocity, group["delta"])
        if group["eta_max"] is not None:
            new_eta = min(new_eta, group["eta_max"])
        for other in self.param_groups:
            other["lr"] = new_eta
        self.eta_history.append(eta)
        return loss

    def eta_increment(
        self, params: list[Parameter], grads: list[Any], eta: float, f_closure: Closure, group: dict[str, Any]
    ) -> float:
        """Update the weights with ``eta`` and return the raw change of η (before momentum and guards)."""
        raise NotImplementedError

    @staticmethod
    def descend(params: list[Parameter], grads: list[Any], eta: float) -> None:
        """w ← w − η·g, in place."""
        for p, g in zip(params, grads):
            p.data -= eta * g

    def state_dict(self) -> dict[str, Any]:
        """The base state dict plus η's momentum buffer and history."""
        saved = super().state_dict()
        history = np.asarray(self.eta_history, dtype=np.float64)  # a host array: only for saving
        saved["learned_rate"] = {"eta_velocity": self.eta_velocity, "eta_history": history}
        return saved

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (η itself travels as every group's ``"lr"``)."""
        # These optimizers keep no per-parameter arrays, and an empty mapping does not survive save/load.
        super().load_state_dict({"state": {}, **saved})
        extra = saved["learned_rate"]
        self.eta_velocity = float(extra["eta_velocity"])
        self.eta_history = [float(x) for x in np.asarray(extra["eta_history"]).reshape(-1)]


class RavautFirstOrder(_LearnedRate):
    """Gradient descent on the learning rate: Ravaut & Gorti (2018), §3.1, eq. 3–4, with eq. 13::

        w(k+1) = w(k) − η(k)·g(k)
        f′(η)  = −g(k)·∇L(w(k+1))          (one extra gradient, on the same minibatch)
        η(k+1) = max(η(k) − α·f′(η(k)), δ)  = max(η(k) + α·g(k)·∇L(w(k+1)), δ)

    α is ``hypergrad_lr``. The extra gradient is taken at the new weights through the closure, on
    the same minibatch; the online form that dots with the *next* minibatch's gradient instead is
    hypergradient descent, :class:`optimizers.hypergradient.SGDHD`, and on a deterministic
    full-batch problem the two give the same iterates (the η of the n-th step here is the α of
    SGD-HD's n-th step: η(k), counted from k = 0, is its α_{k+1}).
    The paper's α is not legible in our copy; the default 1e-4 is minigrad's choice for LeNet-5
    on MNIST at batch 64, where Baydin et al.'s β = 1e-3 lets η run away once the gradients grow
    (the runs: docs/optimizers/learned-rate.md): α is not scale-free, the paper's own remark.
    ``momentum`` (§5.2, there written for the second order) and ``validation`` (§5.3: the extra
    gradient comes from ``validation_closure``) work as in :class:`RavautSecondOrder`.
    """

    hyperparameters = {**LEARNED_RATE, "hypergrad_lr": nonnegative}
    shared = tuple(hyperparameters)

    def __init__(self, params: ParamsLike, lr: float = 0.01, hypergrad_lr: float = 1e-4, delta: float = 1e-6,
                 momentum: float = 0.0, eta_max: float | None = None, validation: bool = False) -> None:
        defaults = dict(lr=lr, hypergrad_lr=hypergrad_lr, delta=delta, momentum=momentum, eta_max=eta_max,
                        validation=validation)
        super().__init__(params, defaults)

    def eta_increment(
        self, params: list[Parameter], grads: list[Any], eta: float, f_closure: Closure, group: dict[str, Any]
    ) -> float:
        """w ← w − η·g; then −α·f′(η) = α·g·∇L(w − η·g)."""
        self.descend(params, grads, eta)
        _, new_grads = evaluate_at(f_closure, params, [p.data for p in params], need_grad=True)
        return group["hypergrad_lr"] * dot(grads, new_grads)


class RavautSecondOrder(_LearnedRate):
    """Newton's method on the learning rate from five loss values: Ravaut & Gorti (2018), §3.2, §4.1.

    Eq. 10–13, in the order of §4.1 (weights first with η(k), then η(k+1))::

        f(η) = L(w(k) − η·g(k))  at  η(k), η(k) ± ε, η(k) ± 2ε   (five forward passes, weights restored)
        w(k+1) = w(k) − η(k)·g(k)
        D      = f(η+2ε) + f(η−2ε) − 2·f(η);  D ← δ if D = 0     (eq. 11–12)
        η(k+1) = max(η(k) − 2ε·(f(η+ε) − f(η−ε)) / D, δ)          (eq. 10, 13)

    With ``momentum`` β (§5.2): b ← β·b − 2ε·(f(η+ε) − f(η−ε))/D; η ← max(η + b, δ). With
    ``validation`` (§5.3) the five f values come from ``step(closure, validation_closure=...)``
    while g stays the training gradient. ``eta_max`` (off by default, so the default is the
    paper's rule) clamps η from above: η can run away as f″ → 0, e.g. on a saturating softmax
    (docs/optimizers/learned-rate.md).

    Eq. 11–12 add δ to the denominator only when it is exactly 0 (the paper's "if ... = 0");
    always adding δ = 1e-6 to a D of order 4ε²·f″ ≈ 1e-10 would replace Newton's step by a
    first-order one. A negative D (f concave along g) is used as it is, as in the paper.

    On a quadratic, f is a parabola and η(k+1) is the exact line-search step gᵀg / gᵀHg of the
    gradient it probed, used one step later: the Barzilai-Borwein (BB1) step.

    Precision: 4ε²f″ is about 1e-10 of the loss at ε = 1e-5, so both the probe *points* and the
    loss must be float64. ``probe_dtype="float64"`` (default) builds w − (η + jε)·g in float64
    and the forward pass then runs in float64; the closure sums per-sample losses in float64
    (how far off f″ comes out otherwise: docs/optimizers/learned-rate.md).
    ``probe_dtype="param"`` probes in the parameters' own dtype (to see that for yourself).
    Default η(0) = 0.01, ε = 1e-5, δ = 1e-6 are the paper's (LeNet, CIFAR-10).
    """

    hyperparameters = {**LEARNED_RATE, "eps": positive, "probe_dtype": choice(*PROBE_DTYPES)}
    shared = tuple(hyperparameters)

    def __init__(self, params: ParamsLike, lr: float = 0.01, eps: float = 1e-5, delta: float = 1e-6,
                 momentum: float = 0.0, eta_max: float | None = None, validation: bool = False,
                 probe_dtype: str = "float64") -> None:
        defaults = dict(lr=lr, eps=eps, delta=delta, momentum=momentum, eta_max=eta_max, validation=validation,
                        probe_dtype=probe_dtype)
        self.last_probe_losses: tuple[float, ...] = ()  # f(η−2ε), f(η−ε), f(η), f(η+ε), f(η+2ε) of the last step
        super().__init__(params, defaults)

    def eta_increment(
        self, params: list[Parameter], grads: list[Any], eta: float, f_closure: Closure, group: dict[str, Any]
    ) -> float:
        """Five probes, w ← w − η·g, then the Newton step −2ε·(f(η+ε) − f(η−ε)) / D."""
        eps, bases = group["eps"], [probe_base(p, group["probe_dtype"]) for p in params]
        directions = [g.astype(b.dtype, copy=False) for g, b in zip(grads, bases)]
        fm2, fm1, f0, fp1, fp2 = self.last_probe_losses = tuple(
            evaluate_at(f_closure, params, [b - s * d for b, d in zip(bases, directions)])[0]
            for s in (eta - 2 * eps, eta - eps, eta, eta + eps, eta + 2 * eps)
        )
        self.descend(params, grads, eta)
        curvature = fp2 + fm2 - 2 * f0
        if curvature == 0:
            curvature += group["delta"]
        return -2 * eps * (fp1 - fm1) / curvature
