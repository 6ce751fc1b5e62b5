"""Optimizers: the base class (parameter groups, per-parameter state) and the update rules of the papers.

An optimizer builds on the minigrad engine alone: it sees parameter groups, never modules.

Layout
------
- :mod:`optimizers.base`: the :class:`Optimizer` base class: groups, hyperparameter tables, weight
  decay, gradient checks, state, schedules hook, save/load.
- :mod:`optimizers.validation`: the checks a hyperparameter table names (``nonnegative``,
  ``unit_interval``, ``choice(...)``, …).
- :mod:`optimizers.schedules`: learning-rate schedules (Caffe's ``inv``, step, exp, 1/t, Dozat's
  ×0.94 every two epochs), objects any optimizer accepts as ``schedule=``.
- The classic family, one paper per file: :mod:`~optimizers.sgd` (SGD, Momentum, Nesterov),
  :mod:`~optimizers.adagrad`, :mod:`~optimizers.adadelta`, :mod:`~optimizers.rmsprop`,
  :mod:`~optimizers.adam` (Adam, Adamax, Nadam), :mod:`~optimizers.rprop`.
- :mod:`optimizers.dozat`: Dozat's hyperalgorithm, of which most of the above are settings.
- The papers' adaptive methods: :mod:`~optimizers.layerwise` (Singh et al. 2015, layer-specific
  rates over SGD, momentum, NAG, AdaGrad), :mod:`~optimizers.wame` (Mosca & Magoulas 2017),
  :mod:`~optimizers.llb` (Zheng et al. 2019, a documented reconstruction),
  :mod:`~optimizers.ravaut` (Ravaut & Gorti 2018, learning the learning rate) beside
  :mod:`~optimizers.hypergradient` (Baydin et al. 2018), :mod:`~optimizers.esgd` (Dauphin et al.
  2015); :mod:`~optimizers.closure` is the contract of the methods that re-evaluate the loss.
- :mod:`optimizers.telemetry`: per-layer gradient norms and effective rates for any optimizer.

By name (the command line)
--------------------------
:data:`OPTIMIZERS` maps registry keys to classes; :func:`registry_key` turns a user's spelling
into a key ("Layer-SGD" → "layer_sgd"), and :func:`build_optimizer` builds one from plain
``key=value`` hyperparameters, which is what ``minigrad train --optimizer NAME --opt KEY=VALUE``
passes. Every constructor argument is a plain keyword (numbers, bools, strings: ``form=torch``,
``norm=inf``, ``momentum=nesterov`` for :class:`Dozat`). The learning-rate schedule is given by
name with its arguments prefixed by ``schedule_``::

    minigrad train --optimizer nesterov --lr 0.01 --opt momentum=0.9 \\
        --opt schedule=inv --opt schedule_gamma=1e-4 --opt schedule_power=0.75

Schedule names and arguments are those of :data:`optimizers.schedules.SCHEDULES`. Schedules that
need the run's length (``cosine``'s ``total_steps``, ``epoch``'s ``steps_per_epoch``) get it from
``build_optimizer``'s ``total_steps`` and ``steps_per_epoch``, unless given explicitly.

>>> import numpy as np
>>> from minigrad import Parameter
>>> registry_key("Layer-SGD")
'layer_sgd'
>>> w = Parameter(np.zeros(3))
>>> opt = build_optimizer("nag", [w], lr=0.1, momentum=0.5, schedule="step", schedule_step_size=100)
>>> opt
Nesterov(lr=0.1, momentum=0.5, weight_decay=0.0, form='caffe'; 1 group(s))
>>> opt.schedule
Step(step_size=100, gamma=0.1)
>>> build_optimizer("sgd", [w], lr=0.1, schedule="cosine", total_steps=1000).schedule
Cosine(total_steps=1000)
>>> build_schedule({"lr": 0.1, "schedule": "epoch"}, steps_per_epoch=938)
EpochStep(steps_per_epoch=938, gamma=0.94, epochs=2)
>>> w.grad = np.ones(3)
>>> opt.step()  # Caffe's NAG, first step: h = t·g, θ ← θ − (1 + μ)·h
>>> w.data
array([-0.15, -0.15, -0.15])
>>> build_optimizer("sgd", [w], step_size=10)  # doctest: +ELLIPSIS
Traceback (most recent call last):
ValueError: unknown hyperparameter(s) ['step_size'] for optimizer 'sgd': ... step: ['schedule_step_size', ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from optimizers.adadelta import AdaDelta
from optimizers.adagrad import AdaGrad
from optimizers.adam import Adam, Adamax, Nadam
from optimizers.base import Optimizer, ParamsLike
from optimizers.dozat import Dozat
from optimizers.esgd import ESGD
from optimizers.hypergradient import SGDHD, SGDNHD, AdamHD
from optimizers.layerwise import LayerAdaGrad, LayerMomentum, LayerNesterov, LayerSGD
from optimizers.llb import LLbSGD
from optimizers.ravaut import RavautFirstOrder, RavautSecondOrder
from optimizers.rmsprop import RMSprop
from optimizers.rprop import Rprop
from optimizers.schedules import SCHEDULES, Schedule, make_schedule, resolve_schedule, schedule_arguments
from optimizers.sgd import SGD, Momentum, Nesterov
from optimizers.wame import WAME

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "nag": Nesterov,
    "adagrad": AdaGrad,
    "adadelta": AdaDelta,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamax": Adamax,
    "nadam": Nadam,
    "rprop": Rprop,
    "dozat": Dozat,
    "ravaut1": RavautFirstOrder,
    "ravaut2": RavautSecondOrder,
    "sgd_hd": SGDHD,
    "sgdn_hd": SGDNHD,
    "adam_hd": AdamHD,
    "esgd": ESGD,
    "layer_sgd": LayerSGD,
    "layer_momentum": LayerMomentum,
    "layer_nesterov": LayerNesterov,
    "layer_nag": LayerNesterov,
    "layer_adagrad": LayerAdaGrad,
    "wame": WAME,
    "llb_sgd": LLbSGD,
}

SCHEDULE_PREFIX = "schedule_"


def registry_key(name: str) -> str:
    """The key of :data:`OPTIMIZERS` that ``name`` spells: case, surrounding spaces and ``-`` for ``_`` do not matter.

    Raises a ValueError listing the valid names for an unknown one.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {sorted(OPTIMIZERS)}")
    return key


