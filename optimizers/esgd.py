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
from optimizers.base import Optimizer, ParamsLike, check_nonnegative, check_positive
from optimizers.closure import Closure, check_probe_dtype, dot, evaluate_at, probe_base, require_closure


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
    a spike of size jump/2r; the number of crossings grows with r. Measured on LeNet-5 at
    initialisation (64 MNIST images): at the default r no coordinate differs from the product at
    r/10; at 10·r, 212 coordinates are off by more than 10× the median |Hv|; float32 probes get
    31,881 of 61,706 coordinates wrong. Costs two forward and backward passes.

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
    check_positive("r", r)
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

    Defaults ε = 0.02, λ = 0.03 are ours, measured on LeNet-5/MNIST (batch 64, 2 epochs: 96.7 %
    test accuracy on 2,000 images). λ is not scale-free: the paper picks it from 1e-4, 1e-5,
    1e-6 for its losses; with minigrad's mean cross-entropy, λ = 1e-4 sent LeNet-5 to NaN within
    10 steps at ε = 0.01 and stalled it at ε = 0.05. Many coordinates get exactly zero curvature
    from one minibatch (weights into ReLUs that are dead on it) while later minibatches give
    them a gradient, so their step is ε·g/λ; and until the next sample (k steps later) D/i is a
    single χ²₁ draw per coordinate, near 0 for some of them.
    """

    needs_closure = True

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 0.02,
        damping: float = 0.03,
        update_every: int = 20,
        hvp_r: float | None = None,
        probe_dtype: str = "float64",
    ) -> None:
        defaults = {"lr": lr, "damping": damping, "update_every": update_every, "hvp_r": hvp_r,
                    "probe_dtype": probe_dtype}
        super().__init__(params, defaults)
        self.steps = 0

    def validate_group(self, group: dict[str, Any]) -> None:
        """lr ≥ 0, damping > 0, update_every an int ≥ 1, hvp_r None or > 0; the HVP settings shared."""
        check_nonnegative("lr", group["lr"])
        check_positive("damping", group["damping"])
        k = group["update_every"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"update_every must be an int >= 1, got {k!r}")
        if group["hvp_r"] is not None:
            check_positive("hvp_r", group["hvp_r"])
        check_probe_dtype(group["probe_dtype"])
        # One H·v over all parameters per refresh: its settings cannot differ between groups.
        for key in ("update_every", "hvp_r", "probe_dtype"):
            if self.param_groups and group[key] != self.param_groups[0][key]:
                raise ValueError(f"ESGD samples H·v for all parameters at once: {key} differs between groups")

    def init_state(self, p: Parameter) -> dict[str, Any]:
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
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state_for(p)
                    state["step"] += 1
                    p.data -= group["lr"] * p.grad / (p.xp.sqrt(state["D"] / state["samples"]) + group["damping"])
        return loss

    def sample_curvature(self, closure: Closure) -> None:
        """D ← D + (H·v)², i ← i + 1 for every parameter, with v ~ N(0, I) (the gradients are kept)."""
        group = self.param_groups[0]
        params = [p for g in self.param_groups for p in g["params"]]
        products = random_hessian_products(closure, params, group["hvp_r"], group["probe_dtype"])
        for p, hv in zip(params, products):
            state = self.state_for(p)
            state["D"] += hv * hv
            state["samples"] += 1

    def state_dict(self) -> dict[str, Any]:
        """The base state dict plus the global step count (which decides when to sample)."""
        return {**super().state_dict(), "esgd": {"steps": self.steps}}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; v's generator is restored with ``minigrad.random.set_state``."""
        super().load_state_dict({"state": {}, **saved})
        self.steps = int(saved["esgd"]["steps"])
