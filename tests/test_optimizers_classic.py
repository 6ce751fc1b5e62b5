"""The classic optimizers against their papers' formulas, written out by hand in float64.

Every reference below is an independent scalar transcription of the paper's update (one weight
at a time, Python floats and ``math``), never a call into ``optimizers``. The gradient sequence
has the edge cases built in: a weight whose gradient is zero for the first two steps (the first
step of the bias-corrected methods), a zero gradient in the middle, and sign flips.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import optimizers
from minigrad import Parameter
from optimizers import (
    SGD,
    AdaDelta,
    AdaGrad,
    Adam,
    Adamax,
    Dozat,
    Momentum,
    Nadam,
    Nesterov,
    RMSprop,
    Rprop,
)
from optimizers.dozat import decay_schedule
from optimizers.schedules import EpochStep, Exponential, Fixed, Inv, InverseTime, Step, make_schedule

GRADS = np.array(
    [
        [0.5, -1.0, 0.0, 2.0],
        [0.25, 1.0, 0.0, -3.0],
        [-0.5, 1.5, 1.0, 0.0],
        [0.1, -0.2, 0.0, 1.0],
        [0.3, 0.4, -2.0, 1.0],
        [-0.7, 0.0, 0.5, -1.0],
    ]
)
THETA0 = np.array([0.3, -0.7, 1.1, 0.0])
INV = (1e-2, 0.75)  # Caffe `inv` γ, p: large enough to change the rate visibly within six steps

ScalarRule = Callable[[float, float, int, dict], float]


def trajectory(factory: Callable[[list[Parameter]], optimizers.Optimizer], grads: np.ndarray = GRADS) -> np.ndarray:
    """θ after each step of the optimizer built by ``factory``, fed the rows of ``grads``."""
    p = Parameter(THETA0.copy())
    opt = factory([p])
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return np.array(out)


def by_hand(rule: ScalarRule, grads: np.ndarray = GRADS) -> np.ndarray:
    """Apply a scalar rule ``rule(theta, g, k, state) -> theta`` weight by weight, k = 0, 1, …"""
    out = np.zeros_like(grads)
    for i, theta in enumerate(THETA0.tolist()):
        state: dict = {}
        for k, g in enumerate(grads[:, i].tolist()):
            theta = rule(theta, g, k, state)
            out[k, i] = theta
    return out


def inv_rate(t0: float, k: int) -> float:
    """Caffe's `inv` policy, Singh et al. eq. 4: t0·(1 + γk)^−p."""
    gamma, power = INV
    return t0 * (1 + gamma * k) ** -power


def check(factory: Callable, rule: ScalarRule, grads: np.ndarray = GRADS) -> None:
    """The optimizer's trajectory equals the hand-derived one to rounding."""
    np.testing.assert_allclose(trajectory(factory, grads), by_hand(rule, grads), rtol=1e-12, atol=1e-15)


# ----- SGD, momentum, Nesterov (Singh et al. eq. 2–7) -------------------------------------------


def test_sgd_with_caffe_inv_schedule() -> None:
    def rule(theta, g, k, s):
        return theta - inv_rate(0.1, k) * g

    check(lambda ps: SGD(ps, lr=0.1, schedule=Inv(*INV)), rule)


def test_sgd_weight_decay_is_added_to_the_gradient_first() -> None:
    def rule(theta, g, k, s):
        return theta - 0.1 * (g + 0.01 * theta)

    check(lambda ps: SGD(ps, lr=0.1, weight_decay=0.01), rule)


def test_momentum_caffe_form_rate_inside_the_velocity() -> None:
    def rule(theta, g, k, s):
        s["v"] = 0.9 * s.get("v", 0.0) - inv_rate(0.1, k) * g  # eq. 6
        return theta + s["v"]

    check(lambda ps: Momentum(ps, lr=0.1, momentum=0.9, schedule=Inv(*INV)), rule)
    check(lambda ps: SGD(ps, lr=0.1, momentum=0.9, schedule=Inv(*INV)), rule)  # SGD's momentum argument


