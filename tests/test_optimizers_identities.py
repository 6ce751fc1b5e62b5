"""Identities between optimizers: the named ones are settings of Dozat's hyperalgorithm, and more.

- every named optimizer equals :class:`~optimizers.Dozat` with the matching switches (Dozat 2016,
  Algorithm 1), step for step over many random steps, with and without a learning-rate schedule;
- the bias-correction schedule μ_t = μ(1 − μ^(t−1))/(1 − μ^t) reproduces Adam's m̂ (Dozat §2.1);
- Caffe-form NAG equals torch-form NAG at a constant rate and differs under ``inv``; the Caffe
  iterate is Sutskever's look-ahead point θ + μv;
- momentum with μ = 0 is SGD, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import optimizers
from minigrad import Parameter
from optimizers import SGD, AdaGrad, Adam, Adamax, Dozat, Momentum, Nadam, Nesterov, RMSprop
from optimizers.adam import warming
from optimizers.dozat import decay_schedule
from optimizers.schedules import EpochStep, Inv, InverseTime, Step

SHAPES = [(3, 2), (5,)]
STEPS = 400

Factory = Callable[..., optimizers.Optimizer]


def random_grads(steps: int = STEPS, seed: int = 0) -> list[list[np.ndarray]]:
    """``steps`` lists of one random gradient per shape in SHAPES."""
    rng = np.random.default_rng(seed)
    # Gradients of varying size, so that accumulators and bias corrections are exercised.
    return [[rng.standard_normal(s) * rng.uniform(0.1, 3.0) for s in SHAPES] for _ in range(steps)]


def run(
    factory: Factory, grads: list[list[np.ndarray]], **kwargs
) -> tuple[list[np.ndarray], optimizers.Optimizer]:
    """The parameters after every step (concatenated), and the optimizer."""
    rng = np.random.default_rng(42)
    params = [Parameter(rng.standard_normal(s)) for s in SHAPES]
    opt = factory(params, **kwargs)
    history = []
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = g
        opt.step()
        history.append(np.concatenate([p.data.ravel() for p in params]))
    return history, opt


CM = {"momentum": "classical", "mu_schedule": "constant", "momentum_accumulator": "sum"}
NAG = {**CM, "momentum": "nesterov"}
ADAM = {
    "momentum": "classical",
    "scaled": False,
    "momentum_accumulator": "mean",
    "mu": 0.9,
    "mu_schedule": "bias_correction",
    "accumulator": "mean",
    "norm": 2,
    "nu": 0.999,
    "nu_schedule": "bias_correction",
    "eps": 1e-8,
}

# (name, the named optimizer, the hyperalgorithm's switches), each with lr and weight decay added.
EQUIVALENT: list[tuple[str, Factory, dict]] = [
    ("sgd", lambda ps, **k: SGD(ps, **k), {"momentum": "none", "accumulator": "none"}),
    (
        "momentum, Caffe",
        lambda ps, **k: Momentum(ps, momentum=0.9, **k),
        {**CM, "mu": 0.9, "scaled": True, "accumulator": "none"},
    ),
    (
        "momentum, torch",
        lambda ps, **k: Momentum(ps, momentum=0.9, form="torch", **k),
        {**CM, "mu": 0.9, "scaled": False, "accumulator": "none"},
    ),
    (
        "NAG, Caffe",
        lambda ps, **k: Nesterov(ps, momentum=0.9, **k),
        {**NAG, "mu": 0.9, "scaled": True, "accumulator": "none"},
    ),
    (
        "NAG, torch",
        lambda ps, **k: Nesterov(ps, momentum=0.9, form="torch", **k),
        {**NAG, "mu": 0.9, "scaled": False, "accumulator": "none"},
    ),
    (
        "adagrad",
        lambda ps, **k: AdaGrad(ps, **k),
        {"momentum": "none", "accumulator": "sum", "norm": 2, "eps": 1e-8},
    ),
    (
        "rmsprop",
        lambda ps, **k: RMSprop(ps, alpha=0.9, **k),
        {
            "momentum": "none",
            "accumulator": "mean",
            "norm": 2,
            "nu": 0.9,
            "nu_schedule": "constant",
            "eps": 1e-8,
        },
    ),
    ("adam", lambda ps, **k: Adam(ps, **k), ADAM),
    (
        "adamax",
        lambda ps, **k: Adamax(ps, **k),
        {**ADAM, "norm": math.inf, "nu_schedule": "constant", "eps": 0.0},
    ),
    ("nadam", lambda ps, **k: Nadam(ps, **k), {**ADAM, "momentum": "nesterov", "mu_schedule": "nadam"}),
]


@pytest.mark.parametrize(("name", "named", "switches"), EQUIVALENT, ids=[e[0] for e in EQUIVALENT])
@pytest.mark.parametrize("schedule", [None, Inv(1e-2, 0.75)], ids=["constant rate", "inv"])
def test_each_named_optimizer_is_a_setting_of_the_hyperalgorithm(
    name: str, named: Factory, switches: dict, schedule: Inv | None
) -> None:
    grads = random_grads()
    kwargs = {"lr": 0.01, "weight_decay": 1e-3, "schedule": schedule}
    ours, _ = run(named, grads, **kwargs)
    hyper, _ = run(lambda ps, **k: Dozat(ps, **switches, **k), grads, **kwargs)
    # Same mathematics, different association of floating-point operations: agreement to ~1e-13.
    np.testing.assert_allclose(np.array(ours), np.array(hyper), rtol=1e-12, atol=1e-13)


def test_bias_correction_schedule_reproduces_adams_m_hat_and_v_hat() -> None:
    grads = random_grads(60)
    _, adam = run(lambda ps: Adam(ps, lr=0.0), grads)  # lr = 0: only the moments move
    _, hyper = run(lambda ps: Dozat(ps, lr=0.0, **ADAM), grads)
    for p_adam, p_hyper in zip(adam.param_groups[0]["params"], hyper.param_groups[0]["params"], strict=True):
        a, h = adam.state[p_adam], hyper.state[p_hyper]
        t = a["step"]
        np.testing.assert_allclose(h["m"], a["exp_avg"] / (1 - 0.9**t), rtol=1e-12)  # m_t is m̂_t
        np.testing.assert_allclose(h["v"], a["exp_avg_sq"] / (1 - 0.999**t), rtol=1e-12)


def test_nadam_schedule_is_the_bias_correction_of_the_warming_sequence() -> None:
    """An EMA with μ'_t = b_t(1 − P_{t−1})/(1 − P_t) equals the b_t-EMA divided by 1 − P_t (Nadam's m̂)."""
    rng = np.random.default_rng(3)
    ema, corrected, product = 0.0, 0.0, 1.0
    for t in range(1, 300):
        g = rng.standard_normal()
        b = warming(0.9, 0.004, t)
        corrected_mu = decay_schedule("nadam", 0.9, t, product)
        product *= b
        ema = b * ema + (1 - b) * g
        corrected = corrected_mu * corrected + (1 - corrected_mu) * g
        assert corrected == pytest.approx(ema / (1 - product), rel=1e-12)


def test_true_mean_schedule_gives_the_arithmetic_mean() -> None:
    grads = random_grads(50)
    _, hyper = run(
        lambda ps: Dozat(
            ps,
            lr=0.0,
            momentum="classical",
            mu_schedule="true_mean",
            accumulator="mean",
            nu_schedule="true_mean",
        ),
        grads,
    )
    p = hyper.param_groups[0]["params"][0]
    np.testing.assert_allclose(hyper.state[p]["v"], np.mean([g[0] ** 2 for g in grads], axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        hyper.state[p]["m"], np.mean([g[0] for g in grads], axis=0), rtol=1e-11, atol=1e-15
    )


def test_bias_correction_is_the_true_mean_in_the_limit() -> None:
    assert decay_schedule("bias_correction", 1 - 1e-7, 5) == pytest.approx(
        decay_schedule("true_mean", 0.0, 5), abs=1e-6
    )


def test_adam_without_momentum_is_rmsprop_with_a_bias_corrected_nu() -> None:
    grads = random_grads(100)
    adam, _ = run(lambda ps: Adam(ps, lr=0.01, beta1=0.0, beta2=0.9), grads)
    hyper, _ = run(
        lambda ps: Dozat(
            ps, lr=0.01, momentum="none", accumulator="mean", nu=0.9, nu_schedule="bias_correction"
        ),
        grads,
    )
    np.testing.assert_allclose(adam, hyper, rtol=1e-12)


def test_adam_efficient_form_equals_algorithm1_when_eps_is_negligible() -> None:
    # ε = 0 itself is refused (a weight whose gradient has been 0 so far would give 0/0); the
    # smallest normal float64 vanishes beside every √v here, which is the ε = 0 identity.
    tiny = float(np.finfo(np.float64).tiny)
    grads = random_grads(100)
    a, _ = run(lambda ps: Adam(ps, lr=0.01, eps=tiny), grads)
    b, _ = run(lambda ps: Adam(ps, lr=0.01, eps=tiny, efficient=True), grads)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    c, _ = run(lambda ps: Adam(ps, lr=0.01, eps=1e-3, efficient=True), grads)
    assert np.abs(np.array(a) - np.array(c)).max() > 1e-6  # ε̂ sits before the correction: not the same


def test_decaying_sum_equals_decaying_mean_at_rate_times_one_minus_mu() -> None:
    # Dozat §2.1: classical momentum "can be equivalently represented as a decaying mean by
    # multiplying the learning rate by (1 − μ)".
    grads = random_grads(100)
    total, _ = run(
        lambda ps: Dozat(ps, lr=0.01 * (1 - 0.9), **CM, mu=0.9, scaled=True, accumulator="none"), grads
    )
    mean, _ = run(
        lambda ps: Dozat(
            ps, lr=0.01, **{**CM, "momentum_accumulator": "mean"}, mu=0.9, scaled=True, accumulator="none"
        ),
        grads,
    )
    np.testing.assert_allclose(total, mean, rtol=1e-11)


@pytest.mark.parametrize("cls", [Momentum, Nesterov])
def test_caffe_and_torch_forms_agree_at_a_constant_rate_and_differ_under_inv(cls: type) -> None:
    grads = random_grads(100)
    caffe, _ = run(lambda ps, **k: cls(ps, lr=0.05, momentum=0.9, **k), grads)
    torch_form, _ = run(lambda ps, **k: cls(ps, lr=0.05, momentum=0.9, form="torch", **k), grads)
    np.testing.assert_allclose(caffe, torch_form, rtol=1e-12, atol=1e-13)
    inv = Inv(gamma=0.1, power=0.75)
    caffe, _ = run(lambda ps: cls(ps, lr=0.05, momentum=0.9, schedule=inv), grads)
    torch_form, _ = run(lambda ps: cls(ps, lr=0.05, momentum=0.9, form="torch", schedule=inv), grads)
    assert np.abs(np.array(caffe) - np.array(torch_form)).max() > 1e-2


@pytest.mark.parametrize("schedule", [None, Inv(0.1, 0.75)], ids=["constant rate", "inv"])
def test_caffe_nag_iterate_is_sutskevers_look_ahead_point(schedule: Inv | None) -> None:
    """Sutskever et al. (2013): v ← μv − ε∇f(θ + μv); θ ← θ + v. Caffe stores φ = θ + μv."""
    A = np.diag([1.0, 4.0, 9.0])

    def grad(x: np.ndarray) -> np.ndarray:
        return A @ x - np.array([1.0, -2.0, 0.5])

    theta, v, mu, lr = np.array([2.0, -1.0, 3.0]), np.zeros(3), 0.9, 0.05
    p = Parameter(theta.copy())
    opt = Nesterov([p], lr=lr, momentum=mu, schedule=schedule)
    for k in range(60):
        rate = lr * (schedule(k) if schedule else 1.0)
        v = mu * v - rate * grad(theta + mu * v)
        theta = theta + v
        p.grad = grad(p.data)
        opt.step()
        np.testing.assert_allclose(p.data, theta + mu * v, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [Momentum, Nesterov])
@pytest.mark.parametrize("form", ["caffe", "torch"])
def test_momentum_zero_is_sgd_bit_for_bit(cls: type, form: str) -> None:
    grads = random_grads(50)
    sgd, _ = run(lambda ps: SGD(ps, lr=0.05, weight_decay=1e-3, schedule=Inv()), grads)
    zero, _ = run(
        lambda ps: cls(ps, lr=0.05, momentum=0.0, weight_decay=1e-3, form=form, schedule=Inv()), grads
    )
    np.testing.assert_array_equal(sgd, zero)


def test_sgd_momentum_argument_is_caffe_momentum_bit_for_bit() -> None:
    grads = random_grads(50)
    a, _ = run(lambda ps: SGD(ps, lr=0.05, momentum=0.9), grads)
    b, _ = run(lambda ps: Momentum(ps, lr=0.05, momentum=0.9), grads)
    np.testing.assert_array_equal(a, b)


def test_schedule_identities() -> None:
    dozat, step = EpochStep(steps_per_epoch=7), Step(step_size=14, gamma=0.94)
    assert all(dozat(k) == step(k) for k in range(200))
    one_over_t, inv = InverseTime(0.01), Inv(0.01, power=1.0)
    assert all(one_over_t(k) == pytest.approx(inv(k), rel=1e-15) for k in range(200))
