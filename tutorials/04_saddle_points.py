# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Saddle points
#
# Tutorial 3 ran the optimizers in a bowl, where every path leads down to the one minimum.
# Singh et al. (2015) and Zheng et al. (2019) motivate their methods by another place: the
# **saddle point**, where the gradient vanishes although the loss still falls in some
# direction. This tutorial uses the saddle-point lab (`experiments/saddle.py`, surfaces from
# `datasets/surfaces.py`) to show:
#
# 1. what a saddle is, and that plain gradient descent started *exactly* on its stable manifold
#    converges to it, while a start $10^{-6}$ away leaves it; the escape step is derived in
#    closed form and checked against a real run of minigrad's `SGD`;
# 2. the optimizers on three saddles (`saddle`, `monkey`, `flat_saddle`): an escape table and
#    the trajectories, and why the adaptive methods leave the flat saddle much sooner;
# 3. Singh et al.'s layer-specific rates (`layer_sgd`), whose factor grows where the gradient
#    is small, i.e. near a saddle;
# 4. the same start-near-a-saddle picture in a small network, seen in a plane of its weights;
# 5. the caveat: toy surfaces do not rank optimizers.
#
# The toys are deterministic and cheap, so fast mode (`MINIGRAD_FAST=1`) changes only the
# network section (fewer steps) and skips the animated GIF and one long run (40,000 steps of
# SGD; fast mode checks only its first 300 steps against the predicted growth rate).

# %%
import math
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

