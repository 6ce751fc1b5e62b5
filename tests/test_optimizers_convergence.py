"""Whole runs: convergence on a convex quadratic and on Rosenbrock, finiteness under random
gradients (hypothesis), checkpoint resume bit for bit, and the GPU path on the CuPy stand-in.

Convergence budgets and tolerances are stated per optimizer in the tables below (full-batch,
float64, from fixed starts). Where a constant rate only reaches a noise ball around the minimum
(the sign-like steps of RMSprop, Nadam and the hyperalgorithm, AdaDelta's drift on Rosenbrock),
the entry anneals it with an exponential schedule, which is part of what is tested.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
import optimizers
from minigrad import Parameter
from tests import fake_cupy
from tests.fake_cupy import DeviceArray

EXP = {"schedule": "exp", "schedule_gamma": 0.9995}

# ----- convex quadratic f(x) = ½ Σ a_i (x_i − c_i)², condition number 10 --------------------------
A, C = np.array([1.0, 10.0]), np.array([1.0, -2.0])
# (registry name, hyperparameters, steps, tolerance on max |x − c|), from x = 0.
QUADRATIC: list[tuple[str, dict[str, Any], int, float]] = [
    ("sgd", {"lr": 0.1}, 200, 1e-8),
    ("momentum", {"lr": 0.05}, 300, 1e-5),
    ("momentum", {"lr": 0.05, "form": "torch"}, 300, 1e-5),
    ("nesterov", {"lr": 0.05}, 300, 1e-8),
    ("nesterov", {"lr": 0.05, "form": "torch"}, 300, 1e-8),
    ("adagrad", {"lr": 0.5}, 500, 1e-10),
    ("adadelta", {}, 2000, 1e-10),
    ("rmsprop", {"lr": 0.01}, 2000, 1e-10),
    ("adam", {"lr": 0.1}, 1000, 1e-10),
    ("adamax", {"lr": 0.1}, 1000, 1e-10),
    ("nadam", {"lr": 0.1}, 1000, 1e-10),
    ("nadam", {"lr": 0.1, "form": "torch"}, 1000, 1e-10),
    ("rprop", {}, 300, 1e-5),
    ("rprop", {"form": "irprop-"}, 300, 1e-5),
    ("dozat", {"lr": 0.05, "schedule": "exp", "schedule_gamma": 0.995}, 2000, 1e-8),
    ("dozat", {"lr": 0.05, "norm": 1, "schedule": "exp", "schedule_gamma": 0.995}, 2000, 1e-7),
    ("dozat", {"lr": 0.05, "norm": "inf", "schedule": "exp", "schedule_gamma": 0.995}, 2000, 1e-6),
]

# ----- Rosenbrock f(x, y) = (1 − x)² + 100(y − x²)², minimum (1, 1), from (−1.2, 1) ------------------
ROSENBROCK: list[tuple[str, dict[str, Any], int, float]] = [
    ("sgd", {"lr": 0.001}, 20000, 1e-3),
    ("momentum", {"lr": 0.0005}, 5000, 1e-4),
    ("momentum", {"lr": 0.0005, "form": "torch"}, 5000, 1e-4),
    ("nesterov", {"lr": 0.0005}, 5000, 1e-4),
    ("adagrad", {"lr": 1.0}, 15000, 1e-4),
    ("adadelta", EXP, 10000, 1e-3),  # the paper's ρ, ε; constant steps drift along the valley
    ("rmsprop", {"lr": 0.002, **EXP}, 10000, 1e-3),
    ("adam", {"lr": 0.02}, 5000, 1e-6),
    ("adamax", {"lr": 0.02}, 5000, 1e-3),
    ("nadam", {"lr": 0.02, **EXP}, 10000, 1e-4),
    # Rprop stalls about 1e-3 away once Δ reaches the paper's Δmin = 1e-6: let Δ go lower.
    ("rprop", {"step_min": 1e-12}, 20000, 1e-4),
    ("rprop", {"step_min": 1e-12, "form": "irprop-"}, 10000, 1e-6),
    ("dozat", {"lr": 0.01, **EXP}, 10000, 1e-4),
    ("dozat", {"lr": 0.01, "norm": 1, **EXP}, 10000, 1e-4),
    ("dozat", {"lr": 0.01, "norm": "inf", **EXP}, 10000, 1e-6),
]


def quadratic_grad(x: np.ndarray) -> np.ndarray:
    """∇f of the quadratic: a ⊙ (x − c)."""
    return A * (x - C)


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """∇f of Rosenbrock's function with a = 1, b = 100."""
    a, b = x
    return np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def minimize(name: str, hyper: dict[str, Any], grad: Any, start: list[float], steps: int) -> np.ndarray:
    """The point reached after ``steps`` full-batch steps of the named optimizer from ``start``."""
    p = Parameter(np.array(start))
    opt = optimizers.build_optimizer(name, [p], **dict(hyper))
    for _ in range(steps):
        p.grad = grad(p.data)
        opt.step()
    return p.data


