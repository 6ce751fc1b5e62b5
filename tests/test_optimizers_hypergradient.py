"""Hypergradient descent (Baydin et al. 2018): SGD-HD, SGDN-HD, Adam-HD.

Oracles: the paper's algorithms written out by hand in float64 over given gradient sequences;
identities (SGDN-HD with μ = 0 is SGD-HD; Adam-HD with β = 0 is torch.optim.Adam).
"""

from __future__ import annotations

import numpy as np
import pytest

import datasets
import minigrad
from layers import MLP
from minigrad import Parameter, Tensor
from minigrad import functional as F
from optimizers.hypergradient import SGDHD, SGDNHD, AdamHD

SHAPES = [(3, 2), (4,)]


def gradient_sequence(steps: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def run(opt_factory, grads: list[list[np.ndarray]], seed: int = 1) -> tuple[list[Parameter], list[float], object]:
    """Drive an optimizer with explicit gradients; returns the parameters, the α of each step, the optimizer."""
    rng = np.random.default_rng(seed)
    params = [Parameter(rng.standard_normal(s)) for s in SHAPES]
    opt = opt_factory(params)
    rates = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = g
        opt.step()
        rates.append(opt.param_groups[0]["lr"])
    return params, rates, opt


def start(seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def flat_dot(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(sum((x * y).sum() for x, y in zip(a, b)))


def test_sgd_hd_by_hand() -> None:
    grads = gradient_sequence(4)
    params, rates, _ = run(lambda ps: SGDHD(ps, lr=0.1, hypergrad_lr=0.02), grads)
    theta, alpha, prev, alphas = start(), 0.1, [np.zeros(s) for s in SHAPES], []
    for g in grads:
        alpha = alpha + 0.02 * flat_dot(g, prev)  # α_t = α_{t−1} + β·g_t·g_{t−1}, g_0 = 0
        theta = [t - alpha * x for t, x in zip(theta, g)]
        alphas.append(alpha)
        prev = g
    np.testing.assert_allclose(rates, alphas, rtol=1e-13)
    assert rates[0] == 0.1
    for p, t in zip(params, theta):
        np.testing.assert_allclose(p.data, t, rtol=1e-13)


def test_sgdn_hd_by_hand() -> None:
    grads = gradient_sequence(4, seed=2)
    params, rates, _ = run(lambda ps: SGDNHD(ps, lr=0.1, hypergrad_lr=0.02, momentum=0.8), grads)
    theta, alpha, alphas = start(), 0.1, []
    v, d = [np.zeros(s) for s in SHAPES], [np.zeros(s) for s in SHAPES]
    for g in grads:
        alpha = alpha + 0.02 * flat_dot(g, d)  # h_t = −g_t·(g_{t−1} + μ·v_{t−1})
        v = [0.8 * vi + gi for vi, gi in zip(v, g)]
        d = [gi + 0.8 * vi for gi, vi in zip(g, v)]
        theta = [t - alpha * di for t, di in zip(theta, d)]
        alphas.append(alpha)
    np.testing.assert_allclose(rates, alphas, rtol=1e-13)
    for p, t in zip(params, theta):
        np.testing.assert_allclose(p.data, t, rtol=1e-13)


def test_adam_hd_by_hand() -> None:
    grads = gradient_sequence(5, seed=3)
    kw = {"lr": 0.01, "hypergrad_lr": 1e-3, "beta1": 0.8, "beta2": 0.9, "eps": 1e-3}
    params, rates, _ = run(lambda ps: AdamHD(ps, **kw), grads)
    theta, alpha, alphas = start(), 0.01, []
    m, v, u = ([np.zeros(s) for s in SHAPES] for _ in range(3))
    for t, g in enumerate(grads, start=1):
        alpha = alpha + 1e-3 * flat_dot(g, u)
        m = [0.8 * mi + 0.2 * gi for mi, gi in zip(m, g)]
        v = [0.9 * vi + 0.1 * gi**2 for vi, gi in zip(v, g)]
        u = [(mi / (1 - 0.8**t)) / (np.sqrt(vi / (1 - 0.9**t)) + 1e-3) for mi, vi in zip(m, v)]
        theta = [th - alpha * ui for th, ui in zip(theta, u)]
        alphas.append(alpha)
    np.testing.assert_allclose(rates, alphas, rtol=1e-12)
    for p, th in zip(params, theta):
        np.testing.assert_allclose(p.data, th, rtol=1e-12)


def test_weight_decay_enters_the_gradient_and_the_dot_product() -> None:
    grads = gradient_sequence(2, seed=4)
    params, rates, _ = run(lambda ps: SGDHD(ps, lr=0.1, hypergrad_lr=0.02, weight_decay=0.5), grads)
    theta, alpha, prev = start(), 0.1, [np.zeros(s) for s in SHAPES]
    for g in grads:
        g = [gi + 0.5 * t for gi, t in zip(g, theta)]
        alpha = alpha + 0.02 * flat_dot(g, prev)
        theta = [t - alpha * gi for t, gi in zip(theta, g)]
        prev = g
    assert rates[-1] == pytest.approx(alpha, rel=1e-13)
    for p, t in zip(params, theta):
        np.testing.assert_allclose(p.data, t, rtol=1e-13)


def test_sgdn_hd_without_momentum_is_sgd_hd() -> None:
    grads = gradient_sequence(6, seed=5)
    a, rates_a, _ = run(lambda ps: SGDHD(ps, lr=0.05, hypergrad_lr=0.01), grads)
    b, rates_b, _ = run(lambda ps: SGDNHD(ps, lr=0.05, hypergrad_lr=0.01, momentum=0.0), grads)
    assert rates_a == rates_b
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)


def test_adam_hd_without_hypergradient_is_torch_adam() -> None:
    torch = pytest.importorskip("torch")
    grads = gradient_sequence(8, seed=6)
    params, rates, _ = run(lambda ps: AdamHD(ps, lr=0.01, hypergrad_lr=0.0), grads)
    tparams = [torch.tensor(x, requires_grad=True) for x in start()]
    topt = torch.optim.Adam(tparams, lr=0.01, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    for gs in grads:
        for tp, g in zip(tparams, gs):
            tp.grad = torch.tensor(g)
        topt.step()
    assert rates == [0.01] * 8
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-15)


def test_one_global_alpha_or_one_per_group() -> None:
    rng = np.random.default_rng(7)
    a, b = Parameter(rng.standard_normal(3)), Parameter(rng.standard_normal(2))
    ga, gb = [rng.standard_normal(3) for _ in range(2)], [rng.standard_normal(2) for _ in range(2)]
    for per_group in (False, True):
        pa, pb = Parameter(a.data.copy()), Parameter(b.data.copy())
        opt = SGDHD([{"params": [pa], "name": "l1"}, {"params": [pb], "name": "l2"}], lr=0.1, hypergrad_lr=0.5,
                    per_group=per_group)
        for t in range(2):
            pa.grad, pb.grad = ga[t], gb[t]
            opt.step()
        da, db = float(ga[1] @ ga[0]), float(gb[1] @ gb[0])
        if per_group:
            expected = [0.1 + 0.5 * da, 0.1 + 0.5 * db]
        else:
            expected = [0.1 + 0.5 * (da + db)] * 2
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], expected, rtol=1e-14)
        np.testing.assert_allclose(pa.data, a.data - 0.1 * ga[0] - expected[0] * ga[1], rtol=1e-14)
    with pytest.raises(ValueError, match="hypergrad_lr differs"):
        SGDHD([{"params": [a]}, {"params": [b], "hypergrad_lr": 0.1}])
    SGDHD([{"params": [a]}, {"params": [b], "hypergrad_lr": 0.1}], per_group=True)


