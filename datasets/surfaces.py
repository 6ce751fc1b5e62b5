"""Two-parameter toy objectives for watching optimizers near saddle points and in narrow valleys.

Each :class:`Surface` is a loss f(x, y) of two scalar parameters with its closed-form gradient,
its critical points (and their type), a default plotting window and default starts. ``f`` is
written with plain arithmetic only (``+ - * / **`` and Python numbers), so the same function
evaluates on NumPy arrays (a whole plotting grid at once) and on minigrad Tensors (a loss to
differentiate) without this module importing the engine: the ``datasets`` package depends on
the array module alone. ``grad`` is the hand-derived gradient on arrays; the tests check it
against the engine's autograd and against central differences.

The surfaces (:data:`SURFACES`)
-------------------------------
``saddle``          x² − y². Saddle at the origin, Hessian diag(2, −2). The x axis is the stable
                    manifold: gradient descent started on it (y = 0) converges to the saddle;
                    from y₀ ≠ 0 with rate t, x shrinks by (1 − 2t) and y grows by (1 + 2t) per step.
``monkey``          x³ − 3xy² = Re (x + iy)³. A degenerate "monkey" saddle at the origin: the
                    gradient and the Hessian both vanish there, so the gradient near it is
                    quadratic in the distance and escaping is slow for every gradient-scaled
                    method. Three descending valleys (angles π/3, π, −π/3), three ridges.
``flat_saddle``     ε·(x² − y² + y⁴/8) with ε = 10⁻³: a *low-curvature* saddle (Hessian
                    diag(2ε, −2ε)) between two minima at (0, ±2). This is the toy for Singh et
                    al.'s "high-error low-curvature saddle points" and Zheng et al.'s Fig. 8
                    claim; see "Why flat_saddle separates the optimizers" below.
``ill_conditioned`` 0.1x² + 2y²: a convex bowl of condition number 20, minimum at the origin;
                    no saddle. Gradient-scaled methods zig-zag across y and crawl along x.
``rosenbrock``      (1 − x)² + 100(y − x²)²: the curved valley, minimum (1, 1); no saddle.
``beale``           (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: minimum (3, 0.5);
                    a saddle at (0, 1) (Hessian eigenvalues ±27.75) and another near
                    (0.1005, −2.6445) (eigenvalues ≈ −0.78, 867.8).
``two_layer``       (1 − x·y)²: the smallest "network". x and y are the weights of two layers of
                    a scalar linear net ŷ = y·(x·u), trained on the one example u = 1, target 1
                    with the squared loss. The origin (all weights 0, the "small init" of a deep
                    linear net) is a saddle, Hessian [[0, −2], [−2, 0]] (eigenvalues ±2): its
                    stable manifold is the anti-diagonal y = −x, it escapes along the diagonal.
                    The minima form the hyperbola x·y = 1 (not isolated; (1, 1) and (−1, −1) are
                    listed). Driven as two parameter groups, layer-wise optimizers treat x and y
                    as they treat two layers of a network.

Why flat_saddle separates the optimizers
----------------------------------------
Near the origin the gradient is (2εx, −2εy), tiny at ε = 10⁻³. A method whose step is
proportional to the gradient multiplies y by (1 + 2ε·t_eff) per step: SGD at t = 0.1 needs
ln(1/|y₀|)/(2·10⁻⁴) ≈ 35,000 steps to carry y from 10⁻³ to 1; momentum or NAG at the same
long-run rate t/(1 − μ) are no faster. Adam's step is ≈ lr·m̂/√v̂, a normalised step that does
not scale with the gradient: about lr per step in the escaping direction whatever ε is, so it
leaves a ball of radius r in about r/lr steps. AdaGrad normalises too, but by the square root of
the *accumulated* sum of squared gradients: on the way out its step in y decays roughly like
√3·lr/√k, so it covers only ≈ 2√3·lr·√k after k steps, and the time to leave grows like
(r/lr)² instead of r/lr. That is the whole mechanism; at a ten times larger rate AdaGrad escapes
too. WAME's normalised step grows by its acceleration factor ζ (up to 100) while the gradient's
sign persists, so it escapes fastest. Layer-specific rates (Singh et al.) multiply SGD's rate by
1 + ln(1 + 1/‖g_l‖) ≈ 14 at ‖g‖ = 2·10⁻⁶: a logarithmic help. The quartic term bounds the surface
below (minima (0, ±2), f = −2ε) without changing anything within |y| ≲ 1 that matters here.

Measured (experiments.saddle.run_trajectory from (0.5, 10⁻³), escape = distance from the origin
above r = 1; tests/test_saddle.py checks the 300-step claims): Adam (lr 0.01) 78 steps, WAME
(lr 10⁻³) 32, AdaGrad (lr 0.01) 1355, AdaGrad (lr 0.1) 18, layer-specific SGD (t 0.1) 3443,
NAG (lr 0.01, μ 0.9) 35,323, SGD (t 0.1) ≈ 35,000 by the formula above.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# ε of flat_saddle: small enough that gradient-proportional steps crawl (see the module docstring).
FLAT_EPS = 1e-3


@dataclass(frozen=True)
class CriticalPoint:
    """A point where the gradient vanishes, with its type ("saddle", "minimum", …)."""

    x: float
    y: float
    kind: str
    note: str = ""

    @property
    def point(self) -> tuple[float, float]:
        """(x, y)."""
        return (self.x, self.y)


@dataclass(frozen=True)
class Surface:
    """A toy objective f(x, y) of two scalar parameters.

    ``func`` must use plain arithmetic only, so that it works on arrays and on minigrad Tensors;
    ``gradient`` returns (∂f/∂x, ∂f/∂y) on arrays. ``window`` = (xmin, xmax, ymin, ymax) frames
    the contour plot, ``starts`` are the default starting points of pictures (the first is the
    default), ``saddle`` is the critical point escapes are measured from (None when the surface
    has none), ``escape_radius`` the default radius around it and ``escape_start`` a start inside
    that ball, near the saddle, from which escape tables time the escape.
    """

    name: str
    formula: str
    func: Callable[[Any, Any], Any]
    gradient: Callable[[Any, Any], tuple[Any, Any]]
    critical_points: tuple[CriticalPoint, ...]
    window: tuple[float, float, float, float]
    starts: tuple[tuple[float, float], ...]
    saddle: tuple[float, float] | None = None
    escape_radius: float | None = None
    escape_start: tuple[float, float] | None = None
    description: str = ""
    log_contours: bool = field(default=False)  # contour levels on a log scale (steep valleys)

    def f(self, x: Any, y: Any) -> Any:
        """The loss at (x, y): arrays in, array out; Tensors in, Tensor out (differentiable)."""
        return self.func(x, y)

    def grad(self, x: Any, y: Any) -> tuple[Any, Any]:
        """The closed-form gradient (∂f/∂x, ∂f/∂y) at (x, y), on arrays or floats."""
        gx, gy = self.gradient(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)

    def grid(self, n: int = 200, window: tuple[float, float, float, float] | None = None) -> tuple[Any, Any, Any]:
        """(X, Y, Z): an n×n meshgrid over ``window`` (default: the surface's) and f on it."""
        x0, x1, y0, y1 = window or self.window
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        return X, Y, self.f(X, Y)

    def describe(self) -> str:
        """One line per critical point, for ``minigrad saddle --list``."""
        points = "; ".join(
            f"({c.x:.6g}, {c.y:.6g}) {c.kind}" + (f" [{c.note}]" if c.note else "") for c in self.critical_points
        )
        return f"{self.name:16s} {self.formula:40s} critical points: {points}"


# ----- the objectives: plain arithmetic, so arrays and Tensors alike ----------------------------------


def _saddle(x: Any, y: Any) -> Any:
    return x * x - y * y


def _saddle_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 2 * x, -2 * y


def _monkey(x: Any, y: Any) -> Any:
    return x * x * x - 3 * x * y * y


def _monkey_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 3 * x * x - 3 * y * y, -6 * x * y


def _flat(x: Any, y: Any) -> Any:
    return FLAT_EPS * (x * x - y * y + y**4 / 8)


def _flat_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return FLAT_EPS * 2 * x, FLAT_EPS * (-2 * y + y**3 / 2)


def _ill(x: Any, y: Any) -> Any:
    return 0.1 * x * x + 2 * y * y


def _ill_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return 0.2 * x, 4 * y


def _rosenbrock(x: Any, y: Any) -> Any:
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _rosenbrock_grad(x: Any, y: Any) -> tuple[Any, Any]:
    return -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)


