"""The saddle-point lab: the real optimizers on two-parameter toys, and a network's path in a loss plane.

Toy trajectories
----------------
:func:`run_trajectory` drives an optimizer class of :mod:`optimizers` (built by
:func:`optimizers.build_optimizer`, the same code that trains LeNet) on a surface of
:mod:`datasets.surfaces`. x and y are two float64 minigrad Parameters of shape (), in two
parameter groups named "x" and "y", so a layer-wise method (Singh et al.'s ``layer_sgd``,
``llb_sgd``) sees two layers. Each step is :func:`experiments.stepping.optimizer_step` on the
loss ``surface.f`` builds from Tensors, the same call for every optimizer. Per step it
records the position, the loss, each layer's gradient norm and its effective rate ‖Δθ_l‖/‖g_l‖
(:class:`optimizers.telemetry.LayerTelemetry`). No randomness anywhere: two runs are bit-identical.

Escapes (:func:`escape_step`): the first step at which the iterate is farther than ``radius``
from the saddle, counting only after it has been within the radius (a start inside the ball
counts as having been inside), so a start that first slides down the stable manifold towards
the saddle is not counted as escaping before it arrives; the step is counted from the start.
The distance is Euclidean unless ``ord`` says otherwise.

Hyperparameters: :data:`TOY_HYPERPARAMS` states one setting per optimizer (chosen to behave on
these toys, not tuned per surface) and :data:`SURFACE_HYPERPARAMS` the few per-surface
exceptions where a gradient-proportional rate would diverge (Rosenbrock's and Beale's walls).
An explicit ``--lr`` replaces the rate of every optimizer.

The network path (Li et al. 2018, "Visualizing the loss landscape of neural nets"; Zheng et al.
2019, Fig. 8)
-------------------------------------------------------------------------------------------------
:func:`train_network_paths` trains a small tanh network (4 → 8 → 1, no biases, weights drawn
N(0, 10⁻⁴), i.e. next to the all-zero saddle every such net has) full-batch on a fixed synthetic
regression set (a teacher net of the same shape, seed stated), with several optimizers from the
same start, and records the flattened weights θ_k after every step. Method: let θ* be the final
point of the run with the lowest final loss; stack every run's deviations θ_k − θ* as rows of a
matrix M; the top two right singular vectors of M (numpy SVD, i.e. PCA of the paths without
re-centering, as Li et al. do relative to the final point) span a plane through θ*. Each path is
projected onto it, (α, β)_k = ((θ_k − θ*)·d₁, (θ_k − θ*)·d₂), and the loss is evaluated on a grid
θ* + α·d₁ + β·d₂ of that plane. The figure states the share of the paths' variance the plane
holds: what lies off the plane is not drawn, so the contour is the loss *in the plane*, which
the paths only approximately travel in.

Figures state their fixed seeds and hyperparameters, and carry the caveat that toy surfaces do
not rank optimizers.
"""

from __future__ import annotations

import argparse
import html
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import optimizers
from datasets.surfaces import SURFACES, Surface, get_surface
from experiments.arguments import HelpFormatter, finite_float, nonnegative_int, positive_int, registry_name
from experiments.stepping import optimizer_step
from minigrad import Parameter, Tensor, no_grad
from minigrad import random as mrandom
from optimizers.telemetry import LayerTelemetry

CAVEAT = "toy surfaces do not rank optimizers"
LAYERS = ("x", "y")

# One setting per optimizer for all toys. The gradient-proportional family shares a long-run
# rate of 0.1 (SGD's t; momentum and NAG have t/(1 − μ) = 0.01/0.1), so their differences are
# the methods', not the rates'. Adam and RMSprop take lr = 0.01, which is their step length in
# parameter units (Adam's ≈ lr per step; RMSprop's first steps are larger, about 3·lr, as its
# mean of g² starts at zero): it crosses the unit-sized windows in ~100 steps. AdaGrad's
# step decays like lr/√k, so it takes ten times that, the usual ratio of the two defaults
# (torch: 1e-2 and 1e-3). WAME keeps its paper default 1e-3: its acceleration factor ζ (up to
# 100) multiplies the step, so 1e-2 overshoots every valley. A layer-wise method takes its base
# method's rate, so that only Singh et al.'s per-layer factor differs.
TOY_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.1},
    "momentum": {"lr": 0.01, "momentum": 0.9},
    "nesterov": {"lr": 0.01, "momentum": 0.9},
    "nag": {"lr": 0.01, "momentum": 0.9},
    "adagrad": {"lr": 0.1},
    "adadelta": {},
    "rmsprop": {"lr": 0.01},
    "adam": {"lr": 0.01},
    "adamax": {"lr": 0.01},
    "nadam": {"lr": 0.01},
    "rprop": {},
    "layer_sgd": {"lr": 0.1},
    "layer_momentum": {"lr": 0.01, "momentum": 0.9},
    "layer_nesterov": {"lr": 0.01, "momentum": 0.9},
    "layer_nag": {"lr": 0.01, "momentum": 0.9},
    "layer_adagrad": {"lr": 0.1},
    "wame": {"lr": 1e-3},
    "llb_sgd": {"lr": 0.1},
}