from datasets.surfaces import FLAT_EPS, get_surface
from experiments.saddle import (
    CAVEAT,
    TOY_HYPERPARAMS,
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
from optimizers.layerwise import singh_factor

FAST = _common.FAST
START = time.perf_counter()
print("fast mode:", FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. The textbook saddle, $f = x^2 - y^2$
#
# $$\nabla f = (2x,\ -2y), \qquad H = \begin{pmatrix} 2 & 0 \\ 0 & -2 \end{pmatrix}.$$
#
# The gradient vanishes at the origin, and the Hessian there has one positive and one negative
# eigenvalue: uphill along $x$, downhill along $y$. That is a (strict) saddle. We check the
# eigenvalues by central differences of the surface's gradient.

# %%
saddle = get_surface("saddle")


def hessian(surface, x: float, y: float, h: float = 1e-5) -> np.ndarray:
    """Central-difference Hessian of ``surface`` at (x, y), from its closed-form gradient."""
    cols = [np.subtract(surface.grad(x + h, y), surface.grad(x - h, y)) / (2 * h),
            np.subtract(surface.grad(x, y + h), surface.grad(x, y - h)) / (2 * h)]
    return np.stack(cols, axis=1)


eig = np.linalg.eigvalsh(hessian(saddle, 0.0, 0.0))
print("gradient at the origin:", saddle.grad(0.0, 0.0), "| Hessian eigenvalues:", eig)
assert np.allclose(eig, [-2.0, 2.0], atol=1e-8), "x² − y² has Hessian eigenvalues −2 and +2 at the origin"

# %% [markdown]
# Gradient descent with rate $\eta$ acts on each coordinate separately:
#
# $$x_{k+1} = x_k - 2\eta\,x_k = (1 - 2\eta)\,x_k, \qquad y_{k+1} = y_k + 2\eta\,y_k = (1 + 2\eta)\,y_k,$$
#
# so $x_k = (1-2\eta)^k x_0$ and $y_k = (1+2\eta)^k y_0$. For $0 < \eta < 1$, $x$ shrinks to 0
# and $y$ grows, unless $y_0 = 0$: then $y$ stays 0 **exactly** and the iterates slide down the
# $x$ axis (the *stable manifold*) into the saddle. With $y_0 \ne 0$, however small, $|y_k|$
# passes any radius $r$ at the first $k$ with $(1+2\eta)^k |y_0| > r$:
#
# $$k^\ast = \left\lceil \frac{\ln(r/|y_0|)}{\ln(1 + 2\eta)} \right\rceil .$$
#
# `escape_step(traj, r)` measures the *Euclidean* distance $\sqrt{x_k^2 + y_k^2}$ and counts an
# escape only after the path has been within $r$; it returns the absolute step number. From
# $(1, y_0)$ with $r = 0.5$ the path starts outside the ball, enters it at $k = 4$
# ($0.8^4 \approx 0.41$) and leaves it along $y$; by then $x_k$ is $\sim 10^{-7}$, so the
# $|y|$-only formula and the Euclidean criterion should agree. We compute both from the closed
# form (the Euclidean one by scanning $k$) and compare with `run_trajectory("saddle", "sgd")`,
# which runs minigrad's real `SGD` class on two float64 `Parameter`s.

# %%
ETA = TOY_HYPERPARAMS["sgd"]["lr"]  # 0.1: x shrinks by 0.8, y grows by 1.2 per step
R = saddle.escape_radius  # 0.5


def escape_formula(y0: float, eta: float = ETA, r: float = R) -> int:
    """⌈ln(r/|y0|) / ln(1 + 2η)⌉: the first step with |y_k| > r."""
    return math.ceil(math.log(r / abs(y0)) / math.log(1 + 2 * eta))


def escape_closed_form(x0: float, y0: float, eta: float = ETA, r: float = R, kmax: int = 400) -> int:
    """The first k, after entering the ball, with |(x_k, y_k)| > r, from the closed-form iterates."""
    k = np.arange(kmax + 1)
    dist = np.hypot((1 - 2 * eta) ** k * x0, (1 + 2 * eta) ** k * y0)
    arrived = np.flatnonzero(dist <= r)[0]
    return int(arrived + np.flatnonzero(dist[arrived:] > r)[0])


on_manifold = run_trajectory("saddle", "sgd", (1.0, 0.0), 300, lr=ETA)
perturbed = run_trajectory("saddle", "sgd", (1.0, 1e-6), 300, lr=ETA)
k_run = escape_step(perturbed, R)
print(f"from (1, 0): after 300 steps at {on_manifold.positions[-1]}, escape step {escape_step(on_manifold, R)}")
print(f"from (1, 1e-6): escape step {k_run} (run), {escape_closed_form(1.0, 1e-6)} (Euclidean closed form), "
      f"{escape_formula(1e-6)} (formula, ln(r/|y0|)/ln(1+2η) = {math.log(R / 1e-6) / math.log(1 + 2 * ETA):.2f})")

assert np.all(on_manifold.positions[:, 1] == 0.0), "on the stable manifold y stays exactly 0"
assert np.allclose(on_manifold.positions[:, 0], (1 - 2 * ETA) ** np.arange(301), rtol=1e-12, atol=0), (
    "and x_k = (1 − 2η)^k x0"
)
assert np.hypot(*on_manifold.positions[-1]) < 1e-25 and escape_step(on_manifold, R) is None, (
    "gradient descent from y0 = 0 converges to the saddle and never leaves"
)
ks = np.arange(k_run + 1)
assert np.allclose(perturbed.positions[: k_run + 1, 1], (1 + 2 * ETA) ** ks * 1e-6, rtol=1e-12, atol=0), (
    "y_k = (1 + 2η)^k y0 up to the escape"
)
assert k_run == escape_closed_form(1.0, 1e-6), "the run escapes exactly when the closed-form iterates do"
assert abs(k_run - escape_formula(1e-6)) <= 1, "and within one step of ⌈ln(r/|y0|)/ln(1 + 2η)⌉"

# %% [markdown]
# The escape time grows only like $\ln(1/|y_0|)$: each factor 100 closer to the manifold costs
# $\ln 100/\ln 1.2 \approx 25.3$ more steps, not a hundred times more. Exactly on the manifold it
# is infinite: no rounding pushes gradient descent off an exactly-zero $y$, since $y$'s gradient
# there is exactly 0 and so is every update of $y$.

# %%
Y0S = [1e-2, 1e-4, 1e-6, 1e-8, 1e-10, 1e-12]
measured = [escape_step(run_trajectory("saddle", "sgd", (1.0, y0), 300, lr=ETA), R) for y0 in Y0S]
print(f"{'y0':>8} {'formula':>8} {'Euclidean':>10} {'run':>5}")
for y0, k in zip(Y0S, measured):
    print(f"{y0:8.0e} {escape_formula(y0):8d} {escape_closed_form(1.0, y0):10d} {k:5d}")
    assert k == escape_closed_form(1.0, y0) and abs(k - escape_formula(y0)) <= 1, f"y0 = {y0}: run = closed form"
per_100x = np.diff(measured)
assert np.all(np.abs(per_100x - math.log(100) / math.log(1 + 2 * ETA)) <= 1), "≈ 25.3 more steps per factor 100"

fig, (ax_k, ax_y0) = plt.subplots(1, 2, figsize=(12, 4.2))
k_all = np.arange(perturbed.steps + 1)
ax_k.semilogy(k_all, np.abs(perturbed.positions[:, 1]), "o", ms=3, color="C3",
              label=r"$|y_k|$, run from $(1, 10^{-6})$")
ax_k.semilogy(k_all, (1 + 2 * ETA) ** k_all * 1e-6, "-", color="C3", lw=0.8, label=r"$(1+2\eta)^k\,10^{-6}$")
ax_k.semilogy(k_all, np.abs(perturbed.positions[:, 0]), "s", ms=3, color="C0", label=r"$|x_k|$, same run")
ax_k.semilogy(k_all, (1 - 2 * ETA) ** k_all, "-", color="C0", lw=0.8, label=r"$(1-2\eta)^k$")
ax_k.axhline(R, color="k", ls=":", lw=1, label=f"radius r = {R:g}")
ax_k.axvline(k_run, color="gray", ls="--", lw=1, label=f"escape step {k_run}")
ax_k.set(xlabel="step k", ylabel="coordinate (log scale)", ylim=(1e-9, 1e3),
         title=rf"SGD ($\eta$ = {ETA:g}) on $x^2 - y^2$: run vs closed form")
ax_k.legend(fontsize=8, loc="lower left")
ax_y0.semilogx(Y0S, measured, "o", color="C3", label="escape step of the run")
grid_y0 = np.geomspace(Y0S[-1], Y0S[0], 50)
ax_y0.semilogx(grid_y0, np.log(R / grid_y0) / np.log(1 + 2 * ETA), "-", color="k", lw=1,
               label=r"$\ln(r/|y_0|)/\ln(1+2\eta)$")
ax_y0.set(xlabel=r"$|y_0|$ (distance from the stable manifold)", ylabel="escape step",
          title=r"escape time grows like $\ln(1/|y_0|)$")
ax_y0.legend(fontsize=8)
fig.tight_layout()
_common.savefig(fig, "04_escape_closed_form")

# %% [markdown]
# ## 2. Three saddles, eight optimizers
#
# The lab's three saddles, each with a start near it and an escape radius
# (`Surface.escape_start`, `Surface.escape_radius`):
#
# * `saddle`, $x^2 - y^2$ from $(0.3, 10^{-3})$, $r = 0.5$: the strict saddle above;
# * `monkey`, $x^3 - 3xy^2$ from $(0.3, 0.01)$, $r = 0.5$: a *degenerate* saddle, whose gradient
#   **and** Hessian vanish at the centre, with three valleys and three ridges;
# * `flat_saddle`, $\varepsilon\,(x^2 - y^2 + y^4/8)$ with $\varepsilon = 10^{-3}$ from
#   $(0.5, 10^{-3})$, $r = 1$: a *low-curvature* saddle (Hessian $\mathrm{diag}(\pm 2\varepsilon)$)
#   between two minima at $(0, \pm 2)$, the toy for Singh et al.'s "high-error low-curvature
#   saddle points".
#
# Each optimizer uses its one stated setting for every toy (`TOY_HYPERPARAMS`): SGD $\eta = 0.1$;
# momentum and Nesterov $0.01$ with $\mu = 0.9$ (the same long-run rate $0.01/(1-\mu)$); AdaGrad
# $0.1$; RMSprop and Adam $0.01$; WAME $10^{-3}$ (tutorial 6); `layer_sgd` SGD's $0.1$.

# %%
NAMES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "wame", "layer_sgd"]
SURFACES = ["saddle", "monkey", "flat_saddle"]
STEPS = 300
table = escape_table(NAMES, SURFACES, steps=STEPS)
print(format_escape_table(table, STEPS))

runs = {}
for name in SURFACES:
    surf = get_surface(name)
    runs[name] = {n: run_trajectory(surf, n, surf.escape_start, STEPS, **hyperparams_for(n, surf)) for n in NAMES}
    png = plot_trajectories(list(runs[name].values()), surf, _common.OUT / f"04_{name}.png")
    print(f"figure saved: {png}")

# %% [markdown]
# **The strict saddle.** Everyone escapes within about a hundred steps. For the
# gradient-proportional methods $y$ grows geometrically: the table's SGD entry is the formula
# again, from $y_0 = 10^{-3}$, $\lceil\ln 500/\ln 1.2\rceil = 35$. The adaptive methods take
# steps of about their rate whatever the gradient, so they cross the ball at a roughly constant
# speed: Adam, at about 0.01 a step, needs a few dozen steps to cover $r = 0.5$.
#
# **The monkey saddle** is harder than it looks in the table (whose start has $y_0 = 0.01$). Near
# its centre the gradient is *quadratic* in the distance, so there is no fixed exponential rate of
# escape. For SGD along the $x$ axis, $x_{k+1} = x_k - 3\eta x_k^2$ (so $x_k \approx 1/(3\eta k)$:
# a harmonic crawl towards the centre), while $y_{k+1} = (1 + 6\eta x_k)\,y_k$ grows by
# $\prod_k (1 + 2/k) \sim k^2$: *polynomially*. From $y_0 = 10^{-8}$, where $x^2 - y^2$ is left in
# 98 steps, SGD is still within the radius after 2,000.

# %%
assert np.hypot(*get_surface("monkey").grad(0.0, 0.0)) == 0.0, "the centre is a critical point"
monkey_eig = np.linalg.eigvalsh(hessian(get_surface("monkey"), 0.0, 0.0))
assert np.abs(monkey_eig).max() < 1e-8, "the monkey saddle is degenerate: its Hessian vanishes too"
slow = run_trajectory("monkey", "sgd", (0.3, 1e-8), 2000, lr=ETA).positions
print(f"monkey from (0.3, 1e-8): k·x_k at k = 1000, 2000: {1000 * slow[1000, 0]:.3f}, {2000 * slow[2000, 0]:.3f} "
      f"(1/(3η) = {1 / (3 * ETA):.3f}); y_k/k²: {slow[1000, 1] / 1000**2:.3e}, {slow[2000, 1] / 2000**2:.3e}")
assert escape_step(run_trajectory("saddle", "sgd", (0.3, 1e-8), 300, lr=ETA), R) == escape_formula(1e-8) == 98
assert np.hypot(*slow[-1]) < R, "on the monkey saddle, from y0 = 1e-8, SGD has not escaped after 2000 steps"
assert abs(1000 * slow[1000, 0] * 3 * ETA - 1) < 0.05, "x_k ≈ 1/(3ηk): a harmonic crawl"
assert abs(slow[2000, 1] / 2000**2 / (slow[1000, 1] / 1000**2) - 1) < 0.05, "y_k grows like k², not geometrically"

# %% [markdown]
# **The flat saddle** separates the methods. Near its centre the gradient is
# $(2\varepsilon x,\ -2\varepsilon y)$, here $\approx (10^{-3},\ -2\cdot10^{-6})$. SGD multiplies
# $y$ by $1 + 2\varepsilon\eta = 1.0002$ per step, so leaving $r = 1$ takes about
# $\ln(1/10^{-3})/\ln(1.0002) \approx 34{,}500$ steps; momentum and Nesterov, at the same
# long-run rate, are no faster. The adaptive methods divide each coordinate's gradient by a
# running size of *that coordinate's own* gradients:
#
# $$\text{AdaGrad: } \Delta\theta_i = -\eta\,\frac{g_i}{\sqrt{\textstyle\sum_{s\le k} g_{s,i}^2} + \delta},
#   \qquad \text{RMSprop/Adam: } \Delta\theta_i \approx -\eta\,\frac{g_i}{\sqrt{\overline{g_i^2}}}.$$
#
# A coordinate whose gradient has been consistently tiny is divided by something equally tiny,
# so its step is of order $\eta$, the same as a coordinate with a large gradient: the *size* of
# the gradient drops out, only its sign and its consistency remain. On the first step
# AdaGrad moves $y$ by $\eta\,|g|/(|g| + \delta) \approx \eta$ (as long as $|g| \gg \delta =
# 10^{-8}$), SGD by $\eta\,|g| = 2\cdot10^{-7}$.
#
# In `04_flat_saddle.png`, SGD, momentum and Nesterov have hardly left their start at
# $(0.5, 0.001)$ after 300 steps (their lines hide one another there), `layer_sgd` has slid along
# $x$ but not up, and the adaptive methods have all turned up towards the minimum at $(0, 2)$.

# %%
flat = get_surface("flat_saddle")
first_dy = {n: runs["flat_saddle"][n].positions[1, 1] - runs["flat_saddle"][n].positions[0, 1] for n in NAMES}
print("first step in y on flat_saddle:", {n: f"{v:.3g}" for n, v in first_dy.items()})
y0_flat = flat.escape_start[1]
sgd_formula = math.log(flat.escape_radius / y0_flat) / math.log(1 + 2 * FLAT_EPS * ETA)
print(f"SGD's linearised escape estimate on flat_saddle: {sgd_formula:,.0f} steps")

assert abs(first_dy["adagrad"] / hyperparams_for("adagrad", flat)["lr"] - 1) < 0.01, "AdaGrad's first step is ≈ lr"
assert abs(first_dy["sgd"] - ETA * 2 * FLAT_EPS * y0_flat) < 1e-12, "SGD's first step is η·|g_y| = 2e-7"
for name in ("sgd", "momentum", "nesterov"):
    assert table[name]["flat_saddle"] is None, f"{name} stays within r = 1 of the flat saddle for {STEPS} steps"
assert table["adagrad"]["flat_saddle"] <= 40, "AdaGrad (lr 0.1) escapes the flat saddle within 40 steps"
for name in ("rmsprop", "adam", "wame"):
    assert table[name]["flat_saddle"] <= 120, f"{name} escapes the flat saddle within 120 steps"
y_sgd = runs["flat_saddle"]["sgd"].positions[-1, 1]
assert abs(y_sgd / (y0_flat * (1 + 2 * FLAT_EPS * ETA) ** STEPS) - 1) < 1e-3, "SGD's y grows by 1.0002 per step"

if not FAST:  # 40,000 steps of SGD: a few seconds
    long_sgd = run_trajectory(flat, "sgd", flat.escape_start, 40_000, lr=ETA)
    k_long = escape_step(long_sgd, flat.escape_radius)
    print(f"SGD on flat_saddle, run for 40,000 steps: escapes at step {k_long:,} (linearised estimate "
          f"{sgd_formula:,.0f}; the quartic term, which flattens the slope as |y| nears 2, makes it later)")
    assert sgd_formula < k_long < 1.05 * sgd_formula, "SGD escapes a little after the linearised estimate"
else:
    print("fast mode: the 40,000-step SGD run is skipped; its y after 300 steps matched the growth rate above")

# %% [markdown]
# ## 3. Layer-specific rates near a saddle
#
# Singh et al. (2015, eq. 9; tutorial 5) multiply the rate of layer $l$ by
# $1 + \ln(1 + 1/\lVert g_l\rVert_2)$. The lab gives $x$ and $y$ a parameter group each, so
# `layer_sgd` treats them as two layers. Near a saddle the escaping direction's gradient is
# small, so its factor is large: on $x^2 - y^2$ at $y = 10^{-3}$, $\lVert g_y\rVert = 2\cdot10^{-3}$
# and the factor is $1 + \ln 501 \approx 7.2$, so $y$ grows by $1 + 2\eta\cdot 7.2 \approx 2.4$
# per step instead of $1.2$. The factor only scales the step, so the path's *direction* per
# layer is SGD's; the factor grows as $\ln(1/\lVert g\rVert)$, a logarithmic help.

# %%
layer = runs["saddle"]["layer_sgd"]
factors = layer.rates / TOY_HYPERPARAMS["layer_sgd"]["lr"]
print(f"layer_sgd on saddle: factor on y at step 1 = {factors[0, 1]:.2f}, on x = {factors[0, 0]:.2f}")
print(f"escape steps, sgd vs layer_sgd: saddle {table['sgd']['saddle']} vs {table['layer_sgd']['saddle']}, "
      f"monkey {table['sgd']['monkey']} vs {table['layer_sgd']['monkey']}")
np.testing.assert_allclose(factors, singh_factor(layer.grad_norms), rtol=1e-9,
                           err_msg="the effective rate per layer is lr · (1 + ln(1 + 1/‖g_l‖))")
assert abs(factors[0, 1] - (1 + math.log(501))) < 1e-3, "factor 1 + ln 501 at ‖g_y‖ = 2e-3"
assert table["layer_sgd"]["saddle"] < table["sgd"]["saddle"], "layer_sgd escapes x² − y² before sgd"

# %% [markdown]
# On the flat saddle $\lVert g_y\rVert \approx 2\cdot10^{-6}$ gives a factor of about 14: the
# escape is about ten times faster than SGD's, and still a crawl next to the adaptive methods.
#
# One side effect: the factor grows on the $x$ layer too, as $x \to 0$. Started on the stable
# manifold, `layer_sgd` keeps $y = 0$ exactly (it scales a zero gradient), but $x$ is multiplied
# by $1 - 2\eta\,\phi$. Once $\phi > 1/(2\eta) = 5$ the step overshoots 0, and once
# $\phi > 1/\eta = 10$ the overshoot is larger than $|x|$ itself. So $x$ shrinks until
# $\phi = 10$ and settles there, in a 2-cycle $\pm x^\ast$ with $1 + \ln(1 + 1/(2|x^\ast|)) = 10$, i.e.
# $|x^\ast| = 1/(2(e^9 - 1)) \approx 6.2\cdot10^{-5}$: near the saddle, not at it.

# %%
layer_flat = run_trajectory(flat, "layer_sgd", flat.escape_start, 5000, lr=ETA)
k_layer_flat = escape_step(layer_flat, flat.escape_radius)
print(f"layer_sgd on flat_saddle: factor on y at step 1 = {layer_flat.rates[0, 1] / ETA:.2f}, escape at step "
      f"{k_layer_flat} ({sgd_formula / k_layer_flat:.1f} times sooner than SGD's estimate)")
assert 5 < sgd_formula / k_layer_flat < 20, "layer_sgd leaves the flat saddle about ten times sooner than SGD"
assert k_layer_flat > 10 * table["adam"]["flat_saddle"], "but far later than the adaptive methods"

manifold_layer = run_trajectory("saddle", "layer_sgd", (1.0, 0.0), 300, lr=ETA).positions
x_star = 1 / (2 * math.expm1(1 / ETA - 1))
print(f"layer_sgd from (1, 0): max |y| = {np.abs(manifold_layer[:, 1]).max()}, "
      f"x ends at ±{abs(manifold_layer[-1, 0]):.4e} (predicted ±{x_star:.4e})")
assert np.all(manifold_layer[:, 1] == 0.0), "layer_sgd cannot leave the stable manifold either"
assert abs(abs(manifold_layer[-1, 0]) / x_star - 1) < 1e-3 and manifold_layer[-1, 0] * manifold_layer[-2, 0] < 0

# %% [markdown]
# ## 4. A network starts next to a saddle
#
# None of this needs a toy. A network without biases whose weights are all zero sits on a
# saddle: every hidden unit outputs $\tanh(0) = 0$, so the gradient of the output weights is 0,
# and the gradient of the input weights is multiplied by the output weights, also 0. Yet the loss
# falls along directions that grow both layers together, as in the scalar net $(1 - xy)^2$
# (surface `two_layer`). A small initialisation starts next to it.
#
# `train_network_paths` trains a 4 → 8 → 1 tanh net, weights $\sim N(0, 0.01^2)$, full batch on
# a fixed teacher-generated regression set, with several optimizers from the same start, and
# projects the weight paths onto the plane of their two main directions (PCA relative to the best
# final point, Li et al. 2018); `plot_network_paths` draws the loss in that plane. The plane holds
# only part of the paths (the title says how much), so the contour is the loss *in the plane*.

# %%
NET_STEPS = 100 if FAST else 300
net = train_network_paths(["sgd", "nesterov", "adagrad", "adam", "wame", "layer_sgd"], steps=NET_STEPS, seed=0)
png = plot_network_paths(net, _common.OUT / "04_network_paths.png", grid=21 if FAST else 41)
print(f"figure saved: {png}")
print(f"the PCA plane holds {100 * net.explained:.1f} % of the paths' variance")
print(f"{'optimizer':>10} {'loss at 0':>10} {'at 10':>8} {'at end':>8}")
for name, losses in net.losses.items():
    print(f"{name:>10} {losses[0]:10.4f} {losses[10]:8.4f} {losses[-1]:8.4f}")
start_loss = net.losses["sgd"][0]
assert net.losses["sgd"][10] > 0.95 * start_loss, "SGD spends its first 10 steps on the plateau near the saddle"
for name in ("adagrad", "layer_sgd"):
    assert net.losses[name][10] < 0.5 * start_loss, f"{name} has left the plateau within 10 steps"
assert all(losses[-1] < start_loss / 5 for losses in net.losses.values()), "every optimizer leaves it eventually"
assert net.losses["wame"][10] > 0.95 * start_loss, "WAME (lr 1e-3), fastest off flat_saddle, is slow here"

# %% [markdown]
# ## 5. The caveat: toy surfaces do not rank optimizers
#
# Every number above belongs to one stated setting per optimizer, chosen so that all of them
# behave on all the toys, not tuned per surface, and nothing here has noise, many dimensions
# or layers of different scales. A rate is part of a method's setting, and changing it can
# reorder the table. AdaGrad's step in the escaping direction shrinks like $\eta/\sqrt{k}$ (its
# denominator only grows), so the time to leave a ball grows like $(r/\eta)^2$: at $\eta = 0.01$,
# Adam's rate, AdaGrad no longer escapes the flat saddle within 300 steps, and Adam comes first.
# (Measured: 1,355 steps at $\eta = 0.01$ against 18 at $0.1$, about 75 times more for a ten
# times smaller rate: the order of the predicted 100.) The network of section 4 reorders things
# too: WAME, the fastest off the flat saddle, is as slow as SGD in the network's first steps.

# %%
adagrad_small = escape_step(run_trajectory(flat, "adagrad", flat.escape_start, 2000, lr=0.01), flat.escape_radius)
print(f"flat_saddle escape steps: adagrad lr 0.1 → {table['adagrad']['flat_saddle']}, adagrad lr 0.01 → "
      f"{adagrad_small}, adam lr 0.01 → {table['adam']['flat_saddle']}")
print("caveat:", CAVEAT)
assert adagrad_small is not None and adagrad_small > STEPS, "AdaGrad at lr 0.01 needs more than 300 steps"
assert table["adagrad"]["flat_saddle"] < table["adam"]["flat_saddle"] < adagrad_small, (
    "whether AdaGrad beats Adam on the flat saddle depends on AdaGrad's rate"
)
assert CAVEAT in format_escape_table(table, STEPS), "the printed table carries the caveat"

# %% [markdown]
# ## The animation
#
# In full mode the trajectories on the flat saddle are also written as an animated GIF (slow to
# render, so fast mode skips it).

# %%
if not FAST:
    gif = animate_trajectories(list(runs["flat_saddle"].values()), flat, _common.OUT / "04_flat_saddle.gif",
                               frames=40)
    print(f"animation saved: {gif}")
else:
    print("fast mode: the GIF is skipped")

# %% [markdown]
# ## What we saw
#
# - At a strict saddle, gradient descent from exactly the stable manifold converges to the
#   saddle; from $y_0 \ne 0$ it leaves after $\lceil\ln(r/|y_0|)/\ln(1+2\eta)\rceil$ steps, and
#   minigrad's `SGD` matches that to the step.
# - A degenerate (monkey) saddle is escaped only polynomially; a flat one only at rate
#   $2\varepsilon\eta$ per step by gradient-proportional methods.
# - Adaptive methods normalise each coordinate's step, so a tiny gradient component still gives
#   a step of order the rate: they leave the flat saddle in tens of steps where SGD needs
#   ~35,000.
# - Singh et al.'s factor $1 + \ln(1 + 1/\lVert g_l\rVert)$ is largest where gradients are
#   smallest; near a saddle it helps, logarithmically.
# - A small-initialised network starts next to a saddle too: SGD sits on a plateau for its first
#   steps, AdaGrad and `layer_sgd` leave it at once (WAME, at its small rate, does not).
# - All of it under one stated setting per method: toy surfaces do not rank optimizers.

# %%
print(f"tutorial ran in {time.perf_counter() - START:.1f} s")
