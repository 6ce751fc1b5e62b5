"""The autograd engine: the op contract (:class:`Function`), grad mode, and reverse-mode backward.

An op is one small subclass of :class:`Function`. ``forward`` computes on raw arrays (NumPy or
CuPy) and saves on ``self`` what ``backward`` will need; ``backward`` receives the gradient of
the output and returns one gradient per input (``None`` for an input that needs none). The
engine, not the op, sums gradients over broadcast dimensions, so a new op never touches this
file.

Backward walks the graph in reverse topological order, found by an iterative depth-first search
(no recursion, so a 10,000-op chain works). Gradients of leaves accumulate across backward calls,
as in PyTorch: call ``zero_grad`` between steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from minigrad.backend import device_of, get_array_module, unwrap

if TYPE_CHECKING:
    from minigrad.tensor import Tensor

_grad_enabled = True


def is_grad_enabled() -> bool:
    """Whether ops currently record the graph for backward."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager under which ops record no graph (evaluation, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


class Function:
    """Base class of every op: subclass it and write ``forward`` and ``backward``.

    ``apply(*inputs, **params)`` is how an op is called: it builds the op with ``params``,
    unwraps the inputs to raw arrays, runs ``forward``, and (when a gradient is needed) links
    the result into the graph. Inside ``forward``/``backward``, ``self.needs_input_grad[i]``
    says whether input ``i`` wants a gradient, so an op can skip work nobody will use.
    """

    inputs: tuple[Tensor, ...]
    needs_input_grad: tuple[bool, ...]

    def forward(self, *xs: Any) -> Any:
        """Compute the output array from input arrays; save what backward needs on ``self``."""
        raise NotImplementedError

    def backward(self, grad: Any) -> Any:
        """Return the gradient for each input (a tuple, or one array for a one-input op).

        Each gradient is a new array, or ``grad`` itself or a view of it (the engine copies
        those before they become a ``.grad``); never an array the op keeps.
        """
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run the op on Tensors (Python scalars and raw arrays are wrapped as constants)."""
        from minigrad.tensor import Tensor

        fn = cls(**params)
        tensors = _as_tensors(inputs, cls.__name__)
        fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
        out = fn.forward(*(t.data for t in tensors))
        requires_grad = _grad_enabled and any(fn.needs_input_grad)
        if requires_grad:
            fn.inputs = tensors
            return Tensor._from_op(out, fn)
        return Tensor._from_op(out, None)


def _as_tensors(inputs: tuple[Any, ...], op_name: str) -> tuple[Tensor, ...]:
    """Wrap non-Tensor inputs as constants on the first Tensor's device, and check devices.

    Python scalars are "weak", as in PyTorch and NumPy 2: they take the first Tensor's dtype
    unless they are of a higher kind (see :func:`minigrad.tensor.scalar_dtype`), so a float32
    tensor times 2.5 stays float32 but an integer tensor times 0.5 is not truncated.
    """
    from minigrad.tensor import Tensor, scalar_dtype

    ref = next((x for x in inputs if isinstance(x, Tensor)), None)
    if ref is None:
        raise TypeError(f"{op_name} needs at least one Tensor input")
    xp = get_array_module(ref.data)
    dtype = ref.data.dtype
    for x in inputs:
        if isinstance(x, (bool, int, float)):
            dtype = scalar_dtype(x, dtype)
    # A float scalar with an integer tensor: convert the integer/boolean tensors too, since NumPy
    # would compute int64 with a float32 array in float64.
    promoted = dtype != ref.data.dtype
    out = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            if isinstance(x, (bool, int, float)):
                x = Tensor(xp.asarray(x, dtype=dtype))
            else:
                x = Tensor(x)
        elif promoted and x.data.dtype.kind in "biu":
            x = Tensor(x.data.astype(dtype))  # never requires grad: only float tensors can
        if get_array_module(x.data) is not xp:
            raise RuntimeError(
                f"{op_name}: input {i} is on {device_of(x.data)} but input "
                f"{inputs.index(ref)} is on {device_of(ref.data)}; move them to one device "
                "with .to('cpu') or .to('gpu')"
            )
        out.append(x)
    return tuple(out)


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor that ``root`` depends on and that requires grad, inputs before outputs.

    An iterative depth-first search: each node is pushed once to be expanded and once more to
    be emitted after all of its inputs, so deep graphs never hit Python's recursion limit.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            for parent in node._ctx.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> tuple[Any, bool]:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched to reach ``shape``.

    Also says whether the result is a new array (it summed something) or ``grad`` or a view of it.
    """
    if grad.shape == shape:
        return grad, False
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(i + extra for i, n in enumerate(shape) if n == 1 and grad.shape[i + extra] != 1)
    if not axes:
        return grad.reshape(shape), False
    return grad.sum(axis=axes, keepdims=True).reshape(shape), True


def backward(root: Tensor, grad: Any = None) -> None:
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

    Every gradient is cast to the dtype of the tensor it is for (a float32 parameter gets a
    float32 gradient even when a float64 operand made the graph compute in float64, as in
    PyTorch), and each ``.grad`` that backward stores is an array of its own: no other
    ``.grad``, no array of the caller's and no array an op keeps shares its memory.
    """
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (built under no_grad, or from constants)")
    xp = get_array_module(root.data)
    # Ids of the entries of ``grads`` that are new arrays nothing else refers to, which may
    # become a ``.grad`` without a copy. The others may be shared: the caller's array given to
    # backward(g), or what an op's backward passed through (Add returns ``g`` for both inputs,
    # Reshape a view of ``g``). Copying only those saves more than the copy: in LeNet, copying
    # fc1's fresh 192 KB gradient too made glibc trim and re-fault the heap each step (2x time).
    fresh: set[int] = set()
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar output, got shape {root.shape}")
        grad = xp.ones_like(root.data)
        fresh.add(id(root))
    else:
        grad = xp.asarray(unwrap(grad), dtype=root.data.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward(): gradient shape {grad.shape} does not match output shape {root.shape}")
    grads: dict[int, Any] = {id(root): grad}
    for node in reversed(topological_order(root)):
        key = id(node)
        g = grads.pop(key, None)
        if g is None:
            continue
        owned = key in fresh
        fresh.discard(key)
        fn = node._ctx
        if fn is None or node._retains_grad:
            if node.grad is None:
                node.grad = g if owned else g.copy()
            else:
                node.grad = node.grad + g  # a new array: one the caller kept is not changed
        if fn is None:
            continue
        in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if len(in_grads) != len(fn.inputs):
            raise RuntimeError(
                f"{type(fn).__name__}.backward returned {len(in_grads)} gradients for {len(fn.inputs)} inputs"
            )
        returned: list[Any] = []
        for parent, pg in zip(fn.inputs, in_grads):
            if pg is None or not parent.requires_grad:
                continue
            # New unless it overlaps ``g`` or another gradient of this call (a cheap bounds
            # check; a false "may share" only costs a copy).
            shared = any(xp.may_share_memory(pg, other) for other in (g, *returned))
            returned.append(pg)
            pg, reduced = unbroadcast(pg, parent.shape)
            new = reduced or not shared
            if pg.dtype != parent.data.dtype:
                # E.g. float32 weights - float64 target: cast here, so the rest of the backward
                # pass runs in the parameters' dtype and their .grad has it.
                pg, new = pg.astype(parent.data.dtype), True
            pkey = id(parent)
            if pkey in grads:
                grads[pkey] = grads[pkey] + pg
                new = True
            else:
                grads[pkey] = pg
            if new:
                fresh.add(pkey)
