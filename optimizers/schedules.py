"""Learning-rate schedules: the factor s(k) by which an optimizer multiplies its base rate at iteration k.

Convention, for every optimizer: the rate used by the k-th ``step()`` is ``lr · s(k)``, with k
counted from 0 at the first update, as Caffe's solver counts ``iter_``. So the first update
always uses ``lr`` itself (s(0) = 1), and a group's ``lr`` is the paper's t0 or α0. The schedule
is a pure function of k; the optimizer keeps k (``optimizer.iteration``) and saves it, so a run
resumed from a checkpoint continues the schedule bit-identically. A schedule's arguments are its
constructor's, passed again when the optimizer is rebuilt.

Caffe's policies are written as in ``SGDSolver::GetLearningRate`` (BVLC/caffe
``src/caffe/solvers/sgd_solver.cpp``), divided by the base rate:

============  ======================  =========================================================
name          class                   s(k)
============  ======================  =========================================================
``fixed``     :class:`Fixed`          1
``inv``       :class:`Inv`            (1 + γk)^−p, Singh et al. (2015) eq. 4
``step``      :class:`Step`           γ^⌊k / step_size⌋ ("step down")
``exp``       :class:`Exponential`    γ^k
``1/t``       :class:`InverseTime`    1 / (1 + γk) (torch.optim.Adagrad's ``lr_decay``)
``epoch``     :class:`EpochStep`      γ^⌊k / (epochs·steps_per_epoch)⌋, Dozat (2016) §4.1:
                                      ×0.94 every two epochs
``cosine``    :class:`Cosine`         ½(1 + cos(πk / total_steps)), Loshchilov & Hutter (2017)
============  ======================  =========================================================

Names are resolved in one place, :func:`resolve_schedule`, which an optimizer's constructor
(``schedule="inv"``) and :func:`optimizers.build_optimizer` (``schedule="step",
schedule_step_size=...``) both call; :func:`make_schedule` is its short form. Two schedules need
the run's length, which they cannot know by themselves (``Schedule.run_length``): ``cosine``
its ``total_steps`` and ``epoch`` its ``steps_per_epoch``. ``resolve_schedule`` fills them from
its ``total_steps`` / ``steps_per_epoch`` arguments unless they are given explicitly.

>>> make_schedule("inv", gamma=1e-4, power=0.75)
Inv(gamma=0.0001, power=0.75)
>>> resolve_schedule("cosine", total_steps=100)(50)
0.5
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from optimizers.validation import count, nonnegative, positive


class Schedule:
    """A learning-rate schedule: ``schedule(k)`` is the factor on the base rate at iteration k ≥ 0."""

    #: Constructor arguments that are a length of the run (filled by :func:`resolve_schedule`).
    run_length: ClassVar[tuple[str, ...]] = ()

    def __call__(self, k: int) -> float:
        """The factor s(k) for the k-th update (k = 0 for the first)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        names = inspect.signature(type(self)).parameters
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({args})"


class Fixed(Schedule):
    """Caffe's ``fixed`` policy: s(k) = 1, the base rate at every step."""

    def __call__(self, k: int) -> float:
        """1 for every k."""
        return 1.0


class Inv(Schedule):
    """Caffe's ``inv`` policy, Singh et al. (2015) eq. 4: t(k) = t0·(1 + γk)^−p, so s(k) = (1 + γk)^−p.

    (Our copy of the paper loses the number; its text calls the SGD rate "equation 4", and the
    equations around it make it 4. The issue that asked for it says eq. 5.)

    The defaults γ = 1e-4, p = 0.75 are Caffe's LeNet/MNIST solver (``lenet_solver.prototxt``).
    """

    def __init__(self, gamma: float = 1e-4, power: float = 0.75) -> None:
        self.gamma = nonnegative("gamma", gamma)
        self.power = nonnegative("power", power)

    def __call__(self, k: int) -> float:
        """(1 + γk)^−p."""
        return (1.0 + self.gamma * k) ** -self.power


class InverseTime(Schedule):
    """The 1/t decay s(k) = 1 / (1 + γk): ``inv`` with power 1, and torch.optim.Adagrad's ``lr_decay`` = γ."""

    def __init__(self, gamma: float) -> None:
        self.gamma = nonnegative("gamma", gamma)

    def __call__(self, k: int) -> float:
        """1 / (1 + γk)."""
        return 1.0 / (1.0 + self.gamma * k)


class Step(Schedule):
    """Caffe's ``step`` policy ("step down"): s(k) = γ^⌊k / step_size⌋, × γ every step_size updates."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = count("step_size", step_size)
        self.gamma = positive("gamma", gamma)

    def __call__(self, k: int) -> float:
        """γ^⌊k / step_size⌋."""
        return self.gamma ** (k // self.step_size)


class Exponential(Schedule):
    """Caffe's ``exp`` policy: s(k) = γ^k."""

    def __init__(self, gamma: float) -> None:
        self.gamma = positive("gamma", gamma)

    def __call__(self, k: int) -> float:
        """γ^k."""
        return self.gamma**k


