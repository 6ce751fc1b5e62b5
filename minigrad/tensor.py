"""The :class:`Tensor`: an n-d array (NumPy or CuPy) with an optional gradient and graph link.

A Tensor holds ``data`` (a raw array), ``requires_grad``, ``grad`` (a raw array of the same
shape, filled by backward) and ``_ctx``, the op that produced it. Arithmetic, reductions and
shape methods call the op classes in :mod:`minigrad.ops`; nothing numeric happens here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import backend

# Python scalars and lists become float32 like PyTorch's default dtype; arrays keep theirs.
DEFAULT_FLOAT = np.float32


def scalar_dtype(value: bool | int | float, dtype: Any) -> np.dtype:
    """The dtype in which an array of ``dtype`` and the Python scalar ``value`` combine.

    PyTorch's rule, and NumPy 2's but for the width of the float: the scalar takes the array's
    dtype unless it is of a higher kind. A float with an integer or boolean array gives the
    default float dtype (float32; NumPy would give float64), an int with a boolean array gives
    int64. So ``Tensor([1, 2]) * 0.5`` is ``[0.5, 1.0]``, not truncated to ``[0, 0]``.
    """
    dtype = np.dtype(dtype)
    if isinstance(value, bool) or dtype.kind in "fc":
        return dtype
    if isinstance(value, int):
        return np.dtype(np.int64) if dtype.kind == "b" else dtype
    return np.dtype(DEFAULT_FLOAT) if dtype.kind in "biu" else dtype


# What a Tensor may hold: booleans, integers and floats. The names of the other dtype kinds say
# what was refused.
NUMERIC_KINDS = "biuf"
_KIND_NAMES = {
    "c": "complex numbers",
    "O": "Python objects (None, or values of mixed types)",
    "U": "strings",
    "S": "bytes",
    "M": "datetimes",
    "m": "timedeltas",
    "V": "raw or structured records",
}


def check_dtype(dtype: Any, where: str) -> np.dtype:
    """``dtype`` as a NumPy dtype if a Tensor can hold it (bool, integer, float), else a TypeError."""
    dtype = np.dtype(dtype)
    if dtype.kind not in NUMERIC_KINDS:
        raise TypeError(
            f"{where}: cannot hold data of dtype {dtype} ({_KIND_NAMES.get(dtype.kind, 'not numeric')}); "
            "expected booleans, integers or floating-point numbers"
        )
    return dtype


def _host_array(data: Any, dtype: Any) -> np.ndarray:
    """A Python scalar, NumPy scalar or nested sequence as a NumPy array, under the dtype rules.

    Python floats (alone or in sequences) become float32, PyTorch's default; NumPy scalars keep
    their dtype, as arrays do. Ragged sequences and None are refused with what is wrong with them.
    """
    if data is None:
        raise TypeError("Tensor(None): no data; give a number, a nested list of numbers or an array")
    try:
        array = np.asarray(data)
    except ValueError as exc:  # NumPy's message for ragged lists names no row
        raise ValueError(f"Tensor: {_ragged_description(data) or exc}") from exc
    if dtype is None and array.dtype == np.float64 and not isinstance(data, np.generic):
        array = array.astype(DEFAULT_FLOAT)
    return array


def _ragged_description(data: Any, path: str = "") -> str | None:
    """Where a nested sequence is ragged ("item [1] has shape (1,) but item [0] has (2,)"), or None."""
    if not isinstance(data, (list, tuple)):
        return None
    shapes = []
    for i, item in enumerate(data):
        inner = _ragged_description(item, f"{path}[{i}]")
        if inner is not None:
            return inner
        shapes.append(_nested_shape(item))
    for i, shape in enumerate(shapes[1:], start=1):
        if shape != shapes[0]:
            return (
                f"ragged nested sequence: item {path}[{i}] has shape {shape} but item {path}[0] has shape "
                f"{shapes[0]}; every row must have the same length"
            )
    return None


def _nested_shape(data: Any) -> tuple[int, ...]:
    """The shape of a nested sequence that is not ragged (its first item's shape, recursively)."""
    if isinstance(data, (list, tuple)):
        return (len(data), *(_nested_shape(data[0]) if data else ()))
    return tuple(getattr(data, "shape", ()))


def device_and_dtype(target: Any = None, dtype: Any = None) -> tuple[str | None, np.dtype | None]:
    """Read the arguments of ``.to(...)``: ``to("gpu")``, ``to(np.float64)``, ``to("gpu", np.float64)``.

    A string is a device name ("cpu" or "gpu"; anything else is refused, so ``"cuda"`` is an
    error rather than a dtype); anything else positional is a dtype. Returns (device, dtype),
    None for what was not given.
    """
    device = None
    if isinstance(target, str):
        device = backend.check_device(target)
    elif target is not None:
        if dtype is not None:
            raise TypeError(f"to(): dtype given twice ({target!r} and dtype={dtype!r})")
        dtype = target
    return device, (None if dtype is None else check_dtype(dtype, "to()"))


class Tensor:
    """An n-d array that records the ops applied to it, for reverse-mode differentiation.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is a NumPy or CuPy array (kept
    as is, no copy), a NumPy scalar (keeps its dtype), a Python scalar or a nested list (made a
    NumPy array; Python floats become float32, PyTorch's default). Booleans, integers and floats
    only: strings, objects, None, complex numbers and ragged lists are refused. Only
    floating-point tensors can require grad.

    >>> import numpy as np
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x.dtype, x.shape
    (dtype('float32'), (3,))
    >>> y = (x * x).sum()
    >>> y.item()
    14.0
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    >>> Tensor(np.float64(0.5)).dtype
    dtype('float64')
    >>> float(Tensor([2.5]))
    2.5
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "__weakref__")
    # NumPy must defer to our reflected operators (np_array * tensor -> Tensor.__rmul__) rather
    # than turn the Tensor into an object array.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        if not isinstance(data, xp.ndarray):
            data = _host_array(data, dtype)
        check_dtype(data.dtype, "Tensor")
        if dtype is not None and data.dtype != dtype:
            data = data.astype(check_dtype(dtype, "Tensor(dtype=...)"))
        if requires_grad and data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {data.dtype}")
        self.data = data
        self.grad: Any = None
        self.requires_grad = requires_grad
        self._ctx: Any = None
        self._retains_grad = False

    @classmethod
    def _from_op(cls, data: Any, ctx: Any) -> Tensor:
        """Wrap an op's output without the checks of ``__init__`` (the engine's fast path)."""
        t = object.__new__(Tensor)
        t.data, t.grad, t._ctx, t._retains_grad = data, None, ctx, False
        t.requires_grad = ctx is not None
        return t

    # ----- array facts -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return tuple(self.data.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(self.data.size)

    @property
    def dtype(self) -> Any:
        """The array's dtype."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"gpu"``."""
        return backend.device_of(self.data)

    @property
    def xp(self) -> Any:
        """The array module (numpy or cupy) of this tensor's data."""
        return backend.get_array_module(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an op."""
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def __bool__(self) -> bool:
        # Like NumPy: the truth of a one-element tensor, an error for more (never "always True").
        return bool(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='gpu'" if self.device == "gpu" else ""
        body = np.array2string(backend.to_numpy(self.data), precision=4, threshold=20, prefix="Tensor(")
        return f"Tensor({body}{dev}{grad})"

    # ----- autograd ----------------------------------------------------------------------------
    def backward(self, grad: Any = None) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on."""
        autograd.backward(self, grad)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (sets ``.grad`` to None, as PyTorch's default does)."""
        self.grad = None

    def retain_grad(self) -> Tensor:
        """Also store ``.grad`` on this non-leaf tensor during backward."""
        self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """A tensor sharing this data, cut from the graph and not requiring grad."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only) and return self."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad_ can only change leaf tensors")
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.requires_grad = flag
        return self

    # ----- conversion --------------------------------------------------------------------------
    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number (a host sync on the GPU)."""
        return self._one_element("item()")

    def __float__(self) -> float:
        """``float(t)`` for a one-element tensor, as in PyTorch (a host sync on the GPU)."""
        return float(self._one_element("float()"))

    def __int__(self) -> int:
        """``int(t)`` for a one-element tensor, truncated toward zero as ``int(2.7)`` is."""
        return int(self._one_element("int()"))

    def _one_element(self, what: str) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"{what} needs a one-element tensor, got shape {self.shape}")
        return self.data.reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array on the host (copies from the GPU)."""
        return backend.to_numpy(self.data)

    def to(self, device_or_dtype: Any = None, dtype: Any = None) -> Tensor:
        """This tensor on another device and/or in another dtype: ``to("gpu")``, ``to(np.float64)``, both.

        Self when nothing changes. A move to another device is a copy that keeps
        ``requires_grad`` (a new leaf, as before); a dtype change is :meth:`astype`, differentiable.
        """
        device, dtype = device_and_dtype(device_or_dtype, dtype)
        out = self
        if device is not None:
            data = backend.to_device(self.data, device)
            if data is not self.data:
                out = Tensor(data, requires_grad=self.requires_grad and self.is_leaf)
        if dtype is not None and dtype != out.dtype:
            out = out.astype(dtype)
        return out

    def astype(self, dtype: Any) -> Tensor:
        """Cast to ``dtype`` (differentiable between floating types)."""
        return ops.Cast.apply(self, dtype=np.dtype(dtype))

    # ----- arithmetic --------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self) if isinstance(other, Tensor) else ops.Add.apply(self, other)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(_like(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(_like(other, self), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor):
            return ops.Pow.apply(self, exponent)
        return ops.PowScalar.apply(self, exponent=exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.Pow.apply(_like(base, self), self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(_like(other, self), self)

    # Comparisons give constant boolean tensors (no gradient flows through them).
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < _raw(other))

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= _raw(other))

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > _raw(other))

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= _raw(other))

    def eq(self, other: Any) -> Tensor:
        """Element-wise equality as a constant boolean tensor (``==`` keeps identity semantics)."""
        return Tensor(self.data == _raw(other))

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=index)

    # ----- element-wise functions ----------------------------------------------------------------
    def exp(self) -> Tensor:
        """e to the power of each element."""
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        """Natural logarithm of each element."""
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        """Square root of each element."""
        return ops.Sqrt.apply(self)

    def abs(self) -> Tensor:
        """Absolute value of each element (gradient 0 at 0)."""
        return ops.Abs.apply(self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent of each element."""
        return ops.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        """Logistic sigmoid of each element."""
        return ops.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0) element-wise."""
        return ops.ReLU.apply(self)

    def sin(self) -> Tensor:
        """Sine of each element (radians)."""
        return ops.Sin.apply(self)

    def cos(self) -> Tensor:
        """Cosine of each element (radians)."""
        return ops.Cos.apply(self)

    # ----- reductions --------------------------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes by default)."""
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; the gradient goes to the first maximal element."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        """Indices of the maxima (a constant int64 tensor)."""
        return Tensor(self.data.argmax(axis=axis))

    # ----- shape -------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape (one dimension may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.Reshape.apply(self, shape=shape)

    def flatten(self, start_dim: int = 0) -> Tensor:
        """Merge dimensions from ``start_dim`` on into one."""
        return self.reshape(*self.shape[:start_dim], -1)

    def transpose(self, *axes: int) -> Tensor:
        """Permute dimensions (reverse them when no axes are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        """The tensor with its dimensions reversed."""
        return self.transpose()


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _like(x: Any, ref: Tensor) -> Any:
    """An array operand as a constant Tensor with ``ref``'s dtype and device (for reflected ops).

    Python scalars are passed through: ``Function.apply`` gives them the promoted dtype.
    """
    if isinstance(x, (Tensor, bool, int, float)):
        return x
    return Tensor(ref.xp.asarray(x, dtype=ref.data.dtype))


class Parameter(Tensor):
    """A Tensor that a :class:`layers.Module` owns and an optimizer updates (requires grad)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


from minigrad import autograd, ops  # noqa: E402  (ops build Tensors; import after the class exists)
