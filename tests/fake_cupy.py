"""A stand-in for CuPy on machines without a GPU, strict about what real CuPy would punish.

``FakeCupy`` is a module-like namespace whose functions are NumPy's, but whose arrays are
:class:`DeviceArray` (a NumPy subclass standing in for ``cupy.ndarray``). A DeviceArray:

- refuses to mix with host (plain NumPy) arrays in one operation, as CuPy does: this is how
  a hard-coded ``np.zeros(...)`` or ``np.asarray(...)`` inside an op is caught;
- refuses NumPy functions called directly (``np.where(device_array, ...)``), stricter than
  CuPy's own ``__array_function__``: code must use the array module from ``get_array_module``.
  NumPy *ufuncs* on device arrays are allowed, since CuPy's ``__array_ufunc__`` allows them;
- counts every read back to the host (``float()``, ``bool()``, ``.item()``, ``.get()``, ...),
  so a test can require a training step to make none.

Installed with :func:`install` (monkeypatching minigrad's backend), it lets the CPU-only CI drive
the whole library down its GPU path.
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

import numpy as np


class HardCodedNumpyError(AssertionError):
    """Device arrays reached a NumPy function directly instead of through the array module."""


class MixedDeviceError(TypeError):
    """A device array met a host array in one operation."""


_state = threading.local()
host_reads: list[str] = []


def _inside_module() -> bool:
    return getattr(_state, "depth", 0) > 0


def _to_host_view(x: Any) -> Any:
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_host_view(v) for v in x)
    return x


def _to_device(x: Any) -> Any:
    if isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
        return x.view(DeviceArray)
    if isinstance(x, np.generic):  # CuPy reductions give 0-d arrays, never host scalars
        return np.asarray(x).view(DeviceArray)
    if isinstance(x, tuple):
        return tuple(_to_device(v) for v in x)
    if isinstance(x, list):
        return [_to_device(v) for v in x]
    return x


def _check_no_host_arrays(args: Any, what: str) -> None:
    for a in args if isinstance(args, (list, tuple)) else (args,):
        if isinstance(a, (list, tuple)):
            _check_no_host_arrays(a, what)
        elif isinstance(a, np.ndarray) and not isinstance(a, DeviceArray):
            raise MixedDeviceError(f"{what}: a host (NumPy) array of shape {a.shape} met a device array")


class DeviceArray(np.ndarray):
    """NumPy storage behaving like ``cupy.ndarray`` for the purposes of the tests."""

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _check_no_host_arrays(inputs, f"{ufunc.__name__}.{method}")
        out = kwargs.get("out")
        if out is not None:
            _check_no_host_arrays(out, f"{ufunc.__name__}.{method}(out=...)")
            kwargs["out"] = _to_host_view(out)
        result = getattr(ufunc, method)(*_to_host_view(inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _to_device(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        if not _inside_module():
            raise HardCodedNumpyError(f"np.{func.__name__} was called on a device array: use the array module")
        return func(*_to_host_view(args), **{k: _to_host_view(v) for k, v in kwargs.items()})

    # Reads back to the host: allowed (CuPy allows them too) but counted.
    def _host(self, what: str) -> np.ndarray:
        host_reads.append(what)
        return self.view(np.ndarray)

    def get(self) -> np.ndarray:
        """The explicit device → host copy of ``cupy.ndarray.get``."""
        return self._host("get").copy()

    def item(self, *args: Any) -> Any:  # noqa: D102
        return self._host("item").item(*args)

    def tolist(self) -> Any:  # noqa: D102
        return self._host("tolist").tolist()

    def __float__(self) -> float:
        return float(self._host("float"))

    def __int__(self) -> int:
        return int(self._host("int"))

    def __bool__(self) -> bool:
        return bool(self._host("bool"))

    def __index__(self) -> int:
        return int(self._host("index"))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed (as in CuPy); use .get()")


class _Ufunc:
    """``fake.add`` etc.: a ufunc whose methods (``at``, ``reduce``) stay inside the module."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._ufunc, args, kwargs)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._ufunc, name)
        return lambda *a, **k: _call(method, a, k)


def _call(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    _check_no_host_arrays(args, getattr(func, "__name__", "call"))
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        result = func(*_to_host_view(args), **{k: _to_host_view(v) for k, v in kwargs.items()})
    finally:
        _state.depth -= 1
    if "out" in kwargs and kwargs["out"] is not None:
        return kwargs["out"]
    return _to_device(result)


class _Generator:
    def __init__(self, seed: Any = None) -> None:
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._rng, name)
        return lambda *a, **k: _to_device(method(*a, **k))


class _Event:
    """``cupy.cuda.Event``: ``record()`` notes the host clock; ``synchronize()`` has nothing to wait for."""

    def __init__(self) -> None:
        self.time = 0.0

    def record(self, stream: Any = None) -> None:  # noqa: D102
        self.time = time.perf_counter()

    def synchronize(self) -> None:  # noqa: D102
        pass


class FakeCupy(types.ModuleType):
    """The module standing in for ``cupy``: NumPy's functions, returning DeviceArrays."""

    ndarray = DeviceArray

    def __init__(self) -> None:
        super().__init__("fakecupy")
        self.random = types.SimpleNamespace(default_rng=_Generator)
        stream = types.SimpleNamespace(synchronize=lambda: None)
        # Enough of cupy.cuda for timing code (benchmarks.gpu_lenet): events read the host clock,
        # which is right here because the stand-in computes synchronously.
        self.cuda = types.SimpleNamespace(
            runtime=types.SimpleNamespace(
                getDeviceCount=lambda: 1, getDeviceProperties=lambda device: {"name": b"fake CuPy device"}
            ),
            get_current_stream=lambda: stream,
            Event=_Event,
            get_elapsed_time=lambda start, end: 1e3 * (end.time - start.time),
            Device=lambda device=0: types.SimpleNamespace(id=device),
        )
        self.__version__ = "0.0-fake"
        self.transfers_to_device = 0

    def asarray(self, x: Any, dtype: Any = None) -> DeviceArray:
        """Host → device copy (or a no-op for a device array)."""
        if isinstance(x, DeviceArray):
            return x if dtype is None else x.astype(dtype)
        self.transfers_to_device += 1
        return np.array(x, dtype=dtype).view(DeviceArray)

    def array(self, x: Any, dtype: Any = None, copy: bool = True) -> DeviceArray:  # noqa: D102
        if not isinstance(x, DeviceArray):
            return self.asarray(x, dtype)
        return x.astype(dtype or x.dtype, copy=copy)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        if callable(attr) and not isinstance(attr, type):
            return lambda *a, **k: _call(attr, a, k)
        return attr


def install(monkeypatch: Any) -> FakeCupy:
    """Make minigrad's backend treat :class:`FakeCupy` as CuPy for the rest of the test."""
    from minigrad import backend

    fake = FakeCupy()
    monkeypatch.setattr(backend, "_cupy", fake)
    monkeypatch.setattr(backend, "_cupy_tried", True)
    host_reads.clear()
    return fake
