"""The array-module switch: NumPy on the CPU, CuPy on the GPU.

This is the only module in minigrad that imports CuPy, and it does so lazily, so everything
works on machines where CuPy is not installed. Every other module asks the arrays it holds for
their module with :func:`get_array_module` and never imports ``numpy``/``cupy`` to compute.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Literal

import numpy as np

Device = Literal["cpu", "gpu"]
DEVICES: tuple[str, ...] = ("cpu", "gpu")

_cupy: ModuleType | None = None
_cupy_error: BaseException | None = None
_cupy_tried = False


def _import_cupy() -> ModuleType | None:
    """Import CuPy once; remember why it failed so the error can say so."""
    global _cupy, _cupy_error, _cupy_tried
    if not _cupy_tried:
        _cupy_tried = True
        try:
            _cupy = importlib.import_module("cupy")
        except Exception as exc:  # ImportError, or a broken CUDA install raising at import
            _cupy, _cupy_error = None, exc
    return _cupy


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cp = _import_cupy()
    if cp is None:
        return False
    try:
        return int(cp.cuda.runtime.getDeviceCount()) > 0
    except Exception:
        return False


def require_cupy() -> ModuleType:
    """Return the ``cupy`` module, or raise a RuntimeError that says how to get a GPU backend."""
    cp = _import_cupy()
    if cp is None:
        raise RuntimeError(
            "device 'gpu' needs CuPy, which could not be imported "
            f"({type(_cupy_error).__name__}: {_cupy_error}). Install it with "
            '`pip install ".[gpu]"` (CuPy for CUDA 12) or pick the wheel matching your CUDA '
            "version, e.g. `pip install cupy-cuda11x`; or use device 'cpu'."
        )
    try:
        count = int(cp.cuda.runtime.getDeviceCount())
    except Exception as exc:
        raise RuntimeError(f"device 'gpu': CuPy is installed but no CUDA device is usable ({exc})") from exc
    if count == 0:
        raise RuntimeError("device 'gpu': CuPy is installed but reports no CUDA device")
    return cp


def is_cupy_array(x: Any) -> bool:
    """True when ``x`` is a CuPy ndarray (never imports CuPy to find out)."""
    return _cupy is not None and isinstance(x, _cupy.ndarray)


def unwrap(x: Any) -> Any:
    """The raw array of a Tensor (anything with a graph slot ``_ctx``); other values unchanged.

    (Not ``getattr(x, "data", x)``: NumPy arrays have a ``.data`` memoryview of their own.)
    """
    return x.data if hasattr(x, "_ctx") else x


def get_array_module(*xs: Any) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) of the given arrays or Tensors.

    NumPy unless any argument lives on the GPU. Tensors are unwrapped through ``.data``.
    """
    for x in xs:
        if is_cupy_array(unwrap(x)):
            return _cupy  # type: ignore[return-value]
    return np


def device_of(x: Any) -> Device:
    """``"gpu"`` for a CuPy array (or a Tensor holding one), else ``"cpu"``."""
    return "gpu" if is_cupy_array(unwrap(x)) else "cpu"


def check_device(device: str) -> Device:
    """Validate a device name, raising ValueError for anything but ``"cpu"``/``"gpu"``."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    return device  # type: ignore[return-value]


def to_device(x: Any, device: str) -> Any:
    """Return array ``x`` on ``device`` ("cpu" or "gpu"); a no-op when it is already there."""
    device = check_device(device)
    if device == "gpu":
        cp = require_cupy()
        return x if isinstance(x, cp.ndarray) else cp.asarray(x)
    return to_numpy(x)


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` (NumPy or CuPy array, Tensor, or scalar) as a NumPy array on the host."""
    x = unwrap(x)
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def synchronize(x: Any = None) -> None:
    """Wait for the GPU to finish queued work (no-op on the CPU); used by timers."""
    if _cupy is not None and (x is None or is_cupy_array(unwrap(x))):
        _cupy.cuda.get_current_stream().synchronize()
