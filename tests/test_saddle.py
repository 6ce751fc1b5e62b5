"""The saddle-point lab: toy surfaces (datasets.surfaces), trajectories of the real optimizers on
them (experiments.saddle), the escape claims of Singh et al. (2015) and Zheng et al. (2019,
Fig. 8) on stated toys and settings, the pictures and the ``minigrad saddle`` command.

Radius convention of every escape test: the escape step is the first step k with
‖θ_k − saddle‖₂ > r, counted once θ has been within r (all starts here are inside), r = 0.5 on
x² − y² and r = 1 on flat_saddle (its minima are at distance 2).
"""

from __future__ import annotations

import math

import matplotlib.image as mpimg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import optimizers
from datasets.surfaces import FLAT_EPS, SURFACES, get_surface
from experiments import cli
from experiments.saddle import (
    CAVEAT,
    animate_trajectories,
    escape_step,
    escape_table,
    format_escape_table,
    hyperparams_for,
    plot_network_paths,
    plot_trajectories,
    run_trajectory,
    train_network_paths,
)
from minigrad import Parameter

# ----- surfaces ---------------------------------------------------------------------------------------


def _autograd(surface_name: str, x: float, y: float) -> tuple[float, float]:
    px, py = Parameter(np.array(x, dtype=np.float64)), Parameter(np.array(y, dtype=np.float64))
    get_surface(surface_name).f(px, py).backward()
    return float(px.grad), float(py.grad)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(SURFACES)),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
)
def test_closed_form_gradient_matches_autograd_and_central_differences(name: str, u: float, v: float) -> None:
    """At random points of each surface's window: closed form = engine's autograd = central differences (float64)."""
    s = get_surface(name)
    x0, x1, y0, y1 = s.window
    x, y = x0 + u * (x1 - x0), y0 + v * (y1 - y0)
    gx, gy = s.grad(x, y)
    ax, ay = _autograd(name, x, y)
    scale = 1.0 + abs(float(gx)) + abs(float(gy))
    assert abs(gx - ax) <= 1e-12 * scale and abs(gy - ay) <= 1e-12 * scale
    h = 1e-6
    cx = (s.f(x + h, y) - s.f(x - h, y)) / (2 * h)
    cy = (s.f(x, y + h) - s.f(x, y - h)) / (2 * h)
    fscale = 1.0 + abs(float(s.f(x, y)))
    assert abs(gx - cx) <= 1e-6 * fscale and abs(gy - cy) <= 1e-6 * fscale


def _hessian(name: str, x: float, y: float, h: float = 1e-5) -> np.ndarray:
    s = get_surface(name)
    cols = [np.subtract(s.grad(x + h, y), s.grad(x - h, y)) / (2 * h),
            np.subtract(s.grad(x, y + h), s.grad(x, y - h)) / (2 * h)]
    H = np.stack(cols, axis=1)
    return (H + H.T) / 2


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_documented_critical_points_have_zero_gradient_and_their_type(name: str) -> None:
    """Each listed critical point has gradient 0 (closed form and autograd), and its Hessian matches its type."""
    s = get_surface(name)
    assert s.critical_points
    for c in s.critical_points:
        assert np.hypot(*s.grad(c.x, c.y)) < 1e-12 and np.hypot(*_autograd(name, c.x, c.y)) < 1e-12, c
        eig = np.linalg.eigvalsh(_hessian(name, c.x, c.y))
        if c.kind == "minimum" and "manifold" in c.note:  # two_layer's hyperbola: flat along it
            assert abs(eig.min()) < 1e-6 < 1e-4 < eig.max(), (c, eig)
        elif c.kind == "minimum":
            assert eig.min() > 1e-4, (c, eig)
        elif c.kind == "saddle":
            assert eig.min() < -1e-4 < 1e-4 < eig.max(), (c, eig)
        else:  # the monkey saddle: degenerate, gradient and Hessian both vanish
            assert c.kind == "monkey saddle" and np.abs(eig).max() < 1e-8, (c, eig)
    if s.saddle is not None:
        assert s.saddle in [c.point for c in s.critical_points if "saddle" in c.kind]
        assert np.hypot(*np.subtract(s.escape_start, s.saddle)) <= s.escape_radius