# Per-surface exceptions: Rosenbrock's Hessian reaches ~1000 and Beale's walls ~900, so a
# gradient-proportional rate must be below 2/1000 there; the normalised methods keep theirs.
_STEEP = {
    "sgd": {"lr": 1e-3},
    "momentum": {"lr": 1e-4, "momentum": 0.9},
    "nesterov": {"lr": 1e-4, "momentum": 0.9},
    "nag": {"lr": 1e-4, "momentum": 0.9},
    "layer_sgd": {"lr": 1e-3},
    "layer_momentum": {"lr": 1e-4, "momentum": 0.9},
    "layer_nesterov": {"lr": 1e-4, "momentum": 0.9},
    "layer_nag": {"lr": 1e-4, "momentum": 0.9},
    "llb_sgd": {"lr": 1e-3},
}
SURFACE_HYPERPARAMS: dict[str, dict[str, dict[str, Any]]] = {"rosenbrock": _STEEP, "beale": _STEEP}

DEFAULT_OPTIMIZERS = ("sgd", "nag", "adagrad", "adam", "wame", "layer_sgd")


def canonical(name: str) -> str:
    """A surface's spelling in ``SURFACES``: lowercase, ``-`` → ``_`` (optimizer names: optimizers.registry_key)."""
    return str(name).strip().lower().replace("-", "_")


def hyperparams_for(optimizer: str, surface: str | Surface, lr: float | None = None) -> dict[str, Any]:
    """The stated toy hyperparameters of ``optimizer`` on ``surface``, with ``lr`` replacing the rate if given."""
    name = optimizers.registry_key(optimizer)
    surface_name = surface.name if isinstance(surface, Surface) else canonical(surface)
    hyper = dict(TOY_HYPERPARAMS.get(name, {}))
    hyper.update(SURFACE_HYPERPARAMS.get(surface_name, {}).get(name, {}))
    if lr is not None:
        hyper["lr"] = lr
    return hyper


@dataclass
class Trajectory:
    """One optimizer's run on one surface.

    ``positions`` (n+1, 2) are θ_0 … θ_n; ``losses`` (n+1,) are f at them; ``grad_norms`` and
    ``rates`` (n, 2) are, per step and per layer ("x", "y"), ‖g_l‖ of the gradient the step used
    and the effective rate ‖Δθ_l‖/‖g_l‖ (NaN where g_l = 0). n = ``steps`` unless the run was
    stopped because θ left the ball ‖θ‖ ≤ ``max_norm`` or became non-finite (``stopped`` says why).
    """

    surface: str
    optimizer: str
    hyperparams: dict[str, Any]
    start: tuple[float, float]
    positions: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    rates: np.ndarray
    saddle: tuple[float, float] | None = None
    stopped: str | None = None
    layers: tuple[str, ...] = field(default=LAYERS)

    @property
    def steps(self) -> int:
        """Number of steps taken."""
        return len(self.positions) - 1

    def first_outside(self, window: tuple[float, float, float, float]) -> int | None:
        """The first step whose point is outside ``window`` (xmin, xmax, ymin, ymax) or not finite, else None."""
        x, y = self.positions[:, 0], self.positions[:, 1]
        with np.errstate(invalid="ignore"):
            inside = (x >= window[0]) & (x <= window[1]) & (y >= window[2]) & (y <= window[3])
        outside = np.flatnonzero(~inside)
        return int(outside[0]) if outside.size else None

    def exit_note(self, window: tuple[float, float, float, float]) -> str | None:
        """'non-finite at step k' / 'left the plot at step k' / why the run stopped, or None if it stayed in view."""
        k = self.first_outside(window)
        if k is None:
            return self.stopped
        finite = bool(np.isfinite(self.positions[k]).all())
        return f"left the plot at step {k}" if finite else f"non-finite at step {k}"

    def label(self) -> str:
        """"name (k=v, …)" for legends."""
        hyper = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.hyperparams.items())
        return f"{self.optimizer} ({hyper})" if hyper else self.optimizer