class EpochStep(Schedule):
    """Dozat (2016) §4.1, "decaying the learning rate by .94 every two epochs", per iteration.

    s(k) = γ^⌊k / (epochs · steps_per_epoch)⌋ with γ = 0.94, epochs = 2: a :class:`Step` whose
    step size is counted in epochs. ``steps_per_epoch`` is the number of updates in one epoch
    (the data loader's length), which the schedule cannot know by itself.
    """

    run_length = ("steps_per_epoch",)

    def __init__(self, steps_per_epoch: int, gamma: float = 0.94, epochs: int = 2) -> None:
        self.steps_per_epoch = count("steps_per_epoch", steps_per_epoch)
        self.gamma = positive("gamma", gamma)
        self.epochs = count("epochs", epochs)

    def __call__(self, k: int) -> float:
        """γ^⌊k / (epochs · steps_per_epoch)⌋."""
        return self.gamma ** (k // (self.epochs * self.steps_per_epoch))


class Cosine(Schedule):
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts): s(k) = ½(1 + cos(πk / total_steps)).

    Falls from 1 to 0 over ``total_steps`` updates and stays at 0 after;
    :func:`optimizers.build_optimizer` fills ``total_steps`` with the run's length when it is not given.
    """

    run_length = ("total_steps",)

    def __init__(self, total_steps: int) -> None:
        self.total_steps = count("total_steps", total_steps)

    def __call__(self, k: int) -> float:
        """½(1 + cos(π·min(k, total)/total))."""
        return 0.5 * (1.0 + math.cos(math.pi * min(k, self.total_steps) / self.total_steps))


SCHEDULES: dict[str, type[Schedule]] = {
    "cosine": Cosine,
    "fixed": Fixed,
    "inv": Inv,
    "step": Step,
    "exp": Exponential,
    "1/t": InverseTime,
    "epoch": EpochStep,
}


def resolve_schedule(
    schedule: Schedule | Callable[[int], float] | str | None,
    arguments: Mapping[str, Any] | None = None,
    *,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
    prefix: str = "",
) -> Callable[[int], float] | None:
    """The schedule an optimizer runs, from what a user gave: None, a schedule object, or a name.

    A name (a key of :data:`SCHEDULES`) is built with ``arguments``; an argument that is a length
    of the run (``Schedule.run_length``) and is not among them is taken from ``total_steps`` or
    ``steps_per_epoch``. ``prefix`` is how the arguments are spelled where they came from
    (``"schedule_"`` for :func:`optimizers.build_optimizer`), so that every error names them as
    the user must type them. Raises a ValueError for an unknown name, and one listing the valid
    arguments for an unknown, missing or bad argument.
    """
    arguments = dict(arguments or {})
    if schedule is None or (callable(schedule) and not isinstance(schedule, str)):
        if arguments:
            shown = sorted(prefix + k for k in arguments)
            raise ValueError(f"schedule arguments {shown} need schedule=NAME, one of {sorted(SCHEDULES)}")
        return schedule
    if not isinstance(schedule, str):
        raise ValueError(f"schedule must be a Schedule (k -> factor), a name or None, got {schedule!r}")
    cls = SCHEDULES.get(schedule.lower())
    if cls is None:
        raise ValueError(f"unknown schedule {schedule!r}: expected one of {sorted(SCHEDULES)}")
    lengths = {"total_steps": total_steps, "steps_per_epoch": steps_per_epoch}
    for name in cls.run_length:
        if name not in arguments and lengths[name] is not None:
            arguments[name] = lengths[name]
    accepted = [prefix + name for name in inspect.signature(cls).parameters]
    unknown = sorted(prefix + k for k in set(arguments) - set(inspect.signature(cls).parameters))
    missing = [prefix + name for name in schedule_arguments(cls, required=True) if name not in arguments]
    if unknown:
        raise ValueError(f"schedule {schedule!r}: unknown argument(s) {unknown}; it takes {accepted}")
    if missing:
        needs = [n for n in cls.run_length if prefix + n in missing]
        hint = f" (a length of the run: give {prefix}{needs[0]}, or {needs[0]}= to build_optimizer)" if needs else ""
        raise ValueError(f"schedule {schedule!r}: missing argument(s) {missing}{hint}; it takes {accepted}")
    try:
        return cls(**arguments)
    except ValueError as exc:  # the argument's own check, named as the user spelled it
        raise ValueError(f"schedule {schedule!r}: {prefix}{exc}") from None


def schedule_arguments(cls: type[Schedule], required: bool = False) -> list[str]:
    """The constructor arguments of schedule class ``cls`` (only those without a default if ``required``)."""
    parameters = inspect.signature(cls).parameters.values()
    return [p.name for p in parameters if not required or p.default is inspect.Parameter.empty]


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """The schedule called ``name`` (a key of :data:`SCHEDULES`) built with ``kwargs``: :func:`resolve_schedule`.

    Raises a ValueError listing the valid names for an unknown one, and the valid arguments for
    an unknown or missing argument.
    """
    return resolve_schedule(name, kwargs)  # type: ignore[return-value]


__all__ = [
    "SCHEDULES",
    "Cosine",
    "EpochStep",
    "Exponential",
    "Fixed",
    "Inv",
    "InverseTime",
    "Schedule",
    "Step",
    "make_schedule",
    "resolve_schedule",
    "schedule_arguments",
]