def label(case: tuple) -> str:
    """A readable test id for a convergence case."""
    name, hyper, steps, tol = case
    extra = ",".join(f"{k}={v}" for k, v in hyper.items() if not k.startswith("schedule_"))
    return f"{name}[{extra}]-{steps}-steps-to-{tol:g}"


@pytest.mark.parametrize("case", QUADRATIC, ids=[label(c) for c in QUADRATIC])
def test_reaches_the_minimum_of_a_convex_quadratic(case: tuple) -> None:
    name, hyper, steps, tol = case
    assert np.abs(minimize(name, hyper, quadratic_grad, [0.0, 0.0], steps) - C).max() < tol


@pytest.mark.parametrize("case", ROSENBROCK, ids=[label(c) for c in ROSENBROCK])
def test_reaches_the_minimum_of_rosenbrock(case: tuple) -> None:
    name, hyper, steps, tol = case
    assert np.abs(minimize(name, hyper, rosenbrock_grad, [-1.2, 1.0], steps) - 1.0).max() < tol


# ----- every optimizer and variant: finiteness, state dicts, the device path ---------------------

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9, "weight_decay": 1e-3}),
    ("momentum", {"form": "torch"}),
    ("nesterov", {}),
    ("nesterov", {"form": "torch"}),
    ("adagrad", {"initial_accumulator_value": 0.1}),
    ("adadelta", {"lr": 0.5}),
    ("rmsprop", {}),
    ("rmsprop", {"centered": True, "momentum": 0.9, "eps_inside": True}),
    ("adam", {}),
    ("adam", {"efficient": True}),
    ("adamax", {}),
    ("adamax", {"eps": 1e-8}),
    ("nadam", {}),
    ("nadam", {"form": "torch"}),
    ("rprop", {}),
    ("rprop", {"form": "irprop-"}),
    ("dozat", {}),
    (
        "dozat",
        {
            "momentum": "classical",
            "scaled": True,
            "momentum_accumulator": "sum",
            "mu_schedule": "sutskever",
            "accumulator": "sum",
            "norm": 1,
        },
    ),
    ("dozat", {"momentum": "nesterov", "mu_schedule": "nadam", "nu_schedule": "true_mean", "norm": "inf"}),
    ("dozat", {"momentum": "none", "accumulator": "none"}),
]
VARIANT_IDS = [f"{n}[{','.join(f'{k}={v}' for k, v in h.items())}]" for n, h in VARIANTS]


@st.composite
def gradient_runs(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray]]:
    """A start point and 1–4 gradients of one random shape and float dtype, zeros and ±1e3 included."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    width = 32 if dtype is np.float32 else 64
    finite = st.floats(-1e3, 1e3, width=width) | st.just(0.0)  # zeros are common, and edge cases
    start = draw(hnp.arrays(dtype, shape, elements=st.floats(-10, 10, width=width)))
    grads = draw(st.lists(hnp.arrays(dtype, shape, elements=finite), min_size=1, max_size=4))
    return start, grads


@pytest.mark.parametrize(("name", "hyper"), VARIANTS, ids=VARIANT_IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=gradient_runs())
def test_updates_stay_finite_and_keep_shape_and_dtype(name: str, hyper: dict[str, Any], run: tuple) -> None:
    start, grads = run
    p = Parameter(start.copy())
    opt = optimizers.build_optimizer(name, [p], schedule="inv", **dict(hyper))
    for g in grads:
        p.grad = g
        opt.step()
        assert p.data.shape == start.shape and p.data.dtype == start.dtype
        assert np.isfinite(p.data).all(), (name, hyper, grads)
    for value in opt.state[p].values():
        if hasattr(value, "shape"):
            assert value.shape == start.shape and value.dtype == start.dtype and np.isfinite(value).all()


def trajectory_grads(steps: int, seed: int = 0) -> list[list[np.ndarray]]:
    """``steps`` pairs of random gradients for the two parameters of :func:`fresh`."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((4, 3)), rng.standard_normal(5)] for _ in range(steps)]


def fresh(
    name: str, hyper: dict[str, Any], dtype: type, start: list[np.ndarray] | None = None
) -> tuple[list[Parameter], optimizers.Optimizer]:
    """Two parameters in two named groups (the second with its own lr) and the optimizer, with `inv`."""
    rng = np.random.default_rng(7)
    values = start or [rng.standard_normal((4, 3)), rng.standard_normal(5)]
    params = [Parameter(np.array(v, dtype=dtype)) for v in values]
    groups = [{"params": params[:1], "name": "layer0"}, {"params": params[1:], "name": "layer1", "lr": 0.005}]
    return params, optimizers.build_optimizer(
        name,
        groups,
        lr=0.01,
        schedule="inv",
        schedule_gamma=0.1,
        **{k: v for k, v in hyper.items() if k != "lr"},
    )


