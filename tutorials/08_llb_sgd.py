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
# # 8. LLb-SGD: layer-wise rates that decay with the weights' movement (Zheng et al. 2019)
#
# Zheng et al. (*Layer-wise learning based stochastic gradient descent method for the
# optimization of deep convolutional neural network*, 2019) give every layer of a CNN its own
# learning rate and let it **decay** during training, each layer at its own pace, driven by how
# much that layer's weights move. Their prose fixes the ingredients:
#
# - one rate per layer, computed from first-order information only: the average Frobenius norm
#   of the change of each convolution kernel (conv layers) or each neuron's weights (fully
#   connected layers) between iterations;
# - a "descent direction" taken from the training loss and its change;
# - a decay of the layer's rate "in a negative exponential form", that drops fast early and
#   slowly late (their Fig. 6, against the $1/t$ decay $\alpha_0/(1 + kt)$ and the exponential
#   decay $\alpha_0 e^{-kt}$, $k = 0.9$);
# - a "threshold" that ends training when the loss stops falling.
#
# **The paper's equations are lost** from every copy we could reach (the text survives, the
# formulas do not). What `optimizers.LLbSGD` implements is **minigrad's reconstruction** from
# that prose, not the paper's formula; every number below is a number of the reconstruction.
#
# This tutorial:
#
# 1. states the reconstructed rule, and checks one step of it by hand;
# 2. trains LeNet-5 on MNIST with it, recording every layer's rate at every step
#    (`opt.layer_rates()`), and checks that the rates are positive, never increase, and fall
#    fast early and slowly late;
# 3. plots the mean rate over layers against the $1/t$ and exponential decays, as in Fig. 6;
# 4. shows the effect of the decay coefficient $\beta$;
# 5. shows the stopping rule, which minigrad puts in the training loop
#    (`TrainConfig(stop_threshold=..., stop_window=...)`, `PlateauStop`).
#
# In fast mode (`MINIGRAD_FAST=1`, what the tests run) every run is a few dozen steps; the
# checks that need a longer run say so.

# %%
import time

import _common  # puts the repository root on sys.path; FAST, OUT and savefig
import matplotlib.pyplot as plt
import numpy as np

import datasets
import minigrad
import optimizers
from experiments.stepping import cross_entropy_per_sample, train_step
from experiments.training import PlateauStop, TrainConfig
from experiments.training import train as train_loop
from layers.models import MLP, LeNet5
from optimizers.llb import unit_change_norms

FAST = _common.FAST
START = time.perf_counter()
print("fast mode:", FAST, "| figures go to", _common.OUT)

# %% [markdown]
# ## 1. The rule (minigrad's reconstruction)
#
# Each layer $l$ (a parameter group: one per module that owns parameters) keeps a rate
# $\alpha_l$, starting at $\alpha_l(0) = \alpha_0$ (`lr`). A layer is made of $U_l$ *units*: the
# kernels of a convolution (one per output channel) or the neurons of a fully connected layer
# (one row of the weight matrix), each with its bias. At step $t$:
#
# $$\xi_l(t) = \frac{1}{U_l}\sum_{u=1}^{U_l}\big\lVert W_{l,u}(t) - W_{l,u}(t-1)\big\rVert_F
#   \qquad\text{(mean change of the layer's units at the last step)}$$
#
# $$\delta(t) = \begin{cases} 1 & \text{while the loss falls}\\ \kappa & \text{when it rises}
#   \end{cases}\qquad \kappa = 2,$$
#
# $$\alpha_l(t) = \alpha_l(t-1)\; e^{-\beta\,\xi_l(t)\,\delta(t)}, \qquad
#   \theta_l \leftarrow \theta_l - \alpha_l(t)\, g_l(t).$$
#
# "The loss falls" compares an exponential moving average of the minibatch loss (decay 0.9)
# with its previous value: the raw minibatch loss goes up in about half of all steps, even
# while training goes well, so it carries no direction. The optimizer needs the loss, so it is
# stepped with a closure that computes it, as every minigrad optimizer can be:
# `train_step(model, opt, cross_entropy_per_sample, (x, y))` (the driver of every loop here).
#
# Since the exponent is never negative, **rates are positive and never increase**. Why do they
# fall fast early and slowly late? Under SGD the last change of unit $u$ was
# $-\alpha_l\, g_{l,u}$, so $\xi_l = \alpha_l\,\bar g_l$ with $\bar g_l$ the mean norm of the
# units' gradients. For a small exponent $e^{-x} \approx 1 - x$, and
#
# $$\frac{1}{\alpha_l(t)} \approx \frac{1}{\alpha_l(t-1)} + \beta\,\delta(t)\,\bar g_l(t-1)
#   \quad\Longrightarrow\quad
#   \frac{1}{\alpha_l(t)} \approx \frac{1}{\alpha_0} + \beta \sum_{s<t} \delta(s)\,\bar g_l(s).$$
#
# With constant gradients this is exactly the $1/t$ decay $\alpha_0/(1 + kt)$ with
# $k = \alpha_0\beta\delta\bar g_l$: a **data-driven $1/t$ schedule**, one per layer, whose
# clock runs fast while the layer's gradients are large (early) and slowly once they are small
# (late). $\beta$ is not scale-free: $\xi$ has the units of the weights.
#
# First, one step by hand. A one-layer net (784 → 10, ten neurons), two minibatches: the first
# step uses $\alpha_0$ (there is no previous change yet); the second decays it by the first
# step's change.

