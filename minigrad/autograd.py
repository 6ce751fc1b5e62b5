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
from typing import Any

from minigrad.backend import device_of, get_array_module, unwrap

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
        fn = cls(**params)
        tensors = _as_tensors(inputs, cls.__name__)
        fn.needs_input_grad = tuple(t.requires_grad for t in tensors)
        try:
            out = fn.forward(*(t.data for t in tensors))
        except ValueError as exc:
            if type(exc) is not ValueError:  # a subclass (LinAlgError, ...) is the op's own: keep it
                raise
            # NumPy's broadcasting and shape errors name neither the op nor always both shapes.
            shapes = ", ".join(str(t.shape) for t in tensors)
            raise ValueError(f"{cls.__name__} on inputs of shapes {shapes}: {exc}") from exc
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

    The chain rule in reverse topological order: each node's gradient is complete once every
    node that uses it has been visited, so its op's backward runs once and hands one gradient
    to each input. :class:`PendingGradients` keeps the rules for those hand-overs.
    """
    pending = PendingGradients(root, grad)
    for node in reversed(topological_order(root)):
        g = pending.pop(node)
        if g is None:  # the ops between it and root handed it none (a backward returned None)
            continue
        if node._ctx is None or node._retains_grad:
            pending.store(node, g)
        if node._ctx is not None:
            pending.hand_to_inputs(node._ctx, g, node._ctx.backward(g))


class PendingGradients:
    """The gradients of one backward pass on their way to the tensors they are for.

    The rules for handing a gradient on, kept out of :func:`backward`'s walk:

    - Unbroadcast: a gradient is summed over the dimensions its input was broadcast along.
    - Dtype: it is cast to the dtype of the tensor it is for (a float32 parameter gets a float32
      gradient even when a float64 operand made the graph compute in float64, as in PyTorch),
      so the rest of the pass runs in the inputs' dtypes.
    - Accumulation: gradients reaching one tensor along several paths add up, and a ``.grad``
      from an earlier backward is replaced by the sum, a new array (one the caller kept is not
      changed).
    - Ownership: every ``.grad`` stored is an array of its own. No other ``.grad``, no array of
      the caller's and no array an op keeps shares its memory.

    Ownership is where copies are saved. A gradient that is a new array nothing else refers to
    ("owned") becomes a ``.grad`` as it is; the others are copied first: the caller's array given
    to ``backward(g)``, or what an op's backward passed through (Add returns ``g`` for both inputs,
    Reshape a view of ``g``). Copying only those saves more than the copy: in LeNet, copying
    fc1's fresh 192 KB gradient too made glibc trim and re-fault the heap each step (2x time).
    """

    def __init__(self, root: Tensor, grad: Any = None) -> None:
        if not root.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (built under no_grad, or from constants)"
            )
        self.xp = xp = get_array_module(root.data)
        self.grads: dict[int, Any] = {}
        self.owned: set[int] = set()  # ids of the entries of ``grads`` that are arrays of their own
        if grad is None:
            if root.data.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a scalar output, got shape {root.shape}")
            self.grads[id(root)] = xp.ones_like(root.data)
            self.owned.add(id(root))
        else:
            grad = xp.asarray(unwrap(grad), dtype=root.data.dtype)  # may be the caller's array: not owned
            if grad.shape != root.shape:
                raise ValueError(f"backward(): gradient shape {grad.shape} does not match output shape {root.shape}")
            self.grads[id(root)] = grad

    def pop(self, node: Tensor) -> Any:
        """The complete gradient of ``node`` (None if it got none), taken out of the pending ones."""
        return self.grads.pop(id(node), None)

    def store(self, node: Tensor, g: Any) -> None:
        """Add ``g``, the gradient just popped for ``node``, to ``node.grad``."""
        if node.grad is None:
            # Each node is popped once, after every hand-over to it, so its ownership is final.
            node.grad = g if id(node) in self.owned else g.copy()
        else:
            node.grad = node.grad + g  # a new array: one the caller kept is not changed

    def hand_to_inputs(self, fn: Function, g: Any, in_grads: Any) -> None:
        """Give each input of ``fn`` that requires grad its share ``in_grads[i]`` of the upstream ``g``."""
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
            # Owned unless it overlaps ``g`` or another gradient of this call (a cheap bounds
            # check; a false "may share" only costs a copy).
            shared = any(self.xp.may_share_memory(pg, other) for other in (g, *returned))
            returned.append(pg)
            pg, reduced = unbroadcast(pg, parent.shape)
            owned = reduced or not shared
            if pg.dtype != parent.data.dtype:
                pg, owned = pg.astype(parent.data.dtype), True
            key = id(parent)
            if key in self.grads:
                pg, owned = self.grads[key] + pg, True
            self.grads[key] = pg
            if owned:
                self.owned.add(key)


# The Tensor class needs this module (its methods call ops, ops subclass Function), so it is
# imported once the names above exist, rather than inside Function.apply on every call.
from minigrad.tensor import Tensor, scalar_dtype  # noqa: E402