def run_trajectory(
    surface: str | Surface,
    optimizer_name: str,
    start: Sequence[float] | None = None,
    steps: int = 300,
    max_norm: float = 1e3,
    seed: int = 0,
    **hyper: Any,
) -> Trajectory:
    """Run ``optimizer_name`` for ``steps`` steps on ``surface`` from ``start`` (default: the surface's first).

    ``hyper`` are the optimizer's constructor keywords, passed as given (see :func:`hyperparams_for`
    for the stated toy defaults). Everything is float64. The run stops early, keeping what it
    recorded, once ‖θ‖ > ``max_norm`` or θ or the loss is not finite: the unbounded surfaces
    (saddle, monkey) would otherwise overflow. ``seed`` seeds minigrad's generators first
    (:func:`minigrad.random.seed`, as a training run does): only optimizers that draw random
    numbers (ESGD's Hessian probes) use them, and the seed makes those runs repeatable too.
    """
    surf = get_surface(surface) if isinstance(surface, str) else surface
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0, got {steps!r}")
    x0, y0 = (float(v) for v in (start if start is not None else surf.starts[0]))
    if not (math.isfinite(x0) and math.isfinite(y0)):
        raise ValueError(f"start must be two finite numbers, got ({x0}, {y0})")
    if math.hypot(x0, y0) > max_norm:
        raise ValueError(f"start ({x0:g}, {y0:g}) lies outside the ball |θ| <= {max_norm:g} the runs are kept in")
    mrandom.seed(seed)
    x = Parameter(np.array(x0, dtype=np.float64))
    y = Parameter(np.array(y0, dtype=np.float64))
    groups = [{"params": [x], "name": "x"}, {"params": [y], "name": "y"}]
    opt = optimizers.build_optimizer(optimizers.registry_key(optimizer_name), groups, **dict(hyper))
    telemetry = LayerTelemetry(opt.param_groups, every=1)

    positions, losses = [(x0, y0)], [float(surf.f(x0, y0))]
    grad_norms, rates = [], []
    stopped = None
    for k in range(1, steps + 1):
        with telemetry.watch(k):
            # The telemetry reads .grad after the step, where the closure contract leaves the
            # gradient the update used.
            optimizer_step(opt, lambda: surf.f(x, y))
        record = telemetry.records.pop()["layers"]  # popped: only this step's record is needed
        grad_norms.append([record[name]["grad_norm"] for name in LAYERS])
        rates.append([record[name]["rate"] for name in LAYERS])
        px, py = float(x.data), float(y.data)
        positions.append((px, py))
        losses.append(float(surf.f(px, py)))
        if not (math.isfinite(px) and math.isfinite(py) and math.isfinite(losses[-1])):
            stopped = f"non-finite at step {k}"
            break
        if math.hypot(px, py) > max_norm:
            stopped = f"left |θ| <= {max_norm:g} at step {k}"
            break
    return Trajectory(
        surface=surf.name,
        optimizer=optimizers.registry_key(optimizer_name),
        hyperparams=dict(hyper),
        start=(x0, y0),
        positions=np.array(positions, dtype=np.float64),
        losses=np.array(losses, dtype=np.float64),
        grad_norms=np.array(grad_norms, dtype=np.float64).reshape(-1, 2),
        rates=np.array(rates, dtype=np.float64).reshape(-1, 2),
        saddle=surf.saddle,
        stopped=stopped,
    )


def escape_step(
    traj: Trajectory, radius: float, center: Sequence[float] | None = None, ord: float = 2
) -> int | None:
    """The first step k at which ‖θ_k − center‖ > ``radius``, after θ has been within the radius.

    ``center`` defaults to the trajectory's saddle; ``ord`` is the norm (2: Euclidean, ``np.inf``:
    the larger coordinate distance). Exits before the trajectory first comes within the radius
    are ignored (a start outside the ball may slide in along the stable manifold first), but the
    step returned is counted from the start, not from the arrival. None: it never escaped (or
    never arrived) within the steps run.
    """
    c = traj.saddle if center is None else tuple(center)
    if c is None:
        raise ValueError(f"surface {traj.surface!r} has no saddle: pass center=")
    dist = np.linalg.norm(traj.positions - np.asarray(c, dtype=np.float64), ord=ord, axis=1)
    inside = np.flatnonzero(dist <= radius)
    if inside.size == 0:
        return None
    outside = np.flatnonzero(dist[inside[0] :] > radius)
    return int(inside[0] + outside[0]) if outside.size else None


# ----- escape table ---------------------------------------------------------------------------------


def escape_table(
    optimizer_names: Sequence[str],
    surface_names: Sequence[str] | None = None,
    steps: int = 300,
    lr: float | None = None,
) -> dict[str, dict[str, int | None]]:
    """{optimizer: {surface: escape step or None}} from each surface's ``escape_start`` and ``escape_radius``.

    ``surface_names`` defaults to every surface with a saddle.
    """
    names = list(surface_names) if surface_names else [s.name for s in SURFACES.values() if s.saddle]
    table: dict[str, dict[str, int | None]] = {}
    for opt in optimizer_names:
        row = {}
        for sname in names:
            surf = get_surface(sname)
            if surf.saddle is None or surf.escape_radius is None or surf.escape_start is None:
                raise ValueError(f"surface {sname!r} has no saddle to escape from")
            traj = run_trajectory(surf, opt, surf.escape_start, steps, **hyperparams_for(opt, surf, lr))
            row[surf.name] = escape_step(traj, surf.escape_radius)
        table[optimizers.registry_key(opt)] = row
    return table