# %%
train_x, train_y = datasets.mnist("train")
test_x, test_y = datasets.mnist("test")
mean, std = float(train_x.mean(dtype=np.float64)), float(train_x.std(dtype=np.float64))
print(f"pixel mean {mean:.4f}, std {std:.4f} (of the training split; the training loop standardises with them)")

ALPHA0, BETA, KAPPA = 0.05, 0.1, 2.0
minigrad.seed(0)
tiny = MLP(784, (), 10)
tiny_opt = optimizers.build_optimizer("llb_sgd", tiny.layer_groups(), lr=ALPHA0, beta=BETA, kappa=KAPPA)
(name,) = [g["name"] for g in tiny.layer_groups()]
batches = [((train_x[i:i + 64] - mean) / std, train_y[i:i + 64]) for i in (0, 64)]
losses, first_grads = [], None
for xb, yb in batches:
    result = train_step(tiny, tiny_opt, cross_entropy_per_sample, (xb.astype(np.float32), yb))
    if first_grads is None:  # the closure leaves the gradient the update used in .grad
        first_grads = [p.grad.copy() for p in tiny.layer_groups()[0]["params"]]
    losses.append(float(result.loss))
    print(f"loss {losses[-1]:.4f}, alpha_{name} = {float(tiny_opt.layer_rates()[name]):.6f}")

change = [-ALPHA0 * g for g in first_grads]  # step 1: weight (10, 784) and bias (10,) moved by -alpha0 * g
per_unit = np.sqrt((change[0] ** 2).sum(axis=1) + change[1] ** 2)  # one norm per neuron, bias included
xi = per_unit.mean()
ema1, ema2 = losses[0], 0.9 * losses[0] + 0.1 * losses[1]
delta = KAPPA if ema2 > ema1 else 1.0
expected = ALPHA0 * np.exp(-BETA * xi * delta)
print(f"by hand: xi = {xi:.5f}, loss EMA {ema1:.4f} -> {ema2:.4f} so delta = {delta}, "
      f"alpha = {ALPHA0} * exp(-{BETA} * {xi:.5f} * {delta}) = {expected:.6f}")
assert np.isclose(unit_change_norms(change).mean(), xi, rtol=1e-5), "xi is the mean norm of the neurons' changes"
assert np.isclose(float(tiny_opt.layer_rates()[name]), expected, rtol=1e-5), "the optimizer follows the rule"

# %% [markdown]
# ## 2. LeNet-5 on MNIST: every layer's rate at every step
#
# LeNet-5 (tutorial 2) has five layers with parameters: two convolutions and three fully
# connected layers. We train it with `llb_sgd` at the defaults minigrad measured for this net,
# $\alpha_0 = 0.05$, $\beta = 0.1$, $\kappa = 2$, batch 64, no weight decay, and read
# `opt.layer_rates()` (a dict of 0-d arrays, one per layer) after every step.

