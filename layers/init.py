"""Weight initialisation: the schemes the papers use, in place on Parameters, and :func:`initialize` for a model.

Every random draw comes from minigrad's seeded NumPy generator (:func:`minigrad.random.generator`)
on the host, in float64, and is then written into the parameter on its own device and in its
own dtype. So after :func:`minigrad.seed`, a model starts identically on the CPU and the GPU,
and a float64 model holds the same draws as a float32 one up to rounding.

Fans follow the shape convention of the layers: a weight (out, in) or (out, in, kh, kw) has
fan_in = in·kh·kw and fan_out = out·kh·kw (Caffe counts them the same way). With ``n`` the fan
a scheme uses:

===================================  ========================================================
scheme                               distribution
===================================  ========================================================
``caffe_xavier``                     U(±√(3/n)), n = fan_in: Caffe's "xavier" filler with its
                                     default ``variance_norm: FAN_IN`` (``FAN_OUT`` and
                                     ``AVERAGE`` also offered); the same as ``lecun_uniform``
``xavier_uniform`` / ``glorot_…``    U(±gain·√(6/(fan_in + fan_out))) (Glorot & Bengio, 2010)
``xavier_normal``                    N(0, gain²·2/(fan_in + fan_out))
``kaiming_normal`` / ``he_normal``   N(0, gain²/n), gain √2 for ReLU (He et al., 2015); ``msra``
                                     is Caffe's name for it (n = fan_in)
``kaiming_uniform`` / ``he_uniform``  U(±gain·√(3/n))
``lecun_normal``, ``lecun_uniform``  N(0, 1/fan_in), U(±√(3/fan_in)) (LeCun et al., 1998)
``torch_default``                    U(±1/√fan_in), for weights and biases: what the layers
                                     start with (PyTorch's Linear/Conv2d default)
``normal``, ``uniform``              N(mean, std²), U(a, b)
``constant``, ``zeros``              a fixed value
===================================  ========================================================

>>> import minigrad, layers
>>> minigrad.seed(0)
>>> net = layers.Sequential(layers.Conv2d(1, 20, 5), layers.Flatten(), layers.Linear(20 * 24 * 24, 10))
>>> net = layers.init.initialize(net, weight="caffe_xavier", bias="zeros")
>>> bound = (3 / 25) ** 0.5  # conv fan_in = 1·5·5
>>> bool(abs(net[0].weight.data).max() <= bound), float(abs(net[0].bias.data).max())
(True, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from layers.module import Module
from minigrad import Parameter, Tensor
from minigrad import random as mrandom
from minigrad.backend import get_array_module

FAN_MODES = ("fan_in", "fan_out")
CAFFE_VARIANCE_NORMS = ("fan_in", "fan_out", "average")
_GAINS = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel).

    >>> fans((120, 400)), fans((16, 6, 5, 5))
    ((400, 120), (150, 400))
    """
    if len(shape) < 2:
        raise ValueError(
            f"fan_in and fan_out need a weight of shape (out, in, *kernel), got shape {tuple(shape)}; "
            "pass fan_in= (and fan_out=) for a bias or another 1-d parameter"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance through ``nonlinearity`` (the values PyTorch uses).

    ``linear``/``conv2d``/``sigmoid`` 1, ``tanh`` 5/3, ``relu`` √2, ``leaky_relu`` √(2/(1 + slope²))
    with slope ``param`` (default 0.01), ``selu`` 3/4.
    """
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}: expected one of {sorted([*_GAINS, 'leaky_relu'])}")
    return _GAINS[nonlinearity]


def _fans(param: Tensor, fan_in: int | None, fan_out: int | None) -> tuple[int, int]:
    if fan_in is not None and fan_out is not None:
        return fan_in, fan_out
    shape_in, shape_out = fans(param.shape)
    return (shape_in if fan_in is None else fan_in), (shape_out if fan_out is None else fan_out)


def _fan_in(param: Tensor, fan_in: int | None) -> int:
    return fans(param.shape)[0] if fan_in is None else fan_in


def _write(param: Tensor, host_values: np.ndarray) -> Tensor:
    """Copy host draws into ``param``'s array, in place: on its device, in its dtype."""
    xp = get_array_module(param.data)
    param.data[...] = xp.asarray(host_values, dtype=param.dtype)
    return param


def uniform_(param: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``param`` with draws from U(a, b), in place; returns it."""
    if not a < b:
        raise ValueError(f"uniform_: need a < b, got a={a}, b={b}")
    return _write(param, mrandom.generator(np).uniform(a, b, size=param.shape))


def normal_(param: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``param`` with draws from N(mean, std²), in place; returns it."""
    if not std >= 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _write(param, mrandom.generator(np).normal(mean, std, size=param.shape))


def constant_(param: Tensor, value: float) -> Tensor:
    """Set every element of ``param`` to ``value``, in place; returns it."""
    param.data[...] = value
    return param


def zeros_(param: Tensor) -> Tensor:
    """Set ``param`` to zeros, in place; returns it."""
    return constant_(param, 0.0)


def caffe_xavier_(
    param: Tensor, variance_norm: str = "fan_in", *, fan_in: int | None = None, fan_out: int | None = None
) -> Tensor:
    """Caffe's "xavier" filler: U(±√(3/n)), n = fan_in by default (Caffe's ``variance_norm: FAN_IN``).

    ``variance_norm="fan_out"`` or ``"average"`` ((fan_in + fan_out)/2) as Caffe offers.
    """
    if variance_norm not in CAFFE_VARIANCE_NORMS:
        raise ValueError(
            f"caffe_xavier_: unknown variance_norm {variance_norm!r}: expected one of {CAFFE_VARIANCE_NORMS}"
        )
    f_in, f_out = _fans(param, fan_in, fan_out)
    n = {"fan_in": f_in, "fan_out": f_out, "average": (f_in + f_out) / 2}[variance_norm]
    bound = math.sqrt(3.0 / n)
    return uniform_(param, -bound, bound)


def xavier_uniform_(
    param: Tensor, gain: float = 1.0, *, fan_in: int | None = None, fan_out: int | None = None
) -> Tensor:
    """Glorot & Bengio (2010): U(±gain·√(6/(fan_in + fan_out))), in place."""
    f_in, f_out = _fans(param, fan_in, fan_out)
    bound = gain * math.sqrt(6.0 / (f_in + f_out))
    return uniform_(param, -bound, bound)


def xavier_normal_(
    param: Tensor, gain: float = 1.0, *, fan_in: int | None = None, fan_out: int | None = None
) -> Tensor:
    """Glorot & Bengio (2010), normal form: N(0, gain²·2/(fan_in + fan_out)), in place."""
    f_in, f_out = _fans(param, fan_in, fan_out)
    return normal_(param, 0.0, gain * math.sqrt(2.0 / (f_in + f_out)))


def _kaiming_std(
    param: Tensor, a: float, mode: str, nonlinearity: str, fan_in: int | None, fan_out: int | None
) -> float:
    if mode not in FAN_MODES:
        raise ValueError(f"unknown mode {mode!r}: expected one of {FAN_MODES}")
    f_in, f_out = _fans(param, fan_in, fan_out)
    return calculate_gain(nonlinearity, a) / math.sqrt(f_in if mode == "fan_in" else f_out)


def kaiming_normal_(
    param: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    *,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> Tensor:
    """He et al. (2015), "MSRA": N(0, gain²/n), gain √2 for ReLU (√(2/(1 + a²)) for leaky ReLU of slope a)."""
    return normal_(param, 0.0, _kaiming_std(param, a, mode, nonlinearity, fan_in, fan_out))


def kaiming_uniform_(
    param: Tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "relu",
    *,
    fan_in: int | None = None,
    fan_out: int | None = None,
) -> Tensor:
    """He et al. (2015), uniform form: U(±gain·√(3/n)), the same variance as :func:`kaiming_normal_`."""
    bound = math.sqrt(3.0) * _kaiming_std(param, a, mode, nonlinearity, fan_in, fan_out)
    return uniform_(param, -bound, bound)


def lecun_normal_(param: Tensor, *, fan_in: int | None = None) -> Tensor:
    """LeCun et al. (1998): N(0, 1/fan_in), in place."""
    return normal_(param, 0.0, 1.0 / math.sqrt(_fan_in(param, fan_in)))


def lecun_uniform_(param: Tensor, *, fan_in: int | None = None) -> Tensor:
    """LeCun et al. (1998), uniform form: U(±√(3/fan_in)), the same as Caffe's xavier filler."""
    bound = math.sqrt(3.0 / _fan_in(param, fan_in))
    return uniform_(param, -bound, bound)


def torch_default_(param: Tensor, *, fan_in: int | None = None) -> Tensor:
    """PyTorch's default for Linear and Conv2d weights and biases: U(±1/√fan_in), in place.

    (Kaiming-uniform with a = √5 gives this bound for the weight.) A bias needs its layer's
    ``fan_in``.
    """
    bound = 1.0 / math.sqrt(_fan_in(param, fan_in))
    return uniform_(param, -bound, bound)


_BOTH = ("fan_in", "fan_out")
# name -> (scheme, the fans of the layer it is given as keywords)
SCHEMES: dict[str, tuple[Callable[..., Tensor], tuple[str, ...]]] = {
    "caffe_xavier": (caffe_xavier_, _BOTH),
    "xavier_uniform": (xavier_uniform_, _BOTH),
    "glorot_uniform": (xavier_uniform_, _BOTH),
    "xavier_normal": (xavier_normal_, _BOTH),
    "glorot_normal": (xavier_normal_, _BOTH),
    "kaiming_normal": (kaiming_normal_, _BOTH),
    "he_normal": (kaiming_normal_, _BOTH),
    "msra": (kaiming_normal_, _BOTH),
    "kaiming_uniform": (kaiming_uniform_, _BOTH),
    "he_uniform": (kaiming_uniform_, _BOTH),
    "lecun_normal": (lecun_normal_, ("fan_in",)),
    "lecun_uniform": (lecun_uniform_, ("fan_in",)),
    "torch_default": (torch_default_, ("fan_in",)),
    "normal": (normal_, ()),
    "uniform": (uniform_, ()),
    "constant": (constant_, ()),
    "zeros": (zeros_, ()),
}


def _check_scheme(scheme: Any, role: str) -> None:
    if isinstance(scheme, bool) or not (isinstance(scheme, (int, float)) or scheme in SCHEMES):
        raise ValueError(f"unknown {role} initialisation {scheme!r}: expected a number or one of {sorted(SCHEMES)}")


def _apply(scheme: str | float, param: Parameter, layer_fans: dict[str, int], kwargs: Mapping[str, Any]) -> None:
    if isinstance(scheme, (int, float)):
        constant_(param, float(scheme))
        return
    fn, fan_names = SCHEMES[scheme]
    fn(param, **kwargs, **{name: layer_fans[name] for name in fan_names})


def initialize(
    module: Module,
    weight: str | float = "caffe_xavier",
    bias: str | float = "zeros",
    bias_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Module:
    """Re-initialise, in place, every layer of ``module`` that has a ``weight`` of known fan; returns ``module``.

    A layer qualifies when its ``weight`` is a Parameter of at least 2 dimensions (Linear,
    Conv2d, and any layer of the same convention); its ``bias``, if any, follows ``bias`` (a
    scheme name, or a number for a constant) with the weight's fans. ``kwargs`` go to the weight
    scheme (``initialize(model, weight="normal", std=0.01)``), ``bias_kwargs`` to the bias
    scheme. Layers are visited in definition order, weight then bias, so a seed fixes the result.
    Parameters keep their identity (an optimizer holding them keeps working).
    """
    _check_scheme(weight, "weight")
    _check_scheme(bias, "bias")
    for m in module.modules():
        w = getattr(m, "weight", None)
        if not isinstance(w, Parameter) or w.ndim < 2:
            continue
        layer_fans = dict(zip(("fan_in", "fan_out"), fans(w.shape)))
        _apply(weight, w, layer_fans, kwargs)
        b = getattr(m, "bias", None)
        if isinstance(b, Parameter):
            _apply(bias, b, layer_fans, bias_kwargs or {})
    return module