def format_escape_table(table: Mapping[str, Mapping[str, int | None]], steps: int) -> str:
    """The table as aligned text, "—" where the run never escaped within ``steps`` steps."""
    surfaces = list(next(iter(table.values())).keys()) if table else []
    header = ["optimizer", *surfaces]
    rows = [[opt, *("—" if row[s] is None else str(row[s]) for s in surfaces)] for opt, row in table.items()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header, *rows]]
    starts = ", ".join(
        f"{s}: start {get_surface(s).escape_start}, r = {get_surface(s).escape_radius:g}" for s in surfaces
    )
    note = (
        f"escape step = first step with |θ − saddle| > r after entering the ball; — = not within {steps} steps\n"
        f"{starts}\nhyperparameters: experiments.saddle.TOY_HYPERPARAMS ({CAVEAT})"
    )
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n" + note


# ----- pictures -------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def _contour(ax: Any, surface: Surface, window: tuple[float, float, float, float], filled: bool = True) -> None:
    X, Y, Z = surface.grid(200, window)
    if surface.log_contours:
        levels = np.geomspace(max(float(Z.min()), 1e-3), float(Z.max()), 30)
        ax.contour(X, Y, np.maximum(Z, levels[0]), levels=levels, linewidths=0.6,
                   **({"cmap": "viridis"} if filled else {"colors": "0.65"}))
    elif filled:
        ax.contourf(X, Y, Z, levels=30, cmap="viridis", alpha=0.35)
        ax.contour(X, Y, Z, levels=30, cmap="viridis", linewidths=0.5)
    else:  # GIF frames have 256 colours: grey contours leave them to the paths, which stay distinct
        ax.contour(X, Y, Z, levels=30, colors="0.65", linewidths=0.5)
    for c in surface.critical_points:
        if window[0] <= c.x <= window[1] and window[2] <= c.y <= window[3]:
            marker = "*" if c.kind == "minimum" else "X"
            ax.plot(c.x, c.y, marker, color="k", markersize=9, zorder=5)
    ax.set_xlim(window[0], window[1])
    ax.set_ylim(window[2], window[3])
    ax.set_xlabel("x (layer 1)")
    ax.set_ylabel("y (layer 2)")


def _settings_text(trajs: Sequence[Trajectory], steps: int) -> str:
    starts = sorted({t.start for t in trajs})
    return (
        f"{steps} steps from {', '.join(str(s) for s in starts)}; float64, no randomness (seed-free, deterministic). "
        f"Caveat: {CAVEAT}."
    )


def plot_trajectories(
    trajs: Sequence[Trajectory],
    surface: str | Surface,
    path: str | os.PathLike[str],
    window: tuple[float, float, float, float] | None = None,
    title: str | None = None,
) -> Path:
    """A contour plot of ``surface`` with every trajectory, beside the loss per step (PNG at ``path``)."""
    return _save(trajectories_figure(trajs, surface, window, title), path)