# %%
STEPS = 60 if FAST else 938  # fast: 60 steps; full: one epoch of MNIST
N_TEST = 500 if FAST else 10000
train_set = datasets.take(((train_x - mean) / std).astype(np.float32), train_y, min(64 * STEPS, len(train_y)))
test_set = datasets.take(((test_x - mean) / std).astype(np.float32), test_y, N_TEST)


def run_llb(steps: int, beta: float = BETA, lr: float = ALPHA0) -> dict:
    """Train LeNet-5 with LLb-SGD for ``steps`` steps from seed 0; per-step losses and layer rates."""
    minigrad.seed(0)
    model = LeNet5()
    opt = optimizers.build_optimizer("llb_sgd", model.layer_groups(), lr=lr, beta=beta)
    loader = datasets.DataLoader(*train_set, batch_size=64, shuffle=True, seed=0)
    losses, rates = [], []
    tic = time.perf_counter()
    for step, (xb, yb) in enumerate(loader, start=1):
        result = train_step(model, opt, cross_entropy_per_sample, (xb, yb))  # the loss reaches the optimizer
        losses.append(float(result.loss))
        rates.append({n: float(a) for n, a in opt.layer_rates().items()})
        if step == steps:
            break
    model.eval()
    with minigrad.no_grad():
        accuracy = float((model(test_set[0]).data.argmax(axis=1) == test_set[1]).mean())
    names = list(rates[0])
    print(f"beta {beta}: {len(losses)} steps in {time.perf_counter() - tic:.1f} s, "
          f"test accuracy {100 * accuracy:.2f}% on {len(test_set[1])} test images")
    return {"losses": np.array(losses), "names": names, "accuracy": accuracy,
            "rates": np.array([[r[n] for n in names] for r in rates])}  # (steps, layers)


