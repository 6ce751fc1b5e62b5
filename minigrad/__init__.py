"""minigrad: a small reverse-mode autograd over NumPy (or CuPy) arrays.

The engine package owns the Tensor and its graph (:mod:`.tensor`, :mod:`.autograd`), the ops
(:mod:`.ops`) and their functional wrappers (:mod:`.functional`), the array-module switch
(:mod:`.backend`), the float64 gradient checker (:mod:`.gradcheck`), seeding (:mod:`.random`),
safe save/load (:mod:`.serialization`) and the thread pool of the NumPy fast paths (:mod:`.parallel`).
"""

from minigrad import functional, ops
from minigrad.autograd import Function, is_grad_enabled, no_grad
from minigrad.backend import cupy_available, device_of, get_array_module, to_device, to_numpy
from minigrad.gradcheck import GradcheckError, gradcheck
from minigrad.parallel import get_num_threads, set_num_threads, use_threads
from minigrad.random import seed
from minigrad.serialization import load, save
from minigrad.tensor import Parameter, Tensor

__all__ = [
    "Function",
    "GradcheckError",
    "Parameter",
    "Tensor",
    "cupy_available",
    "device_of",
    "functional",
    "get_array_module",
    "get_num_threads",
    "gradcheck",
    "is_grad_enabled",
    "load",
    "no_grad",
    "ops",
    "save",
    "seed",
    "set_num_threads",
    "to_device",
    "to_numpy",
    "use_threads",
]
__version__ = "0.1.0"
