"""Layer-specific adaptive learning rates (Singh, De, Zhang, Goldstein & Taylor 2015, eq. 9–13).

Any optimizer with a global rate t^(k) gets one rate per layer from the current gradients of
that layer alone (eq. 9)::

    t_l^(k) = t^(k) · (1 + ln(1 + 1/‖g_l^(k)‖₂))

‖g_l‖₂ is the norm of all gradients of layer l together, weights and bias (plus weight decay
when it is used, since that is the gradient the base rule sees). Large gradients leave the rate
alone (the factor → 1); small ones, typical of shallow layers and of low-curvature saddles,
raise it. Under SGD this is eq. 10–11, Δθ_l = −t_l·g_l; under momentum and NAG the rate sits
inside the velocity, as in Caffe's solvers, which the paper patched; under AdaGrad it replaces
the global rate of eq. 8: Δθ_l = −t_l·g_l/(√H + δ).

Layers are parameter groups: ``Module.layer_groups()`` gives one per module that owns
parameters. ``grouping="blob"`` splits every group into one group per parameter array, which
is how Caffe's solvers loop over "blobs" (docs/optimizers/layer-specific.md discusses which the
authors likely used; the paper says "layer"). A group's ``"lr_mults"`` (Caffe's ``lr_mult``,
e.g. 2 for biases in Caffe's LeNet) multiply each parameter's rate after the layer's factor is
computed: the norm still spans the layer's weights and bias together.

At ‖g_l‖ = 0 the factor would be infinite. The norm is floored at ``min_norm`` (default 1e-12,
which caps the factor at 1 + ln(1 + 10¹²) ≈ 28.6): the step of a zero gradient stays zero and
nothing becomes NaN. The factor is computed on the parameters' device as a 0-d array, so it
costs no host transfer.

:class:`LayerSGD`, :class:`LayerMomentum`, :class:`LayerNesterov` and :class:`LayerAdaGrad` are
the paper's four: each is :class:`LayerSpecific` put before its base class, with the base's
arguments plus ``grouping`` and ``min_norm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minigrad.backend import get_array_module
from optimizers.adagrad import AdaGrad
from optimizers.base import ParamsLike, ScheduleLike
from optimizers.sgd import SGD, Momentum, Nesterov
from optimizers.validation import choice, positive


def singh_factor(norm: Any, min_norm: float = 1e-12) -> Any:
    """1 + ln(1 + 1/max(‖g‖, min_norm)): Singh et al. (2015) eq. 9's factor on the global rate."""
    xp = get_array_module(norm)
    return 1 + xp.log1p(1 / xp.maximum(norm, min_norm))


def split_into_blobs(params: ParamsLike) -> list[dict[str, Any]]:
    """One parameter group per parameter array, keeping each group's name, hyperparameters and lr_mults."""
    items = list(params)
    if not all(isinstance(x, Mapping) for x in items):
        items = [{"params": items}]
    blobs = []
    for gi, group in enumerate(items):
        name = group.get("name", f"group{gi}")
        mults = list(group["lr_mults"]) if "lr_mults" in group else None
        for pi, p in enumerate(group["params"]):
            blob = {**group, "params": [p], "name": f"{name}[{pi}]"}
            if mults is not None:
                blob["lr_mults"] = mults[pi : pi + 1]  # a wrong length is refused by the optimizer
            blobs.append(blob)
    return blobs


class LayerSpecific:
    """Mixin: scale the base optimizer's global rate per layer by :func:`singh_factor` (eq. 9).

    Put it before an :class:`~optimizers.base.Optimizer` subclass whose ``update`` uses
    ``self.rate(group)``, and call :meth:`layers` first in the constructor. ``layer_factors``
    maps each group's name to the factor of the last step (0-d arrays), for telemetry and tutorials.
    """

    grouping: str
    min_norm: float
    layer_factors: dict[str, Any]

    def layers(self, params: ParamsLike, grouping: str, min_norm: float) -> ParamsLike:
        """Check and keep ``grouping`` and ``min_norm``; return ``params`` split into blobs if asked."""
        self.grouping = choice("layer", "blob")("grouping", grouping)
        self.min_norm = positive("min_norm", min_norm)
        self.layer_factors = {}
        return split_into_blobs(params) if grouping == "blob" else params

    def factor(self, norm: Any) -> Any:
        """The factor on the global rate for a layer whose gradient has norm ``norm``."""
        return singh_factor(norm, self.min_norm)

    def update_group(self, group: dict[str, Any]) -> None:
        """Compute ‖g_l‖ over the group's gradients (weight decay included), set the layer's factor, update."""
        grads = self.gradients(group)  # type: ignore[attr-defined]
        present = [g for g in grads if g is not None]
        if not present:
            return
        xp = get_array_module(present[0])
        # Σ‖g‖² in the parameters' dtype, on their device: no host sync, no float64 upcast.
        squares = [xp.vdot(g, g) for g in present]
        dtype = next(p.data.dtype for p, g in zip(group["params"], grads) if g is not None)
        norm = xp.sqrt(sum(squares[1:], squares[0])).astype(dtype)
        factor = self.factor(norm)
        self.layer_factors[group.get("name", str(id(group)))] = factor
        self.layer_factor = factor
        try:
            self.update_each(group, grads)  # type: ignore[attr-defined]
        finally:
            self.layer_factor = 1.0


class LayerSGD(LayerSpecific, SGD):
    """SGD with Singh et al. (2015) layer-specific rates, eq. 10–11: Δθ_l = −t_l·g_l.

    t_l = t·(1 + ln(1 + 1/‖g_l‖₂)); with ``momentum`` > 0 the rate sits inside the velocity (Caffe's
    form, eq. 6). The other arguments are :class:`~optimizers.sgd.SGD`'s.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0,
                 form: str = "caffe", *, grouping: str = "layer", min_norm: float = 1e-12,
                 schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(self.layers(params, grouping, min_norm), lr, momentum, weight_decay, form, schedule)


class LayerMomentum(LayerSpecific, Momentum):
    """Classical momentum with Singh et al. (2015) layer-specific rates, Caffe's form: v ← μv − t_l·g_l.

    The other arguments are :class:`~optimizers.sgd.Momentum`'s.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0,
                 form: str = "caffe", *, grouping: str = "layer", min_norm: float = 1e-12,
                 schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(self.layers(params, grouping, min_norm), lr, momentum, weight_decay, form, schedule)


class LayerNesterov(LayerSpecific, Nesterov):
    """Nesterov's accelerated gradient with Singh et al. (2015) layer-specific rates, Caffe's form.

    The other arguments are :class:`~optimizers.sgd.Nesterov`'s.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0,
                 form: str = "caffe", *, grouping: str = "layer", min_norm: float = 1e-12,
                 schedule: ScheduleLike | str | None = None) -> None:
        super().__init__(self.layers(params, grouping, min_norm), lr, momentum, weight_decay, form, schedule)


class LayerAdaGrad(LayerSpecific, AdaGrad):
    """AdaGrad with Singh et al. (2015) layer-specific rates: Δθ_l = −t_l·g_l/(√H + δ) (eq. 8 with t_l).

    The other arguments are :class:`~optimizers.adagrad.AdaGrad`'s.
    """

    def __init__(self, params: ParamsLike, lr: float = 0.01, eps: float = 1e-8, eps_inside: bool = False,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0, *, grouping: str = "layer",
                 min_norm: float = 1e-12, schedule: ScheduleLike | str | None = None) -> None:
        params = self.layers(params, grouping, min_norm)
        super().__init__(params, lr, eps, eps_inside, initial_accumulator_value, weight_decay, schedule)
