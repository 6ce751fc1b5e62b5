"""The optimizer base class: parameter groups, per-parameter state, ``step``, save/load.

An optimizer sees parameter groups, never modules. A group is a dict with ``"params"`` (a list of
:class:`~minigrad.Parameter`), optionally a ``"name"`` (a layer's name from
``Module.layer_groups()``), and hyperparameters that override the optimizer's defaults for that
group, as in ``torch.optim``.

A subclass writes the paper's update rule in two methods:

- ``init_state(p)`` → dict of arrays (zeros like ``p.data``, so on the parameter's device);
- ``update(p, g, state, group)`` → changes ``p.data`` in place, using ``state`` and ``group``.

Layer-wise methods, which need all gradients of a group at once, override ``update_group``.
State lives on the parameter's array module and follows it: a model moved with ``.to(device)``
takes its optimizer state along at the next step.

Learning-rate schedules (:mod:`optimizers.schedules`) belong to the optimizer, not to a group: a
schedule s maps the global iteration k (0 at the first ``step()``, as Caffe counts) to a factor,
and a group's rate at that step is ``rate(group)`` = group["lr"]·s(k) (times a layer-wise
method's per-layer factor, see :mod:`optimizers.layerwise`). The global
counter ``iteration`` travels in the state dict, so a resumed run continues the schedule
exactly; the per-parameter ``state["step"]`` (t = 1, 2, … in the papers' bias corrections)
counts the updates that parameter received.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from minigrad import Parameter, Tensor, no_grad
from minigrad.backend import device_of, get_array_module, to_device

ParamsLike = Iterable[Parameter] | Iterable[Mapping[str, Any]]
ScheduleLike = Callable[[int], float]  # a Schedule object or any k -> factor function


def check_nonnegative(name: str, value: float) -> float:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number ≥ 0."""
    if not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_positive(name: str, value: float) -> float:
    """Raise a ValueError naming ``name`` unless ``value`` is a finite number > 0."""
    if check_nonnegative(name, value) == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def check_unit_interval(name: str, value: float) -> float:
    """Raise a ValueError naming ``name`` unless 0 ≤ ``value`` < 1 (decay rates, momenta)."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Raise a ValueError naming ``name`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """Raise a ValueError naming ``name`` unless ``value`` is a bool (a switch, not a number)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def with_weight_decay(p: Parameter, g: Any, weight_decay: float) -> Any:
    """g + λ·θ: L2 weight decay added to the gradient before anything else (Caffe's convention).

    Returns a new array (or ``g`` itself when λ = 0): the caller's gradient is never changed in place.
    """
    return g + weight_decay * p.data if weight_decay else g


def lazy_zeros(state: dict[str, Any], key: str, like: Any) -> Any:
    """``state[key]``, created as zeros like ``like`` on first use: state that only a flag needs."""
    if key not in state:
        state[key] = get_array_module(like).zeros_like(like)
    return state[key]


class Optimizer:
    """Base class: holds parameter groups and per-parameter state, and steps them."""

    #: True for methods whose step re-evaluates the loss (see optimizers.closure).
    needs_closure: bool = False

    def __init__(
        self, params: ParamsLike, defaults: Mapping[str, Any], schedule: ScheduleLike | str | None = None
    ) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Parameter, dict[str, Any]] = {}
        if isinstance(schedule, str):  # a name with the schedule's default arguments, e.g. "inv"
            from optimizers.schedules import make_schedule

            schedule = make_schedule(schedule)
        if schedule is not None and not callable(schedule):
            raise ValueError(f"schedule must be a Schedule (k -> factor), a name or None, got {schedule!r}")
        self.schedule = schedule
        self.iteration = 0  # global step() count: the schedule's k, saved with the state
        self.lr_factor = 1.0  # s(k) during the current step (1 without a schedule)
        # A layer-wise method's factor for the group being updated (1 otherwise); it may be a
        # 0-d device array, so that computing it from a gradient norm needs no host sync.
        self.layer_factor: Any = 1.0
        items = list(params)
        if not items:
            raise ValueError("optimizer got an empty parameter list")
        if all(isinstance(x, Mapping) for x in items):
            for group in items:
                self.add_param_group(group)  # type: ignore[arg-type]
        else:
            self.add_param_group({"params": items})

    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group; missing hyperparameters are taken from the defaults."""
        params = list(group["params"])
        for p in params:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"optimizer parameters must be Tensors that require grad, got {type(p).__name__}")
        known = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in known for p in params):
            raise ValueError("a parameter appears in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params", "name"}
        if unknown:
            raise ValueError(f"unknown hyperparameters {sorted(unknown)} for {type(self).__name__}")
        full = {**self.defaults, **group, "params": params}
        self.validate_group(full)
        self.param_groups.append(full)

    def validate_group(self, group: dict[str, Any]) -> None:
        """Check a group's hyperparameters; subclasses raise ValueError naming the bad one."""

    # ----- the update --------------------------------------------------------------------------
    def rate(self, group: dict[str, Any]) -> Any:
        """The group's learning rate at the current step: lr·s(k)·f_l.

        s(k) is the schedule's factor (1 without one); f_l is :attr:`layer_factor`, which
        layer-wise methods (:mod:`optimizers.layerwise`) set per group and which is 1 otherwise.
        """
        return group["lr"] * self.lr_factor * self.layer_factor

    def init_state(self, p: Parameter) -> dict[str, Any]:
        """Fresh state for parameter ``p`` (arrays on p's device)."""
        return {}

    def update(self, p: Parameter, g: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply the update rule to one parameter in place."""
        raise NotImplementedError

    def update_group(self, group: dict[str, Any]) -> None:
        """Update every parameter of a group that has a gradient (layer-wise methods override this)."""
        for p in group["params"]:
            if p.grad is not None:
                state = self.state_for(p)
                state["step"] += 1
                self.update(p, p.grad, state, group)

    def state_for(self, p: Parameter) -> dict[str, Any]:
        """The state of ``p``, created on first use and moved to ``p``'s device if the model moved."""
        state = self.state.get(p)
        if state is None:
            state = {"step": 0, **self.init_state(p)}
            self.state[p] = state
        else:
            xp = get_array_module(p.data)
            for key, value in state.items():
                if hasattr(value, "shape") and get_array_module(value) is not xp:
                    state[key] = to_device(value, device_of(p.data))
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

        Also the global ``iteration`` (the schedule's k). A schedule's own arguments are
        constructor arguments and are not saved: build the resumed optimizer with the same ones.
        """
        groups, state = {}, {}
        index = 0
        for gi, group in enumerate(self.param_groups):
            groups[str(gi)] = {k: v for k, v in group.items() if k != "params" and _saveable(v)}
            for p in group["params"]:
                if p in self.state:
                    state[str(index)] = dict(self.state[p])
                index += 1
        return {"param_groups": groups, "state": state, "iteration": self.iteration}

    def load_state_dict(self, saved: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` onto the same parameter layout.

        Arrays go to each parameter's device; the global ``iteration`` is restored too.
        """
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
        hyper = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hyper}; {len(self.param_groups)} group(s))"


def _saveable(value: Any) -> bool:
    return isinstance(value, (bool, int, float, str))
