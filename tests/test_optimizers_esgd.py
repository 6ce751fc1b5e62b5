"""Equilibrated SGD (Dauphin et al. 2015) and the Hessian-vector products it samples.

Oracles: on f = ½xᵀAx, Hv = Av exactly and E[(Av)²] = diag(A²); torch's exact double-backward
product on a small network; ESGD's first step derived by hand from the same Gaussian draw.
"""

from __future__ import annotations

import numpy as np
import pytest

import datasets
import minigrad
from experiments.stepping import cross_entropy_per_sample
from layers import MLP
from minigrad import Parameter, Tensor
from minigrad import random as mrandom
from optimizers.closure import loss_closure
from optimizers.esgd import ESGD, hessian_vector_product


def symmetric(n: int, seed: int) -> np.ndarray:
    m = np.random.default_rng(seed).standard_normal((n, n))
    return (m + m.T) / 2  # indefinite on purpose: ESGD is meant for saddles


def quadratic(a: np.ndarray, x0: np.ndarray) -> tuple[Parameter, object]:
    x = Parameter(x0.reshape(-1, 1).copy())
    at = Tensor(a)
    return x, loss_closure(lambda: 0.5 * (x * (at @ x)).sum(), [x])


def test_hvp_on_a_quadratic_is_av_and_restores_everything() -> None:
    a = symmetric(6, 0)
    x, closure = quadratic(a, np.random.default_rng(1).standard_normal(6))
    closure()
    data, grad, snapshot = x.data, x.grad, x.data.copy()
    v = np.random.default_rng(2).standard_normal((6, 1))
    for r in (None, 1e-3, 1.0):  # central differences are exact on a quadratic, whatever r
        (hv,) = hessian_vector_product(closure, [x], [v], r=r)
        np.testing.assert_allclose(hv, a @ v, rtol=1e-7, atol=1e-9)
    assert x.data is data and x.grad is grad
    np.testing.assert_array_equal(x.data, snapshot)
    assert hessian_vector_product(closure, [x], [np.zeros((6, 1))])[0].tolist() == np.zeros((6, 1)).tolist()
    with pytest.raises(ValueError, match="match params"):
        hessian_vector_product(closure, [x], [np.ones(6)])
    with pytest.raises(ValueError, match="probe_dtype"):
        hessian_vector_product(closure, [x], [v], probe_dtype="half")


def test_hvp_of_a_float32_network_matches_torch_double_backward() -> None:
    torch = pytest.importorskip("torch")
    minigrad.seed(3)
    model = MLP(12, (16,), 5)
    params = model.parameters()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((32, 12)).astype(np.float32), rng.integers(0, 5, 32)
    closure = loss_closure(lambda: cross_entropy_per_sample(model(Tensor(x)), y), params)
    vs = [rng.standard_normal(p.shape) for p in params]
    hvs = hessian_vector_product(closure, params, vs)  # float64 probes around float32 weights
    assert all(h.dtype == np.float32 for h in hvs)
    w1, b1, w2, b2 = (torch.tensor(p.data.astype(np.float64), requires_grad=True) for p in params)
    logits = torch.relu(torch.tensor(x, dtype=torch.float64) @ w1.T + b1) @ w2.T + b2
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
    grads = torch.autograd.grad(loss, [w1, b1, w2, b2], create_graph=True)
    gv = sum((g * torch.tensor(v)).sum() for g, v in zip(grads, vs))
    exact = torch.autograd.grad(gv, [w1, b1, w2, b2])
    for h, e in zip(hvs, exact):
        np.testing.assert_allclose(h, e.numpy(), rtol=1e-4, atol=1e-6)


def test_first_step_by_hand() -> None:
    a = symmetric(5, 5)
    x0 = np.random.default_rng(6).standard_normal(5)
    x, closure = quadratic(a, x0)
    minigrad.seed(7)
    opt = ESGD([x], lr=0.1, damping=1e-4)
    loss = opt.step(closure)
    minigrad.seed(7)  # the same draw ESGD made: one standard normal array per parameter, in float64
    v = mrandom.generator(np).standard_normal((5, 1), dtype=np.float64)[:, 0]
    d = (a @ v) ** 2
    g = a @ x0
    assert loss == pytest.approx(0.5 * x0 @ a @ x0, rel=1e-14)
    np.testing.assert_allclose(opt.state[x]["D"][:, 0], d, rtol=1e-7)
    np.testing.assert_allclose(x.data[:, 0], x0 - 0.1 * g / (np.sqrt(d / 1) + 1e-4), rtol=1e-7)
    np.testing.assert_allclose(x.grad[:, 0], g, rtol=1e-15)  # .grad is the gradient the update used