def test_momentum_torch_form_rate_outside() -> None:
    def rule(theta, g, k, s):
        s["b"] = 0.9 * s.get("b", 0.0) + g
        return theta - inv_rate(0.1, k) * s["b"]

    check(lambda ps: Momentum(ps, lr=0.1, momentum=0.9, form="torch", schedule=Inv(*INV)), rule)


def test_nesterov_caffe_form() -> None:
    def rule(theta, g, k, s):
        h_old = s.get("h", 0.0)
        s["h"] = 0.9 * h_old + inv_rate(0.1, k) * g
        return theta - ((1 + 0.9) * s["h"] - 0.9 * h_old)

    check(lambda ps: Nesterov(ps, lr=0.1, momentum=0.9, schedule=Inv(*INV)), rule)


def test_nesterov_torch_form() -> None:
    def rule(theta, g, k, s):
        s["b"] = 0.9 * s.get("b", 0.0) + g
        return theta - inv_rate(0.1, k) * (g + 0.9 * s["b"])

    check(lambda ps: Nesterov(ps, lr=0.1, momentum=0.9, form="torch", schedule=Inv(*INV)), rule)


# ----- AdaGrad, AdaDelta, RMSprop --------------------------------------------------------------


def test_adagrad_singh_eq8_zero_gradient_gives_zero_step() -> None:
    def rule(theta, g, k, s):
        s["H"] = s.get("H", 0.0) + g * g
        return theta - inv_rate(0.1, k) * g / (math.sqrt(s["H"]) + 1e-8)

    check(lambda ps: AdaGrad(ps, lr=0.1, schedule=Inv(*INV)), rule)
    traj = trajectory(lambda ps: AdaGrad(ps, lr=0.1))
    assert traj[0, 2] == THETA0[2] and traj[1, 2] == THETA0[2]  # H = 0: 0/(0 + δ), no NaN


def test_adagrad_initial_accumulator() -> None:
    def rule(theta, g, k, s):
        s["H"] = s.get("H", 0.1) + g * g
        return theta - 0.1 * g / (math.sqrt(s["H"]) + 1e-10)

    check(lambda ps: AdaGrad(ps, lr=0.1, eps=1e-10, initial_accumulator_value=0.1), rule)


def test_adagrad_eps_inside_the_root_is_d2ls_adagrad() -> None:
    # Dive into Deep Learning's AdaGrad: s += g²; θ -= lr·g/√(s + ε), ε = 1e-6, here at a large
    # rate. With gradients of order 1e-3, ε is as large as g² and ε outside the root moves θ elsewhere.
    small = GRADS * 1e-3

    def rule(theta, g, k, s):
        s["s"] = s.get("s", 0.0) + g * g
        return theta - 2.0 * g / math.sqrt(s["s"] + 1e-6)

    check(lambda ps: AdaGrad(ps, lr=2.0, eps=1e-6, eps_inside=True), rule, small)
    outside = trajectory(lambda ps: AdaGrad(ps, lr=2.0, eps=1e-6), small)
    assert np.abs(outside - by_hand(rule, small)).max() > 0.1


@pytest.mark.parametrize("lr", [1.0, 0.5])
def test_adadelta_zeiler_algorithm1(lr: float) -> None:
    rho, eps = 0.95, 1e-6

    def rule(theta, g, k, s):
        s["Eg2"] = rho * s.get("Eg2", 0.0) + (1 - rho) * g * g
        dx = -math.sqrt(s.get("Edx2", 0.0) + eps) / math.sqrt(s["Eg2"] + eps) * g
        s["Edx2"] = rho * s.get("Edx2", 0.0) + (1 - rho) * dx * dx  # unscaled Δx, also when lr ≠ 1
        return theta + lr * dx

    check(lambda ps: AdaDelta(ps, lr=lr), rule)


def test_adadelta_first_step_is_sqrt_eps_over_rms_g() -> None:
    traj = trajectory(lambda ps: AdaDelta(ps), GRADS[:1])
    g = GRADS[0]
    np.testing.assert_allclose(traj[0] - THETA0, -math.sqrt(1e-6) / np.sqrt(0.05 * g * g + 1e-6) * g, rtol=1e-14)


