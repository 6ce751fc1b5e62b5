"""Numerical gradient checking in float64 with central differences.

:func:`gradcheck` compares backprop against finite differences of the scalar
L(x) = ⟨f(x), ḡ⟩ for a random upstream gradient ḡ: along one random direction d (one scalar
comparison, cheap even for convolutions) and, when the inputs and output are small, entry by
entry over the full Jacobian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.autograd import no_grad
from minigrad.backend import get_array_module, to_numpy
from minigrad.tensor import Tensor


class GradcheckError(AssertionError):
    """Backprop and finite differences disagree."""


def _fmt(name: str, value: Any) -> str:
    return f"{name}:\n{np.array2string(np.asarray(to_numpy(value)), precision=6, threshold=200)}"


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    jacobian_max_size: int = 64,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``f(*inputs)`` w.r.t. every input that requires grad.

    Every input must be float64 (float32 central differences are dominated by rounding). Raises
    :class:`GradcheckError` with the inputs and both derivatives on a mismatch; returns True.
    ``jacobian_max_size`` bounds the input and output sizes for the full Jacobian check.
    """
    inputs = list(inputs)
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.dtype.kind == "f" and t.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 inputs; input {i} is {t.dtype}")
    xp = get_array_module(wrt[0].data)
    rng = np.random.default_rng(seed)

    with no_grad():
        out_shape = f(*inputs).shape
    upstream = xp.asarray(rng.standard_normal(out_shape))

    def scalar_loss() -> float:
        with no_grad():
            return float((f(*inputs).data * upstream).sum())

    def analytic(g_out: Any) -> list[Any]:
        for t in wrt:
            t.grad = None
        f(*inputs).backward(g_out)
        return [xp.zeros_like(t.data) if t.grad is None else t.grad.copy() for t in wrt]

    grads = analytic(upstream)

    # 1. Directional derivative along a random direction d.
    directions = [xp.asarray(rng.standard_normal(t.shape)) for t in wrt]
    originals = [t.data.copy() for t in wrt]
    for t, x0, d in zip(wrt, originals, directions):
        t.data = x0 + eps * d
    plus = scalar_loss()
    for t, x0, d in zip(wrt, originals, directions):
        t.data = x0 - eps * d
    minus = scalar_loss()
    for t, x0 in zip(wrt, originals):
        t.data = x0
    numeric_dir = (plus - minus) / (2 * eps)
    analytic_dir = float(sum((g * d).sum() for g, d in zip(grads, directions)))
    if not np.isclose(analytic_dir, numeric_dir, atol=atol, rtol=rtol):
        raise GradcheckError(
            f"directional derivative mismatch: backprop {analytic_dir:.10g} vs numeric {numeric_dir:.10g}\n"
            + "\n".join(_fmt(f"input {i}", t.data) for i, t in enumerate(wrt))
            + "\n"
            + "\n".join(_fmt(f"backprop grad {i}", g) for i, g in enumerate(grads))
        )

    # 2. Full Jacobian, row by row (backprop) and column by column (finite differences).
    out_size = int(np.prod(out_shape)) if out_shape else 1
    if out_size > jacobian_max_size or any(t.size > jacobian_max_size for t in wrt):
        return True
    rows = []
    for k in range(out_size):
        onehot = xp.zeros(out_size)
        onehot[k] = 1.0
        rows.append(analytic(onehot.reshape(out_shape)))
    for i, t in enumerate(wrt):
        x0 = t.data.copy()
        # (out, in), filled row by row: np.stack would refuse the zero rows of an empty output,
        # whose Jacobian is empty and so trivially matches.
        backprop_jac = np.zeros((out_size, t.size))
        for k, r in enumerate(rows):
            backprop_jac[k] = to_numpy(r[i]).ravel()
        numeric_jac = np.empty_like(backprop_jac)
        for m in range(t.size):
            for sign in (1, -1):
                bumped = x0.copy()
                bumped.reshape(-1)[m] += sign * eps
                t.data = bumped
                with no_grad():
                    value = to_numpy(f(*inputs).data).ravel()
                numeric_jac[:, m] = value if sign == 1 else (numeric_jac[:, m] - value) / (2 * eps)
        t.data = x0
        if not np.allclose(backprop_jac, numeric_jac, atol=atol, rtol=rtol):
            raise GradcheckError(
                f"Jacobian mismatch for input {i} (rows: outputs, columns: input elements)\n"
                + _fmt("input", x0)
                + "\n"
                + _fmt("backprop Jacobian", backprop_jac)
                + "\n"
                + _fmt("numeric Jacobian", numeric_jac)
            )
    return True
