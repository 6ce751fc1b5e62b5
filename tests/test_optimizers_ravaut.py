"""Ravaut & Gorti (2018), learning the learning rate, and the closure contract it relies on.

Oracles: first steps derived by hand in float64 from the paper's equations; on L(w) = ½wᵀHw the
second-order update is the exact line-search step gᵀg/gᵀHg (and the BB1 step); the first-order
method equals SGD-HD on a deterministic full-batch problem.
"""

from __future__ import annotations

import numpy as np
import pytest

import datasets
import minigrad
from experiments.stepping import cross_entropy_per_sample
from layers import MLP
from minigrad import Parameter, Tensor
from minigrad import functional as F
from optimizers.closure import evaluate_at, loss_closure
from optimizers.hypergradient import SGDHD
from optimizers.ravaut import RavautFirstOrder, RavautSecondOrder


def quadratic(h: np.ndarray, w0: np.ndarray) -> tuple[Parameter, object]:
    """L(w) = ½wᵀHw in float64, as a Parameter (n, 1) and a closure."""
    w = Parameter(w0.reshape(-1, 1).copy())
    ht = Tensor(h)
    return w, loss_closure(lambda: 0.5 * (w * (ht @ w)).sum(), [w])


def spd(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ np.diag(np.linspace(0.5, 4.0, n)) @ q.T


def mnist_mlp_setup(n: int = 8192) -> tuple[MLP, np.ndarray, np.ndarray]:
    minigrad.seed(0)
    x, y = datasets.take(*datasets.mnist("train"), n)
    return MLP(784, (32,), 10), x, y


def batch_closure(model: MLP, x: np.ndarray, y: np.ndarray):
    xb = Tensor(x)
    return loss_closure(lambda: cross_entropy_per_sample(model(xb), y), model.parameters())


# ----- the closure contract ----------------------------------------------------------------------
def test_loss_closure_follows_the_contract() -> None:
    model, x, y = mnist_mlp_setup(64)
    closure = batch_closure(model, x, y)
    logits = model(Tensor(x)).data.astype(np.float64)
    expected = float(np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(64), y]))
    for p in model.parameters():
        p.grad = np.full_like(p.data, 7.0)  # a stale gradient the closure must clear, not add to
    assert closure() == pytest.approx(expected, rel=1e-6)
    reference = F.cross_entropy(model(Tensor(x)), y)
    params = model.parameters()
    grads = [p.grad for p in params]
    for p in params:
        p.grad = None
    reference.backward()
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad, rtol=1e-5, atol=1e-7)
    kept = [p.grad for p in params]
    assert closure(need_grad=False) == pytest.approx(expected, rel=1e-6)
    assert all(a is b for a, b in zip(kept, [p.grad for p in params]))  # need_grad=False leaves .grad alone
    with pytest.raises(ValueError, match="labels"):
        cross_entropy_per_sample(model(Tensor(x)), y + 10)


def test_evaluate_at_restores_the_same_arrays() -> None:
    model, x, y = mnist_mlp_setup(32)
    closure = batch_closure(model, x, y)
    params = model.parameters()
    closure()
    data, grads = [p.data for p in params], [p.grad for p in params]
    snapshot = [d.copy() for d in data]
    probes = [d.astype(np.float64) * 1.5 for d in data]
    loss, probe_grads = evaluate_at(closure, params, probes, need_grad=True)
    assert np.isfinite(loss) and all(g.dtype == np.float64 for g in probe_grads)  # the forward ran in float64
    for p, d, g, s in zip(params, data, grads, snapshot):
        assert p.data is d and p.grad is g
        np.testing.assert_array_equal(p.data, s)


