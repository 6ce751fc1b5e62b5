"""Optimizers: the base class (parameter groups, per-parameter state) and the update rules of the papers.

An optimizer builds on the minigrad engine alone: it sees parameter groups, never modules.
"""

from optimizers.base import Optimizer
from optimizers.sgd import SGD

OPTIMIZERS = {"sgd": SGD}

__all__ = ["OPTIMIZERS", "SGD", "Optimizer"]