def test_two_layer_minima_are_the_hyperbola() -> None:
    """two_layer's minima are not isolated: every point with x·y = 1 has f = 0 and gradient 0."""
    s = get_surface("two_layer")
    x = np.array([-3.0, -0.5, 0.25, 2.0])
    assert np.all(s.f(x, 1 / x) == 0) and np.all(np.hypot(*s.grad(x, 1 / x)) == 0)
    assert np.linalg.eigvalsh(_hessian("two_layer", 1.0, 1.0)).min() == pytest.approx(0.0, abs=1e-6)


# ----- trajectories on x² − y² ------------------------------------------------------------------------


def test_gradient_descent_on_the_stable_manifold_converges_to_the_saddle() -> None:
    """From y = 0 exactly, SGD's y stays 0 and x shrinks by (1 − 2t) per step: it ends at the saddle."""
    t = 0.1
    traj = run_trajectory("saddle", "sgd", (1.0, 0.0), 300, lr=t)
    assert np.all(traj.positions[:, 1] == 0.0)
    assert np.allclose(traj.positions[:, 0], (1 - 2 * t) ** np.arange(301), rtol=1e-12, atol=0)
    assert np.hypot(*traj.positions[-1]) < 1e-25
    assert escape_step(traj, 0.5) is None  # it enters the ball at step 4 and never leaves


@pytest.mark.parametrize("t", [0.05, 0.1, 0.25, 0.45])
def test_escape_step_matches_the_closed_form(t: float) -> None:
    """From (0, y0) SGD gives y_k = (1 + 2t)^k y0 (x stays 0), so |y_k| > r first at k ≈ log(r/|y0|)/log(1 + 2t).

    Exactly, k* = ⌊log(r/|y0|)/log(1 + 2t)⌋ + 1; the test asks for agreement within one step.
    """
    y0, r = 1e-8, 0.5
    traj = run_trajectory("saddle", "sgd", (0.0, y0), 400, lr=t)
    k = escape_step(traj, r)
    assert k is not None
    assert abs(k - math.log(r / y0) / math.log(1 + 2 * t)) <= 1
    ks = np.arange(k + 1)
    assert np.allclose(traj.positions[: k + 1, 1], (1 + 2 * t) ** ks * y0, rtol=1e-12, atol=0)


def _sgd_escape_bound(t: float, y0: float, r: float) -> int:
    return int(math.log(r / abs(y0)) / math.log(1 + 2 * t)) + 2


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    t=st.floats(0.05, 0.95),
    x0=st.floats(-0.45, 0.45),
    log_y0=st.floats(-8.0, math.log10(0.2)),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_layer_sgd_escapes_no_later_than_sgd(t: float, x0: float, log_y0: float, sign: float) -> None:
    """Singh et al.'s layer-specific SGD leaves x² − y² no later than SGD, from any start in the ball.

    Its rate on layer l is t·(1 + ln(1 + 1/‖g_l‖)) ≥ t, so y's growth factor 1 + 2t·f_y is never
    below SGD's 1 + 2t and |y| is never behind at any step: with the ∞-norm the claim follows
    exactly (SGD's |x| only shrinks for t < 1, so SGD escapes through |y|). With the Euclidean
    radius, the layer-wise run also contracts x faster, which could in principle cost it a step;
    it checks that this does not happen on the drawn starts. t < 1 keeps SGD stable along x.
    """
    y0 = sign * 10**log_y0
    steps = _sgd_escape_bound(t, y0, 0.5) + 2
    sgd = run_trajectory("saddle", "sgd", (x0, y0), steps, lr=t)
    layer = run_trajectory("saddle", "layer_sgd", (x0, y0), steps, lr=t)
    n = min(len(sgd.positions), len(layer.positions))  # a fast escape may leave |θ| <= 1e3 and stop
    assert np.all(np.abs(layer.positions[:n, 1]) >= np.abs(sgd.positions[:n, 1]))
    for ord_ in (2, np.inf):
        k_sgd, k_layer = escape_step(sgd, 0.5, ord=ord_), escape_step(layer, 0.5, ord=ord_)
        assert k_sgd is not None and k_layer is not None and k_layer <= k_sgd, (ord_, k_sgd, k_layer)


