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
============  ======================  =========================================================

Use :func:`make_schedule` to build one by name (the command line does), e.g.
``make_schedule("inv", gamma=1e-4, power=0.75)``.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from optimizers.base import check_nonnegative, check_positive


def _check_count(name: str, value: Any) -> int:
    """Raise a ValueError naming ``name`` unless ``value`` is an int ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class Schedule:
    """A learning-rate schedule: ``schedule(k)`` is the factor on the base rate at iteration k ≥ 0."""

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
        self.gamma = check_nonnegative("gamma", gamma)
        self.power = check_nonnegative("power", power)

    def __call__(self, k: int) -> float:
        """(1 + γk)^−p."""
        return (1.0 + self.gamma * k) ** -self.power


class InverseTime(Schedule):
    """The 1/t decay s(k) = 1 / (1 + γk): ``inv`` with power 1, and torch.optim.Adagrad's ``lr_decay`` = γ."""

    def __init__(self, gamma: float) -> None:
        self.gamma = check_nonnegative("gamma", gamma)

    def __call__(self, k: int) -> float:
        """1 / (1 + γk)."""
        return 1.0 / (1.0 + self.gamma * k)


class Step(Schedule):
    """Caffe's ``step`` policy ("step down"): s(k) = γ^⌊k / step_size⌋, × γ every step_size updates."""

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_count("step_size", step_size)
        self.gamma = check_positive("gamma", gamma)

    def __call__(self, k: int) -> float:
        """γ^⌊k / step_size⌋."""
        return self.gamma ** (k // self.step_size)


class Exponential(Schedule):
    """Caffe's ``exp`` policy: s(k) = γ^k."""

    def __init__(self, gamma: float) -> None:
        self.gamma = check_positive("gamma", gamma)

    def __call__(self, k: int) -> float:
        """γ^k."""
        return self.gamma**k


class EpochStep(Schedule):
    """Dozat (2016) §4.1, "decaying the learning rate by .94 every two epochs", per iteration.

    s(k) = γ^⌊k / (epochs · steps_per_epoch)⌋ with γ = 0.94, epochs = 2: a :class:`Step` whose
    step size is counted in epochs. ``steps_per_epoch`` is the number of updates in one epoch
    (the data loader's length), which the schedule cannot know by itself.
    """

    def __init__(self, steps_per_epoch: int, gamma: float = 0.94, epochs: int = 2) -> None:
        self.steps_per_epoch = _check_count("steps_per_epoch", steps_per_epoch)
        self.gamma = check_positive("gamma", gamma)
        self.epochs = _check_count("epochs", epochs)

    def __call__(self, k: int) -> float:
        """γ^⌊k / (epochs · steps_per_epoch)⌋."""
        return self.gamma ** (k // (self.epochs * self.steps_per_epoch))


class Cosine(Schedule):
    """Cosine annealing (Loshchilov & Hutter 2017, without restarts): s(k) = ½(1 + cos(πk / total_steps)).

    Falls from 1 to 0 over ``total_steps`` updates and stays at 0 after; the training command fills
    ``total_steps`` with the run's length when it is not given.
    """

    def __init__(self, total_steps: int) -> None:
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive int, got {total_steps!r}")
        self.total_steps = total_steps

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


def make_schedule(name: str, **kwargs: Any) -> Schedule:
    """The schedule called ``name`` (a key of :data:`SCHEDULES`) built with ``kwargs``.

    Raises a ValueError listing the valid names for an unknown one, and the valid arguments for
    an unknown or missing argument.
    """
    cls = SCHEDULES.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown schedule {name!r}: expected one of {sorted(SCHEDULES)}")
    accepted = inspect.signature(cls).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    required = [n for n, a in accepted.items() if a.default is inspect.Parameter.empty]
    missing = sorted(set(required) - set(kwargs))
    if unknown or missing:
        what = f"unknown argument(s) {unknown}" if unknown else f"missing argument(s) {missing}"
        raise ValueError(f"schedule {name!r}: {what}; it takes {list(accepted)}")
    return cls(**kwargs)


__all__ = [
    "SCHEDULES",
    "EpochStep",
    "Exponential",
    "Fixed",
    "Inv",
    "InverseTime",
    "Schedule",
    "Step",
    "make_schedule",
]