def hyperparameters(cls: type[Optimizer]) -> list[str]:
    """The keyword arguments ``cls`` takes besides ``params`` (``schedule`` included), in order.

    These are what :func:`build_optimizer` accepts; the class attribute ``cls.hyperparameters``
    is the table of checks of the ones a parameter group carries.
    """
    return [name for name in inspect.signature(cls).parameters if name != "params"]


def valid_keys(cls: type[Optimizer], schedule: Any = None) -> str:
    """What ``build_optimizer`` accepts for ``cls``, as the user must type it, for error messages.

    The constructor's keywords, then the prefixed arguments of the named ``schedule`` (or of every
    schedule, when none is named).
    """
    keys = hyperparameters(cls)
    text = f"it takes {keys}"
    if "schedule" not in keys:
        return text + " (no schedule)"
    named = SCHEDULES.get(schedule.lower()) if isinstance(schedule, str) else None
    listed = {schedule.lower(): named} if named is not None else SCHEDULES
    arguments = "; ".join(
        f"{key}: {[SCHEDULE_PREFIX + arg for arg in schedule_arguments(cls_)]}" for key, cls_ in listed.items()
    )
    return f"{text}, and with schedule=NAME that schedule's arguments ({arguments})"


def build_optimizer(
    name: str,
    params: ParamsLike,
    *,
    total_steps: int | None = None,
    steps_per_epoch: int | None = None,
    **hyperparams: Any,
) -> Optimizer:
    """Build the optimizer called ``name`` (see :func:`registry_key`) over ``params``.

    ``hyperparams`` are constructor keywords. ``schedule`` may be a :class:`Schedule`, None, or a
    schedule name whose arguments come as ``schedule_<arg>=value``. ``total_steps`` (the run's
    number of updates) and ``steps_per_epoch`` fill the schedule arguments of the same names
    (``cosine``'s and ``epoch``'s) unless they are given as ``schedule_<arg>``; a schedule that
    needs one that nobody gave is a ValueError. Raises a ValueError listing the valid names for
    an unknown optimizer, and the valid keys, spelled as they must be typed, for an unknown
    hyperparameter.
    """
    cls = OPTIMIZERS[registry_key(name)]
    accepted = hyperparameters(cls)
    schedule_args = {k[len(SCHEDULE_PREFIX) :]: v for k, v in hyperparams.items() if k.startswith(SCHEDULE_PREFIX)}
    if "schedule" not in accepted:
        schedule_args = {}  # no schedule: a schedule_<arg> is an unknown hyperparameter like any other
    unknown = sorted(set(hyperparams) - set(accepted) - {SCHEDULE_PREFIX + k for k in schedule_args})
    if unknown:
        valid = valid_keys(cls, hyperparams.get("schedule"))
        raise ValueError(f"unknown hyperparameter(s) {unknown} for optimizer {name!r}: {valid}")
    kwargs = {k: v for k, v in hyperparams.items() if k in accepted}
    if "schedule" in accepted:
        kwargs["schedule"] = build_schedule(hyperparams, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    return cls(params, **kwargs)


def build_schedule(
    hyperparams: dict[str, Any], *, total_steps: int | None = None, steps_per_epoch: int | None = None
) -> Callable[[int], float] | None:
    """The schedule that :func:`build_optimizer` builds from the same ``hyperparams`` and run lengths.

    Reads ``schedule`` and the ``schedule_<arg>`` keys and ignores the others, so a caller can
    see (or compare, e.g. before resuming a run) the schedule a set of options means without
    building an optimizer. None without a schedule.
    """
    arguments = {k[len(SCHEDULE_PREFIX) :]: v for k, v in hyperparams.items() if k.startswith(SCHEDULE_PREFIX)}
    return resolve_schedule(hyperparams.get("schedule"), arguments, total_steps=total_steps,
                            steps_per_epoch=steps_per_epoch, prefix=SCHEDULE_PREFIX)


__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "Adamax",
    "Dozat",
    "ESGD",
    "LLbSGD",
    "LayerAdaGrad",
    "LayerMomentum",
    "LayerNesterov",
    "LayerSGD",
    "RavautFirstOrder",
    "RavautSecondOrder",
    "SGDHD",
    "SGDNHD",
    "AdamHD",
    "WAME",
    "Momentum",
    "Nadam",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "Rprop",
    "Schedule",
    "build_optimizer",
    "build_schedule",
    "hyperparameters",
    "make_schedule",
    "registry_key",
    "resolve_schedule",
]
