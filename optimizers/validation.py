"""Checks of hyperparameter values: each raises a ValueError that names the value and what it must be.

A check is a function ``check(name, value) -> value``: it returns the value (normalised where a
spelling has one meaning, e.g. ``"inf"`` for ``math.inf``) or raises ``ValueError("<name> must
..., got <value>")``. Optimizers declare one check per hyperparameter in their class table
``hyperparameters`` (see :class:`optimizers.base.Optimizer`); schedules call them in their
constructors. This module depends on nothing else in the package.

>>> nonnegative("lr", 0.1)
0.1
>>> choice("caffe", "torch")("form", "keras")
Traceback (most recent call last):
ValueError: form must be one of ('caffe', 'torch'), got 'keras'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: ``check(name, value) -> value``: raises a ValueError naming ``name`` for a bad value.
Check = Callable[[str, Any], Any]


def nonnegative(name: str, value: Any) -> float:
    """A finite number ≥ 0 (rates, weight decay)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == math.inf:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def positive(name: str, value: Any) -> float:
    """A finite number > 0 (an ε that a rule divides by, a damping term)."""
    if nonnegative(name, value) == 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def unit_interval(name: str, value: Any) -> float:
    """0 ≤ value < 1: decay rates and momenta."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    """True or False (a switch, not a number)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def count(name: str, value: Any) -> int:
    """An int ≥ 1 (a number of steps)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def choice(*options: Any, aliases: dict[Any, Any] | None = None) -> Check:
    """A check that accepts one of ``options`` (``aliases`` maps other spellings onto them)."""
    aliases = aliases or {}

    def check(name: str, value: Any) -> Any:
        value = aliases.get(value, value) if isinstance(value, str) else value
        if isinstance(value, bool) or value not in options:
            raise ValueError(f"{name} must be one of {options}, got {value!r}")
        return value

    return check


def interval(low: float | None = None, high: float | None = None, *, open_low: bool = False,
             open_high: bool = False) -> Check:
    """A check for a finite number between ``low`` and ``high`` (None: unbounded on that side).

    The bounds are included unless ``open_low`` / ``open_high``; the message prints the interval.
    """
    left = "(" if open_low or low is None else "["
    right = ")" if open_high or high is None else "]"
    shown = f"{left}{-math.inf if low is None else low:g}, {math.inf if high is None else high:g}{right}"

    def check(name: str, value: Any) -> float:
        number = float("nan")
        if not isinstance(value, bool) and isinstance(value, (int, float)):
            number = float(value)
        too_low = low is not None and (number <= low if open_low else number < low)
        too_high = high is not None and (number >= high if open_high else number > high)
        if not math.isfinite(number) or too_low or too_high:
            raise ValueError(f"{name} must be in {shown}, got {value!r}")
        return number

    return check


def optional(check: Check) -> Check:
    """A check that also accepts None (a setting that can be switched off)."""

    def optional_check(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)

    return optional_check


__all__ = ["Check", "boolean", "choice", "count", "interval", "nonnegative", "optional", "positive", "unit_interval"]