# ----- second order -------------------------------------------------------------------------------
@pytest.mark.parametrize("eps, rtol", [(1e-5, 1e-5), (1e-3, 1e-9)])
def test_second_order_step_is_the_exact_line_search_step(eps: float, rtol: float) -> None:
    h = spd(6, 1)
    w0 = np.random.default_rng(2).standard_normal(6)
    w, closure = quadratic(h, w0)
    opt = RavautSecondOrder([w], lr=0.1, eps=eps)
    loss = opt.step(closure)
    g = h @ w0
    assert loss == pytest.approx(0.5 * w0 @ h @ w0, rel=1e-14)
    np.testing.assert_allclose(w.data[:, 0], w0 - 0.1 * g, rtol=1e-15)  # weights moved with η(k) = 0.1
    assert opt.eta == pytest.approx(g @ g / (g @ h @ g), rel=rtol)  # η(k+1): the line-search step
    assert opt.eta_history == [0.1] and opt.param_groups[0]["lr"] == opt.eta
    np.testing.assert_allclose(w.grad[:, 0], g, rtol=1e-15)  # .grad is the gradient the update used


def test_second_order_is_the_barzilai_borwein_step() -> None:
    h = spd(5, 3)
    w, closure = quadratic(h, np.random.default_rng(4).standard_normal(5))
    opt = RavautSecondOrder([w], lr=0.05, eps=1e-3)
    iterates = [w.data[:, 0].copy()]
    for _ in range(6):
        opt.step(closure)
        iterates.append(w.data[:, 0].copy())
    for k in range(1, 6):
        s = iterates[k] - iterates[k - 1]  # BB1 at step k + 1: sᵀs / sᵀy with y = Hs
        assert opt.eta_history[k] == pytest.approx(s @ s / (s @ h @ s), rel=1e-8)


def test_second_order_probe_points_and_bit_identical_restore() -> None:
    model, x, y = mnist_mlp_setup(64)
    params = model.parameters()
    inner = batch_closure(model, x, y)
    seen = []

    def spy(need_grad: bool = True) -> float:
        seen.append(([p.data.copy() for p in params], need_grad))
        return inner(need_grad)

    before = [p.data for p in params]
    snapshot = [d.copy() for d in before]
    opt = RavautSecondOrder(model.layer_groups(), lr=0.05, eps=1e-5)
    opt.step(spy)
    grads = [p.grad for p in params]
    assert [ng for _, ng in seen] == [True] + [False] * 5
    for (point, _), s in zip(seen[1:], (0.05 - 2e-5, 0.05 - 1e-5, 0.05, 0.05 + 1e-5, 0.05 + 2e-5)):
        for probe, w, g in zip(point, snapshot, grads):
            assert probe.dtype == np.float64
            np.testing.assert_array_equal(probe, w.astype(np.float64) - s * g.astype(np.float64))
    for p, d, w, g in zip(params, before, snapshot, grads):
        assert p.data is d and p.data.dtype == np.float32  # updated in place
        np.testing.assert_array_equal(p.data, w - np.float32(0.05) * g)  # exactly w − η·g: the probes left no trace
    assert len(opt.last_probe_losses) == 5 and np.isfinite(opt.eta)


def test_zero_denominator_adds_delta() -> None:
    # L(w) = w at w = 0, g = 1: f(η) = −η is linear, so D = 0 exactly (all values are binary fractions).
    w = Parameter(np.zeros(1))
    closure = loss_closure(lambda: w.sum(), [w])
    eps, delta = 2.0**-10, 1e-6
    opt = RavautSecondOrder([w], lr=0.5, eps=eps, delta=delta)
    opt.step(closure)
    assert opt.eta == 0.5 - 2 * eps * (-2 * eps) / delta  # η − 2ε·(f(η+ε) − f(η−ε)) / (0 + δ)


def test_eta_never_goes_below_delta() -> None:
    # L(w) = −½w²: f is concave along g, Newton's step lands at η = −1, the floor keeps η = δ.
    w = Parameter(np.array([1.0]))
    closure = loss_closure(lambda: -0.5 * (w * w).sum(), [w])
    opt = RavautSecondOrder([w], lr=0.3, eps=1e-3, delta=1e-6)
    opt.step(closure)
    assert opt.eta == 1e-6
    # First order with a large meta rate overshoots on a quadratic: g·g′ < 0 drives η down to δ.
    h = spd(4, 5)
    w, closure = quadratic(h, np.ones(4))
    first = RavautFirstOrder([w], lr=0.9, hypergrad_lr=10.0, delta=1e-6)
    first.step(closure)
    assert first.eta == 1e-6  # 0.9 + 10·g·g′ would be far below 0


