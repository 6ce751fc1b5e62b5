"""The torch-form variants against torch.optim in float64 (docs/optimizers/classic.md), step by step.

Skipped cleanly when torch is not installed. torch runs with ``foreach=False`` (its reference
loop; the foreach paths reorder arithmetic) on the same explicit gradients, including exact
zeros. Each optimizer's own docstring says which flag selects the torch form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from minigrad import Parameter
from optimizers import SGD, AdaDelta, AdaGrad, Adam, Adamax, Momentum, Nadam, Nesterov, RMSprop, Rprop
from optimizers.schedules import Inv, InverseTime

torch = pytest.importorskip("torch")

SHAPES = [(3, 2), (5,)]
STEPS = 40
WD = 1e-2  # coupled L2 weight decay, which every torch optimizer here except Rprop offers


@pytest.fixture(autouse=True)
def float64_scalars() -> Iterator[None]:
    """torch keeps scalar state (NAdam's μ product, step counts) in the default dtype: make it float64."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def gradients(seed: int = 0) -> list[list[np.ndarray]]:
    """STEPS lists of one random gradient per shape, about 15 % of the entries exactly zero."""
    rng = np.random.default_rng(seed)
    grads = []
    for _ in range(STEPS):
        step = []
        for s in SHAPES:
            g = rng.standard_normal(s) * rng.uniform(0.1, 2.0)
            g[rng.random(s) < 0.15] = 0.0  # zero gradients, e.g. for Rprop's c = 0 case
            step.append(g)
        grads.append(step)
    return grads


def compare(
    ours_factory: Callable,
    torch_factory: Callable,
    lr_lambda: Callable[[int], float] | None = None,
    state_keys: dict[str, str] | None = None,
) -> None:
    """Run both on the same gradients; every parameter (and the named state) must agree at every step."""
    rng = np.random.default_rng(1)
    start = [rng.standard_normal(s) for s in SHAPES]
    ours = [Parameter(x.copy()) for x in start]
    theirs = [torch.tensor(x.copy(), dtype=torch.float64, requires_grad=True) for x in start]
    opt, topt = ours_factory(ours), torch_factory(theirs)
    scheduler = torch.optim.lr_scheduler.LambdaLR(topt, lr_lambda) if lr_lambda else None
    for k, gs in enumerate(gradients()):
        for p, t, g in zip(ours, theirs, gs, strict=True):
            p.grad = g.copy()
            t.grad = torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        if scheduler is not None:
            scheduler.step()
        for p, t in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(
                p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}"
            )
            for mine, key in (state_keys or {}).items():
                np.testing.assert_allclose(
                    opt.state[p][mine],
                    topt.state[t][key].numpy(),
                    rtol=1e-12,
                    atol=1e-14,
                    err_msg=f"state {mine} vs torch {key}, step {k + 1}",
                )


def test_sgd() -> None:
    compare(
        lambda ps: SGD(ps, lr=0.05, weight_decay=WD),
        lambda ts: torch.optim.SGD(ts, lr=0.05, weight_decay=WD, foreach=False),
    )


def test_momentum_torch_form() -> None:
    compare(
        lambda ps: Momentum(ps, lr=0.05, momentum=0.9, weight_decay=WD, form="torch"),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9, weight_decay=WD, foreach=False),
        state_keys={"velocity": "momentum_buffer"},
    )


def test_momentum_torch_form_under_caffe_inv_matches_a_torch_lr_scheduler() -> None:
    inv = Inv(gamma=0.05, power=0.75)
    compare(
        lambda ps: Momentum(ps, lr=0.05, momentum=0.9, weight_decay=WD, form="torch", schedule=inv),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9, weight_decay=WD, foreach=False),
        lr_lambda=inv,
    )


def test_nesterov_torch_form() -> None:
    compare(
        lambda ps: Nesterov(ps, lr=0.05, momentum=0.9, weight_decay=WD, form="torch"),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9, nesterov=True, weight_decay=WD, foreach=False),
        state_keys={"history": "momentum_buffer"},
    )


def test_caffe_nesterov_equals_torch_at_a_constant_rate() -> None:
    compare(
        lambda ps: Nesterov(ps, lr=0.05, momentum=0.9, weight_decay=WD),
        lambda ts: torch.optim.SGD(ts, lr=0.05, momentum=0.9, nesterov=True, weight_decay=WD, foreach=False),
    )


def test_adagrad_with_lr_decay_as_a_1_over_t_schedule() -> None:
    compare(
        lambda ps: AdaGrad(
            ps, lr=0.1, eps=1e-10, initial_accumulator_value=0.1, weight_decay=WD, schedule=InverseTime(0.05)
        ),
        lambda ts: torch.optim.Adagrad(
            ts,
            lr=0.1,
            lr_decay=0.05,
            eps=1e-10,
            initial_accumulator_value=0.1,
            weight_decay=WD,
            foreach=False,
        ),
        state_keys={"sum": "sum"},
    )


@pytest.mark.parametrize("lr", [1.0, 0.5])
def test_adadelta(lr: float) -> None:
    compare(
        lambda ps: AdaDelta(ps, lr=lr, rho=0.9, eps=1e-6, weight_decay=WD),
        lambda ts: torch.optim.Adadelta(ts, lr=lr, rho=0.9, eps=1e-6, weight_decay=WD, foreach=False),
        state_keys={"square_avg": "square_avg", "acc_delta": "acc_delta"},
    )


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop(centered: bool, momentum: float) -> None:
    compare(
        lambda ps: RMSprop(
            ps, lr=0.01, alpha=0.99, eps=1e-8, centered=centered, momentum=momentum, weight_decay=WD
        ),
        lambda ts: torch.optim.RMSprop(
            ts,
            lr=0.01,
            alpha=0.99,
            eps=1e-8,
            centered=centered,
            momentum=momentum,
            weight_decay=WD,
            foreach=False,
        ),
        state_keys={"square_avg": "square_avg"},
    )


def test_adam() -> None:
    compare(
        lambda ps: Adam(ps, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=WD),
        lambda ts: torch.optim.Adam(ts, lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=WD, foreach=False),
        state_keys={"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"},
    )


def test_adamax_eps_inside_the_max() -> None:
    compare(
        lambda ps: Adamax(ps, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=WD),
        lambda ts: torch.optim.Adamax(
            ts, lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=WD, foreach=False
        ),
        state_keys={"exp_avg": "exp_avg", "exp_inf": "exp_inf"},
    )


def test_nadam_torch_form() -> None:
    compare(
        lambda ps: Nadam(
            ps, lr=0.01, beta1=0.9, beta2=0.99, eps=1e-8, momentum_decay=0.01, weight_decay=WD, form="torch"
        ),
        lambda ts: torch.optim.NAdam(
            ts, lr=0.01, betas=(0.9, 0.99), eps=1e-8, momentum_decay=0.01, weight_decay=WD, foreach=False
        ),
        state_keys={"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"},
    )


def test_nadam_dozat_form_differs_from_torch() -> None:
    with pytest.raises(AssertionError):
        compare(lambda ps: Nadam(ps, lr=0.01), lambda ts: torch.optim.NAdam(ts, lr=0.01, foreach=False))


def test_rprop_irprop_minus() -> None:
    compare(
        lambda ps: Rprop(
            ps, lr=0.01, eta_minus=0.4, eta_plus=1.3, step_min=1e-4, step_max=0.05, form="irprop-"
        ),
        lambda ts: torch.optim.Rprop(ts, lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.05), foreach=False),
        state_keys={"prev": "prev", "step_size": "step_size"},
    )