@pytest.mark.parametrize(
    "factory",
    [lambda ps: SGDHD(ps, lr=0.05), lambda ps: SGDNHD(ps, lr=0.05), lambda ps: AdamHD(ps, hypergrad_lr=1e-4)],
)
def test_state_dict_round_trip_continues_bit_identically(tmp_path, factory) -> None:
    grads = gradient_sequence(6, seed=8)
    params, _, opt = run(factory, grads[:3])
    minigrad.save({"opt": opt.state_dict()}, tmp_path / "opt.npz")
    twins = [Parameter(p.data.copy()) for p in params]
    twin_opt = factory(twins)
    twin_opt.load_state_dict(minigrad.load(tmp_path / "opt.npz")["opt"])
    assert twin_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for gs in grads[3:]:
        for ps in (params, twins):
            for p, g in zip(ps, gs):
                p.grad = g
        opt.step()
        twin_opt.step()
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.data, q.data)
    assert twin_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


@pytest.mark.parametrize(
    "cls, kwargs, name",
    [
        (SGDHD, {"lr": -0.1}, "lr"),
        (SGDHD, {"hypergrad_lr": -1e-3}, "hypergrad_lr"),
        (SGDHD, {"weight_decay": float("inf")}, "weight_decay"),
        (SGDHD, {"per_group": "yes"}, "per_group"),
        (SGDNHD, {"momentum": 1.0}, "momentum"),
        (AdamHD, {"beta1": 1.5}, "beta1"),
        (AdamHD, {"beta2": -0.1}, "beta2"),
        (AdamHD, {"eps": 0.0}, "eps"),
    ],
)
def test_bad_hyperparameters_are_named(cls, kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        cls([Parameter(np.ones(3))], **kwargs)


@pytest.mark.parametrize("cls", [SGDHD, SGDNHD, AdamHD])
def test_reduces_the_loss_of_a_small_mlp_on_mnist(cls) -> None:
    minigrad.seed(0)
    x, y = datasets.take(*datasets.mnist("train"), 8192)
    model = MLP(784, (32,), 10)
    opt = cls(model.layer_groups())  # the authors' settings: α_0 = 1e-3, β = 1e-3 (Adam-HD: 1e-7)
    with minigrad.no_grad():
        start_loss = float(F.cross_entropy(model(Tensor(x)), y).data)
    for i in range(0, len(x), 64):
        loss = F.cross_entropy(model(Tensor(x[i : i + 64])), y[i : i + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with minigrad.no_grad():
        end_loss = float(F.cross_entropy(model(Tensor(x)), y).data)
    assert np.isfinite(end_loss) and end_loss < 0.9 * start_loss  # SGD-HD starts slowly at α_0 = 1e-3
    assert opt.param_groups[0]["lr"] != 1e-3  # α was learned
    assert len({g["lr"] for g in opt.param_groups}) == 1  # one global α
