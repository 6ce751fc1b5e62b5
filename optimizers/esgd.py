"""Equilibrated SGD (Dauphin, de Vries & Bengio 2015) and the Hessian-vector products it is built on.

This module owns :func:`hessian_vector_product` (central differences of gradients through a
closure; also the curvature source of Dozat's hyperalgorithm, "equilibrated") and the
:class:`ESGD` optimizer, whose preconditioner √(D/i) estimates √diag(H²) from products Hv with
Gaussian v. minigrad's autograd has no double backward (no R-op, no forward-over-reverse), so
there is no exact product: Hv is always a finite difference, documented in the function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minigrad import Parameter, no_grad
from minigrad import random as mrandom
from optimizers.base import Optimizer, ParamsLike
from optimizers.closure import PROBE_DTYPES, Closure, check_probe_dtype, dot, evaluate_at, probe_base, require_closure
from optimizers.validation import choice, count, nonnegative, optional, positive


def hessian_vector_product(
    closure: Closure,
    params: Sequence[Parameter],
    vectors: Sequence[Any],
    r: float | None = None,
    probe_dtype: str = "float64",
) -> list[Any]:
    """H·v for the loss of ``closure`` at the parameters' current values, one array per parameter.

    Central differences of two gradients through the closure (contract: :mod:`optimizers.closure`)::

        Hv ≈ (∇L(θ + r·v) − ∇L(θ − r·v)) / 2r

    exact for a quadratic loss, with error O(r²·‖∇³L‖) from truncation plus O(u·‖∇L‖/r) from
    rounding (u the unit roundoff). The two balance at r ∝ u^(1/3), so by default
    r = u^(1/3)·(1 + ‖θ‖)/‖v‖: the probe moves θ by about u^(1/3) of its size, far above the
    rounding of θ itself. With ``probe_dtype="float64"`` (default) θ ± r·v and both gradients are
    computed in float64 (u^(1/3) ≈ 6e-6), whatever the training dtype; ``"param"`` uses the
    parameters' own dtype (float32: u^(1/3) ≈ 5e-3, much coarser). A ReLU or max-pool network's
    loss is only piecewise smooth, and a probe that crosses a kink turns the gradient's jump into
    a spike of size jump/2r; the number of crossings grows with r (how many, on LeNet-5, at the
    default r, at 10·r and with float32 probes: docs/optimizers/esgd.md). Costs two forward and
    backward passes.

    ``vectors`` match ``params`` in shape (any array module the parameters use). The results have
    each parameter's dtype. Afterwards every parameter holds the same array and ``.grad`` it held
    before: the weights are bit-identical (see :func:`optimizers.closure.evaluate_at`).
    """
    params, vectors = list(params), list(vectors)
    if len(params) != len(vectors) or any(tuple(v.shape) != p.shape for p, v in zip(params, vectors)):
        raise ValueError("hessian_vector_product: vectors must match params one to one, in shape")
    check_probe_dtype(probe_dtype)
    bases = [probe_base(p, probe_dtype) for p in params]
    vs = [p.xp.asarray(v, dtype=b.dtype) for p, v, b in zip(params, vectors, bases)]
    v_norm = dot(vs, vs) ** 0.5
    if v_norm == 0:
        return [p.xp.zeros_like(p.data) for p in params]
    if r is None:
        u = float(params[0].xp.finfo(bases[0].dtype).eps)
        r = u ** (1 / 3) * (1 + dot(bases, bases) ** 0.5) / v_norm
    positive("r", r)
    _, plus = evaluate_at(closure, params, [b + r * v for b, v in zip(bases, vs)], need_grad=True)
    _, minus = evaluate_at(closure, params, [b - r * v for b, v in zip(bases, vs)], need_grad=True)
    return [((a - c) / (2 * r)).astype(p.dtype, copy=False) for p, a, c in zip(params, plus, minus)]


def random_hessian_products(
    closure: Closure, params: Sequence[Parameter], r: float | None = None, probe_dtype: str = "float64"
) -> list[Any]:
    """H·v for one v ~ N(0, I) over all ``params``: a sample whose square has mean diag(H²).

    v is drawn from ``minigrad.random.generator(xp)``, one standard normal array per parameter in
    order, in the probe dtype (float64 by default); H·v is :func:`hessian_vector_product`.
    """
    params = list(params)
    wide = probe_dtype == "float64"
    vs = [mrandom.generator(p.xp).standard_normal(p.shape, dtype="float64" if wide else p.dtype) for p in params]
    return hessian_vector_product(closure, params, vs, r, probe_dtype)


class ESGD(Optimizer):
    """Equilibrated SGD: Dauphin, de Vries & Bengio (2015), Algorithm 1, with the authors' amortisation::

        every k-th step (steps 1, k+1, 2k+1, …):  v ~ N(0, I);  D ← D + (H·v)²;  i ← i + 1
        every step:                               θ ← θ − ε·g / (√(D/i) + λ)

    i counts curvature samples, not steps; D/i estimates diag(H²) (E[(Hv)²] = diag(H²)), whose
    root is the equilibration preconditioner. ε is ``lr``, λ ``damping``, k ``update_every``
    (20, the authors' amortisation). H·v is :func:`hessian_vector_product` on the step's
    minibatch through the closure (``hvp_r`` and ``probe_dtype`` are passed on), so ESGD needs
    one: ``loss = opt.step(closure)``. v is drawn from ``minigrad.random.generator(xp)``, one
    standard normal array per parameter in group order, in the probe dtype; every parameter is
    sampled, with or without a gradient, so all share one i.

    Defaults ε = 0.02, λ = 0.03 are minigrad's choice for LeNet-5 on MNIST at batch 64 (the runs
    behind them: docs/optimizers/esgd.md). λ is not scale-free: the paper picks it from 1e-4,
    1e-5, 1e-6 for its losses, which are not minigrad's mean cross-entropy. Many coordinates get
    exactly zero curvature from one minibatch (weights into ReLUs that are dead on it) while
    later minibatches give them a gradient, so their step is ε·g/λ; and until the next sample
    (k steps later) D/i is a single χ²₁ draw per coordinate, near 0 for some of them. λ > 0 is
    required for that reason. A group's ``lr_mults`` are refused.
    """

    needs_closure = True
    takes_lr_mults = False
    hyperparameters = {"lr": nonnegative, "damping": positive, "update_every": count, "hvp_r": optional(positive),
                       "probe_dtype": choice(*PROBE_DTYPES)}
    # One H·v over all parameters per refresh: its settings cannot differ between groups.
    shared = ("update_every", "hvp_r", "probe_dtype")
    shared_reason = "samples H·v for all parameters at once"

    def __init__(self, params: ParamsLike, lr: float = 0.02, damping: float = 0.03, update_every: int = 20,
                 hvp_r: float | None = None, probe_dtype: str = "float64") -> None:
        defaults = dict(lr=lr, damping=damping, update_every=update_every, hvp_r=hvp_r, probe_dtype=probe_dtype)
        super().__init__(params, defaults)
        self.steps = 0

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """D, the sum of (Hv)², zeros like the parameter, and i, the number of samples in it."""
        return {"D": p.xp.zeros_like(p.data), "samples": 0}

    def step(self, closure: Closure | None = None) -> float:
        """Loss and gradient through the closure, a curvature sample every k-th step, then the update."""
        closure = require_closure(self, closure)
        loss = closure()
        first = self.param_groups[0]
        self.steps += 1
        fresh = any(p not in self.state for g in self.param_groups for p in g["params"])  # e.g. a group added later
        if (self.steps - 1) % first["update_every"] == 0 or fresh:
            self.sample_curvature(closure)
        with no_grad():
            for group in self.param_groups:
                for p, g in zip(group["params"], self.gradients(group)):
                    if g is not None:
                        state = self.state_for(p, group)
                        state["step"] += 1
                        p.data -= group["lr"] * g / (p.xp.sqrt(state["D"] / state["samples"]) + group["damping"])
        return loss

    def sample_curvature(self, closure: Closure) -> None:
        """D ← D + (H·v)², i ← i + 1 for every parameter, with v ~ N(0, I) (the gradients are kept)."""
        first = self.param_groups[0]
        pairs = [(p, group) for group in self.param_groups for p in group["params"]]
        products = random_hessian_products(closure, [p for p, _ in pairs], first["hvp_r"], first["probe_dtype"])
        for (p, group), hv in zip(pairs, products):
            state = self.state_for(p, group)
            state["D"] += hv * hv
            state["samples"] += 1

    def state_dict(self) -> dict[str, Any]:
        """The base state dict plus the global step count (which decides when to sample)."""
        return {**super().state_dict(), "esgd": {"steps": self.steps}}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; v's generator is restored with ``minigrad.random.set_state``."""
        super().load_state_dict({"state": {}, **saved})
        self.steps = int(saved["esgd"]["steps"])