main = run_llb(STEPS)
rates, layer_names = main["rates"], main["names"]
print(f"{'layer':>14} {'rate after step 1':>18} {'after 10%':>10} {'after 90%':>10} {'last':>10}")
tenth = max(STEPS // 10, 1)
for i, n in enumerate(layer_names):
    print(f"{n:>14} {rates[0, i]:18.5f} {rates[tenth, i]:10.5f} {rates[-tenth - 1, i]:10.5f} {rates[-1, i]:10.5f}")

assert np.all(rates > 0), "every layer's rate stays positive"
assert np.all(np.diff(rates, axis=0) <= 0), "no layer's rate ever increases"
assert np.allclose(rates[0], ALPHA0, rtol=1e-6), "the first step uses alpha0 in every layer (no previous change yet)"

early_drop = 1 - rates[tenth] / rates[0]  # relative drop over the first 10 % of steps, per layer
late_drop = 1 - rates[-1] / rates[-tenth - 1]  # ... and over the last 10 %
print("relative drop over the first 10% of steps:", np.round(early_drop, 4))
print("relative drop over the last 10% of steps: ", np.round(late_drop, 4))
if not FAST:  # see below: the first few dozen steps sit on a plateau where the rates hardly move
    assert np.all(early_drop > late_drop), "every layer's rate falls faster in the first 10% of steps than in the last"

# %% [markdown]
# Over a full epoch every layer's rate drops faster in the first 10 % of the steps than in the
# last 10 %. Over the first few dozen steps alone (fast mode) it need not: LeNet-5 starts on a
# plateau, the loss at $\ln 10$, with small gradients, so the clock barely runs until learning
# takes off around step 30; fast mode only prints these numbers.
# %% [markdown]
# The data-driven $1/t$ schedule in numbers: if $\alpha_l(t) = \alpha_0/(1 + k_l t)$ held
# exactly, $k_l = (\alpha_0/\alpha_l(t) - 1)/t$ would be a constant. We compute it at 10 % of
# the run and over the whole run. (Measured on a full epoch: $k_l$ lies between about
# $4\cdot10^{-4}$ and $1.6\cdot10^{-3}$ per step, and changes by less than a factor of 2 between
# the two, so the
# rates are close to a $1/t$ decay, whose shape is itself "fast early, slow late"; what is
# layer-wise is the clock speed, four times faster for the output layer than for the first
# convolution.)

# %%
k_early = (ALPHA0 / rates[tenth] - 1) / tenth
k_late = (ALPHA0 / rates[-1] - 1) / (STEPS - 1)
for n, a, b in zip(layer_names, k_early, k_late):
    print(f"{n:>14}: effective k = {a:.2e} per step over the first 10%, {b:.2e} over the whole run")

# %% [markdown]
# ## 3. Against the $1/t$ and exponential decays (Zheng et al. Fig. 6)
#
# Fig. 6 of the paper plots the mean of the layers' rates against $\alpha_t = \alpha_0/(1+kt)$
# and $\alpha_t = \alpha_0 e^{-kt}$ with $k = 0.9$, and reports that LLb's rates "initially drop
# rapidly but gradually slow down" and end *above* both baselines, rates that would make most
# methods diverge but are harmless "near the end of the training when gradients are small".
#
# The paper does not say in which unit $t$ counts; we take it, as written, per iteration. Then
# $k = 0.9$ is brutal: the exponential decay falls below $10^{-6}$ within 16 steps (and
# underflows to 0 in double precision after about 790), and the $1/t$ decay halves the rate at
# the first step. The reconstruction, with $\beta = 0.1$, decays far more gently.

# %%
t = np.arange(1, STEPS + 1)
mean_rate = rates.mean(axis=1)
inverse_time = ALPHA0 / (1 + 0.9 * t)
exponential = ALPHA0 * np.exp(-0.9 * t)

k_fit = float((ALPHA0 / mean_rate[-1] - 1) / (STEPS - 1))  # the 1/t decay through the mean rate's end point
fitted = ALPHA0 / (1 + k_fit * (t - 1))
fig, (ax_layers, ax_fig6) = plt.subplots(1, 2, figsize=(12, 4.2))
for i, n in enumerate(layer_names):
    ax_layers.plot(t, rates[:, i], lw=1.2, color=plt.cm.viridis(i / (len(layer_names) - 1)), label=n)
ax_layers.plot(t, mean_rate, color="k", lw=2, label="mean over layers")
ax_layers.plot(t, fitted, color="gray", ls="--", lw=1, label=rf"$\alpha_0/(1 + kt)$, fitted $k$ = {k_fit:.1e}")
ax_layers.set(xlabel="step t", ylabel=r"$\alpha_l$", title=f"LLb-SGD rates per layer, LeNet-5 / MNIST, beta = {BETA}")
ax_layers.legend(fontsize=8)
ax_fig6.plot(t, mean_rate, color="k", lw=2, label="LLb-SGD (reconstruction), mean over layers")
ax_fig6.plot(t, inverse_time, color="C1", ls="--", label=r"$1/t$: $\alpha_0/(1 + 0.9t)$")
ax_fig6.plot(t, exponential, color="C3", ls=":", label=r"exp: $\alpha_0 e^{-0.9t}$")
ax_fig6.set(xscale="log", yscale="log", ylim=(1e-6, 0.1), xlabel="step t", ylabel="learning rate",
            title="as in Zheng et al. Fig. 6 (k = 0.9 per step)")
ax_fig6.legend(fontsize=8)
fig.tight_layout()
_common.savefig(fig, "08_llb_rates_vs_decays")

above = mean_rate[1:] > inverse_time[1:]
print(f"mean LLb rate above alpha0/(1 + 0.9 t) at {above.mean():.0%} of the steps from t = 2; "
      f"at the end {mean_rate[-1]:.4f} against {inverse_time[-1]:.2e}")
assert np.all(above), "with k = 0.9 per step, the 1/t baseline is below LLb's mean rate from the second step on"
assert np.all(mean_rate[1:] > exponential[1:]), "and so is the exponential baseline"

# %% [markdown]
# ## 4. The effect of $\beta$
#
# $\beta$ sets how fast each layer's clock runs: $1/\alpha_l$ grows by about $\beta\,\bar g_l$
# per step. $\beta = 0$ is SGD at the constant rate $\alpha_0$. We train the same net from the
# same initial weights on the same batches for a shorter run with $\beta \in \{0, 0.1, 1, 10\}$
# (the $\beta = 0.1$ run is the start of the run above).

# %%
BETA_STEPS = 20 if FAST else 200
beta_runs = {BETA: {"rates": rates[:BETA_STEPS], "losses": main["losses"][:BETA_STEPS]}}
for beta in (0.0, 1.0, 10.0):
    beta_runs[beta] = run_llb(BETA_STEPS, beta=beta)
betas = sorted(beta_runs)
final_mean = {b: beta_runs[b]["rates"][-1].mean() for b in betas}
quarter = BETA_STEPS // 4
last_loss = {b: beta_runs[b]["losses"][-quarter:].mean() for b in betas}
for b in betas:
    print(f"beta {b:5}: mean rate after {BETA_STEPS} steps {final_mean[b]:.5f}, "
          f"mean loss of the last {quarter} steps {last_loss[b]:.3f}")
assert np.allclose(beta_runs[0.0]["rates"], ALPHA0, rtol=1e-6), "beta = 0 keeps the rate constant at alpha0"
assert all(final_mean[a] > final_mean[b] for a, b in zip(betas, betas[1:])), "a larger beta decays the rates faster"

fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(12, 4))
steps_b = np.arange(1, BETA_STEPS + 1)
for b, color in zip(betas, ("C0", "C2", "C1", "C3")):
    ax_r.plot(steps_b, beta_runs[b]["rates"].mean(axis=1), color=color, label=f"beta = {b:g}")
    losses = beta_runs[b]["losses"]
    k = 5
    ax_l.plot(steps_b[k - 1:], np.convolve(losses, np.ones(k) / k, mode="valid"), color=color, label=f"beta = {b:g}")
