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
# # 3. The classic optimizers, and Dozat's hyperalgorithm
#
# Tutorial 2 trained LeNet with one line we did not open: `optimizer.step()`. This tutorial
# opens it. It shows:
#
# 1. the nine classic update rules (SGD, momentum, Nesterov, AdaGrad, RMSprop, AdaDelta, Adam,
#    Adamax, Nadam), each beside its equation, each run with minigrad's real optimizer class on
#    the ill-conditioned quadratic $f(x, y) = 0.1\,x^2 + 2\,y^2$;
# 2. a figure: the nine trajectories on the contours of $f$, and the loss per step;
# 3. **Dozat's hyperalgorithm** (*Optimizing CNNs*, 2016, Algorithm 1): one update rule with a
#    few switches, of which eight of the nine are settings. We check it numerically: with the
#    right switches, `optimizers.Dozat` retraces SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam,
#    Adamax and Nadam **step for step**.
#
# A warning before the pictures: **a toy problem does not rank optimizers**. Each rate below
# was picked by hand to make a readable picture; a two-dimensional quadratic has no noise, no
# saddle points, no layers with different scales. Dozat's own introduction makes the point:
# one algorithm cannot be called categorically better for non-convex objectives. The plots
# show *how* each rule moves, not which one to use.

# %%
import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

from minigrad import Parameter, Tensor
from optimizers import SGD, AdaDelta, AdaGrad, Adam, Adamax, Dozat, Momentum, Nadam, Nesterov, RMSprop
from optimizers.dozat import decay_schedule