def test_curvature_is_sampled_every_k_steps() -> None:
    x, closure = quadratic(symmetric(4, 8), np.ones(4))
    calls = []

    def counting(need_grad: bool = True) -> float:
        calls.append(need_grad)
        return closure(need_grad)

    opt = ESGD([x], lr=0.01, update_every=3)
    for _ in range(7):
        opt.step(counting)
    assert opt.state[x]["samples"] == 3  # steps 1, 4 and 7
    assert len(calls) == 7 + 2 * 3  # one gradient per step, two per Hessian-vector product


def test_preconditioner_estimate_approaches_diag_a_squared() -> None:
    a = symmetric(20, 9)
    target = np.diag(a @ a)
    minigrad.seed(10)
    x, closure = quadratic(a, np.zeros(20))  # g = 0: x stays put, only the estimate moves
    opt = ESGD([x], update_every=1)
    errors = {}
    for n in range(1, 4097):
        opt.step(closure)
        if n in (16, 256, 4096):
            estimate = opt.state[x]["D"][:, 0] / opt.state[x]["samples"]
            errors[n] = np.sqrt(np.mean((estimate / target - 1) ** 2))
            # (Av)_j² / (A²)_jj is χ²₁: the mean of n samples has relative standard deviation √(2/n).
            assert errors[n] < 2 * np.sqrt(2 / n), (n, errors[n])
    assert errors[4096] < errors[256] < errors[16]


def test_state_dict_round_trip_continues_bit_identically(tmp_path) -> None:
    minigrad.seed(11)
    x, y = datasets.take(*datasets.mnist("train"), 384)
    model = MLP(784, (16,), 10)
    opt = ESGD(model.layer_groups(), lr=0.01, damping=1e-2, update_every=2)
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 384, 64)]

    def closure(m: MLP, xb: np.ndarray, yb: np.ndarray):
        return loss_closure(lambda: cross_entropy_per_sample(m(Tensor(xb)), yb), m.parameters())

    for xb, yb in batches[:3]:
        opt.step(closure(model, xb, yb))
    minigrad.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
    rng_state = mrandom.get_state()
    saved = minigrad.load(tmp_path / "ckpt.npz")
    for xb, yb in batches[3:]:
        opt.step(closure(model, xb, yb))
    twin = MLP(784, (16,), 10)
    twin.load_state_dict(saved["model"])
    twin_opt = ESGD(twin.layer_groups(), lr=0.01, damping=1e-2, update_every=2)
    twin_opt.load_state_dict(saved["opt"])
    mrandom.set_state(rng_state)  # v's generator is checkpointed with the run, as the training loop does
    for xb, yb in batches[3:]:
        twin_opt.step(closure(twin, xb, yb))
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
        np.testing.assert_array_equal(opt.state[p]["D"], twin_opt.state[q]["D"])
    assert twin_opt.steps == opt.steps == 6


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr": -0.1}, "lr"),
        ({"damping": 0.0}, "damping"),
        ({"update_every": 0}, "update_every"),
        ({"update_every": 2.5}, "update_every"),
        ({"hvp_r": -1.0}, "hvp_r"),
        ({"probe_dtype": "float32"}, "probe_dtype"),
    ],
)
def test_bad_hyperparameters_are_named(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        ESGD([Parameter(np.ones(3))], **kwargs)


def test_needs_a_closure_and_one_sampling_schedule() -> None:
    a, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    assert ESGD.needs_closure
    with pytest.raises(ValueError, match="closure"):
        ESGD([a]).step()
    with pytest.raises(ValueError, match="update_every differs"):
        ESGD([{"params": [a]}, {"params": [b], "update_every": 5}])
    ESGD([{"params": [a]}, {"params": [b], "lr": 0.5}])  # the step's own settings may differ per group


def test_reduces_the_loss_of_a_small_mlp_on_mnist() -> None:
    minigrad.seed(0)
    x, y = datasets.take(*datasets.mnist("train"), 8192)
    model = MLP(784, (32,), 10)
    opt = ESGD(model.layer_groups())
    full = loss_closure(lambda: cross_entropy_per_sample(model(Tensor(x)), y), model.parameters())
    start = full(need_grad=False)
    for i in range(0, len(x), 64):
        xb, yb = Tensor(x[i : i + 64]), y[i : i + 64]
        opt.step(loss_closure(lambda xb=xb, yb=yb: cross_entropy_per_sample(model(xb), yb), model.parameters()))
    end = full(need_grad=False)
    assert np.isfinite(end) and end < 0.5 * start