def test_eta_max_clamps_from_above() -> None:
    h = spd(6, 1)
    w, closure = quadratic(h, np.random.default_rng(2).standard_normal(6))
    opt = RavautSecondOrder([w], lr=0.1, eps=1e-3, eta_max=0.15)
    opt.step(closure)
    assert opt.eta == 0.15  # the line-search step, about 0.4, is clamped


def test_momentum_on_eta() -> None:
    h = spd(5, 6)
    w0 = np.random.default_rng(7).standard_normal(5)
    w, closure = quadratic(h, w0)
    opt = RavautSecondOrder([w], lr=0.1, eps=1e-3, momentum=0.9)
    for _ in range(3):
        opt.step(closure)
    # By hand (§5.2): b ← β·b + (η* − η), η ← max(η + b, δ), with η* = gᵀg/gᵀHg the Newton target.
    wk, eta, b, etas = w0.copy(), 0.1, 0.0, []
    for _ in range(3):
        g = h @ wk
        etas.append(eta)
        wk = wk - eta * g
        b = 0.9 * b + (g @ g / (g @ h @ g) - eta)
        eta = max(eta + b, 1e-6)
    np.testing.assert_allclose(opt.eta_history, etas, rtol=1e-8)
    assert opt.eta == pytest.approx(eta, rel=1e-8)
    np.testing.assert_allclose(w.data[:, 0], wk, rtol=1e-8)


def test_validation_variant_probes_the_validation_loss() -> None:
    h_train, h_val = spd(5, 8), spd(5, 9)
    w0 = np.random.default_rng(10).standard_normal(5)
    w, closure = quadratic(h_train, w0)
    ht = Tensor(h_val)
    val_closure = loss_closure(lambda: 0.5 * (w * (ht @ w)).sum(), [w])
    opt = RavautSecondOrder([w], lr=0.1, eps=1e-3, validation=True)
    assert opt.needs_validation_closure
    with pytest.raises(ValueError, match="validation_closure"):
        opt.step(closure)
    opt.step(closure, validation_closure=val_closure)
    g = h_train @ w0  # the training gradient, with f(η) = L_val(w − η·g): η* = gᵀH_v·w / gᵀH_v·g
    assert opt.eta == pytest.approx(g @ h_val @ w0 / (g @ h_val @ g), rel=1e-9)
    np.testing.assert_allclose(w.data[:, 0], w0 - 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(w.grad[:, 0], g, rtol=1e-15)
    plain = RavautSecondOrder([Parameter(np.ones((5, 1)))])
    with pytest.raises(ValueError, match="validation=False"):
        plain.step(closure, validation_closure=val_closure)


# ----- first order --------------------------------------------------------------------------------
def test_first_order_first_step_by_hand() -> None:
    h = spd(6, 11)
    w0 = np.random.default_rng(12).standard_normal(6)
    w, closure = quadratic(h, w0)
    opt = RavautFirstOrder([w], lr=0.1, hypergrad_lr=0.01)
    opt.step(closure)
    g0 = h @ w0
    w1 = w0 - 0.1 * g0
    np.testing.assert_allclose(w.data[:, 0], w1, rtol=1e-15)
    assert opt.eta == pytest.approx(0.1 + 0.01 * g0 @ (h @ w1), rel=1e-13)  # η − α·f′(η), f′ = −g·∇L(w1)
    np.testing.assert_allclose(w.grad[:, 0], g0, rtol=1e-15)


def test_first_order_equals_sgd_hd_on_a_full_batch_problem() -> None:
    rng = np.random.default_rng(13)
    xs, ys = Tensor(rng.standard_normal((40, 5))), Tensor(rng.standard_normal((40, 1)))
    paths, rates = [], []
    for cls in (RavautFirstOrder, SGDHD):
        w = Parameter(np.zeros((5, 1)))
        closure = loss_closure(lambda w=w: (0.5 * (xs @ w - ys) ** 2).reshape(-1), [w])
        opt = cls([w], lr=0.01, hypergrad_lr=0.001)
        path, used = [], []
        for _ in range(25):
            opt.step(closure)  # SGD-HD: the base semantics, closure() fills .grad and the update follows
            path.append(w.data.copy())
            used.append(opt.param_groups[0]["lr"])  # SGD-HD updates α before its step: the α it used
        paths.append(np.array(path))
        rates.append(opt.eta_history if cls is RavautFirstOrder else used)
    np.testing.assert_array_equal(paths[0], paths[1])
    np.testing.assert_array_equal(rates[0], rates[1])
    assert rates[0][-1] != rates[0][0]  # the rate did move


# ----- state, validation, MNIST -------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [(RavautSecondOrder, {"momentum": 0.5}), (RavautFirstOrder, {"momentum": 0.5})])
def test_state_dict_round_trip_continues_bit_identically(tmp_path, cls, kwargs) -> None:
    model, x, y = mnist_mlp_setup(256)
    opt = cls(model.layer_groups(), **kwargs)
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)]
    for xb, yb in batches[:2]:
        opt.step(batch_closure(model, xb, yb))
    minigrad.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
    saved = minigrad.load(tmp_path / "ckpt.npz")
    twin = MLP(784, (32,), 10)
    twin.load_state_dict(saved["model"])
    twin_opt = cls(twin.layer_groups(), **kwargs)
    twin_opt.load_state_dict(saved["opt"])
    for xb, yb in batches[2:]:
        opt.step(batch_closure(model, xb, yb))
        twin_opt.step(batch_closure(twin, xb, yb))
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert twin_opt.eta == opt.eta and twin_opt.eta_history == opt.eta_history
    assert twin_opt.eta_velocity == opt.eta_velocity