print("fast mode:", _common.FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## The problem
#
# $$f(\theta) = 0.1\,x^2 + 2\,y^2, \qquad \nabla f = (0.2\,x,\ 4\,y), \qquad
#   H = \mathrm{diag}(0.2,\ 4).$$
#
# The curvature differs twenty-fold between the two directions (condition number
# $\kappa = 20$). Plain gradient descent is stable only for a rate $\eta < 2/4 = 0.5$, set by
# the steep $y$ direction, and at such a rate it crawls along the shallow $x$ direction, whose
# error shrinks by $1 - 0.2\,\eta$ per step. Every method below is a different answer to that
# tension: remember past gradients (momentum), or rescale each coordinate (adaptive rates).
#
# The parameter is a minigrad `Parameter` $\theta = (x, y)$, the loss is built from Tensors,
# and every step is the training loop of tutorial 2: `zero_grad`, `backward`, `step`. The
# problem is deterministic, so fast mode changes nothing here.

# %%
CURVATURE = Tensor(np.array([0.1, 2.0]))
START = (-8.0, 1.5)
STEPS = 150


def f(theta: Tensor) -> Tensor:
    return (CURVATURE * theta * theta).sum()


def run(make_optimizer, steps: int = STEPS) -> np.ndarray:
    """The path theta_0, theta_1, ..., theta_steps of an optimizer started at START."""
    theta = Parameter(np.array(START))  # a float64 array stays float64
    optimizer = make_optimizer([theta])
    path = [theta.data.copy()]
    for _ in range(steps):
        loss = f(theta)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        path.append(theta.data.copy())
    return np.array(path)


def loss_along(path: np.ndarray) -> np.ndarray:
    return 0.1 * path[:, 0] ** 2 + 2 * path[:, 1] ** 2


paths: dict[str, np.ndarray] = {}


def report(name: str) -> None:
    losses = loss_along(paths[name])
    print(f"{name}: f = {losses[0]:.2f} at the start, {losses[10]:.3g} after 10 steps, "
          f"{losses[-1]:.3g} after {STEPS}")


# %% [markdown]
# ## 1. SGD
#
# $$\theta_{t} = \theta_{t-1} - \eta\, g_t, \qquad g_t = \nabla f(\theta_{t-1}).$$
#
# With $\eta = 0.4$ the $y$ error is multiplied by $1 - 4\eta = -0.6$ per step (it zigzags),
# the $x$ error by $1 - 0.2\eta = 0.92$ (it crawls).

# %%
paths["SGD"] = run(lambda ps: SGD(ps, lr=0.4))
report("SGD")
assert np.allclose(paths["SGD"][1], [-8.0 * 0.92, 1.5 * -0.6]), "one SGD step multiplies (x, y) by (0.92, -0.6)"

# %% [markdown]
# ## 2. Classical momentum
#
# Keep a velocity, a decaying sum of past steps (Polyak 1964; written as Caffe and Singh et al.
# 2015, eq. 6, with the rate inside the velocity):
#
# $$v_t = \mu\, v_{t-1} - \eta\, g_t, \qquad \theta_t = \theta_{t-1} + v_t.$$
#
# Along a direction where the gradient keeps its sign, the steps add up to
# $\eta/(1-\mu)$ times the gradient, ten times SGD's for $\mu = 0.9$; where it flips, they
# cancel.

# %%
paths["Momentum"] = run(lambda ps: Momentum(ps, lr=0.05, momentum=0.9))
report("Momentum")

# %% [markdown]
# ## 3. Nesterov's accelerated gradient
#
# Take the gradient where momentum is about to carry you (Sutskever et al. 2013):
#
# $$v_t = \mu\, v_{t-1} - \eta\, \nabla f(\theta_{t-1} + \mu\, v_{t-1}), \qquad
#   \theta_t = \theta_{t-1} + v_t.$$
#
# minigrad (like Caffe) stores the look-ahead point $\phi = \theta + \mu v$ as the parameter,
# so it needs the gradient only at the stored point: with $h = -v$,
# $h_t = \mu h_{t-1} + \eta\, g_t$ and $\phi_t = \phi_{t-1} - \big((1 + \mu)\,h_t - \mu\, h_{t-1}\big)$.

# %%
paths["Nesterov"] = run(lambda ps: Nesterov(ps, lr=0.05, momentum=0.9))
report("Nesterov")

# %% [markdown]
# ## 4. AdaGrad
#
# Give every coordinate its own rate, divided by the root of the sum of its squared gradients
# (Duchi et al. 2011; Singh et al. eq. 8):
#
# $$H_t = H_{t-1} + g_t^2, \qquad \theta_t = \theta_{t-1} - \eta\,\frac{g_t}{\sqrt{H_t} + \delta}.$$
#
# (Squares, roots and divisions are element-wise.) The first step is $\eta\,g/|g|$: the same
# length in both coordinates, whatever their curvature. The sum only grows, so the rates only
# shrink.

# %%
paths["AdaGrad"] = run(lambda ps: AdaGrad(ps, lr=1.0))
report("AdaGrad")
assert np.allclose(paths["AdaGrad"][1] - paths["AdaGrad"][0], [1.0, -1.0], atol=1e-6), (
    "AdaGrad's first step is lr * sign(g) in every coordinate"
)

# %% [markdown]
# ## 5. RMSprop
#
# Replace AdaGrad's sum with a decaying mean, so old gradients are forgotten (Tieleman &
# Hinton 2012; Mosca & Magoulas 2017, eq. 1):
#
# $$v_t = \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2, \qquad
#   \theta_t = \theta_{t-1} - \eta\,\frac{g_t}{\sqrt{v_t} + \varepsilon}, \qquad \alpha = 0.9.$$
#
# The step stays about $\eta$ long even near the minimum, where the gradient is small: with a
# constant rate RMSprop ends up hovering in a neighbourhood of size $\sim\eta$ of the minimum.

# %%
paths["RMSprop"] = run(lambda ps: RMSprop(ps, lr=0.1))
report("RMSprop")

# %% [markdown]
# ## 6. AdaDelta
#
# Zeiler (2012) asks that the step have the units of $\theta$ and drops the rate altogether:
# the numerator is a running RMS of past *steps*,
#
# $$E[g^2]_t = \rho\,E[g^2]_{t-1} + (1-\rho)\,g_t^2, \qquad
#   \Delta_t = -\frac{\sqrt{E[\Delta^2]_{t-1} + \varepsilon}}{\sqrt{E[g^2]_t + \varepsilon}}\; g_t,$$
#
# $$E[\Delta^2]_t = \rho\,E[\Delta^2]_{t-1} + (1-\rho)\,\Delta_t^2, \qquad
#   \theta_t = \theta_{t-1} + \Delta_t, \qquad \rho = 0.95,\ \varepsilon = 10^{-6}.$$
#
# At the first step $E[\Delta^2] = 0$ and $E[g^2] = (1-\rho)\,g^2$, so every coordinate moves
# by about $\sqrt{\varepsilon/(1-\rho)} \approx 4.5\cdot 10^{-3}$, whatever the gradient. Steps
# then grow only as the numerator accumulates its own history: on this problem, with the
# paper's settings, AdaDelta has barely started after 150 steps.

# %%
paths["AdaDelta"] = run(lambda ps: AdaDelta(ps))  # lr = 1: the paper's rule, no rate
report("AdaDelta")
first = np.abs(paths["AdaDelta"][1] - paths["AdaDelta"][0])
print("AdaDelta's first step, per coordinate:", first)
assert np.allclose(first, np.sqrt(1e-6 / (1 - 0.95)), rtol=1e-3), "the first step is sqrt(eps / (1 - rho))"

# %% [markdown]
# ## 7. Adam
#
# Momentum on the raw gradient plus RMSprop's divisor, both as decaying means corrected for
# their zero start (Kingma & Ba 2015, Algorithm 1):
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,$$
#
# $$\hat m_t = \frac{m_t}{1-\beta_1^t}, \qquad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
#   \theta_t = \theta_{t-1} - \alpha\,\frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon},
#   \qquad \beta_1 = 0.9,\ \beta_2 = 0.999.$$

# %%
paths["Adam"] = run(lambda ps: Adam(ps, lr=0.3))
report("Adam")

# %% [markdown]
# ## 8. Adamax
#
# Adam with the $L_\infty$ norm in place of the $L_2$ norm (Kingma & Ba, Algorithm 2): the
# divisor is a decaying maximum, which needs no bias correction and no $\varepsilon$:
#
# $$u_t = \max(\beta_2\, u_{t-1},\ |g_t|), \qquad
#   \theta_t = \theta_{t-1} - \frac{\alpha}{1-\beta_1^t}\,\frac{m_t}{u_t}.$$

# %%
paths["Adamax"] = run(lambda ps: Adamax(ps, lr=0.3))
report("Adamax")

# %% [markdown]
# ## 9. Nadam
#
# Nesterov's look-ahead inside Adam (Dozat 2016): apply the *next* step's momentum now. With
# the warming schedule $\mu_t = \beta_1\,(1 - \tfrac12\, 0.96^{\,t/250})$ and
# $P_t = \prod_{i \le t}\mu_i$,
#
# $$m_t = \mu_t\, m_{t-1} + (1 - \mu_t)\, g_t, \qquad
#   \bar m_t = \frac{\mu_{t+1}\, m_t}{1 - P_{t+1}} + \frac{(1-\mu_t)\, g_t}{1 - P_t},$$
#
# $$\theta_t = \theta_{t-1} - \alpha\,\frac{\bar m_t}{\sqrt{v_t / (1-\beta_2^t)} + \varepsilon},
#   \qquad v_t \text{ as in Adam}.$$

# %%
paths["Nadam"] = run(lambda ps: Nadam(ps, lr=0.3))
report("Nadam")

# %% [markdown]
# ## The picture
#
# Each panel shows one trajectory (150 steps from $(-8, 1.5)$, the minimum is at the origin) on
# the contours of $f$; the last panel shows $f$ per step for all nine on a log scale. Look for
# SGD's zigzag along $y$ and crawl along $x$; momentum's overshoot; the adaptive methods'
# first steps at 45° (equal length in both coordinates); RMSprop hovering; AdaDelta's slow
# start.

# %%
NAMES = list(paths)
xs, ys = np.meshgrid(np.linspace(-9, 3, 200), np.linspace(-2.5, 2.5, 200))
levels = np.geomspace(0.01, 20, 12)
colors = plt.cm.tab10(np.arange(len(NAMES)))

fig = plt.figure(figsize=(18, 6.5))
grid = fig.add_gridspec(3, 4, width_ratios=[1, 1, 1, 1.4])
for i, name in enumerate(NAMES):
    ax = fig.add_subplot(grid[i // 3, i % 3])
    ax.contour(xs, ys, 0.1 * xs**2 + 2 * ys**2, levels=levels, colors="0.75", linewidths=0.7)
    p = paths[name]
    ax.plot(p[:, 0], p[:, 1], "-o", color=colors[i], ms=2, lw=1)
    ax.plot(*START, "k^", ms=6)
    ax.plot(0, 0, "k*", ms=8)
    ax.set(xlim=(-9, 3), ylim=(-2.5, 2.5), title=name, aspect="equal")  # equal scales: 45° looks like 45°
    ax.set_xticks([])
    ax.set_yticks([])
ax = fig.add_subplot(grid[:, 3])
for i, name in enumerate(NAMES):
    ax.semilogy(loss_along(paths[name]), color=colors[i], label=name)
ax.set(xlabel="step", ylabel=r"$f(\theta_t)$", ylim=(1e-12, 30),
       title="loss per step (hand-picked rates: not a ranking)")
ax.legend(ncol=3, fontsize=9)
fig.tight_layout()
_common.savefig(fig, "03_classic_optimizers")

final = {name: loss_along(paths[name])[-1] for name in NAMES}
assert all(np.isfinite(v) for v in final.values()), "no optimizer diverged"
assert all(final[n] < 1e-2 for n in NAMES if n not in ("AdaDelta", "RMSprop")), (
    "with these rates, all but AdaDelta (slow start) and RMSprop (hovers) get f below 0.01 in 150 steps"
)
assert final["AdaDelta"] > 1.0, "AdaDelta with the paper's settings has barely started"

# %% [markdown]
# ## Dozat's hyperalgorithm
#
# Dozat (2016, §2–3) observes that these rules differ only in a few binary choices, and writes
# one algorithm whose braces $\{a \text{ or } b\}$ are switches (Algorithm 1). With
# $\alpha_t$ the (annealed) rate, $\mu_t$ and $\nu_t$ decay schedules, $p$ a norm:
#
# $$\begin{aligned}
# h_t &\leftarrow \{\nabla f_t(\theta_{t-1}) \text{ or } H_t u,\ u \sim \mathcal N(0, I)\} \\
# v_t &\leftarrow \nu_t\, v_{t-1} + \{(1-\nu_t) \text{ or } 1\}\; h_t^p \\
# \bar v_t &\leftarrow \sqrt[p]{v_t} + \varepsilon \\
# g_t &\leftarrow \{1 \text{ or } \alpha_t / \bar v_t\}\; \nabla f_t(\theta_{t-1}) \\
# m_t &\leftarrow \mu_t\, m_{t-1} + \{(1-\mu_t) \text{ or } 1\}\; g_t \\
# \bar m_t &\leftarrow \{\mu_{t+1}\, m_t + \{(1-\mu_t) \text{ or } 1\}\, g_t \text{ or } m_t\} \\
# \Delta_t &\leftarrow \{\alpha_t / \bar v_t \text{ or } 1\}\; \bar m_t \\
# \theta_t &\leftarrow \theta_{t-1} - \Delta_t
# \end{aligned}$$
#
# `optimizers.Dozat` names the switches:
#
# * `momentum`: `"none"` ($\bar m_t = g_t$), `"classical"` ($\bar m_t = m_t$), `"nesterov"`
#   ($\bar m_t = \mu_{t+1} m_t + w\, g_t$: Nesterov's look-ahead);
# * `scaled`: whether the momentum accumulates the *scaled* step $\alpha_t g/\bar v_t$ (classical
#   momentum, Caffe) or the raw gradient, scaling afterwards (Adam);
# * `momentum_accumulator`: a decaying `"sum"` ($w = 1$) or `"mean"` ($w = 1 - \mu_t$);
# * `accumulator`: no divisor (`"none"`, $\bar v = 1$), a true `"sum"` (AdaGrad) or a decaying
#   `"mean"` (RMSprop, Adam); `norm` $p \in \{1, 2, \infty\}$ ($p = \infty$ is the decaying max);
# * `mu_schedule`, `nu_schedule`: `"constant"`, or `"bias_correction"`
#   $\mu_t = \mu\,(1 - \mu^{t-1})/(1-\mu^t)$, or `"nadam"` (the warming schedule, corrected),
#   among others.
#
# The bias-correction schedule is Dozat's reading of Adam's $\hat m_t$: a decaying mean with
# $\mu_1 = 0$ gives the first gradient full weight, the second about half, and so on; it
# equals dividing by $1 - \mu^t$.

# %%
mus = [decay_schedule("bias_correction", 0.9, t) for t in range(1, 6)]
print("bias-corrected mu_t for mu = 0.9, t = 1..5:", np.round(mus, 4))
print("weight of the newest gradient, 1 - mu_t:   ", np.round(1 - np.array(mus), 4))
assert mus[0] == 0.0, "mu_1 = 0: the first update uses all of the first gradient"
assert abs((1 - mus[1]) - 1 / 1.9) < 1e-12, "the second uses 1/(1 + 0.9) of the second gradient"

# %% [markdown]
# Now the settings. The table (from `optimizers/dozat.py`) gives the switches that turn the
# hyperalgorithm into each named optimizer; every other switch keeps no effect.
#
# | optimizer | momentum | scaled | mom. acc. | $\mu$ schedule | accumulator | $p$ | $\nu$ schedule |
# |---|---|---|---|---|---|---|---|
# | SGD | none | | | | none | | |
# | Momentum (Caffe) | classical | yes | sum | constant | none | | |
# | Nesterov (Caffe) | nesterov | yes | sum | constant | none | | |
# | AdaGrad | none | | | | sum | 2 | |
# | RMSprop | none | | | | mean | 2 | constant ($\nu = \alpha$) |
# | Adam | classical | no | mean | bias correction | mean | 2 | bias correction |
# | Adamax | classical | no | mean | bias correction | mean | $\infty$ | constant |
# | Nadam | nesterov | no | mean | nadam | mean | 2 | bias correction |
#
# We run each one on the quadratic again, once as the named class (the paths above) and once
# as `Dozat` with those switches and the same rate, and compare the two trajectories point by
# point. (AdaDelta is not a setting: its numerator, the running RMS of past steps, has no
# counterpart in Algorithm 1.)

# %%
MOMENTUM = {"momentum": "classical", "scaled": True, "momentum_accumulator": "sum", "mu": 0.9,
            "mu_schedule": "constant", "accumulator": "none"}
ADAM = {"momentum": "classical", "scaled": False, "momentum_accumulator": "mean", "mu": 0.9,
        "mu_schedule": "bias_correction", "accumulator": "mean", "norm": 2, "nu": 0.999,
        "nu_schedule": "bias_correction", "eps": 1e-8}
SETTINGS = {
    "SGD": (0.4, {"momentum": "none", "accumulator": "none"}),
    "Momentum": (0.05, MOMENTUM),
    "Nesterov": (0.05, {**MOMENTUM, "momentum": "nesterov"}),
    "AdaGrad": (1.0, {"momentum": "none", "accumulator": "sum", "norm": 2, "eps": 1e-8}),
    "RMSprop": (0.1, {"momentum": "none", "accumulator": "mean", "norm": 2, "nu": 0.9, "nu_schedule": "constant",
                      "eps": 1e-8}),
    "Adam": (0.3, ADAM),
    "Adamax": (0.3, {**ADAM, "norm": float("inf"), "nu_schedule": "constant", "eps": 0.0}),
    "Nadam": (0.3, {**ADAM, "momentum": "nesterov", "mu_schedule": "nadam"}),
}
dozat_paths = {}
for name, (lr, switches) in SETTINGS.items():
    dozat_paths[name] = run(lambda ps, lr=lr, switches=switches: Dozat(ps, lr=lr, **switches))
    gap = np.abs(dozat_paths[name] - paths[name]).max()
    print(f"{name:9s} = Dozat({', '.join(f'{k}={v}' for k, v in switches.items())})\n"
          f"{'':9s}   largest difference over {STEPS} steps: {gap:.1e}")
    np.testing.assert_allclose(dozat_paths[name], paths[name], rtol=1e-9, atol=1e-10,
                               err_msg=f"Dozat with {name}'s switches must retrace {name} step for step")

# %% [markdown]
# The differences are rounding: the same arithmetic, associated differently (for example
# $\alpha\,(m/\bar v)$ against $(\alpha/\bar v)\,m$).
#
# Two of Dozat's side remarks are also one-liners to check. Classical momentum as a decaying
# **sum** equals a decaying **mean** at the rate multiplied by $1/(1 - \mu)$ (§2.1); and with a
# constant rate, *scaled* and *unscaled* momentum (Caffe's form and torch's form) coincide.

# %%
mean_form = run(lambda ps: Dozat(ps, lr=0.05 / (1 - 0.9), **{**MOMENTUM, "momentum_accumulator": "mean"}))
unscaled = run(lambda ps: Dozat(ps, lr=0.05, **{**MOMENTUM, "scaled": False}))
np.testing.assert_allclose(mean_form, paths["Momentum"], rtol=1e-9, atol=1e-12,
                           err_msg="a decaying sum at rate eta = a decaying mean at rate eta / (1 - mu)")
np.testing.assert_allclose(unscaled, paths["Momentum"], rtol=1e-9, atol=1e-12,
                           err_msg="at a constant rate scaled and unscaled momentum agree")
print("decaying sum = decaying mean at rate / (1 - mu); scaled = unscaled momentum at a constant rate: both hold")

# %% [markdown]
# ## Beyond the named eight
#
# The switches also describe optimizers nobody had named. Dozat counts about 750 variants and
# tests some on a convolutional autoencoder; for instance Nesterov momentum on the unscaled
# gradient with a bias-corrected $L_2$ mean and $\nu = 0.9$ (`Dozat()`'s defaults), an $L_1$
# accumulator in place of $L_2$, or AdaGrad's true sum under Nesterov momentum. The figure
# shows three such variants beside Adam. As before, the picture says how they move, not
# whether they are any good: that takes real problems, as the paper's §4–5 and the next
# tutorials do.

# %%
variants = {
    "Adam (for reference)": paths["Adam"],
    "Dozat() defaults: NAG, unscaled, L2 mean, nu = 0.9": run(lambda ps: Dozat(ps, lr=0.3)),
    "L1 mean in place of L2": run(lambda ps: Dozat(ps, lr=0.3, norm=1)),
    "AdaGrad (sum) with Nesterov momentum": run(lambda ps: Dozat(ps, lr=0.3, accumulator="sum")),
}
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 4.5))
ax0.contour(xs, ys, 0.1 * xs**2 + 2 * ys**2, levels=levels, colors="0.75", linewidths=0.7)
for (label, p), color in zip(variants.items(), plt.cm.tab10(np.arange(4))):
    ax0.plot(p[:, 0], p[:, 1], "-o", ms=2, lw=1, color=color, label=label)
    ax1.semilogy(loss_along(p), color=color, label=label)
ax0.plot(*START, "k^", ms=6)
ax0.plot(0, 0, "k*", ms=8)
ax0.set(xlim=(-9, 3), ylim=(-2.5, 2.5), aspect="equal", title="settings of the hyperalgorithm, lr = 0.3")
ax1.set(xlabel="step", ylabel=r"$f(\theta_t)$", title="loss per step (not a ranking)")
ax1.legend(fontsize=9)
fig.tight_layout()
_common.savefig(fig, "03_hyperalgorithm_variants")
assert all(np.isfinite(loss_along(p)).all() for p in variants.values()), "every variant stays finite"

# %% [markdown]
# ## Summary
#
# * Each classic optimizer is a few lines: a momentum buffer, a per-coordinate divisor, or both.
# * On an ill-conditioned quadratic, SGD's rate is capped by the steepest direction; momentum
#   builds speed along the shallow one; adaptive methods equalise the coordinates' step sizes.
# * Dozat's hyperalgorithm contains SGD, momentum, Nesterov, AdaGrad, RMSprop, Adam, Adamax and
#   Nadam as settings, and `optimizers.Dozat` reproduces each of them step for step.
# * Toy trajectories illustrate mechanics; they do not rank optimizers.
#
# Next: [04_saddle_points.py](04_saddle_points.py) puts these methods where a quadratic
# bowl cannot: at a saddle point.