ax_r.set(xlabel="step", ylabel="mean rate over layers", yscale="log", title="LLb-SGD rates for several beta")
ax_l.set(xlabel="step", ylabel="minibatch cross-entropy (running mean of 5)", yscale="log", title="training loss")
ax_r.legend()
fig.tight_layout()
_common.savefig(fig, "08_llb_beta")
if not FAST:  # 20 steps are too few to tell the losses apart
    assert last_loss[10.0] > last_loss[0.0] + 0.1, "beta = 10 decays the rates too early: its loss lags behind"

# %% [markdown]
# A large $\beta$ freezes the net early. Measured over 200 steps of the full run: $\beta = 0.1$
# is still indistinguishable from the constant rate (mean rate 0.042; the two loss curves lie on
# top of each other), $\beta = 1$ has cut the rates to a third, and $\beta = 10$ to a
# sixteenth, spent while the gradients were large, and its loss lags far behind (about 0.75
# against 0.38 over the last 50 steps). minigrad's default
# $\beta = 0.1$ was chosen on this net (3 epochs: 97.6 % test accuracy, against 98.1 % at a
# constant rate; $\beta = 1$ gives 93.8 %, $\beta = 10$ 80 %).
#
# ## 5. The stopping rule
#
# The paper's "threshold" ends training when the loss falls by less than the threshold over
# 1,000 iterations. Single minibatch losses are too noisy to compare, so minigrad compares
# **window means**: with windows of $W$ steps and $\bar L_j$ the mean training loss of window
# $j$, training stops at the end of window $j$ when
#
# $$\bar L_{j-1} - \bar L_j < \text{threshold}.$$
#
# It belongs to the training loop, not to the optimizer (it works with any optimizer):
# `TrainConfig(stop_threshold=..., stop_window=...)` builds a `PlateauStop(threshold, window)`
# and feeds it the losses. First we replay it on the losses of our LeNet-5 run, for several
# thresholds: where would training have stopped?

# %%
WINDOW = 10 if FAST else 100


def stop_step(losses: np.ndarray, threshold: float, window: int) -> int | None:
    """The step at which PlateauStop(threshold, window) fed one loss per step says stop, or None."""
    rule = PlateauStop(threshold, window)
    for step, value in enumerate(losses, start=1):
        if rule.add(float(value), 1):
            return step
    return None