@pytest.mark.parametrize("eps_inside", [False, True])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.8])
def test_rmsprop_mosca_eq1_and_variants(eps_inside: bool, centered: bool, momentum: float) -> None:
    alpha, eps, lr = 0.9, 1e-8, 0.01

    def rule(theta, g, k, s):
        s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g  # Mosca & Magoulas eq. 1
        var = s["v"]
        if centered:
            s["gbar"] = alpha * s.get("gbar", 0.0) + (1 - alpha) * g
            var = max(var - s["gbar"] ** 2, 0.0)
        den = math.sqrt(var + eps) if eps_inside else math.sqrt(var) + eps
        if momentum:
            s["b"] = momentum * s.get("b", 0.0) + g / den
            return theta - lr * s["b"]
        return theta - lr * g / den

    check(lambda ps: RMSprop(ps, lr=lr, eps_inside=eps_inside, centered=centered, momentum=momentum), rule)


# ----- Adam, Adamax, Nadam ---------------------------------------------------------------------


@pytest.mark.parametrize("efficient", [False, True])
def test_adam_kingma_ba_algorithm1(efficient: bool) -> None:
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01

    def rule(theta, g, k, s):
        t = k + 1
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        if efficient:  # the end of §2: α_t = α√(1−β2^t)/(1−β1^t), ε̂ before the correction
            return theta - lr * math.sqrt(1 - b2**t) / (1 - b1**t) * s["m"] / (math.sqrt(s["v"]) + eps)
        m_hat, v_hat = s["m"] / (1 - b1**t), s["v"] / (1 - b2**t)
        return theta - lr * m_hat / (math.sqrt(v_hat) + eps)

    check(lambda ps: Adam(ps, lr=lr, efficient=efficient), rule)


def test_adam_first_step_is_lr_times_sign_and_zero_gradient_does_not_move() -> None:
    step = trajectory(lambda ps: Adam(ps, lr=0.01), GRADS[:1])[0] - THETA0
    g = GRADS[0]
    np.testing.assert_allclose(step, -0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)  # m̂ = g, v̂ = g²
    assert step[2] == 0.0


@pytest.mark.parametrize("eps", [0.0, 1e-8])
def test_adamax_algorithm2(eps: float) -> None:
    b1, b2, lr = 0.9, 0.999, 0.002

    def rule(theta, g, k, s):
        t = k + 1
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["u"] = max(b2 * s.get("u", 0.0), abs(g) + eps)
        if s["u"] == 0.0:  # only zero gradients so far: m = 0 too, the step's limit is 0
            return theta
        return theta - lr / (1 - b1**t) * s["m"] / s["u"]

    check(lambda ps: Adamax(ps, lr=lr, eps=eps), rule)


def test_adamax_first_step_and_zero_gradients_stay_finite() -> None:
    traj = trajectory(lambda ps: Adamax(ps, lr=0.002), GRADS[:2])
    np.testing.assert_allclose(traj[0] - THETA0, -0.002 * np.sign(GRADS[0]), rtol=1e-15)
    assert np.isfinite(traj).all() and traj[1, 2] == THETA0[2]


@pytest.mark.parametrize("form", ["dozat", "torch"])
def test_nadam_dozat_algorithm2(form: str) -> None:
    b1, b2, eps, lr, psi = 0.9, 0.999, 1e-8, 0.002, 0.004

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi))

    def rule(theta, g, k, s):
        t = k + 1
        prod = s.get("P", 1.0) * mu(t)  # ∏_{i≤t} μ_i
        s["P"] = prod
        decay = mu(t) if form == "dozat" else b1
        s["m"] = decay * s.get("m", 0.0) + (1 - decay) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_bar = mu(t + 1) * s["m"] / (1 - prod * mu(t + 1)) + (1 - mu(t)) * g / (1 - prod)
        return theta - lr * m_bar / (math.sqrt(s["v"] / (1 - b2**t)) + eps)

    check(lambda ps: Nadam(ps, lr=lr, form=form), rule)


