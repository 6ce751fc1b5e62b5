"""Per-layer telemetry for any optimizer: each layer's gradient norm and effective rate.

Singh et al. (2015) and Zheng et al. (2019) argue from per-layer quantities: gradients that
vanish in the shallow layers, rates that should rise where curvature is low. This module
measures them for every optimizer alike, from the outside, without knowing its rule. For each
parameter group l (a layer, from ``Module.layer_groups()``) at a recorded step::

    ‖g_l‖           the norm of the gradient the step used (all parameters of the layer together;
                    the loss's gradient as in ``.grad``, without the weight-decay term λθ)
    ‖Δθ_l‖          the norm of the change the step made
    rate_l = ‖Δθ_l‖ / ‖g_l‖     the effective rate: lr for plain SGD, lr·(1 + ln(1 + 1/‖g_l‖)) for
                                Singh's, and whatever momentum or a per-weight scaling amounts to
                                for the others.

Cost: on a recorded step, one copy of the parameters (to measure Δθ) and one host transfer of
2·L numbers; other steps cost nothing. Gradients are read after the step, which is where an
optimizer that re-evaluates its loss through a closure leaves the step's gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from minigrad.backend import get_array_module, to_numpy
from optimizers.closure import device_dot


class LayerTelemetry:
    """Record ‖g_l‖, ‖Δθ_l‖ and the effective rate per layer every ``every`` steps.

    Use around the optimizer's step::

        telemetry = LayerTelemetry(optimizer.param_groups, every=20)
        ...
        with telemetry.watch(step):
            optimizer.step()
        telemetry.records  # [{"step": k, "layers": {name: {"grad_norm", "update_norm", "rate"}}}, ...]
    """

    def __init__(self, groups: Sequence[Mapping[str, Any]], every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.groups = [(g.get("name", f"group{i}"), list(g["params"])) for i, g in enumerate(groups)]
        self.every = every
        self.records: list[dict[str, Any]] = []

    def due(self, step: int) -> bool:
        """True when ``step`` (counted from 1) is recorded: steps 1, 1 + every, 1 + 2·every, …"""
        return (step - 1) % self.every == 0

    @contextmanager
    def watch(self, step: int) -> Iterator[None]:
        """Wrap one optimizer step; on a due step, record what it did to every layer."""
        if not self.due(step):
            yield
            return
        before = [[p.data.copy() for p in params] for _, params in self.groups]
        yield
        self.records.append({"step": step, "layers": self.measure(before)})

    def measure(self, before: list[list[Any]]) -> dict[str, dict[str, float]]:
        """Norms per layer from the parameters' values ``before`` the step and their state now."""
        norms = []  # 0-d arrays on the parameters' device, read back in one transfer
        for (_, params), old in zip(self.groups, before):
            xp = get_array_module(params[0].data)
            grads = [p.grad for p in params if p.grad is not None]
            # Squares summed in float64: a float32 sum of 10⁵ squares would blur small updates.
            changes = [p.data - o for p, o in zip(params, old)]
            g2 = device_dot(grads, grads) + xp.zeros((), dtype=xp.float64)  # a device array even for no grads
            d2 = device_dot(changes, changes) + xp.zeros((), dtype=xp.float64)
            norms.append(xp.stack([xp.sqrt(g2), xp.sqrt(d2)]))
        host = to_numpy(get_array_module(norms[0]).stack(norms)).tolist() if norms else []
        out = {}
        for (name, _), (grad_norm, update_norm) in zip(self.groups, host):
            rate = update_norm / grad_norm if grad_norm > 0 else math.nan  # undefined: no gradient
            out[name] = {"grad_norm": grad_norm, "update_norm": update_norm, "rate": rate}
        return out