window_means = main["losses"][: len(main["losses"]) // WINDOW * WINDOW].reshape(-1, WINDOW).mean(axis=1)
print(f"mean loss of each window of {WINDOW} steps:", np.round(window_means, 3))
print("fall from one window to the next:       ", np.round(-np.diff(window_means), 3))
thresholds = (10.0, 0.1, 0.03, 0.01, 0.0)
stops = {th: stop_step(main["losses"], th, WINDOW) for th in thresholds}
for th, s in stops.items():
    print(f"threshold {th:5}: " + (f"stops after step {s}" if s else f"does not stop within {STEPS} steps"))
assert stops[10.0] == 2 * WINDOW, "a threshold larger than any fall stops at the first comparison, after 2 windows"
stop_steps = [s if s else STEPS + 1 for s in stops.values()]
assert stop_steps == sorted(stop_steps), "a smaller threshold never stops earlier"

# %% [markdown]
# Now the rule inside the training loop, `experiments.training.train`, with a **short** window
# of 10 steps and a threshold of 0.05. The loop builds the same LeNet-5 from the same seed and
# visits the same batches as our run above (same data, same shuffling seed), so its losses are
# the same, and it must stop exactly where the replay says. It writes the stop into the epoch's
# metrics (`stopped_early`), with its learning curve, into the run folder.

# %%
SHORT_WINDOW, SHORT_THRESHOLD = 10, 0.05
expected_stop = stop_step(main["losses"], SHORT_THRESHOLD, SHORT_WINDOW)
print(f"replay: PlateauStop({SHORT_THRESHOLD}, {SHORT_WINDOW}) stops after step {expected_stop}")
assert expected_stop is not None and expected_stop <= 60, "measured: a 10-step window stops within 60 steps"
config = TrainConfig(
    model="lenet5", optimizer="llb_sgd", hyperparams={"lr": ALPHA0, "beta": BETA}, batch_size=64, epochs=1,
    seed=0, train_limit=len(train_set[1]), test_limit=N_TEST, telemetry_every=0, progress=False,
    stop_threshold=SHORT_THRESHOLD, stop_window=SHORT_WINDOW, out_dir=str(_common.OUT / "08_plateau_stop_run"),
)
result = train_loop(config, overwrite=True)  # a re-run of the tutorial replaces its own run
print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in result.items()})
assert "stopped_early" in result, "the training loop stopped the run"
assert result["step"] == expected_stop, "at the step the replay predicted"
print(f"window means of the first {expected_stop} steps:",
      np.round(main["losses"][:expected_stop].reshape(-1, SHORT_WINDOW).mean(axis=1), 3))

# %% [markdown]
# The short window stops training almost before it starts: the first windows fall on the
# plateau of the first few dozen steps, where the loss hardly moves, and the rule cannot tell
# that plateau from convergence. Hence the paper's long window (1,000 iterations) and minigrad's
# default `stop_window=1000`: a window must be longer than the plateaus it should see across.

# %% [markdown]
# ## What we saw
#
# - The reconstruction decays each layer's rate by $e^{-\beta\,\xi_l\,\delta}$, where $\xi_l$ is
#   the mean change of the layer's kernels or neurons at the last step: positive, never
#   increasing rates, computed from first-order information only (checked by hand for one step).
# - On LeNet-5 / MNIST the rates fall fast early and slowly late, like a per-layer $1/t$
#   schedule whose clock is the layer's gradient norm; the layers end at different rates.
# - Against Fig. 6's baselines with $k = 0.9$ per iteration, the reconstruction's mean rate stays
#   above both from the second step on, in line with the paper's remark that LLb keeps rates
#   high late in training. Its decay is close to a $1/t$ schedule with $k \approx 10^{-3}$ per
#   step, a thousand times gentler than the baselines; the paper's own curves cannot be
#   reproduced without its equations.
# - $\beta$ is the knob: 0 is constant-rate SGD, 0.1 barely departs from it in 200 steps, 10
#   spends the rates while the gradients are large and leaves the loss far behind.
# - The paper's threshold is a stopping rule on window means of the training loss, offered by
#   the training loop for any optimizer; a window shorter than the initial plateau stops
#   training before it starts.

# %%
print(f"tutorial ran in {time.perf_counter() - START:.1f} s")