@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (RavautSecondOrder, {"lr": -1.0}, "lr"),
        (RavautSecondOrder, {"lr": 1e-7}, "lr"),
        (RavautSecondOrder, {"eps": 0.0}, "eps"),
        (RavautSecondOrder, {"delta": -1e-6}, "delta"),
        (RavautSecondOrder, {"momentum": 1.0}, "momentum"),
        (RavautSecondOrder, {"eta_max": 0.001}, "eta_max"),
        (RavautSecondOrder, {"validation": "yes"}, "validation"),
        (RavautSecondOrder, {"probe_dtype": "float16"}, "probe_dtype"),
        (RavautFirstOrder, {"hypergrad_lr": -0.1}, "hypergrad_lr"),
        (RavautFirstOrder, {"lr": float("nan")}, "lr"),
    ],
)
def test_bad_hyperparameters_are_named(cls, kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        cls([Parameter(np.ones(3))], **kwargs)


def test_closure_is_required_and_groups_share_one_eta() -> None:
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = RavautSecondOrder([a, b])
    assert RavautSecondOrder.needs_closure and RavautFirstOrder.needs_closure
    with pytest.raises(ValueError, match="closure"):
        opt.step()
    with pytest.raises(ValueError, match="eps differs"):
        RavautSecondOrder([{"params": [a]}, {"params": [b], "eps": 1e-4}])
    two = RavautFirstOrder([{"params": [a], "name": "x"}, {"params": [b], "name": "y"}], lr=0.02)
    assert [g["lr"] for g in two.param_groups] == [0.02, 0.02]


# The first order starts as SGD at η(0) = 0.01 and speeds up slowly; the second order jumps to a good η.
@pytest.mark.parametrize("cls, factor", [(RavautFirstOrder, 0.9), (RavautSecondOrder, 0.5)])
def test_reduces_the_loss_of_a_small_mlp_on_mnist(cls, factor: float) -> None:
    model, x, y = mnist_mlp_setup()
    opt = cls(model.layer_groups())  # the paper's settings: η(0) = 0.01, ε = 1e-5, δ = 1e-6
    full = batch_closure(model, x, y)
    start = full(need_grad=False)
    for i in range(0, len(x), 64):
        opt.step(batch_closure(model, x[i : i + 64], y[i : i + 64]))
    end = full(need_grad=False)
    assert np.isfinite(end) and end < factor * start, (start, end)
    assert len(opt.eta_history) == len(x) // 64 and min(opt.eta_history) >= 1e-6
