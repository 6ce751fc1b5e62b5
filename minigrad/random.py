"""Seeding: one call, :func:`seed`, fixes every random source minigrad uses.

minigrad draws random numbers (weight initialisation, dropout masks) only from the generators
returned by :func:`generator`, one per array module. Initial weights are always drawn with the
NumPy generator on the host, so a model starts identical on CPU and GPU.
"""

from __future__ import annotations

import random as _py_random
from types import ModuleType
from typing import Any

import numpy as np

_seed: int | None = None
_generators: dict[str, Any] = {}


def seed(value: int) -> None:
    """Seed minigrad's generators (NumPy and, if loaded, CuPy), Python's ``random`` and ``np.random``."""
    global _seed
    if not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"seed must be a non-negative integer, got {value!r}")
    _seed = int(value)
    _generators.clear()
    _py_random.seed(_seed)
    np.random.seed(_seed % 2**32)


def generator(xp: ModuleType = np) -> Any:
    """The generator for array module ``xp`` (``xp.random.default_rng``), created on first use."""
    key = xp.__name__
    if key not in _generators:
        if _seed is None:  # unseeded: fresh entropy, like PyTorch before manual_seed
            _generators[key] = xp.random.default_rng()
        else:
            _generators[key] = xp.random.default_rng(_seed)
    return _generators[key]


def get_state() -> dict[str, Any]:
    """The NumPy generator's bit-generator state (to checkpoint dropout/initialisation streams)."""
    return dict(generator(np).bit_generator.state)


def set_state(state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_state`."""
    generator(np).bit_generator.state = state
