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
is how Caffe's solvers loop over "blobs" (optimizer-research.md §1.3 discusses which the
authors likely used; the paper says "layer").

At ‖g_l‖ = 0 the factor would be infinite. The norm is floored at ``min_norm`` (default 1e-12,
which caps the factor at 1 + ln(1 + 10¹²) ≈ 28.6): the step of a zero gradient stays zero and
nothing becomes NaN. The factor is computed on the parameters' device as a 0-d array, so it
costs no host transfer.

:func:`layer_specific` builds the variant of any such optimizer class; :class:`LayerSGD`,
:class:`LayerMomentum`, :class:`LayerNesterov` and :class:`LayerAdaGrad` are the paper's four.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from minigrad.backend import get_array_module
from optimizers.adagrad import AdaGrad
from optimizers.base import Optimizer, ParamsLike, check_choice, check_positive, with_weight_decay
from optimizers.sgd import SGD, Momentum, Nesterov

GROUPINGS = ("layer", "blob")


def singh_factor(norm: Any, min_norm: float = 1e-12) -> Any:
    """1 + ln(1 + 1/max(‖g‖, min_norm)): Singh et al. (2015) eq. 9's factor on the global rate."""
    xp = get_array_module(norm)
    return 1 + xp.log1p(1 / xp.maximum(norm, min_norm))


def split_into_blobs(params: ParamsLike) -> list[dict[str, Any]]:
    """One parameter group per parameter array, keeping each group's name and hyperparameters."""
    items = list(params)
    if not all(isinstance(x, Mapping) for x in items):
        items = [{"params": items}]
    blobs = []
    for gi, group in enumerate(items):
        name = group.get("name", f"group{gi}")
        for pi, p in enumerate(group["params"]):
            blobs.append({**group, "params": [p], "name": f"{name}[{pi}]"})
    return blobs


class LayerSpecific:
    """Mixin: scale the base optimizer's global rate per layer by :func:`singh_factor` (eq. 9).

    Put it before an :class:`~optimizers.base.Optimizer` subclass whose ``update`` uses
    ``self.rate(group)``; :func:`layer_specific` does this for you. ``layer_factors`` maps each
    group's name to the factor of the last step (0-d arrays), for telemetry and tutorials.
    """

    grouping: str
    min_norm: float
    layer_factors: dict[str, Any]

    def _init_layer_specific(self, grouping: str, min_norm: float) -> None:
        self.grouping = check_choice("grouping", grouping, GROUPINGS)
        self.min_norm = check_positive("min_norm", min_norm)
        self.layer_factors = {}

    def factor(self, norm: Any) -> Any:
        """The factor on the global rate for a layer whose gradient has norm ``norm``."""
        return singh_factor(norm, self.min_norm)

    def update_group(self, group: dict[str, Any]) -> None:
        """Compute ‖g_l‖ over the group's gradients, set the layer's factor, run the base update."""
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        xp = params[0].xp
        wd = group.get("weight_decay", 0.0)
        # Σ‖g‖² in the parameters' dtype, on their device: no host sync, no float64 upcast.
        squares = [xp.vdot(g, g) for g in (with_weight_decay(p, p.grad, wd) for p in params)]
        norm = xp.sqrt(sum(squares[1:], squares[0])).astype(params[0].data.dtype)
        factor = self.factor(norm)
        self.layer_factors[group.get("name", str(id(group)))] = factor
        self.layer_factor = factor
        try:
            super().update_group(group)  # type: ignore[misc]
        finally:
            self.layer_factor = 1.0


def layer_specific(base: type[Optimizer]) -> type[Optimizer]:
    """The layer-specific variant of optimizer class ``base`` (any optimizer with a global rate).

    The new class takes ``base``'s arguments plus ``grouping`` ("layer" or "blob") and
    ``min_norm``, and keeps ``base``'s signature visible to :func:`optimizers.build_optimizer`.
    """

    def __init__(self: Any, params: ParamsLike, *args: Any, grouping: str = "layer", min_norm: float = 1e-12,
                 **kwargs: Any) -> None:
        self._init_layer_specific(grouping, min_norm)
        if grouping == "blob":
            params = split_into_blobs(params)
        base.__init__(self, params, *args, **kwargs)

    base_signature = inspect.signature(base)
    extra = [
        inspect.Parameter("grouping", inspect.Parameter.KEYWORD_ONLY, default="layer", annotation=str),
        inspect.Parameter("min_norm", inspect.Parameter.KEYWORD_ONLY, default=1e-12, annotation=float),
    ]
    own = [p for p in base_signature.parameters.values() if p.name != "schedule"]
    schedule = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in base_signature.parameters.values()
                if p.name == "schedule"]
    cls = type(
        f"Layer{base.__name__}",
        (LayerSpecific, base),
        {
            "__init__": __init__,
            "__doc__": f"{base.__name__} with Singh et al. (2015) layer-specific rates, eq. 9: "
            f"t_l = t·(1 + ln(1 + 1/‖g_l‖₂)).\n\n{base.__name__}: {(base.__doc__ or '').strip()}",
            "__module__": __name__,
        },
    )
    cls.__signature__ = base_signature.replace(parameters=own + extra + schedule)  # type: ignore[attr-defined]
    return cls


#: SGD with layer-specific rates: Singh et al. eq. 10–11 (``momentum`` > 0: the rate inside the velocity).
LayerSGD = layer_specific(SGD)
#: Classical momentum with layer-specific rates, Caffe's form (rate inside the velocity).
LayerMomentum = layer_specific(Momentum)
#: Nesterov's accelerated gradient with layer-specific rates, Caffe's form.
LayerNesterov = layer_specific(Nesterov)
#: AdaGrad with layer-specific rates: Δθ_l = −t_l·g_l/(√H + δ).
LayerAdaGrad = layer_specific(AdaGrad)
