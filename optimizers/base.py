"""The optimizer base class: parameter groups, hyperparameter checks, per-parameter state, ``step``, save/load.

An optimizer sees parameter groups, never modules. A group is a dict with ``"params"`` (a list of
:class:`~minigrad.Parameter`), optionally a ``"name"`` (a layer's name from
``Module.layer_groups()``), optionally ``"lr_mults"`` (one rate multiplier per parameter, as
Caffe's ``lr_mult``), and hyperparameters that override the optimizer's defaults for that
group, as in ``torch.optim``.

A subclass declares its hyperparameters once and writes the paper's rule:

- ``hyperparameters``: a class table, name → check (:mod:`optimizers.validation`); the base
  class checks every group against it, so a bad value is refused with its name at construction.
  The defaults are the constructor's keyword defaults, passed on as ``defaults``.
- ``init_state(p, group)`` → dict of the arrays the rule keeps for ``p`` (zeros like ``p.data``,
  so on the parameter's device), made before ``p``'s first update;
- ``update(p, g, state, group)`` → changes ``p.data`` in place from the gradient ``g``.

The base class hands ``update`` the gradient already checked against the parameter (shape,
device, floating dtype) and with L2 weight decay added, g ← ∇L + λ·θ, before anything else
(Caffe's convention): no rule adds weight decay itself. Layer-wise methods, which need all
gradients of a group at once, override ``update_group``. State lives on the parameter's array
module and follows it: a model moved with ``.to(device)`` takes its optimizer state along at
the next step.

Learning-rate schedules (:mod:`optimizers.schedules`) belong to the optimizer, not to a group: a
schedule s maps the global iteration k (0 at the first ``step()``, as Caffe counts) to a factor,
and a parameter's rate at that step is ``rate(group)`` = group["lr"]·s(k)·f_l·m_p, with f_l a
layer-wise method's per-layer factor (:mod:`optimizers.layerwise`, 1 otherwise) and m_p the
parameter's entry of the group's ``"lr_mults"`` (1 without them). The global counter
``iteration`` travels in the state dict, so a resumed run continues the schedule exactly; the
per-parameter ``state["step"]`` (t = 1, 2, … in the papers' bias corrections) counts the updates
that parameter received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from minigrad import Parameter, Tensor, no_grad
from minigrad.backend import device_of, get_array_module, to_device
from optimizers.schedules import resolve_schedule
from optimizers.validation import Check

ParamsLike = Iterable[Parameter] | Iterable[Mapping[str, Any]]
ScheduleLike = Callable[[int], float]  # a Schedule object or any k -> factor function

#: Group keys that are not hyperparameters.
GROUP_KEYS = ("params", "name", "lr_mults")


class Optimizer:
    """Base class: holds parameter groups and per-parameter state, and steps them."""

    #: name → check of every hyperparameter a group carries (the constructor's keywords but
    #: ``params`` and ``schedule``); read by :meth:`add_param_group`.
    hyperparameters: ClassVar[dict[str, Check]] = {}
    #: Hyperparameters that must be equal in every group, because the rule uses one value for
    #: all parameters; ``shared_reason`` says why in the error.
    shared: ClassVar[tuple[str, ...]] = ()
    shared_reason: ClassVar[str] = "uses one setting for all parameters"
    #: True for methods whose step re-evaluates the loss (see optimizers.closure).
    needs_closure: ClassVar[bool] = False
    #: True for rules whose step scales with :meth:`rate`, which is where a group's
    #: ``"lr_mults"`` act; other rules refuse them.
    takes_lr_mults: ClassVar[bool] = True

    def __init__(
        self, params: ParamsLike, defaults: Mapping[str, Any], schedule: ScheduleLike | str | None = None
    ) -> None:
        mismatch = sorted(set(defaults) ^ set(self.hyperparameters))
        if mismatch:  # a subclass that forgot a check, or checks a hyperparameter it does not take
            raise TypeError(f"{type(self).__name__}.hyperparameters and its defaults disagree on {mismatch}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        self.schedule = resolve_schedule(schedule)  # a name comes with the schedule's default arguments
        self.iteration = 0  # global step() count: the schedule's k, saved with the state
        self.lr_factor = 1.0  # s(k) during the current step (1 without a schedule)
        # A layer-wise method's factor for the group being updated (1 otherwise); it may be a
        # 0-d device array, so that computing it from a gradient norm needs no host sync.
        self.layer_factor: Any = 1.0
        self.lr_mult = 1.0  # the updated parameter's entry of its group's "lr_mults"
        items = list(params)
        if not items:
            raise ValueError("optimizer got an empty parameter list")
        if all(isinstance(x, Mapping) for x in items):
            for group in items:
                self.add_param_group(group)  # type: ignore[arg-type]
        else:
            self.add_param_group({"params": items})

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group; missing hyperparameters are taken from the defaults, and every value is checked."""
        params = list(group["params"])
        label = f"parameter group {group.get('name', len(self.param_groups))!r}"
        seen: dict[int, int] = {}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"optimizer parameters must be Tensors that require grad, got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{label} lists a parameter twice (positions {seen[id(p)]} and {i})")
            seen[id(p)] = i
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in known for p in params):
            raise ValueError("a parameter appears in more than one parameter group")
        unknown = set(group) - set(self.defaults) - set(GROUP_KEYS)
        if unknown:
            raise ValueError(
                f"unknown hyperparameters {sorted(unknown)} for {type(self).__name__}: "
                f"a group takes {sorted(self.defaults)} and {list(GROUP_KEYS)}"
            )
        full = {**self.defaults, **group, "params": params}
        for name, check in self.hyperparameters.items():
            full[name] = check(name, full[name])
        if "lr_mults" in full:
            full["lr_mults"] = self._checked_lr_mults(full["lr_mults"], len(params), label)
        for name in self.shared:
            if self.param_groups and full[name] != self.param_groups[0][name]:
                raise ValueError(f"{type(self).__name__} {self.shared_reason}: {name} differs between groups")
        self.validate_group(full)
        self.param_groups.append(full)

    def _checked_lr_mults(self, mults: Any, n: int, label: str) -> list[float]:
        """A group's ``"lr_mults"`` as a list of n finite numbers ≥ 0, or a ValueError naming the problem."""
        if not self.takes_lr_mults:
            raise ValueError(f"{type(self).__name__} does not take lr_mults: its rule has no global rate to multiply")
        if isinstance(mults, (str, Mapping)) or not isinstance(mults, Iterable):
            raise ValueError(f"lr_mults of {label} must be a list with one number per parameter, got {mults!r}")
        mults = list(mults)
        if len(mults) != n:
            raise ValueError(f"lr_mults of {label} has {len(mults)} entries for {n} parameters")
        for i, m in enumerate(mults):
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < float("inf"):
                raise ValueError(f"lr_mults[{i}] of {label} must be a finite number >= 0, got {m!r}")
        return [float(m) for m in mults]

    def validate_group(self, group: dict[str, Any]) -> None:
        """Checks that involve several hyperparameters at once (each alone is checked by the table)."""

    # ----- the update --------------------------------------------------------------------------
    def rate(self, group: dict[str, Any]) -> Any:
        """The learning rate of the parameter being updated: lr·s(k)·f_l·m_p.

        s(k) is the schedule's factor (1 without one); f_l is :attr:`layer_factor`, which
        layer-wise methods (:mod:`optimizers.layerwise`) set per group and which is 1 otherwise;
        m_p is the parameter's entry of the group's ``"lr_mults"`` (1 without them).
        """
        return group["lr"] * self.lr_factor * self.layer_factor * self.lr_mult

    def init_state(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """Fresh state for parameter ``p`` of ``group`` (arrays on p's device), made before its first update."""
        return {}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply the update rule to one parameter in place; ``g`` includes weight decay."""
        raise NotImplementedError

    def gradients(self, group: dict[str, Any]) -> list[Any]:
        """The gradient each parameter of ``group`` is updated with, in order (None where ``.grad`` is None).

        Each ``.grad`` is checked against its parameter (same shape and device, a floating dtype),
        and L2 weight decay is added to it: g = ∇L + λ·θ, a new array when λ > 0 (``.grad`` itself
        is never changed).
        """
        decay = group.get("weight_decay", 0.0)
        grads = []
        for i, p in enumerate(group["params"]):
            g = p.grad
            if g is not None:
                self._check_gradient(p, g, group, i)
                g = g + decay * p.data if decay else g
            grads.append(g)
        return grads

    def _check_gradient(self, p: Parameter, g: Any, group: dict[str, Any], index: int) -> None:
        """Raise an error naming the parameter unless ``g`` can be its gradient."""
        if not hasattr(g, "shape") or not hasattr(g, "dtype"):
            error, problem = TypeError, f"is a {type(g).__name__}, not an array"
        elif tuple(g.shape) != tuple(p.shape):
            error, problem = ValueError, f"has shape {tuple(g.shape)} but the parameter has shape {tuple(p.shape)}"
        elif device_of(g) != device_of(p.data):
            error, problem = ValueError, f"is on {device_of(g)} but the parameter is on {device_of(p.data)}"
        elif g.dtype.kind != "f":
            error, problem = TypeError, f"has dtype {g.dtype}, not a floating-point dtype (the parameter's: {p.dtype})"
        else:
            return
        position = next((i for i, other in enumerate(self.param_groups) if other is group), "?")
        name = f" ({group['name']!r})" if "name" in group else ""
        raise error(f"the .grad of parameter {index} of parameter group {position}{name} {problem}")

    def update_group(self, group: dict[str, Any]) -> None:
        """Update every parameter of a group that has a gradient (layer-wise methods override this)."""
        self.update_each(group, self.gradients(group))

    def update_each(self, group: dict[str, Any], grads: list[Any]) -> None:
        """Run :meth:`update` for every parameter of ``group`` whose gradient in ``grads`` is not None."""
        mults = group.get("lr_mults")
        try:
            for i, (p, g) in enumerate(zip(group["params"], grads)):
                if g is not None:
                    state = self.state_for(p, group)
                    state["step"] += 1
                    self.lr_mult = 1.0 if mults is None else mults[i]
                    self.update(p, g, state, group)
        finally:
            self.lr_mult = 1.0

    def state_for(self, p: Parameter, group: dict[str, Any]) -> dict[str, Any]:
        """The state of ``p``: made by :meth:`init_state` on first use, moved to ``p``'s device and dtype if the
        model was moved or cast since (``Module.to``)."""
        state = self.state.get(p)
        if state is None:
            state = {"step": 0, **self.init_state(p, group)}
            self.state[p] = state
        else:
            xp = get_array_module(p.data)
            for key, value in state.items():
                if hasattr(value, "shape") and get_array_module(value) is not xp:
                    value = state[key] = to_device(value, device_of(p.data))
                if getattr(value, "shape", None) == p.shape and value.dtype.kind == "f" and value.dtype != p.dtype:
                    state[key] = value.astype(p.dtype)  # the model was cast with Module.to(dtype)
        return state

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update all parameters from their ``.grad``; returns the closure's loss if one is given."""
        loss = closure() if closure is not None else None
        # One schedule value per step for all groups (a Python float: no device work).
        self.lr_factor = 1.0 if self.schedule is None else float(self.schedule(self.iteration))
        with no_grad():
            for group in self.param_groups:
                self.update_group(group)
        self.iteration += 1
        return loss

    def zero_grad(self) -> None:
        """Clear the gradients of every parameter this optimizer updates."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def to(self, device: str) -> Optimizer:
        """Move all state arrays to ``device`` now (normally done lazily at the next step)."""
        for state in self.state.values():
            for key, value in state.items():
                if hasattr(value, "shape"):
                    state[key] = to_device(value, device)
        return self

    # ----- save / load -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters per group and state per parameter, keyed by position, as torch.optim does.

        Also the optimizer's class name (``"optimizer"``) and the global ``iteration`` (the
        schedule's k). A schedule's own arguments are constructor arguments and are not saved:
        build the resumed optimizer with the same ones.
        """
        groups, state = {}, {}
        index = 0
        for gi, group in enumerate(self.param_groups):
            groups[str(gi)] = {k: v for k, v in group.items() if k != "params" and _saveable(v)}
            for p in group["params"]:
                if p in self.state:
                    state[str(index)] = dict(self.state[p])
                index += 1
        return {"optimizer": type(self).__name__, "param_groups": groups, "state": state, "iteration": self.iteration}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` onto the same parameter layout.

        Arrays go to each parameter's device; the global ``iteration`` is restored too. A state
        saved by another optimizer class is refused; one saved before the class was recorded
        (checkpoints written by earlier versions) is accepted as it is.
        """
        saved_class = saved.get("optimizer")
        if saved_class is not None and str(saved_class) != type(self).__name__:
            raise ValueError(f"cannot load a state dict saved by {saved_class} into {type(self).__name__}")
        groups = saved["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(f"saved optimizer has {len(groups)} parameter groups, this one {len(self.param_groups)}")
        params = [p for g in self.param_groups for p in g["params"]]
        for gi, group in enumerate(self.param_groups):
            group.update({k: v for k, v in groups[str(gi)].items() if k in group})
        self.state = {}
        self.iteration = int(saved.get("iteration", 0))
        # An empty state (saved before the first step) has no entries, so a file holds no "state" key.
        for key, value in saved.get("state", {}).items():
            p = params[int(key)]
            xp = get_array_module(p.data)
            restored = {}
            for name, v in value.items():
                if hasattr(v, "shape"):
                    restored[name] = xp.array(to_device(v, device_of(p.data)), copy=True)
                else:
                    restored[name] = v
            self.state[p] = restored

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hyper}; {len(self.param_groups)} group(s))"


def _saveable(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))