def test_nadam_constant_form_is_optax_nadam_without_warming() -> None:
    # μ_t = β1 at every t: m ← β1·m + (1 − β1)·g; m̄ = β1·m/(1 − β1^(t+1)) + (1 − β1)·g/(1 − β1^t).
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.002

    def rule(theta, g, k, s):
        t = k + 1
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m_bar = b1 * s["m"] / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        return theta - lr * m_bar / (math.sqrt(s["v"] / (1 - b2**t)) + eps)

    check(lambda ps: Nadam(ps, lr=lr, form="constant"), rule)
    check(lambda ps: Nadam(ps, lr=lr, form="constant", momentum_decay=0.5), rule)  # ψ plays no part


def test_nadam_warming_schedule_values() -> None:
    # Dozat's μ_t = β1(1 − ½·0.96^(t/250)): μ_1 ≈ 0.450, slow climb (docs/optimizers/classic.md).
    from optimizers.adam import warming

    assert warming(0.9, 0.004, 1) == pytest.approx(0.9 * (1 - 0.5 * 0.96 ** (1 / 250)), rel=1e-14)
    assert warming(0.9, 0.004, 1) == pytest.approx(0.45007, abs=1e-5)
    assert warming(0.9, 0.004, 1000) == pytest.approx(0.9 * (1 - 0.5 * 0.96**4), rel=1e-14)  # ≈ 0.518


# ----- Rprop -----------------------------------------------------------------------------------


def rprop_rule(
    backtracking: bool,
    delta0: float = 0.1,
    up: float = 1.2,
    down: float = 0.5,
    lo: float = 1e-6,
    hi: float = 50.0,
) -> ScalarRule:
    """Riedmiller & Braun (1993)'s per-weight pseudo-code (or iRprop−), one weight at a time."""

    def sign(x: float) -> float:
        return (x > 0) - (x < 0)

    def rule(theta, g, k, s):
        prev, delta, last = s.get("prev", 0.0), s.get("delta", delta0), s.get("last", 0.0)
        if prev * g > 0:
            delta = min(delta * up, hi)
            step = -sign(g) * delta
        elif prev * g < 0:
            delta = max(delta * down, lo)
            step = -last if backtracking else 0.0
            g = 0.0
        else:
            step = -sign(g) * delta
        s.update(prev=g, delta=delta, last=step)
        return theta + step

    return rule


@pytest.mark.parametrize("form", ["backtracking", "irprop-"])
def test_rprop_against_the_pseudo_code(form: str) -> None:
    check(lambda ps: Rprop(ps, form=form), rprop_rule(form == "backtracking"))
    check(
        lambda ps: Rprop(ps, lr=0.01, form=form, step_max=0.012, step_min=0.004),
        rprop_rule(form == "backtracking", 0.01, lo=0.004, hi=0.012),
    )


def test_rprop_sign_flip_numbers() -> None:
    """g = +1, +1, −1, +1, +1 for one weight, Δ0 = 0.1, worked out on paper."""
    grads = np.array([[1.0], [1.0], [-1.0], [1.0], [1.0]])
    p = Parameter(np.zeros(1))
    for form, want in [
        # +1: −0.1; +1: Δ 0.12; −1: Δ 0.06, undo the −0.12; +1: c = 0, −0.06; +1: Δ 0.072
        ("backtracking", [-0.1, -0.22, -0.1, -0.16, -0.232]),
        # iRprop−: the flip step does not move at all
        ("irprop-", [-0.1, -0.22, -0.22, -0.28, -0.352]),
    ]:
        p.data[...] = 0.0
        opt = Rprop([p], form=form)
        got = []
        for g in grads:
            p.grad = g.copy()
            opt.step()
            got.append(float(p.data[0]))
        np.testing.assert_allclose(got, want, rtol=1e-14)
        np.testing.assert_allclose(opt.state[p]["step_size"], [0.072], rtol=1e-14)


# ----- Dozat's hyperalgorithm: settings that no named optimizer covers -------------------------