def test_effective_rates_are_the_methods_rates() -> None:
    """The recorded ‖Δθ_l‖/‖g_l‖ is SGD's t, and t·(1 + ln(1 + 1/‖g_l‖)) for the layer-specific SGD."""
    t = 0.1
    sgd = run_trajectory("saddle", "sgd", (0.3, 0.01), 10, lr=t)
    assert np.allclose(sgd.rates, t, rtol=1e-9)
    assert np.allclose(sgd.grad_norms, 2 * np.abs(sgd.positions[:-1]), rtol=1e-12)
    layer = run_trajectory("saddle", "layer_sgd", (0.3, 0.01), 10, lr=t)
    assert np.allclose(layer.rates, t * (1 + np.log1p(1 / layer.grad_norms)), rtol=1e-9)


# ----- the low-curvature saddle: Zheng et al. Fig. 8's claim on a stated toy ------------------------

FLAT_STEPS = 300  # N
FLAT_SETTINGS = {  # the stated settings: SGD/NAG share the long-run rate 0.1; AdaGrad gets Adam's lr
    "sgd": {"lr": 0.1},
    "nag": {"lr": 0.01, "momentum": 0.9},
    "adagrad": {"lr": 0.01},
    "adam": {"lr": 0.01},
    "wame": {"lr": 1e-3},
}


@pytest.fixture(scope="module")
def flat_runs() -> dict[str, object]:
    s = get_surface("flat_saddle")
    return {n: run_trajectory(s, n, s.escape_start, FLAT_STEPS, **h) for n, h in FLAT_SETTINGS.items()}


def test_adam_and_wame_escape_the_flat_saddle_where_sgd_nag_adagrad_stay(flat_runs: dict) -> None:
    """On flat_saddle (ε = 1e-3, from (0.5, 1e-3), r = 1): Adam and WAME escape within N = 300 steps,
    SGD, NAG and AdaGrad stay inside the ball for all N steps.

    Why (datasets.surfaces docstring): SGD's and NAG's steps scale with the gradient 2εy, so y grows
    by ≈ (1 + 2ε·0.1) per step, ×1.06 over N; Adam's normalised step is ≈ lr whatever ε; AdaGrad's
    is normalised by the accumulated sum, so it shrinks like lr/√k and covers only ≈ 2√3·lr·√N ≈ 0.6.
    """
    r = get_surface("flat_saddle").escape_radius
    k = {n: escape_step(t, r) for n, t in flat_runs.items()}
    assert k["adam"] is not None and k["adam"] < FLAT_STEPS
    assert k["wame"] is not None and k["wame"] < FLAT_STEPS
    for name in ("sgd", "nag", "adagrad"):
        dist = np.hypot(*flat_runs[name].positions.T)
        assert k[name] is None and dist.max() <= r, name
    # SGD's y follows the linearised growth: after N steps it is still ~1e-3, three decades short.
    y_sgd = flat_runs["sgd"].positions[-1, 1]
    assert y_sgd == pytest.approx(1e-3 * (1 + 2 * FLAT_EPS * 0.1) ** FLAT_STEPS, rel=1e-3)


def test_adagrad_trapping_depends_on_its_rate() -> None:
    """The caveat of the claim: AdaGrad at ten times Adam's rate (0.1, its usual default) escapes too."""
    s = get_surface("flat_saddle")
    k = escape_step(run_trajectory(s, "adagrad", s.escape_start, FLAT_STEPS, lr=0.1), s.escape_radius)
    assert k is not None and k < FLAT_STEPS


def test_layer_sgd_rate_factor_on_the_flat_saddle() -> None:
    """Singh's factor at ‖g_y‖ = 2εy ≈ 2e-6 is ≈ 1 + ln(5e5) ≈ 14: faster than SGD, still a crawl."""
    s = get_surface("flat_saddle")
    sgd = run_trajectory(s, "sgd", s.escape_start, 100, lr=0.1)
    layer = run_trajectory(s, "layer_sgd", s.escape_start, 100, lr=0.1)
    assert layer.rates[0, 1] / 0.1 == pytest.approx(1 + math.log1p(1 / (2 * FLAT_EPS * 1e-3)), rel=1e-6)
    assert sgd.positions[-1, 1] < layer.positions[-1, 1] < 0.1


# ----- determinism, finiteness, every optimizer ------------------------------------------------------


@pytest.mark.parametrize("name", ["sgd", "nag", "adagrad", "adam", "wame", "layer_sgd", "llb_sgd", "esgd", "ravaut2"])
def test_trajectories_are_deterministic_and_finite(name: str) -> None:
    """Two runs are bit-identical (positions, losses, rates), and finite on a bounded surface."""
    hyper = hyperparams_for(name, "two_layer")
    a = run_trajectory("two_layer", name, None, 60, **hyper)
    b = run_trajectory("two_layer", name, None, 60, **hyper)
    assert a.positions.shape == (61, 2) and a.rates.shape == (60, 2) and a.stopped is None
    for field in ("positions", "losses", "grad_norms", "rates"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True), field
    assert np.all(np.isfinite(a.positions)) and np.all(np.isfinite(a.losses))