def _beale(x: Any, y: Any) -> Any:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


def _beale_grad(x: Any, y: Any) -> tuple[Any, Any]:
    a, b, c = 1.5 - x + x * y, 2.25 - x + x * y * y, 2.625 - x + x * y**3
    gx = 2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y**3 - 1)
    gy = 2 * a * x + 4 * b * x * y + 6 * c * x * y * y
    return gx, gy


def _two_layer(x: Any, y: Any) -> Any:
    return (1 - x * y) ** 2


def _two_layer_grad(x: Any, y: Any) -> tuple[Any, Any]:
    r = 1 - x * y  # the residual target − ŷ
    return -2 * y * r, -2 * x * r


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            "saddle",
            "x² − y²",
            _saddle,
            _saddle_grad,
            (CriticalPoint(0.0, 0.0, "saddle", "Hessian diag(2, −2); stable manifold y = 0"),),
            window=(-1.5, 1.5, -1.5, 1.5),
            starts=((1.0, 0.01), (1.0, -0.05), (-1.0, 0.002)),
            saddle=(0.0, 0.0),
            escape_radius=0.5,
            escape_start=(0.3, 0.001),
            description="the textbook saddle",
        ),
        Surface(
            "monkey",
            "x³ − 3xy²",
            _monkey,
            _monkey_grad,
            (CriticalPoint(0.0, 0.0, "monkey saddle", "degenerate: gradient and Hessian vanish"),),
            window=(-1.5, 1.5, -1.5, 1.5),
            starts=((1.0, 0.002), (0.8, -0.3), (-0.2, 1.0)),
            saddle=(0.0, 0.0),
            escape_radius=0.5,
            escape_start=(0.3, 0.01),
            description="three valleys, three ridges, no curvature at the centre",
        ),
        Surface(
            "flat_saddle",
            f"{FLAT_EPS:g}·(x² − y² + y⁴/8)",
            _flat,
            _flat_grad,
            (
                CriticalPoint(0.0, 0.0, "saddle", f"low curvature: Hessian diag(±{2 * FLAT_EPS:g})"),
                CriticalPoint(0.0, 2.0, "minimum", f"f = {-2 * FLAT_EPS:g}"),
                CriticalPoint(0.0, -2.0, "minimum", f"f = {-2 * FLAT_EPS:g}"),
            ),
            window=(-1.0, 1.0, -2.5, 2.5),
            starts=((0.5, 0.001), (-0.6, -0.002), (0.3, 0.0005)),
            saddle=(0.0, 0.0),
            escape_radius=1.0,
            escape_start=(0.5, 0.001),
            description="a low-curvature saddle: tiny gradients, normalised steps escape",
        ),
        Surface(
            "ill_conditioned",
            "0.1x² + 2y²",
            _ill,
            _ill_grad,
            (CriticalPoint(0.0, 0.0, "minimum", "condition number 20"),),
            window=(-3.0, 3.0, -2.0, 2.0),
            starts=((-2.5, 1.5), (2.5, -1.0)),
            description="a narrow convex bowl",
        ),
        Surface(
            "rosenbrock",
            "(1 − x)² + 100(y − x²)²",
            _rosenbrock,
            _rosenbrock_grad,
            (CriticalPoint(1.0, 1.0, "minimum"),),
            window=(-2.0, 2.0, -1.0, 3.0),
            starts=((-1.2, 1.0), (0.0, 2.5)),
            description="the curved valley",
            log_contours=True,
        ),
        Surface(
            "beale",
            "(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
            _beale,
            _beale_grad,
            (
                CriticalPoint(3.0, 0.5, "minimum", "f = 0"),
                CriticalPoint(0.0, 1.0, "saddle", "Hessian eigenvalues ±27.75"),
                CriticalPoint(0.10053793732415864, -2.6445135850231223, "saddle", "numerical, to ~1e-15"),
            ),
            window=(-4.5, 4.5, -4.5, 4.5),
            starts=((0.5, 1.3), (-1.0, 1.5), (1.0, 1.0)),
            saddle=(0.0, 1.0),
            escape_radius=0.5,
            escape_start=(0.1, 1.05),
            description="flat plateaus, steep walls",
            log_contours=True,
        ),
        Surface(
            "two_layer",
            "(1 − x·y)²",
            _two_layer,
            _two_layer_grad,
            (
                CriticalPoint(0.0, 0.0, "saddle", "Hessian [[0, −2], [−2, 0]]; stable manifold y = −x"),
                CriticalPoint(1.0, 1.0, "minimum", "on the manifold x·y = 1"),
                CriticalPoint(-1.0, -1.0, "minimum", "on the manifold x·y = 1"),
            ),
            window=(-1.5, 1.5, -1.5, 1.5),
            starts=((0.3, -0.28), (0.02, 0.01), (-0.6, 0.55)),
            saddle=(0.0, 0.0),
            escape_radius=0.5,
            escape_start=(0.05, -0.04),
            description="a scalar two-layer linear net ŷ = y·x·u, u = 1, target 1",
        ),
    )
}


def get_surface(name: str) -> Surface:
    """The surface called ``name`` (``-`` for ``_`` accepted); ValueError listing the names otherwise."""
    key = str(name).lower().replace("-", "_")
    if key not in SURFACES:
        raise ValueError(f"unknown surface {name!r}: expected one of {sorted(SURFACES)}")
    return SURFACES[key]


__all__ = ["FLAT_EPS", "SURFACES", "CriticalPoint", "Surface", "get_surface"]