def test_dozat_l1_true_mean_accumulator() -> None:
    # v_t = (1/t)·Σ|g_i| (ν_t = (t−1)/t), v̄ = v + ε, no momentum: an L1 "AdaGrad with a mean".
    def rule(theta, g, k, s):
        s.setdefault("gs", []).append(abs(g))
        return theta - 0.01 * g / (sum(s["gs"]) / len(s["gs"]) + 1e-8)

    check(
        lambda ps: Dozat(ps, lr=0.01, momentum="none", accumulator="mean", norm=1, nu_schedule="true_mean"),
        rule,
    )


def test_dozat_max_norm_sum_accumulator() -> None:
    def rule(theta, g, k, s):
        s["v"] = max(s.get("v", 0.0), abs(g))  # the ν → 1 limit of the max form
        return theta - 0.01 * g / (s["v"] + 1e-8)

    check(lambda ps: Dozat(ps, lr=0.01, momentum="none", accumulator="sum", norm=math.inf), rule)


def test_dozat_scaled_gradient_momentum_with_rmsprop_and_sutskever_schedule() -> None:
    # The combination Tieleman & Hinton tried (Dozat §2.3): m ← μ_t·m + (1−μ_t)·α/v̄·g; Δ = m̄ = m.
    mu_max, nu = 0.7, 0.9

    def rule(theta, g, k, s):
        t = k + 1
        mu = min(1 - 2 ** (-1 - math.log2(t // 250 + 1)), mu_max)  # Sutskever et al. (2013)
        s["v"] = nu * s.get("v", 0.0) + (1 - nu) * g * g
        scaled_g = inv_rate(0.01, k) / (math.sqrt(s["v"]) + 1e-8) * g
        s["m"] = mu * s.get("m", 0.0) + (1 - mu) * scaled_g
        return theta - s["m"]

    check(
        lambda ps: Dozat(
            ps,
            lr=0.01,
            momentum="classical",
            mu=mu_max,
            mu_schedule="sutskever",
            scaled=True,
            accumulator="mean",
            nu=nu,
            nu_schedule="constant",
            schedule=Inv(*INV),
        ),
        rule,
    )


def test_decay_schedules_by_hand() -> None:
    mu = 0.9
    assert decay_schedule("constant", mu, 7) == mu
    assert decay_schedule("bias_correction", mu, 1) == 0.0  # μ_1 = 0: the zero start gets no weight
    assert decay_schedule("bias_correction", mu, 2) == pytest.approx(mu * (1 - mu) / (1 - mu**2), rel=1e-15)
    assert decay_schedule("bias_correction", mu, 2) == pytest.approx(mu / (1 + mu), rel=1e-15)
    assert [decay_schedule("true_mean", mu, t) for t in (1, 2, 4)] == [0.0, 0.5, 0.75]
    assert [decay_schedule("sutskever", 0.995, t) for t in (1, 249, 250, 750, 1750)] == [
        0.5,
        0.5,
        0.75,
        1 - 1 / 8,
        1 - 1 / 16,
    ]
    assert decay_schedule("sutskever", 0.8, 10**6) == 0.8  # capped at μ
    b1 = 0.9 * (1 - 0.5 * 0.96**0.004)
    assert decay_schedule("nadam", mu, 1) == 0.0  # b_1(1 − P_0)/(1 − P_1) with P_0 = 1
    assert decay_schedule("nadam", mu, 2, product=b1) > 0


# ----- learning-rate schedules -----------------------------------------------------------------


def test_schedule_values_k_counted_from_zero() -> None:
    assert [Fixed()(k) for k in (0, 5)] == [1.0, 1.0]
    assert Inv(1e-4, 0.75)(0) == 1.0 and Inv(1e-4, 0.75)(10_000) == pytest.approx(2**-0.75, rel=1e-15)
    assert [Step(3, 0.1)(k) for k in (0, 2, 3, 6)] == pytest.approx([1, 1, 0.1, 0.01], rel=1e-15)
    assert Exponential(0.5)(3) == 0.125
    assert InverseTime(0.5)(4) == pytest.approx(1 / 3, rel=1e-15)
    dozat = EpochStep(steps_per_epoch=10)  # ×0.94 every two epochs = every 20 iterations
    assert [dozat(k) for k in (0, 19, 20, 39, 40)] == pytest.approx([1, 1, 0.94, 0.94, 0.94**2], rel=1e-15)


def test_first_update_uses_the_base_rate_and_the_counter_is_global() -> None:
    p, q = Parameter(np.zeros(1)), Parameter(np.zeros(1))
    opt = SGD([p, q], lr=0.5, schedule=Step(1, 0.1))
    p.grad = np.ones(1)
    opt.step()  # k = 0: only p has a gradient
    assert p.data[0] == -0.5 and opt.iteration == 1
    p.grad, q.grad = np.ones(1), np.ones(1)
    opt.step()  # k = 1 for both, although q's own step count is 1
    assert p.data[0] == pytest.approx(-0.55) and q.data[0] == pytest.approx(-0.05)
    assert opt.state[q]["step"] == 1 and opt.state[p]["step"] == 2


def test_make_schedule_by_name_and_its_errors() -> None:
    assert isinstance(make_schedule("inv"), Inv) and make_schedule("epoch", steps_per_epoch=5).steps_per_epoch == 5
    assert make_schedule("1/t", gamma=0.1)(10) == 0.5
    with pytest.raises(ValueError, match=r"unknown schedule 'warmup'.*'inv'"):
        make_schedule("warmup")
    with pytest.raises(ValueError, match="missing argument.*step_size"):
        make_schedule("step")
    with pytest.raises(ValueError, match=r"unknown argument.*\['foo'\].*gamma"):
        make_schedule("inv", foo=1)
    for bad in (lambda: Inv(gamma=-1), lambda: Step(0), lambda: Exponential(0), lambda: EpochStep(0)):
        with pytest.raises(ValueError):
            bad()


# ----- validation, registry, groups ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (SGD, {"lr": -0.1}, "lr"),
        (SGD, {"lr": "fast"}, "lr"),
        (SGD, {"momentum": 1.0}, "momentum"),
        (Momentum, {"form": "keras"}, "form"),
        (Nesterov, {"weight_decay": -1e-4}, "weight_decay"),
        (AdaGrad, {"eps": -1.0}, "eps"),
        (AdaGrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
        (AdaDelta, {"rho": 1.0}, "rho"),
        (AdaDelta, {"eps": 0.0}, "eps"),
        (AdaDelta, {"lr": -1.0}, "lr"),
        (RMSprop, {"alpha": -0.1}, "alpha"),
        (RMSprop, {"momentum": 1.5}, "momentum"),
        (RMSprop, {"centered": "yes"}, "centered"),
        (Adam, {"beta1": 1.0}, "beta1"),
        (Adam, {"beta2": -0.5}, "beta2"),
        (Adam, {"efficient": 1}, "efficient"),
        (Adamax, {"beta2": 1.5}, "beta2"),
        (Nadam, {"form": "keras"}, "form"),
        (AdaGrad, {"eps_inside": "yes"}, "eps_inside"),
        (Nadam, {"momentum_decay": -1.0}, "momentum_decay"),
        (Rprop, {"eta_minus": 1.5}, "eta_minus"),
        (Rprop, {"eta_plus": 0.9}, "eta_plus"),
        (Rprop, {"lr": 100.0}, "lr"),
        (Rprop, {"step_min": 0.0}, "step_min"),
        (Rprop, {"form": "rprop+"}, "form"),
        (Dozat, {"momentum": "heavy"}, "momentum"),
        (Dozat, {"accumulator": "max"}, "accumulator"),
        (Dozat, {"norm": 3}, "norm"),
        (Dozat, {"mu": 1.0}, "mu"),
        (Dozat, {"nu": -0.1}, "nu"),
        (Dozat, {"mu_schedule": "cosine"}, "mu_schedule"),
        (Dozat, {"momentum_accumulator": "max"}, "momentum_accumulator"),
        (Dozat, {"scaled": "no"}, "scaled"),
    ],
)
def test_bad_hyperparameters_raise_a_value_error_naming_them(cls: type, kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must"):
        cls([Parameter(np.zeros(2))], **kwargs)
    with pytest.raises(ValueError, match=rf"^{name} must"):  # also as a group override
        cls([{"params": [Parameter(np.zeros(2))], **kwargs}])


def test_registry_and_build_optimizer() -> None:
    assert set(optimizers.OPTIMIZERS) >= {
        "sgd",
        "momentum",
        "nesterov",
        "nag",
        "adagrad",
        "adadelta",
        "rmsprop",
        "adam",
        "adamax",
        "nadam",
        "rprop",
        "dozat",
    }
    opt = optimizers.build_optimizer(
        "NAG",
        [Parameter(np.zeros(2))],
        lr=0.1,
        momentum=0.5,
        form="torch",
        schedule="inv",
        schedule_gamma=1e-3,
        schedule_power=1,
    )
    assert isinstance(opt, Nesterov) and opt.param_groups[0]["form"] == "torch"
    assert isinstance(opt.schedule, Inv) and (opt.schedule.gamma, opt.schedule.power) == (1e-3, 1)
    opt = optimizers.build_optimizer("dozat", [Parameter(np.zeros(2))], norm=float("inf"), scaled=True, schedule=None)
    assert opt.param_groups[0]["norm"] == math.inf and opt.schedule is None
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs'.*'adam'.*'sgd'"):
        optimizers.build_optimizer("lbfgs", [Parameter(np.zeros(2))])
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['betas'\] for optimizer 'adam'.*'beta1'"):
        optimizers.build_optimizer("adam", [Parameter(np.zeros(2))], betas=0.9)
    with pytest.raises(ValueError, match="need schedule=NAME"):
        optimizers.build_optimizer("sgd", [Parameter(np.zeros(2))], schedule_gamma=0.1)


# Optimizers that step from .grad alone; those needing a loss closure have their own test files.
GRADIENT_STEPPED = [name for name, cls in optimizers.OPTIMIZERS.items() if not cls.needs_closure]
SCHEDULED = [name for name, cls in optimizers.OPTIMIZERS.items() if "schedule" in optimizers.hyperparameters(cls)]


def test_the_training_command_line_builds_every_optimizer_from_strings() -> None:
    import layers
    from experiments import cli

    for name in optimizers.OPTIMIZERS:  # --optimizer accepts every registered name
        assert cli.build_parser().parse_args(["train", "--optimizer", name]).optimizer == name
    model = layers.LeNet5()
    hyper = cli.parse_hyperparams(["lr=0.01", "weight_decay=0.0005", "schedule=epoch", "schedule_steps_per_epoch=938"])
    for name in SCHEDULED:  # the learned-rate methods (hypergradient, Ravaut, ESGD) take no schedule
        opt = optimizers.build_optimizer(name, model.layer_groups(), **dict(hyper))
        assert len(opt.param_groups) == len(model.layer_groups()) and isinstance(opt.schedule, EpochStep)
    opt = optimizers.build_optimizer(
        "dozat",
        model.parameters(),
        **cli.parse_hyperparams(["norm=inf", "momentum=classical", "scaled=true", "mu_schedule=sutskever"]),
    )
    assert opt.param_groups[0]["norm"] == math.inf and opt.param_groups[0]["scaled"] is True


def test_groups_override_defaults_and_parameters_without_gradients_are_skipped() -> None:
    p, q, r = Parameter(np.zeros(2)), Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = Adam([{"params": [p], "lr": 0.1, "name": "conv1"}, {"params": [q, r]}], lr=0.01)
    p.grad, q.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(p.data, -0.1, rtol=1e-6)
    np.testing.assert_allclose(q.data, -0.01, rtol=1e-6)
    assert r not in opt.state and (r.data == 0).all()


@pytest.mark.parametrize("name", sorted(set(GRADIENT_STEPPED) - {"nag"}))
def test_the_gradient_array_is_never_changed(name: str) -> None:
    p = Parameter(np.array([0.5, -1.0, 2.0]))
    opt = optimizers.build_optimizer(name, [p], weight_decay=0.01)
    for g in ([0.1, -0.2, 0.0], [-0.3, 0.4, 0.5], [0.2, 0.1, -0.1]):
        grad = np.array(g)
        p.grad = grad
        opt.step()
        np.testing.assert_array_equal(grad, g)
        assert all(v is not grad for v in opt.state[p].values())