def test_unbounded_runs_stop_and_stay_finite() -> None:
    """On the monkey saddle an escaping run falls off to −∞: it stops at |θ| > max_norm, finite."""
    traj = run_trajectory("monkey", "sgd", (1.0, 0.002), 300, lr=0.1)
    assert traj.stopped is not None and traj.steps < 300
    assert np.all(np.isfinite(traj.positions)) and np.hypot(*traj.positions[-1]) > 1e3


def test_escape_table_and_its_text() -> None:
    table = escape_table(["sgd", "adam"], ["saddle", "flat_saddle"], steps=100)
    assert table["sgd"]["flat_saddle"] is None and table["adam"]["flat_saddle"] == escape_step(
        run_trajectory("flat_saddle", "adam", (0.5, 0.001), 100, lr=0.01), 1.0
    )
    text = format_escape_table(table, 100)
    assert "flat_saddle" in text and "—" in text and CAVEAT in text


def test_layer_optimizers_are_registered() -> None:
    """The papers' methods this lab compares are in the registry, under their hyphenated names too."""
    for name in ("layer_sgd", "layer_momentum", "layer_nesterov", "layer_adagrad", "wame", "llb_sgd"):
        assert name in optimizers.OPTIMIZERS
    x = Parameter(np.array(1.0))
    assert type(optimizers.build_optimizer("layer-sgd", [x], lr=0.1)) is optimizers.LayerSGD


# ----- pictures and the command ------------------------------------------------------------------------


def _assert_not_blank(png) -> None:
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    # A blank canvas has variance 0; contours, paths and text give far more than this.
    assert float(np.var(img[..., :3])) > 1e-3


def test_plot_and_animation_are_written(tmp_path) -> None:
    s = get_surface("saddle")
    trajs = [run_trajectory(s, n, None, 40, **hyperparams_for(n, s)) for n in ("sgd", "adam", "layer_sgd")]
    png = plot_trajectories(trajs, s, tmp_path / "saddle.png")
    _assert_not_blank(png)
    gif = animate_trajectories(trajs, s, tmp_path / "saddle.gif", frames=4)
    with Image.open(gif) as im:
        assert im.n_frames > 1


def test_network_paths_pca_plane(tmp_path) -> None:
    """The PCA plane: orthonormal directions through the best run's final point, which projects to 0."""
    net = train_network_paths(["sgd", "adam"], steps=40)
    assert np.allclose(net.directions @ net.directions.T, np.eye(2), atol=1e-12)
    assert 0 < net.explained <= 1
    best = min(net.losses, key=lambda k: net.losses[k][-1])
    assert np.allclose(net.coords[best][-1], 0, atol=1e-12)
    assert net.losses["adam"][-1] < net.losses["adam"][0]  # it learns
    assert net.loss_fn(net.paths["sgd"][-1]) == pytest.approx(net.losses["sgd"][-1], rel=1e-12)
    _assert_not_blank(plot_network_paths(net, tmp_path / "net.png", grid=9))


def test_cli_writes_png_and_gif(tmp_path, capsys) -> None:
    out = tmp_path / "monkey.gif"
    rc = cli.main(["saddle", "--surface", "monkey", "--optimizers", "sgd,adam,layer-sgd", "--steps", "15",
                   "--frames", "3", "--out", str(out)])
    assert rc == 0
    _assert_not_blank(tmp_path / "monkey.png")
    with Image.open(out) as im:
        assert im.n_frames > 1
    assert "layer_sgd" in capsys.readouterr().out


def test_cli_list_and_escape_table(capsys) -> None:
    assert cli.main(["saddle", "--list"]) == 0
    out = capsys.readouterr().out
    for name in SURFACES:
        assert name in out
    assert "monkey saddle" in out and "layer_sgd" in out
    assert cli.main(["saddle", "--escape-table", "--optimizers", "sgd,wame", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    assert "two_layer" in out and "wame" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["saddle", "--optimizers", "nope"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "unknown optimizer 'nope': expected one of" in captured.err and captured.out == ""
