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
# # 6. WAME: weight-wise adaptive learning rates
#
# Mosca & Magoulas (2017) take two ideas from earlier tutorials and put them together: Rprop's
# habit of growing a step while a weight's gradient keeps its sign and shrinking it when the
# sign flips, and RMSprop's division by a running average of squared gradients, which makes
# Rprop's sign trick usable on mini-batches. The result, **WAME** (Weight-wise Adaptive
# learning rates with Moving average Estimator), gives every weight its own *acceleration
# factor* $\zeta_{ij}$. This tutorial shows:
#
# 1. **Algorithm 1 beside the code**: the paper's box, `optimizers.WAME.update`, and a literal
#    NumPy transcription of the box that retraces the library step for step;
# 2. **θ versus √θ**: line 11 as printed divides by $\theta$ (a mean of $g^2$), the authors'
#    code divides by $\sqrt\theta$. On a one-weight example we check that the printed form's
#    step scales like $1/|g|$ and the root form's like $\operatorname{sign}(g)$;
# 3. **ζ per weight while LeNet-5 learns MNIST**: histograms of $\zeta$ at a few steps, the
#    fraction of weights pinned at $\zeta_{min}$ and $\zeta_{max}$, a few weights' traces, and
#    why most of them collapse to $\zeta_{min}$;
# 4. **a short MNIST training with both denominators**: the printed form needs a rate orders of
#    magnitude smaller, which we look for with a small sweep, and still trains worse.
#
# Every claim is checked by an `assert`. Fast mode (`MINIGRAD_FAST=1`) trains on a few
# hundred images for a few dozen steps; the checks that need a longer run say so.

# %%
import inspect
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import datasets
import layers
import minigrad
from minigrad import Parameter
from minigrad import functional as F
from optimizers import WAME