def trajectories_figure(
    trajs: Sequence[Trajectory],
    surface: str | Surface,
    window: tuple[float, float, float, float] | None = None,
    title: str | None = None,
) -> Any:
    """The figure of :func:`plot_trajectories`; a run that leaves the window is marked with its step."""
    plt = _pyplot()
    surf = get_surface(surface) if isinstance(surface, str) else surface
    win = window or surf.window
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(13, 5.8), gridspec_kw={"width_ratios": [1.1, 1]})
    _contour(ax, surf, win)
    colors = plt.cm.tab10(np.arange(len(trajs)) % 10)
    for t, color in zip(trajs, colors):
        ax.plot(t.positions[:, 0], t.positions[:, 1], "-", color=color, linewidth=1.4, label=t.label())
        ax.plot(t.positions[0, 0], t.positions[0, 1], "o", color=color, markersize=5)
        k = t.first_outside(win)
        if k is None:
            ax.plot(t.positions[-1, 0], t.positions[-1, 1], "s", color=color, markersize=5)
        else:  # mark the last point in view with the step at which the run left it (or stopped being finite)
            last = t.positions[k - 1]
            ax.plot(last[0], last[1], "x", color=color, markersize=9, markeredgewidth=2)
            ax.annotate(t.exit_note(win), (last[0], last[1]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=color, fontweight="bold")
            ax_loss.axvline(k, color=color, ls=":", lw=1)
        ax_loss.plot(np.arange(len(t.losses)), t.losses, color=color, label=t.optimizer)
    ax.set_xlim(win[0], win[1])
    ax.set_ylim(win[2], win[3])
    ax.set_title(title or f"{surf.name}: f = {surf.formula}")
    ax.legend(fontsize=7, loc="best")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("f(x, y)")
    ax_loss.set_title("loss per step")
    lo, hi = _loss_limits(trajs, surf, win)
    ax_loss.set_ylim(lo, hi)
    if surf.log_contours and lo > 0:
        ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    steps = max((t.steps for t in trajs), default=0)
    fig.text(0.5, 0.01, _settings_text(trajs, steps), ha="center", fontsize=8)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Lay out ``fig`` above its settings line, write it as a PNG at ``path`` and close it."""
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


def _loss_limits(
    trajs: Sequence[Trajectory], surface: Surface, window: tuple[float, float, float, float]
) -> tuple[float, float]:
    """Loss-axis limits: the range of f over the plotted window and the runs' starts.

    The unbounded surfaces (saddle, monkey) send escaping runs to f → −∞ within a few steps;
    limiting the axis to what the contour shows keeps the other runs readable.
    """
    _, _, Z = surface.grid(100, window)
    starts = [float(t.losses[0]) for t in trajs if np.isfinite(t.losses[0])]
    lo, hi = float(np.min(Z)), max([float(np.max(Z)) if surface.log_contours else -np.inf, *starts])
    if not np.isfinite(hi) or hi <= lo:
        hi = float(np.max(Z))
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    return (lo if surface.log_contours else lo - pad), hi + pad


def animate_trajectories(
    trajs: Sequence[Trajectory],
    surface: str | Surface,
    path: str | os.PathLike[str],
    frames: int = 60,
    fps: int = 12,
    window: tuple[float, float, float, float] | None = None,
) -> Path:
    """An animated GIF (Pillow writer) of the trajectories growing over the contour of ``surface``."""
    from matplotlib.animation import PillowWriter

    fig, anim = _animation(trajs, surface, frames, window)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    anim.save(out, writer=PillowWriter(fps=fps), dpi=80)
    _pyplot().close(fig)
    return out


def _animation(
    trajs: Sequence[Trajectory],
    surface: str | Surface,
    frames: int,
    window: tuple[float, float, float, float] | None,
) -> tuple[Any, Any]:
    """The figure and ``FuncAnimation`` shared by the GIF and the HTML animation."""
    plt = _pyplot()
    from matplotlib.animation import FuncAnimation

    surf = get_surface(surface) if isinstance(surface, str) else surface
    win = window or surf.window
    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    _contour(ax, surf, win, filled=False)
    colors = plt.cm.tab10(np.arange(len(trajs)) % 10)
    lines = [ax.plot([], [], "-", color=c, linewidth=1.4, label=t.label())[0] for t, c in zip(trajs, colors)]
    heads = [ax.plot([], [], "o", color=c, markersize=6)[0] for c in colors]
    ax.legend(fontsize=6, loc="upper right")
    steps = max((t.steps for t in trajs), default=0)
    title = ax.set_title(f"{surf.name}: step {steps}/{steps}")  # full-length text, so the layout leaves room
    fig.text(0.5, 0.01, f"float64, deterministic; {CAVEAT}", ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    ticks = np.unique(np.linspace(0, steps, max(2, min(frames, steps + 1))).round().astype(int))

    def draw(i: int) -> list[Any]:
        k = int(ticks[i])
        for t, line, head in zip(trajs, lines, heads):
            j = min(k, t.steps)  # a run stopped early stays at its last point
            line.set_data(t.positions[: j + 1, 0], t.positions[: j + 1, 1])
            head.set_data([t.positions[j, 0]], [t.positions[j, 1]])
        title.set_text(f"{surf.name}: step {k}/{steps}")
        return [*lines, *heads, title]

    return fig, FuncAnimation(fig, draw, frames=len(ticks), blit=False)


#: matplotlib's player draws its buttons with Font Awesome icons from a CDN stylesheet; the HTML
#: animation replaces them with plain characters so that the page fetches nothing.
_PLAYER_ICONS = {
    "fa-minus": "\u2212",
    "fa-fast-backward": "|\u25c0\u25c0",
    "fa-step-backward": "|\u25c0",
    "fa-play fa-flip-horizontal": "\u25c0",
    "fa-pause": "\u275a\u275a",
    "fa-play": "\u25b6",
    "fa-step-forward": "\u25b6|",
    "fa-fast-forward": "\u25b6\u25b6|",
    "fa-plus": "+",
}
_CDN_STYLESHEET = re.compile(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">\s*')


def animation_html(
    trajs: Sequence[Trajectory],
    surface: str | Surface,
    frames: int = 60,
    fps: int = 12,
    window: tuple[float, float, float, float] | None = None,
    standalone: bool = True,
) -> str:
    """The animation of :func:`animate_trajectories` as HTML that can be played, paused and stepped.

    Made by matplotlib's ``to_jshtml``: every frame is embedded as a PNG (80 dpi, as the GIF) with
    a small inline script for the controls (play forwards or backwards, pause, step one frame,
    first and last frame, speed, a slider, once/loop/reflect), so the page works from a file, needs
    no server and fetches nothing: the controls' icons, which matplotlib loads from a CDN, are
    replaced by plain characters. ``standalone=True`` gives a complete HTML document stating the
    settings and the caveat (what ``minigrad saddle --out NAME.html`` writes); ``False`` the
    fragment alone, to embed in another page (the documentation site does).
    """
    import matplotlib

    surf = get_surface(surface) if isinstance(surface, str) else surface
    fig, anim = _animation(trajs, surf, frames, window)
    # The frames are base64 PNGs: a limit far above their size, so that none is silently dropped.
    with matplotlib.rc_context({"savefig.dpi": 80, "animation.embed_limit": 200.0}):
        fragment = anim.to_jshtml(fps=fps, default_mode="once")
    _pyplot().close(fig)
    fragment = _CDN_STYLESHEET.sub("", fragment)
    for icon, text in _PLAYER_ICONS.items():
        fragment = fragment.replace(f'<i class="fa {icon}"></i>', text)
    if "fa fa-" in fragment or re.search(r"(src|href)=\"https?://", fragment):
        raise RuntimeError(
            "matplotlib's to_jshtml template changed: the animation would load icons from the network; "
            "update experiments.saddle._PLAYER_ICONS"
        )
    if not standalone:
        return fragment
    steps = max((t.steps for t in trajs), default=0)
    settings = html.escape(_settings_text(trajs, steps))
    runs = "".join(f"<li>{html.escape(t.label())}</li>" for t in trajs)
    title = html.escape(f"{surf.name}: f = {surf.formula}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>minigrad saddle lab: {title}</title>\n"
        "<style>body { font-family: sans-serif; margin: 1em; } h1 { font-size: 1.3em; }</style>\n"
        f"</head>\n<body>\n<h1>{title}</h1>\n"
        f"<p>{settings}</p>\n<ul>{runs}</ul>\n{fragment}\n</body>\n</html>\n"
    )


# ----- the network path (Li et al. 2018; Zheng et al. 2019 Fig. 8) ------------------------------------

NET_SHAPE = (4, 8, 1)  # inputs, hidden tanh units, outputs
NET_SAMPLES = 64


@dataclass
class NetworkPaths:
    """Weight paths of a small net trained by several optimizers, and their PCA plane.

    ``paths[name]`` is (steps+1, D) flattened weights; ``losses[name]`` the loss at each;
    ``center`` θ*, ``directions`` (2, D) orthonormal d₁, d₂, ``coords[name]`` (steps+1, 2) the
    projections, ``explained`` the share of the stacked deviations' squared norm the plane holds.
    """

    paths: dict[str, np.ndarray]
    losses: dict[str, np.ndarray]
    hyperparams: dict[str, dict[str, Any]]
    center: np.ndarray
    directions: np.ndarray
    coords: dict[str, np.ndarray]
    explained: float
    loss_fn: Callable[[np.ndarray], float]
    seed: int
    init_scale: float


def _net_problem(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed inputs (N(0, 1)) and targets from a teacher net of the student's shape (seeded)."""
    rng = np.random.default_rng(seed)
    d, h, o = NET_SHAPE
    X = rng.standard_normal((NET_SAMPLES, d))
    W1, W2 = rng.standard_normal((h, d)) / math.sqrt(d), rng.standard_normal((o, h)) / math.sqrt(h)
    return X, np.tanh(X @ W1.T) @ W2.T


def _net_loss(W1: Any, W2: Any, X: Any, Y: Any) -> Any:
    """Mean squared error of the student ŷ = tanh(X W1ᵀ) W2ᵀ: W1, W2 Tensors, X, Y arrays."""
    hidden = (Tensor(X) @ W1.T).tanh()
    diff = hidden @ W2.T - Tensor(Y)
    return (diff * diff).mean()


def train_network_paths(
    optimizer_names: Sequence[str] = DEFAULT_OPTIMIZERS,
    steps: int = 300,
    seed: int = 0,
    init_scale: float = 1e-2,
    hyper: Mapping[str, Mapping[str, Any]] | None = None,
) -> NetworkPaths:
    """Train the small net with each optimizer from one start; PCA the paths (method: module docstring).

    ``hyper`` overrides :data:`TOY_HYPERPARAMS` per optimizer. The data and the start depend only
    on ``seed``; the start's weights are N(0, init_scale²), near the origin, which is a saddle of
    every net without biases (all gradients vanish there, and the loss falls along some directions).
    """
    X, Y = _net_problem(seed)
    mrandom.seed(seed)  # for optimizers that draw random numbers (ESGD)
    d, h, o = NET_SHAPE
    rng = np.random.default_rng(seed + 1)
    W1_0, W2_0 = init_scale * rng.standard_normal((h, d)), init_scale * rng.standard_normal((o, h))
    sizes = (W1_0.size, W2_0.size)
    paths, losses, used = {}, {}, {}
    for name in optimizer_names:
        key = optimizers.registry_key(name)
        params = dict(TOY_HYPERPARAMS.get(key, {}))
        params.update((hyper or {}).get(key, {}))
        W1, W2 = Parameter(W1_0.copy()), Parameter(W2_0.copy())
        opt = optimizers.build_optimizer(key, [{"params": [W1], "name": "layer1"}, {"params": [W2], "name": "layer2"}],
                                         **params)
        path, loss_values = [np.concatenate([W1_0.ravel(), W2_0.ravel()])], []
        for _ in range(steps):
            loss_values.append(float(optimizer_step(opt, lambda W1=W1, W2=W2: _net_loss(W1, W2, X, Y))))
            path.append(np.concatenate([W1.data.ravel(), W2.data.ravel()]))
        with no_grad():
            loss_values.append(float(_net_loss(W1, W2, X, Y).data))
        paths[key], losses[key], used[key] = np.array(path), np.array(loss_values), params

    best = min(losses, key=lambda k: losses[k][-1] if np.isfinite(losses[k][-1]) else np.inf)
    center = paths[best][-1]
    M = np.concatenate([p - center for p in paths.values()])
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    directions = vt[:2]
    explained = float((s[:2] ** 2).sum() / max((s**2).sum(), 1e-300))
    coords = {k: (p - center) @ directions.T for k, p in paths.items()}

    def loss_fn(theta: np.ndarray) -> float:
        W1, W2 = theta[: sizes[0]].reshape(h, d), theta[sizes[0] :].reshape(o, h)
        return float(np.mean((np.tanh(X @ W1.T) @ W2.T - Y) ** 2))

    return NetworkPaths(paths, losses, used, center, directions, coords, explained, loss_fn, seed, init_scale)


def plot_network_paths(net: NetworkPaths, path: str | os.PathLike[str], grid: int = 41) -> Path:
    """Contour of the loss in the PCA plane through θ*, with every path projected onto it (PNG)."""
    plt = _pyplot()
    all_coords = np.concatenate(list(net.coords.values()))
    lo, hi = all_coords.min(axis=0), all_coords.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-6)
    a = np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid)
    b = np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid)
    A, B = np.meshgrid(a, b)
    Z = np.array([[net.loss_fn(net.center + ai * net.directions[0] + bi * net.directions[1]) for ai in a] for bi in b])
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(13, 5.8), gridspec_kw={"width_ratios": [1.1, 1]})
    ax.contourf(A, B, Z, levels=30, cmap="viridis", alpha=0.35)
    ax.contour(A, B, Z, levels=30, cmap="viridis", linewidths=0.5)
    colors = plt.cm.tab10(np.arange(len(net.coords)) % 10)
    for (name, c), color in zip(net.coords.items(), colors):
        hyper = ", ".join(f"{k}={v}" for k, v in net.hyperparams[name].items())
        ax.plot(c[:, 0], c[:, 1], "-", color=color, linewidth=1.3, label=f"{name} ({hyper})")
        ax.plot(c[-1, 0], c[-1, 1], "s", color=color, markersize=5)
        ax_loss.semilogy(net.losses[name], color=color, label=name)
    start = next(iter(net.coords.values()))[0]
    ax.plot(start[0], start[1], "o", color="k", markersize=7, label="common start (near the 0 saddle)")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"tanh net {NET_SHAPE}: paths in the PCA plane ({100 * net.explained:.1f} % of variance)")
    ax.legend(fontsize=7, loc="best")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training MSE")
    ax_loss.set_title("loss per step (full batch)")
    ax_loss.grid(alpha=0.3)
    fig.text(
        0.5,
        0.01,
        f"data seed {net.seed}, init N(0, {net.init_scale:g}²) seed {net.seed + 1}, {NET_SAMPLES} samples, "
        f"float64; method: Li et al. 2018 (PCA relative to the best final point). Caveat: {CAVEAT}.",
        ha="center",
        fontsize=8,
    )
    return _save(fig, path)


