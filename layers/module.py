"""``Module``: the base of every layer and model, and parameter discovery.

A Module finds its parameters by walking its attributes (and lists, tuples and dicts of them)
for :class:`~minigrad.Parameter` objects and sub-Modules: no registration ceremony. Names are
dotted attribute paths (``"features.0.weight"``), as in PyTorch, and key the state dict.
:meth:`Module.layer_groups` lists the parameters grouped by the module that owns them directly,
which is what layer-wise optimizers mean by "the parameters of layer l".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from minigrad import Parameter, Tensor
from minigrad.backend import get_array_module, to_device, unwrap
from minigrad.tensor import check_dtype, device_and_dtype


def _children(value: Any, name: str) -> Iterator[tuple[str, Any]]:
    """Parameters and Modules directly inside an attribute value (recursing into containers)."""
    if isinstance(value, (Parameter, Module)):
        yield name, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _children(item, f"{name}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _children(item, f"{name}.{key}")


class Module:
    """Base class for layers and models: subclass it, set Parameters/Modules as attributes, write ``forward``."""

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----- discovery ---------------------------------------------------------------------------
    def _direct(self) -> Iterator[tuple[str, Any]]:
        for attr, value in vars(self).items():
            if not attr.startswith("_"):
                yield from _children(value, attr)

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield ``(name, module)`` for this module (name ``prefix``) and every sub-module, depth first."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            subs = [(f"{name}.{n}" if name else n, m) for n, m in module._direct() if isinstance(m, Module)]
            stack.extend(reversed(subs))

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module."""
        for _, m in self.named_modules():
            yield m

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Yield ``(dotted name, parameter)`` for every parameter, each once, in definition order."""
        seen: set[int] = set()
        for mod_name, module in self.named_modules():
            for name, value in module._direct():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{mod_name}.{name}" if mod_name else name), value

    def parameters(self) -> list[Parameter]:
        """Every parameter, each once."""
        return [p for _, p in self.named_parameters()]

    def layer_groups(self) -> list[dict[str, Any]]:
        """Parameters grouped by the module that owns them directly, one group per such module.

        Returns ``[{"name": "features.0", "params": [weight, bias]}, ...]`` in definition order:
        the parameter groups an optimizer takes when it needs "all parameters of layer l".
        """
        groups, seen = [], set()
        for mod_name, module in self.named_modules():
            owned = [p for _, p in module._direct() if isinstance(p, Parameter) and id(p) not in seen]
            seen.update(id(p) for p in owned)
            if owned:
                groups.append({"name": mod_name or type(self).__name__, "params": owned})
        return groups

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.size for p in self.parameters())

    # ----- modes, devices, gradients ------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (affects Dropout) on this module and all sub-modules."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode."""
        return self.train(False)

    def to(self, device_or_dtype: Any = None, dtype: Any = None) -> Module:
        """Move every parameter (and its gradient) to a device and/or cast it to a float dtype, in place.

        ``model.to("gpu")``, ``model.to(np.float64)``, ``model.to("gpu", np.float64)`` or
        ``model.to(dtype=np.float64)``; returns self. The Parameter objects stay the same, so an
        optimizer holding them keeps working; it moves its own state to the parameters' device at
        its next step.
        """
        device, dtype = device_and_dtype(device_or_dtype, dtype)
        if device is None and dtype is None:
            raise TypeError("to() needs a device ('cpu', 'gpu') or a dtype (e.g. np.float64)")
        if dtype is not None:
            dtype = float_dtype(dtype, f"{type(self).__name__}.to()")
        for p in self.parameters():
            for attr in ("data", "grad"):
                array = getattr(p, attr)
                if array is None:
                    continue
                if device is not None:
                    array = to_device(array, device)
                if dtype is not None:
                    array = array.astype(dtype, copy=False)
                setattr(p, attr, array)
        return self

    def zero_grad(self) -> None:
        """Clear the gradient of every parameter."""
        for p in self.parameters():
            p.grad = None

    # ----- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{name: array}`` for every parameter (the arrays themselves, not copies)."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters (onto each parameter's device), checking names and shapes."""
        params = dict(self.named_parameters())
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if strict and (missing or unexpected):
            raise KeyError(
                f"state dict does not match {type(self).__name__}: missing {missing}, unexpected {unexpected}"
            )
        for name, p in params.items():
            if name not in state:
                continue
            value = state[name]
            value = unwrap(value)
            if tuple(value.shape) != p.shape:
                raise ValueError(f"{name}: saved shape {tuple(value.shape)} does not match parameter shape {p.shape}")
            xp = get_array_module(p.data)
            p.data = xp.array(to_device(value, "gpu" if xp.__name__ == "cupy" else "cpu"), dtype=p.dtype, copy=True)

    def __repr__(self) -> str:
        subs = [(n, m) for n, m in self._direct() if isinstance(m, Module)]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not subs:
            return head + ")"
        lines = [head]
        for name, m in subs:
            lines.append("  (" + name + "): " + repr(m).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        """The module's own settings, for ``repr``."""
        return ""


def float_dtype(dtype: Any, where: str) -> np.dtype:
    """``dtype`` as a NumPy dtype if it is a floating-point type (what parameters need), else a TypeError."""
    dtype = check_dtype(dtype, where)
    if dtype.kind != "f":
        raise TypeError(f"{where}: parameters need a floating-point dtype (e.g. np.float32), got {dtype}")
    return dtype


def as_tensor(x: Any) -> Tensor:
    """Wrap a raw array as a constant Tensor (layers accept either)."""
    return x if isinstance(x, Tensor) else Tensor(x)