print("fast mode:", _common.FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. Algorithm 1, beside the code
#
# For every weight $w_{ij}$, with $g(t) = \partial E(t)/\partial w_{ij}$ the mini-batch
# gradient at step $t$ and $\lambda$ the learning rate (the paper's box, line by line):
#
# $$
# \begin{aligned}
# &\text{2:}\quad \theta_{ij}(0) = 0,\quad Z_{ij}(0) = 0,\quad \zeta_{ij} = 1\\
# &\text{4–5:}\quad \text{if } g(t)\,g(t-1) > 0:\ \ \zeta_{ij}(t) = \min\{\zeta_{ij}(t-1)\,\eta_+,\ \zeta_{max}\}\\
# &\text{6–7:}\quad \text{else if } g(t)\,g(t-1) < 0:\ \ \zeta_{ij}(t) = \max\{\zeta_{ij}(t-1)\,\eta_-,\ \zeta_{min}\}\\
# &\text{9:}\quad Z_{ij}(t) = \alpha Z_{ij}(t-1) + (1-\alpha)\,\zeta_{ij}(t)\\
# &\text{10:}\quad \theta_{ij}(t) = \alpha\,\theta_{ij}(t-1) + (1-\alpha)\,g(t)^2\\
# &\text{11:}\quad \Delta w_{ij}(t) = -\lambda\, Z_{ij}(t)\, g(t)\, \frac{1}{\theta_{ij}(t)}\\
# &\text{12:}\quad w_{ij}(t+1) = w_{ij}(t) + \Delta w_{ij}(t)
# \end{aligned}
# $$
#
# with the paper's $\alpha = 0.9$, $\eta_+ = 1.2$, $\eta_- = 0.1$, $\zeta_{min} = 0.01$,
# $\zeta_{max} = 100$. Three things to notice:
#
# * $\zeta$ follows Rprop's rule: it grows by 20 % while the gradient keeps its sign and drops
#   tenfold when it flips (and stays put when either gradient is exactly 0: line 8's implicit
#   *else*). It is *not* used directly: the update uses $Z$, its exponential moving average,
#   which smooths the jumps.
# * Line 11 as printed divides by $\theta$, a running mean of $g^2$. The authors' code divides
#   by $\sqrt{\theta} + \varepsilon$, which is RMSprop's normalisation. minigrad's default
#   (`denominator="sqrt"`) follows the code; `denominator="theta"` is the box as printed.
#   Section 2 shows why the difference matters.
# * minigrad compares with the previous **gradient**, as the box says (the authors' code
#   stores the parameter there by mistake).
#
# Here is minigrad's update for one weight array; each line is tagged with the box's line:

# %%
print(inspect.getsource(WAME.update))

# %% [markdown]
# To check that the code *is* the box, we transcribe the box literally, one weight at a time
# with plain Python floats and `if` statements, and run it beside `optimizers.WAME` on a
# small random problem whose gradients change sign now and then. Both denominators.

# %%
ALPHA, ETA_PLUS, ETA_MINUS, ZETA_MIN, ZETA_MAX = 0.9, 1.2, 0.1, 0.01, 100.0


def algorithm1(w0, gradient_of, lam, steps, denominator, eps=1e-11):
    """Algorithm 1, literally: loops over weights, Python floats. Returns the weights after each step."""
    w = [float(v) for v in w0]
    theta, Z, zeta, g_prev = [0.0] * len(w), [0.0] * len(w), [1.0] * len(w), [0.0] * len(w)  # line 2
    path = []
    for _ in range(steps):  # line 3
        g = [float(v) for v in gradient_of(np.array(w))]
        for i in range(len(w)):
            if g[i] * g_prev[i] > 0:  # line 4
                zeta[i] = min(zeta[i] * ETA_PLUS, ZETA_MAX)  # line 5
            elif g[i] * g_prev[i] < 0:  # line 6
                zeta[i] = max(zeta[i] * ETA_MINUS, ZETA_MIN)  # line 7
            Z[i] = ALPHA * Z[i] + (1 - ALPHA) * zeta[i]  # line 9
            theta[i] = ALPHA * theta[i] + (1 - ALPHA) * g[i] ** 2  # line 10
            root = theta[i] ** 0.5 if denominator == "sqrt" else theta[i]
            w[i] += -lam * Z[i] * g[i] / (root + eps)  # lines 11-12 (eps: the code's guard against 0)
            g_prev[i] = g[i]
        path.append(list(w))
    return np.array(path)


rng = np.random.default_rng(0)
scales = 10.0 ** rng.uniform(-2, 1, size=8)  # curvatures spread over three decades


def gradient_of(w):
    """Gradient of sum_i scales_i * (w_i^2 / 2 + cos(3 w_i)): bumpy, so signs flip at times."""
    return scales * (w - 3 * np.sin(3 * w))


w0 = rng.standard_normal(8)
for denominator, lam in (("sqrt", 0.05), ("theta", 0.002)):
    expected = algorithm1(w0, gradient_of, lam, steps=60, denominator=denominator)
    w = Parameter(w0.copy())
    opt = WAME([w], lr=lam, denominator=denominator)
    path = []
    for _ in range(60):
        w.grad = gradient_of(w.data)
        opt.step()
        path.append(w.data.copy())
    err = np.max(np.abs(np.array(path) - expected) / (1 + np.abs(expected)))
    print(f"denominator={denominator!r}: max relative difference over 60 steps {err:.1e}")
    assert err < 1e-12, f"optimizers.WAME retraces Algorithm 1 step for step ({denominator}, got {err:.1e})"

# %% [markdown]
# ## 2. θ or √θ: what the step looks like
#
# **The first step.** There is no previous gradient, so $\zeta$ stays 1; then
# $Z(1) = (1-\alpha)\cdot 1 = 0.1$ and $\theta(1) = 0.1\,g^2$, so
#
# $$
# \Delta w^{\sqrt\theta}(1) = -\lambda\,\frac{0.1\,g}{\sqrt{0.1\,g^2}} = -\lambda\sqrt{0.1}\;\operatorname{sign}(g),
# \qquad
# \Delta w^{\theta}(1) = -\lambda\,\frac{0.1\,g}{0.1\,g^2} = -\frac{\lambda}{g}.
# $$
#
# The root form takes a step of the same size whatever the gradient's scale: RMSprop's (and
# Rprop's) scale invariance. The printed form takes a step **inversely proportional** to the
# gradient: the flatter the loss, the longer the jump. It is not even invariant to the units
# of the loss: multiplying $E$ by 10 divides every step by 10. Its $\varepsilon = 10^{-11}$
# only guards $g = 0$: below $|g| \approx 10^{-5}$ it takes over and the step becomes
# $\lambda\cdot 0.1\,g/\varepsilon$, which at $g = 10^{-6}$ is still $10^4\lambda$.
#
# We measure the first step of a fresh optimizer on one weight for gradients from $10^{-7}$
# to $10^{2}$, and the step after 60 steps of a constant gradient (then $\zeta$ has grown to
# $\zeta_{max}$, $Z$ is close to it and $\theta$ to $g^2$): the shape is the same, scaled by
# $Z$.

# %%
LAM = 1e-3
grads = np.logspace(-7, 2, 37)


def steps_for_constant_gradient(g, denominator, n):
    """|Δw| at step n of a fresh WAME on one weight that sees the same gradient g at every step."""
    w = Parameter(np.zeros(1))
    opt = WAME([w], lr=LAM, denominator=denominator)
    for _ in range(n):
        before = w.data.copy()
        w.grad = np.array([g])
        opt.step()
    return float(abs(w.data - before)[0]), float(opt.state[w]["Z"][0])


first = {d: np.array([steps_for_constant_gradient(g, d, 1)[0] for g in grads]) for d in ("sqrt", "theta")}
later = {d: np.array([steps_for_constant_gradient(g, d, 60) for g in grads]) for d in ("sqrt", "theta")}

ok = grads >= 1e-3  # where eps is negligible against sqrt(theta) and theta
sqrt_ratio = first["sqrt"] / (LAM * np.sqrt(0.1))
theta_ratio = first["theta"] * grads / LAM
print(f"root form, first step / (λ√0.1): {sqrt_ratio[ok].min():.6f} .. {sqrt_ratio[ok].max():.6f}")
print(f"printed form, first step · |g| / λ: {theta_ratio[ok].min():.6f} .. {theta_ratio[ok].max():.6f}")
print(f"printed form at g = 1e-6: step {first['theta'][np.argmin(abs(grads - 1e-6))]:.3g} (λ = {LAM})")
assert np.allclose(sqrt_ratio[ok], 1, rtol=1e-4), "first step of the root form is λ·√0.1·sign(g), whatever |g|"
assert np.allclose(theta_ratio[ok], 1, rtol=1e-3), "first step of the printed form is λ/|g|: proportional to 1/|g|"
slope = np.polyfit(np.log10(grads[ok]), np.log10(first["theta"][ok]), 1)[0]
assert abs(slope + 1) < 1e-3, f"log-log slope of the printed form's step against |g| is -1 (got {slope:.4f})"

# The sign: a fresh optimizer on a few weights with mixed-sign gradients of very different sizes.
w = Parameter(np.zeros(5))
g = np.array([3.0, -0.02, 1e-4, -50.0, 0.7])
w.grad = g.copy()
WAME([w], lr=LAM).step()
print("gradients     ", g)
print("first steps   ", w.data, " = -λ√0.1·sign(g) =", -LAM * np.sqrt(0.1) * np.sign(g))
assert np.allclose(w.data, -LAM * np.sqrt(0.1) * np.sign(g), rtol=1e-6), "first step ≈ −λ·√0.1·sign(g)"

steps60 = {d: later[d][:, 0] / (LAM * later[d][:, 1]) for d in later}  # |Δw| / (λ Z) after 60 steps
assert np.allclose(steps60["sqrt"][ok], 1, rtol=1e-2), "with a constant gradient the root form's step is λ·Z·sign(g)"
assert np.allclose(steps60["theta"][ok] * grads[ok], 1, rtol=1e-2), "...and the printed form's λ·Z/|g|"

# %% [markdown]
# **A whole trajectory.** On the one-weight quadratic $E(w) = \tfrac12 w^2$ (so $g = w$),
# with no noise at all, both forms first rush towards 0 while the gradient keeps its sign.
# Then $\theta$, a running mean that forgets at rate $\alpha = 0.9$ per step, decays, the
# effective rate $\lambda Z/\sqrt\theta$ or $\lambda Z/\theta$ grows past the stability
# limit, and the weight starts to hop across the minimum. Each hop flips the sign, so
# $\zeta$ drops to $\zeta_{min}$ and $Z \to \zeta_{min}$; $\theta \to a^2$ for a hop
# between $\pm a$. Both forms end in such a **2-cycle**, and its size tells the two apart:
#
# $$
# \sqrt\theta:\ \ 2a = \lambda\zeta_{min}\frac{a}{\sqrt{a^2}} \Rightarrow a = \frac{\lambda\zeta_{min}}{2},
# \qquad
# \theta:\ \ 2a = \lambda\zeta_{min}\frac{a}{a^2} \Rightarrow a = \sqrt{\frac{\lambda\zeta_{min}}{2}}.
# $$
#
# With $\lambda = 0.01$: $5\cdot 10^{-5}$ for the root form (a sign step: the residual
# scales with $\lambda$, as in Rprop or signSGD), $7.1\cdot 10^{-3}$ for the printed one (a
# $1/|g|$ step: the closer the weight, the further it is thrown, and only $\sqrt\lambda$
# shrinks the residual). On the way the printed form is thrown from $|w| \approx 10^{-30}$
# back to $10^{-1}$ in a few dozen steps.

# %%
def quadratic_path(denominator, lam=0.01, steps=600):
    w = Parameter(np.array([1.0]))
    opt = WAME([w], lr=lam, denominator=denominator)
    path = []
    for _ in range(steps):
        w.grad = w.data.copy()  # dE/dw for E = w^2 / 2
        opt.step()
        path.append(abs(w.data[0]))
    return np.array(path)


paths = {d: quadratic_path(d) for d in ("sqrt", "theta")}
cycle = {"sqrt": 0.01 * ZETA_MIN / 2, "theta": np.sqrt(0.01 * ZETA_MIN / 2)}  # the 2-cycle amplitudes above
for d in paths:
    low = int(np.argmin(paths[d]))
    print(f"{d:5s}: closest approach |w| = {paths[d][low]:.2g} at step {low + 1}, then back out to "
          f"{paths[d][low:].max():.2g}; last 100 steps |w| = {paths[d][-100:].min():.4g}..{paths[d][-100:].max():.4g} "
          f"(2-cycle predicts {cycle[d]:.4g})")
    assert np.allclose(paths[d][-100:], cycle[d], rtol=0.02), f"{d}: WAME ends in the predicted 2-cycle"
assert paths["theta"][-1] > 100 * paths["sqrt"][-1], "the printed form's residual is over 100x the root form's"

fig, axes = plt.subplots(1, 3, figsize=(15, 4))
ax = axes[0]
ax.loglog(grads, first["sqrt"], "o-", ms=3, label=r"$\sqrt{\theta}$ (authors' code)")
ax.loglog(grads, first["theta"], "s-", ms=3, label=r"$\theta$ (line 11 as printed)")
ax.axhline(LAM * np.sqrt(0.1), color="gray", ls=":", label=r"$\lambda\sqrt{0.1}$")
ax.axvline(1e-5, color="gray", ls="--", lw=0.8)
ax.text(1.3e-5, 1e-3, r"$\varepsilon$ takes over", fontsize=8)
ax.set(xlabel="|gradient|", ylabel="|first step|", title=f"first step of a fresh WAME, λ = {LAM}")
ax.legend(fontsize=8)
ax = axes[1]
ax.loglog(grads, steps60["sqrt"], "o-", ms=3, label=r"$\sqrt{\theta}$")
ax.loglog(grads, steps60["theta"], "s-", ms=3, label=r"$\theta$")
ax.set(xlabel="|gradient|", ylabel=r"$|\Delta w| / (\lambda Z)$",
       title="step 60 of a constant gradient (divided by λZ)")
ax.legend(fontsize=8)
ax = axes[2]
for d, color in (("sqrt", "C0"), ("theta", "C1")):
    ax.semilogy(np.arange(1, len(paths[d]) + 1), paths[d], color=color,
                label=r"$\sqrt{\theta}$" if d == "sqrt" else r"$\theta$")
    ax.axhline(cycle[d], color=color, ls=":", lw=0.8)
ax.set(xlabel="step", ylabel="|w|", title=r"$E = w^2/2$ from $w = 1$, λ = 0.01 (dotted: 2-cycle)")
ax.legend(fontsize=8)
fig.tight_layout()
_common.savefig(fig, "06_wame_theta_vs_sqrt_1d")

# %% [markdown]
# ## 3. ζ per weight while LeNet-5 learns MNIST
#
# Now the real thing: LeNet-5 (tutorial 2) on MNIST, pixels standardised with the training
# split's mean and standard deviation, mini-batches of 64, WAME with the paper's
# hyperparameters and the authors' $\lambda = 10^{-3}$ and root denominator. The optimizer
# keeps $\zeta$ for every weight in `opt.state[p]["zeta"]`, an array shaped like the
# parameter `p`. After every step we record, over all 61,706 weights: the fraction at
# $\zeta_{min}$ and at $\zeta_{max}$, the fraction of weights whose gradient kept its sign,
# the extreme values (to check the clipping), and every weight's $\zeta$ (74 MB over 300 steps), to
# draw histograms at a few steps and the traces of a few weights.
#
# Before looking, a prediction. $\zeta$ is a product of factors $1.2$ and $0.1$, so
# $\log\zeta$ is a random walk with steps $\ln 1.2 = 0.18$ up and $\ln 0.1 = -2.30$ down. If a
# weight's gradient keeps its sign with probability $p$, $\zeta$ drifts up only when
#
# $$ p \ln\eta_+ + (1-p)\ln\eta_- > 0 \iff p > \frac{\ln(1/\eta_-)}{\ln\eta_+ + \ln(1/\eta_-)}
#    = \frac{2.303}{0.182 + 2.303} \approx 0.927. $$
#
# A mini-batch gradient is noisy: for most weights consecutive signs agree far less often than
# 93 % of the time, so we expect most $\zeta$ to sink to $\zeta_{min}$ and very few to reach
# $\zeta_{max}$.

# %%
train_x, train_y = datasets.mnist("train")
mean, std = float(train_x.mean(dtype=np.float64)), float(train_x.std(dtype=np.float64))
print(f"pixel mean {mean:.4f}, std {std:.4f} (training split)")
if _common.FAST:
    batch_size, zeta_steps, sweep_steps = 32, 40, 25
else:
    batch_size, zeta_steps, sweep_steps = 64, 300, 150
train_x, train_y = datasets.take(train_x, train_y, batch_size * zeta_steps)
train_x = (train_x - mean) / std  # normalise only what we use
P_BREAK_EVEN = np.log(1 / ETA_MINUS) / (np.log(ETA_PLUS) + np.log(1 / ETA_MINUS))
print(f"break-even sign agreement: {P_BREAK_EVEN:.4f}")


def train(make_optimizer, steps, watch=None):
    """LeNet-5 from the same initial weights on the same batches; returns the per-step losses.

    ``watch(step, model, optimizer)`` runs after every step. Stops early (and says so) once the
    loss passes 50, i.e. has diverged.
    """
    minigrad.seed(0)
    model = layers.LeNet5()
    optimizer = make_optimizer(model.parameters())
    loader = datasets.DataLoader(train_x, train_y, batch_size=batch_size, shuffle=True, seed=0)
    losses = []
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        if watch is not None:
            watch(len(losses), model, optimizer, before=True)
        optimizer.step()
        losses.append(loss.item())
        if watch is not None:
            watch(len(losses), model, optimizer, before=False)
        if not np.isfinite(losses[-1]) or losses[-1] > 50 or len(losses) == steps:
            break
    return np.array(losses)


SNAPSHOTS = sorted({1, 5, 20, zeta_steps})
record = {"at_min": [], "at_max": [], "agree": [], "lo": [], "hi": [], "mean_Z": [], "hist": {}, "trace": []}


def all_of(model, optimizer, key):
    return np.concatenate([optimizer.state[p][key].ravel() for p in model.parameters()])


def watch(step, model, optimizer, before):
    if before:  # the sign test of lines 4 and 6, seen from outside: g(t)·g(t−1) > 0
        g = np.concatenate([p.grad.ravel() for p in model.parameters()])
        record["zero_grad"] = record.get("zero_grad", 0) + (g == 0)
        if optimizer.state:
            record["agree"].append(float(np.mean(g * all_of(model, optimizer, "prev_grad") > 0)))
        return
    zeta = all_of(model, optimizer, "zeta")
    record["at_min"].append(float(np.mean(zeta <= ZETA_MIN)))
    record["at_max"].append(float(np.mean(zeta >= ZETA_MAX)))
    record["lo"].append(float(zeta.min()))
    record["hi"].append(float(zeta.max()))
    record["mean_Z"].append(float(all_of(model, optimizer, "Z").mean()))
    record["trace"].append(zeta.astype(np.float32))  # every weight: 300 steps x 61,706 x 4 bytes = 74 MB
    if step in SNAPSHOTS:
        record["hist"][step] = zeta.copy()


tic = time.perf_counter()
wame_losses = train(lambda ps: WAME(ps, lr=1e-3), zeta_steps, watch)
seconds = time.perf_counter() - tic
print(f"{len(wame_losses)} steps in {seconds:.1f} s; loss {wame_losses[0]:.3f} -> "
      f"{np.mean(wame_losses[-10:]):.3f} (mean of the last 10)")
for k in SNAPSHOTS:
    z = record["hist"][k]
    print(f"step {k:4d}: at ζmin {np.mean(z <= ZETA_MIN):6.1%}, at ζmax {np.mean(z >= ZETA_MAX):7.3%}, "
          f"ζ < 1 {np.mean(z < 1):6.1%}, median ζ {np.median(z):.3g}")
print(f"sign agreement g(t)·g(t-1) > 0: {np.mean(record['agree']):.1%} of weights per step on average "
      f"(break-even {P_BREAK_EVEN:.1%})")
final = record["hist"][zeta_steps]
print(f"ζ still exactly 1 (g(t)·g(t-1) = 0 at every step, e.g. a weight into a dead ReLU unit): "
      f"{np.mean(final == 1.0):.1%}")
print(f"mean Z: {record['mean_Z'][0]:.2f} after step 1, peak {max(record['mean_Z']):.2f} at step "
      f"{int(np.argmax(record['mean_Z'])) + 1}, {record['mean_Z'][-1]:.3f} at the end")
zero_share = record["zero_grad"] / len(wame_losses)  # per weight: the fraction of steps with a gradient of exactly 0
at_max = final >= ZETA_MAX
owner = np.concatenate([[name] * p.size for name, p in layers.LeNet5().named_parameters()])  # name of each weight
names, counts = np.unique(owner[at_max], return_counts=True)
print(f"the {at_max.sum()} weights at ζmax at the end: " + ", ".join(f"{c} in {n}" for n, c in zip(names, counts)))
print(f"steps with a gradient of exactly 0: median over all weights {np.median(zero_share):.0%}, "
      f"over the weights at ζmax {np.median(zero_share[at_max]) if at_max.any() else np.nan:.0%}")

# %% [markdown]
# The checks: $\zeta$ never leaves $[\zeta_{min}, \zeta_{max}]$ (it is clipped when stored,
# in the parameters' float32);
# after step 1 every $\zeta$ is still exactly 1 (no previous gradient); the sign agreement is
# far below the break-even 93 %, and accordingly most weights end with $\zeta < 1$.

# %%
# LeNet trains in float32, so ζ is stored in float32: ζmin = 0.01 is stored as the nearest float32.
assert min(record["lo"]) >= np.float32(ZETA_MIN) and max(record["hi"]) <= np.float32(ZETA_MAX), \
    f"ζ stays in [ζmin, ζmax] at every step (saw {min(record['lo'])}..{max(record['hi'])})"
assert np.all(record["hist"][1] == 1.0), "after the first step every ζ is still 1: there is no previous gradient"
assert np.mean(record["agree"]) < P_BREAK_EVEN - 0.2, "mini-batch gradient signs agree far less often than 93 %"
assert np.mean(final < 1) > 0.5, f"most ζ fall below 1 (got {np.mean(final < 1):.1%})"
assert np.mean(final >= ZETA_MAX) < 0.01, f"almost no weight reaches ζmax (got {np.mean(final >= ZETA_MAX):.3%})"
assert np.mean(wame_losses[-10:]) < 0.8 * wame_losses[0], "the loss fell"

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
ax = axes[0]
bins = np.linspace(np.log10(ZETA_MIN) - 0.1, np.log10(ZETA_MAX) + 0.1, 41)
for k in SNAPSHOTS:
    ax.hist(np.log10(record["hist"][k]), bins=bins, histtype="step", lw=1.5, label=f"step {k}")
ax.set_yscale("log")
ax.set(xlabel=r"$\log_{10}\zeta$", ylabel="number of weights", title="ζ over all 61,706 weights of LeNet-5")
ax.legend(fontsize=8)
ax = axes[1]
steps = np.arange(1, len(record["at_min"]) + 1)
ax.plot(steps, record["at_min"], label=r"fraction at $\zeta_{min}$")
ax.plot(steps, np.array(record["at_max"]) * 100, label=r"fraction at $\zeta_{max}$ (×100)")
ax.plot(steps[1:], record["agree"], label=r"fraction with $g(t)\,g(t-1) > 0$")
ax.axhline(P_BREAK_EVEN, color="gray", ls=":", label="break-even agreement 0.927")
ax.plot(steps, record["mean_Z"], label="mean Z (the factor line 11 uses)")
ax.set(xlabel="step", ylim=(0, 1.05), title="per step, over all weights")
ax.legend(fontsize=7)
ax = axes[2]
trace = np.array(record["trace"])  # (steps, weights)
moving = np.flatnonzero(np.ptp(trace[len(trace) // 2 :], axis=0) > 0)  # leave out frozen ζ (zero gradient)
examples = np.random.default_rng(1).choice(moving, size=4, replace=False)
top = int(moving[np.argmax(trace[-1, moving])])  # the highest ζ at the end
for j in [*examples, top]:
    ax.semilogy(steps, trace[:, j], lw=1.5 if j == top else 0.8,
                label=f"weight #{j}" + (" (highest final ζ)" if j == top else ""))
ax.set(xlabel="step", ylabel="ζ", ylim=(ZETA_MIN / 1.5, ZETA_MAX * 1.5), title="a few weights' ζ")
ax.legend(fontsize=7)
fig.tight_layout()
_common.savefig(fig, "06_wame_zeta_lenet")

# %% [markdown]
# What the figure says. Within twenty steps about half of all weights sit at
# $\zeta_{min} = 0.01$ and the rest pile up on the lattice of values $1.2^a\,0.1^b$ just above
# it; a handful (a few hundredths of a percent) touch $\zeta_{max}$. A few percent keep
# $\zeta = 1$ exactly: their gradient is exactly zero (dead ReLU units), and line 8's
# implicit *else* leaves them alone. Individual traces saw-tooth along the floor: a few steps
# of growth by 1.2, then a tenfold drop, since with $\eta_- = 0.1$ one sign flip undoes
# thirteen agreements. Climbing from 1 to $\zeta_{max}$ takes 26 agreements in a row (or
# with only zeros in between, which leave $\zeta$ alone); the handful of weights that manage it
# (in the full run: 11, all in the output layer `classifier.5.weight`) have a gradient whose
# steady part outweighs the mini-batch noise, and a gradient that is rarely exactly zero.
# The fraction of weights whose sign agrees hovers around 40–50 %, half
# the 93 % that growth needs. So on mini-batches the acceleration factor mostly
# *decelerates*. The mean of $Z$, the factor line 11 applies, rises while the early, steady
# gradients let $\zeta$ grow, then settles near 0.1: WAME ends up as RMSprop with about a tenth
# of $\lambda$, and its loss curve (next section) flattens accordingly.
#
# ## 4. θ or √θ on MNIST
#
# The same LeNet-5, initial weights and batches, trained with the printed form. At the
# authors' $\lambda = 10^{-3}$ its first step alone moves each weight by $\lambda/|g|$, and
# half of LeNet's per-weight gradients at initialisation are below $2\cdot10^{-4}$ (a quarter
# below $3\cdot10^{-5}$; measured on one batch of 64): steps of 5 to 30 and more, for weights
# of size 0.1. We
# sweep $\lambda$ down by decades and keep the one with the lowest mean loss over the last
# fifth of the run (and check that it is not at the edge of the sweep), then compare it with
# the root form at $10^{-3}$ (the run of section 3).

# %%
theta_rates = [1e-3, 1e-5, 1e-6, 1e-7, 1e-8]
theta_losses = {}
for lam in theta_rates:
    tic = time.perf_counter()
    theta_losses[lam] = train(lambda ps, lam=lam: WAME(ps, lr=lam, denominator="theta"), sweep_steps)
    ls = theta_losses[lam]
    status = "diverged" if len(ls) < sweep_steps else f"last fifth {np.mean(ls[-max(sweep_steps // 5, 1):]):.3f}"
    print(f"theta, λ = {lam:.0e}: {len(ls)} steps, max loss {np.max(ls):.3g}, {status} "
          f"({time.perf_counter() - tic:.1f} s)")

tail = max(sweep_steps // 5, 1)
score = {lam: np.mean(ls[-tail:]) if len(ls) == sweep_steps else np.inf for lam, ls in theta_losses.items()}
best = min(score, key=score.get)
sqrt_score = float(np.mean(wame_losses[:sweep_steps][-tail:]))
print(f"best printed-form rate: λ = {best:.0e} (mean loss over the last {tail} steps {score[best]:.3f}); "
      f"root form at λ = 1e-3 over the same steps: {sqrt_score:.3f}")

assert len(theta_losses[1e-3]) < sweep_steps or np.max(theta_losses[1e-3]) > 50, \
    "the printed form diverges at the root form's rate λ = 1e-3"
assert best <= 1e-5, f"the printed form needs a rate at least 100x smaller than the root form's (best {best:.0e})"
if not _common.FAST:  # 25 steps are too few to rank them
    assert min(theta_rates) < best < max(theta_rates), "the best printed-form rate is inside the sweep, not at an edge"
    assert sqrt_score < score[best], "over 150 steps the root form at 1e-3 beats the best printed-form rate"

fig, ax = plt.subplots(figsize=(8, 4.5))
ax.plot(np.arange(1, sweep_steps + 1), wame_losses[:sweep_steps], color="k", lw=1.5, label=r"$\sqrt{\theta}$, λ = 1e-3")
for lam, ls in theta_losses.items():
    ax.plot(np.arange(1, len(ls) + 1), ls, lw=1, label=rf"$\theta$, λ = {lam:.0e}" + (" (best)" if lam == best else ""))
ax.set_yscale("log")
ax.set(xlabel="step", ylabel="mini-batch loss", ylim=(0.1, 1e3),
       title="LeNet-5 on MNIST: WAME with the printed θ and the authors' √θ")
ax.legend(fontsize=8)
fig.tight_layout()
_common.savefig(fig, "06_wame_theta_vs_sqrt_mnist")

# %% [markdown]
# ## Summary
#
# * `optimizers.WAME` is Algorithm 1 (checked step for step against a literal transcription),
#   with one deliberate change: it divides by $\sqrt\theta$, as the authors' code does, unless
#   asked for `denominator="theta"`.
# * The two denominators are different algorithms, not a detail: $g/\sqrt\theta$ is a
#   sign-like step of size $\lambda Z$, $g/\theta$ a step of size $\lambda Z/|g|$ that is
#   largest where the loss is flattest. The printed form diverges at the authors' rate, needs
#   a rate 100 to 10,000 times smaller, and its best rate shifts as the gradients shrink
#   (a rate that works for the first steps blows up later).
# * On mini-batches $\zeta$ mostly sinks: the asymmetric factors $1.2$ and $0.1$ need 93 %
#   sign agreement to grow, and mini-batch gradient signs agree for far fewer weights. WAME
#   then behaves like RMSprop with a rate $\lambda Z$ about ten times smaller than $\lambda$
#   on average (a hundred times for the half at $\zeta_{min}$); the per-weight acceleration
#   the name promises comes from the few weights whose gradient keeps a steady sign.