# ----- the command ----------------------------------------------------------------------------------


def _start(text: str) -> tuple[float, float]:
    """argparse type of --start: "X,Y", two finite numbers."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y (two numbers), got {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise argparse.ArgumentTypeError(f"expected two finite numbers, got {text!r}")
    return x, y


def _optimizer_list(text: str) -> list[str]:
    """argparse type of --optimizers: a non-empty comma-separated list of registry names."""
    names = [registry_name(n) for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one optimizer, e.g. sgd,adam (see --list)")
    return names


SADDLE_EXAMPLES = """examples:
  minigrad saddle --list                                  # surfaces, critical points, optimizers
  minigrad saddle --surface monkey --optimizers sgd,nag,adagrad,adam --out runs/saddle/monkey.gif
  minigrad saddle --surface saddle --out runs/saddle/saddle.html  # play, pause, step in a browser
  minigrad saddle --surface saddle --start 1,1e-3 --steps 100
  minigrad saddle --escape-table                          # escape step per optimizer x surface
  minigrad saddle --network --out runs/saddle/network.png # a small net's paths in its PCA loss plane

Every figure states its start, steps and hyperparameters; toy surfaces do not rank optimizers."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``minigrad saddle`` to a subparsers object."""
    p = subparsers.add_parser(
        "saddle",
        help="optimizer trajectories on toy surfaces and saddle points (PNG/GIF/HTML, escape table)",
        description="Run the real optimizers on two-parameter surfaces with known critical points and draw "
        "their trajectories (contours and loss per step), an animation, or the escape table.",
        epilog=SADDLE_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--surface", default="monkey", type=canonical, choices=sorted(SURFACES), help="the toy surface")
    p.add_argument("--optimizers", default=list(DEFAULT_OPTIMIZERS), type=_optimizer_list, metavar="A,B,...",
                   help=f"comma-separated registry names (default: {','.join(DEFAULT_OPTIMIZERS)})")
    p.add_argument("--steps", type=positive_int, default=300, help="steps per run")
    p.add_argument("--start", type=_start, default=None, metavar="X,Y",
                   help="start point, inside the surface's plotted window (default: the surface's first start)")
    p.add_argument("--lr", type=finite_float, default=None,
                   help="one rate for every optimizer (default: the stated toy rates, TOY_HYPERPARAMS)")
    p.add_argument("--out", default="runs/saddle/saddle.png",
                   help=".png; .gif, or .html (an animation to play, pause and step in a browser, no server): "
                        "the PNG is written beside either")
    p.add_argument("--frames", type=positive_int, default=60, help="GIF or HTML animation frames")
    p.add_argument("--list", action="store_true", help="list surfaces (with critical points) and optimizers")
    p.add_argument("--escape-table", action="store_true", help="print escape steps, optimizer x surface")
    p.add_argument("--network", action="store_true", help="the network-path picture (Li et al. 2018) instead")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="data and init seed of --network")
    p.set_defaults(parser=p)
    return p


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """Report a bad argument as argparse does (usage and the message on stderr); exit status 2."""
    args.parser.print_usage(sys.stderr)
    print(f"minigrad saddle: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Carry out ``minigrad saddle``; returns the exit status (2 for bad arguments, as argparse).

    A value no argument type could check alone (e.g. a rate an optimizer refuses) is reported the
    same way as argparse's own errors, without a traceback.
    """
    try:
        return _run(args)
    except ValueError as exc:
        return _usage_error(args, str(exc))


def _run(args: argparse.Namespace) -> int:
    names = args.optimizers

    def usage_error(message: str) -> int:
        return _usage_error(args, message)

    if args.list:
        print("surfaces:")
        for s in SURFACES.values():
            print("  " + s.describe())
        print("optimizers (toy hyperparameters):")
        for name in sorted(optimizers.OPTIMIZERS):
            print(f"  {name:16s} {TOY_HYPERPARAMS.get(name, '(class defaults)')}")
        return 0
    if args.escape_table:
        print(format_escape_table(escape_table(names, steps=args.steps, lr=args.lr), args.steps))
        return 0
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".gif", ".html"):
        return usage_error(f"argument --out: must end in .png or .gif (pictures) or .html (an animation), "
                           f"got {args.out!r}")
    if args.network and out.suffix.lower() == ".html":
        return usage_error("argument --out: --network draws a PNG, not an animation; give a .png path")
    png = out.with_suffix(".png")
    if args.network:
        hyper = {n: {"lr": args.lr} for n in names} if args.lr is not None else None
        net = train_network_paths(names, steps=args.steps, seed=args.seed, hyper=hyper)
        plot_network_paths(net, png)
        print(f"wrote {png}")
        return 0
    surf = get_surface(args.surface)
    if args.start is not None:
        x0, y0 = args.start
        xmin, xmax, ymin, ymax = surf.window
        if not (xmin <= x0 <= xmax and ymin <= y0 <= ymax):
            return usage_error(
                f"argument --start: ({x0:g}, {y0:g}) is outside the plotted window of {surf.name}, "
                f"x in [{xmin:g}, {xmax:g}], y in [{ymin:g}, {ymax:g}]"
            )
    trajs = [run_trajectory(surf, n, args.start, args.steps, **hyperparams_for(n, surf, args.lr)) for n in names]
    plot_trajectories(trajs, surf, png)
    written = [png]
    if out.suffix.lower() == ".gif":
        written.append(animate_trajectories(trajs, surf, out, frames=args.frames))
    elif out.suffix.lower() == ".html":
        out.write_text(animation_html(trajs, surf, frames=args.frames), encoding="utf-8")
        written.append(out)
    for t in trajs:
        note = t.exit_note(surf.window)
        verdict = ""
        if surf.saddle is not None and surf.escape_radius is not None:
            k = escape_step(t, surf.escape_radius)
            closest = float(np.min(np.linalg.norm(t.positions - np.asarray(surf.saddle), axis=1)))
            if closest > surf.escape_radius:  # it went round the saddle: there was nothing to escape
                verdict = f"escape step (r = {surf.escape_radius:g}): never within r (closest approach {closest:.3g})"
            else:
                verdict = f"escape step (r = {surf.escape_radius:g}): " + ("not within the steps run" if k is None
                                                                           else str(k))
        print(f"{t.optimizer:16s} {verdict}" + (f"  [{note}]" if note else ""))
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


__all__ = [
    "CAVEAT",
    "SURFACE_HYPERPARAMS",
    "TOY_HYPERPARAMS",
    "NetworkPaths",
    "Trajectory",
    "add_parser",
    "animate_trajectories",
    "animation_html",
    "escape_step",
    "escape_table",
    "format_escape_table",
    "hyperparams_for",
    "plot_network_paths",
    "plot_trajectories",
    "run",
    "trajectories_figure",
    "run_trajectory",
    "train_network_paths",
]
