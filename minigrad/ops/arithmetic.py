"""Element-wise ops: arithmetic, powers, exp/log/sqrt, sin/cos, sigmoid/softplus/log-sigmoid, maximum/where,
casts, matmul.

Each backward returns gradients at the broadcast output shape; the engine sums them back to
each input's shape. ``self.needs_input_grad`` lets an op skip gradients nobody asked for.
"""

from __future__ import annotations

from typing import Any

from minigrad.autograd import Function
from minigrad.backend import get_array_module, unwrap


class Add(Function):
    """a + b."""

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def backward(self, g: Any) -> tuple[Any, Any]:
        return g, g


class Sub(Function):
    """a − b."""

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def backward(self, g: Any) -> tuple[Any, Any]:
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    """a · b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: Any) -> tuple[Any, Any]:
        ga = g * self.b if self.needs_input_grad[0] else None
        gb = g * self.a if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """a / b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a / b

    def backward(self, g: Any) -> tuple[Any, Any]:
        ga = g / self.b if self.needs_input_grad[0] else None
        gb = -g * self.a / (self.b * self.b) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """−a."""

    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, g: Any) -> Any:
        return -g


class PowScalar(Function):
    """a ** p for a constant exponent p."""

    def __init__(self, exponent: float) -> None:
        self.p = exponent

    def forward(self, a: Any) -> Any:
        self.a = a
        return a**self.p

    def backward(self, g: Any) -> Any:
        return g * (self.p * self.a ** (self.p - 1))


class Pow(Function):
    """a ** b for tensors a > 0 (where b needs a gradient) and b."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g: Any) -> tuple[Any, Any]:
        xp = get_array_module(g)
        ga = g * self.b * self.a ** (self.b - 1) if self.needs_input_grad[0] else None
        gb = g * self.out * xp.log(self.a) if self.needs_input_grad[1] else None
        return ga, gb


class Exp(Function):
    """e ** a."""

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).exp(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out


class Log(Function):
    """Natural logarithm."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, g: Any) -> Any:
        return g / self.a


class Sqrt(Function):
    """Square root."""

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).sqrt(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g / (2 * self.out)


class Abs(Function):
    """|a|, with gradient sign(a) (0 at 0)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return abs(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).sign(self.a)


class Tanh(Function):
    """Hyperbolic tangent."""

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).tanh(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * (1 - self.out * self.out)


def stable_sigmoid(a: Any) -> Any:
    """1 / (1 + e^−a) without overflow: e^−|a| <= 1 is the only exponential taken."""
    xp = get_array_module(a)
    e = xp.exp(-abs(a))
    return xp.where(a >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """1 / (1 + e^−a), computed without overflow for large |a|."""

    def forward(self, a: Any) -> Any:
        self.out = stable_sigmoid(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out * (1 - self.out)


class Softplus(Function):
    """(1/β)·log(1 + e^(β·a)), as max(z, 0) + log1p(e^−|z|) for z = β·a: exact and finite for any |a|.

    Its derivative is sigmoid(β·a). PyTorch switches to the identity above a threshold; this
    form needs none (for large z, log1p(e^−|z|) underflows to 0 by itself).
    """

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.z = a if self.beta == 1 else a * self.beta
        out = xp.maximum(self.z, 0) + xp.log1p(xp.exp(-abs(self.z)))
        return out if self.beta == 1 else out / self.beta

    def backward(self, g: Any) -> Any:
        return g * stable_sigmoid(self.z)


class LogSigmoid(Function):
    """log sigmoid(a) = min(a, 0) − log1p(e^−|a|): finite for any |a| (log of 1/(1 + e^−a) is not)."""

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.a = a
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-abs(a)))

    def backward(self, g: Any) -> Any:
        return g * stable_sigmoid(-self.a)  # d/da log sigmoid(a) = 1 − sigmoid(a) = sigmoid(−a)


class Sin(Function):
    """Sine (radians)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).sin(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).cos(self.a)


class Cos(Function):
    """Cosine (radians)."""

    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).cos(a)

    def backward(self, g: Any) -> Any:
        return -g * get_array_module(g).sin(self.a)


class Maximum(Function):
    """Element-wise max(a, b); at ties the gradient is split equally, as PyTorch does."""

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return get_array_module(a).maximum(a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        share_a = (self.a > self.b) + 0.5 * (self.a == self.b)
        ga = g * share_a if self.needs_input_grad[0] else None
        gb = g * (1 - share_a) if self.needs_input_grad[1] else None
        return ga, gb


class Where(Function):
    """``cond ? a : b`` with a constant boolean ``cond``."""

    def __init__(self, cond: Any) -> None:
        self.cond = unwrap(cond)

    def forward(self, a: Any, b: Any) -> Any:
        return get_array_module(a).where(self.cond, a, b)

    def backward(self, g: Any) -> tuple[Any, Any]:
        xp = get_array_module(g)
        ga = xp.where(self.cond, g, 0) if self.needs_input_grad[0] else None
        gb = xp.where(self.cond, 0, g) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    """Change dtype; the gradient is cast back to the input's dtype."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype

    def forward(self, a: Any) -> Any:
        self.in_dtype = a.dtype
        return a.astype(self.dtype)

    def backward(self, g: Any) -> Any:
        return g.astype(self.in_dtype)


class MatMul(Function):
    """Matrix product ``a @ b`` with NumPy's rules (1-d operands, batched leading dims)."""

    def forward(self, a: Any, b: Any) -> Any:
        # Function.apply puts the op's name and both shapes in front of these messages.
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul needs operands of at least one dimension each")
        inner_a, inner_b = a.shape[-1], b.shape[0 if b.ndim == 1 else -2]
        if inner_a != inner_b:
            raise ValueError(
                f"the last dimension of the first ({inner_a}) must equal the "
                f"{'length' if b.ndim == 1 else 'second-to-last dimension'} of the second ({inner_b})"
            )
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: Any) -> tuple[Any, Any]:
        a, b = self.a, self.b
        # Promote 1-d operands to matrices so one formula serves every case, then undo it.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # The output lost b's column axis (last) and a's row axis (before it): restore the last one
        # first, so that for vector @ vector the 0-d g becomes (1,) and then (1, 1).
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = g2 @ b2.swapaxes(-1, -2)
            ga = ga[..., 0, :] if a.ndim == 1 else ga
            if ga.ndim > a.ndim:  # a was broadcast over b's batch dims
                ga = ga.sum(axis=tuple(range(ga.ndim - a.ndim)))
        if self.needs_input_grad[1]:
            gb = a2.swapaxes(-1, -2) @ g2
            gb = gb[..., 0] if b.ndim == 1 else gb
            if gb.ndim > b.ndim:
                gb = gb.sum(axis=tuple(range(gb.ndim - b.ndim)))
        return ga, gb