def feed(params: list[Parameter], opt: optimizers.Optimizer, grads: list[list[np.ndarray]]) -> None:
    """One step per entry of ``grads``."""
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = g.astype(p.dtype)
        opt.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "hyper"), VARIANTS, ids=VARIANT_IDS)
def test_a_resumed_run_continues_bit_identically(tmp_path, name: str, hyper: dict[str, Any], dtype: type) -> None:
    before, after = trajectory_grads(7, seed=1), trajectory_grads(9, seed=2)
    params, opt = fresh(name, hyper, dtype)
    feed(params, opt, before)
    minigrad.save(
        {"weights": {str(i): p.data for i, p in enumerate(params)}, "opt": opt.state_dict()},
        tmp_path / "ckpt.npz",
    )
    feed(params, opt, after)  # the uninterrupted run

    saved = minigrad.load(tmp_path / "ckpt.npz")
    twin, twin_opt = fresh(name, hyper, dtype, start=[saved["weights"][str(i)] for i in range(len(params))])
    twin_opt.load_state_dict(saved["opt"])
    assert twin_opt.iteration == len(before)
    feed(twin, twin_opt, after)
    for p, q in zip(params, twin, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    for p, q in zip(params, twin, strict=True):
        assert opt.state[p].keys() == twin_opt.state[q].keys()
        for key, value in opt.state[p].items():
            np.testing.assert_array_equal(value, twin_opt.state[q][key], err_msg=key)
            assert type(twin_opt.state[q][key]) is type(value)  # Python scalars come back as Python scalars


def test_a_state_dict_saved_before_the_first_step_loads(tmp_path) -> None:
    params, opt = fresh("adam", {}, np.float64)
    minigrad.save({"opt": opt.state_dict()}, tmp_path / "empty.npz")
    twin, twin_opt = fresh("adam", {}, np.float64)
    twin_opt.load_state_dict(minigrad.load(tmp_path / "empty.npz")["opt"])
    feed(params, opt, trajectory_grads(3))
    feed(twin, twin_opt, trajectory_grads(3))
    np.testing.assert_array_equal(params[0].data, twin[0].data)


@pytest.mark.parametrize(("name", "hyper"), VARIANTS, ids=VARIANT_IDS)
def test_state_lives_on_the_parameters_device_and_steps_never_sync(monkeypatch, name: str, hyper: dict) -> None:
    """On the CuPy stand-in: no NumPy call on device arrays, no host reads, same numbers as the CPU."""
    grads = trajectory_grads(6)
    cpu_params, cpu_opt = fresh(name, hyper, np.float32)
    feed(cpu_params, cpu_opt, grads)

    fake = fake_cupy.install(monkeypatch)
    params, opt = fresh(name, hyper, np.float32)
    for p in params:
        p.data = fake.asarray(p.data)
    for gs in grads:
        for p, g in zip(params, gs, strict=True):
            p.grad = fake.asarray(g.astype(np.float32))
        fake_cupy.host_reads.clear()
        opt.step()
        assert fake_cupy.host_reads == [], f"{name} read device values back to the host during a step"
    for p, q in zip(params, cpu_params, strict=True):
        assert isinstance(p.data, DeviceArray)
        assert all(isinstance(v, DeviceArray) for v in opt.state[p].values() if hasattr(v, "shape"))
        np.testing.assert_array_equal(p.data.get(), q.data)


def test_the_benchmark_runs_and_reports_every_optimizer_against_sgd(capsys) -> None:
    from benchmarks import optimizer_step

    result = optimizer_step.main(["--fast"])
    assert result["sgd"]["vs_sgd"] == 1.0 and result["momentum"]["vs_momentum"] == 1.0
    # Every optimizer is timed once under its first registry name (aliases such as "nag" skipped):
    # per step when it works from .grad alone, per training step when it needs a closure.
    first_names = {}
    for n, c in optimizers.OPTIMIZERS.items():
        first_names.setdefault(c, n)
    timed_per_step = {name for _, name, _ in optimizer_step.CONFIGS}
    timed_with_closure = {name for _, name, _ in optimizer_step.CLOSURE_CONFIGS}
    assert timed_per_step | timed_with_closure == set(first_names.values())
    assert not timed_per_step & {"ravaut1", "ravaut2", "esgd"}
    assert all(r["us"] > 0 for r in result.values())
    assert "× SGD" in capsys.readouterr().out


def test_the_training_step_benchmark_times_every_closure_method_on_finite_weights() -> None:
    from benchmarks import optimizer_step

    result = optimizer_step.main(["--training-step", "--fast"])
    assert result["sgd"]["vs_sgd"] == 1.0
    assert {label for label, _, _ in optimizer_step.CLOSURE_CONFIGS} <= set(result)
    assert all(r["ms"] > 0 for r in result.values())
