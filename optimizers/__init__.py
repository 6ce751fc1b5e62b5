"""Optimizers: the base class (parameter groups, per-parameter state) and the update rules of the papers.

An optimizer builds on the minigrad engine alone: it sees parameter groups, never modules.

Layout
------
- :mod:`optimizers.base`: the :class:`Optimizer` base class, validators, weight decay, schedules hook.
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
:data:`OPTIMIZERS` maps lowercase names to classes; :func:`build_optimizer` builds one from
plain ``key=value`` hyperparameters, which is what ``minigrad train --optimizer NAME --opt
KEY=VALUE`` passes. Every constructor argument is a plain keyword (numbers, bools, strings:
``form=torch``, ``norm=inf``, ``momentum=nesterov`` for :class:`Dozat`). The learning-rate
schedule is given by name with its arguments prefixed by ``schedule_``::

    minigrad train --optimizer nesterov --lr 0.01 --opt momentum=0.9 \\
        --opt schedule=inv --opt schedule_gamma=1e-4 --opt schedule_power=0.75
    minigrad train --optimizer dozat --opt norm=1 --opt schedule=epoch --opt schedule_steps_per_epoch=938

Schedule names and arguments are those of :data:`optimizers.schedules.SCHEDULES`.
"""

from __future__ import annotations

import inspect
from typing import Any

from optimizers.adadelta import AdaDelta
from optimizers.adagrad import AdaGrad
from optimizers.adam import Adam, Adamax, Nadam
from optimizers.base import Optimizer, ParamsLike
from optimizers.dozat import Dozat
from optimizers.esgd import ESGD
from optimizers.hypergradient import SGDHD, SGDNHD, AdamHD
from optimizers.layerwise import LayerAdaGrad, LayerMomentum, LayerNesterov, LayerSGD, layer_specific
from optimizers.llb import LLbSGD
from optimizers.ravaut import RavautFirstOrder, RavautSecondOrder
from optimizers.rmsprop import RMSprop
from optimizers.rprop import Rprop
from optimizers.schedules import SCHEDULES, Schedule, make_schedule
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


def hyperparameters(cls: type[Optimizer]) -> list[str]:
    """The keyword arguments ``cls`` takes besides ``params`` (``schedule`` included)."""
    return [name for name in inspect.signature(cls).parameters if name != "params"]


def build_optimizer(name: str, params: ParamsLike, **hyperparams: Any) -> Optimizer:
    """Build the optimizer called ``name`` (a key of :data:`OPTIMIZERS`, ``-`` for ``_``) over ``params``.

    ``hyperparams`` are constructor keywords. ``schedule`` may be a :class:`Schedule`, None, or a
    schedule name whose arguments come as ``schedule_<arg>=value``. Raises a ValueError listing
    the valid names for an unknown optimizer, and the valid hyperparameters for an unknown one.
    """
    cls = OPTIMIZERS.get(str(name).lower().replace("-", "_"))  # "layer-sgd" reads better on a command line
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {sorted(OPTIMIZERS)}")
    schedule_args = {
        k[len(SCHEDULE_PREFIX) :]: hyperparams.pop(k) for k in list(hyperparams) if k.startswith(SCHEDULE_PREFIX)
    }
    schedule = hyperparams.pop("schedule", None)
    if isinstance(schedule, str):
        schedule = make_schedule(schedule, **schedule_args)
    elif schedule_args:
        raise ValueError(f"schedule arguments {sorted(schedule_args)} need schedule=NAME, one of {sorted(SCHEDULES)}")
    accepted = hyperparameters(cls)
    unknown = sorted(set(hyperparams) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {unknown} for optimizer {name!r}: it takes {accepted} "
            f"(and schedule_<arg> with schedule=NAME)"
        )
    if schedule is not None:
        hyperparams["schedule"] = schedule
    return cls(params, **hyperparams)


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
    "layer_specific",
    "Momentum",
    "Nadam",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "Rprop",
    "Schedule",
    "build_optimizer",
    "hyperparameters",
    "make_schedule",
]
