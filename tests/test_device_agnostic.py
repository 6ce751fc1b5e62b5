"""The GPU path on a CPU-only machine: a stand-in for CuPy that refuses hard-coded NumPy.

These tests fail if any op, layer, loss, optimizer or the data loader computes with NumPy
directly, mixes host and device arrays, or reads values back to the host inside a training step.
Real-GPU tests live in test_gpu.py and skip without CuPy and a device.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import datasets
import layers
import minigrad
import optimizers
from experiments.stepping import cross_entropy_per_sample, optimizer_step, train_step
from minigrad import functional as F
from minigrad.backend import is_cupy_array
from tests import fake_cupy
from tests.fake_cupy import DeviceArray, HardCodedNumpyError, MixedDeviceError


def test_the_stand_in_is_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fake_cupy.install(monkeypatch)
    a = fake.asarray(np.arange(4.0))
    assert isinstance(a + 1, DeviceArray) and isinstance(fake.maximum(a, 2), DeviceArray)
    with pytest.raises(HardCodedNumpyError):
        np.where(a > 1, a, 0)
    with pytest.raises(MixedDeviceError):
        a + np.ones(4)
    fake_cupy.host_reads.clear()
    float(a.sum())
    assert fake_cupy.host_reads == ["float"]


def test_mixing_devices_in_an_op_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cupy.install(monkeypatch)
    on_gpu = minigrad.Tensor(np.ones(3)).to("gpu")
    on_cpu = minigrad.Tensor(np.ones(3))
    with pytest.raises(RuntimeError, match=r"input 1 is on cpu but input 0 is on gpu"):
        on_gpu + on_cpu


def _arrays_of(opt: optimizers.Optimizer) -> list[object]:
    return [v for state in opt.state.values() for v in state.values() if hasattr(v, "shape")]


def test_lenet_training_steps_stay_on_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = datasets.take(*datasets.mnist("train"), 192)
    # The same steps on the host, for reference.
    minigrad.seed(0)
    cpu_model = layers.LeNet5()
    cpu_opt = optimizers.SGD(cpu_model.layer_groups(), lr=0.05, momentum=0.9)
    for x, y in datasets.DataLoader(images, labels, 64):
        loss = F.cross_entropy(cpu_model(x), y)
        cpu_opt.zero_grad()
        loss.backward()
        cpu_opt.step()

    fake = fake_cupy.install(monkeypatch)
    minigrad.seed(0)
    model = layers.LeNet5().to("gpu")
    opt = optimizers.SGD(model.layer_groups(), lr=0.05, momentum=0.9)
    for x, y in datasets.DataLoader(images, labels, 64, device="gpu"):
        assert isinstance(x, DeviceArray) and isinstance(y, DeviceArray)
        fake_cupy.host_reads.clear()
        result = train_step(model, opt, cross_entropy_per_sample, (x, y))
        assert fake_cupy.host_reads == [], "a training step read values back to the host"
        assert isinstance(result.loss, DeviceArray) and isinstance(result.output, DeviceArray)
    for p in model.parameters():
        assert isinstance(p.data, DeviceArray) and isinstance(p.grad, DeviceArray)
    assert _arrays_of(opt) and all(isinstance(v, DeviceArray) for v in _arrays_of(opt))
    assert fake.transfers_to_device == 10 + 2 * 3  # parameters once, then one x and one y per batch
    # Convolution takes the blocked path on NumPy and one im2col product on CuPy (minigrad/ops/conv.py):
    # the two sum in another order, so the weights agree to rounding, not bit for bit.
    for (name, p), q in zip(model.named_parameters(), cpu_model.parameters()):
        np.testing.assert_allclose(p.data.get(), q.data, rtol=1e-5, atol=1e-8, err_msg=name)


def test_moving_the_model_moves_optimizer_state(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cupy.install(monkeypatch)
    model = layers.LeNet5()
    opt = optimizers.SGD(model.layer_groups(), lr=0.05, momentum=0.9)
    x, y = datasets.take(*datasets.mnist("train"), 8)
    for device in ("cpu", "gpu", "cpu"):
        model.to(device)
        loss = F.cross_entropy(model(minigrad.to_device(x, device)), minigrad.to_device(y, device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        want = DeviceArray if device == "gpu" else np.ndarray
        assert all(type(v) is want for v in _arrays_of(opt)), device


def test_out_of_range_labels_on_the_device_poison_the_loss_without_a_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cupy.install(monkeypatch)
    logits = minigrad.Tensor(np.zeros((3, 4), np.float32)).to("gpu")
    good = minigrad.to_device(np.array([0, 3, 1]), "gpu")
    bad = minigrad.to_device(np.array([0, 4, 1]), "gpu")
    fake_cupy.host_reads.clear()
    ok_loss, bad_loss = F.cross_entropy(logits, good), F.cross_entropy(logits, bad)
    assert fake_cupy.host_reads == []
    assert np.isclose(ok_loss.item(), np.log(4)) and np.isnan(bad_loss.item())


# ----- every optimizer in the registry, on the device ---------------------------------------------

# Small, reasonable settings where a constructor default would leave the device path unexercised:
# momentum so that SGD keeps a velocity array, and a curvature sample at *every* step so that three
# steps run ESGD's and Dozat's Hessian-vector products more than once. Any other name (including
# optimizers added to the registry later) is built with its constructor defaults.
OPTIMIZER_SETTINGS: dict[str, dict[str, object]] = {
    "sgd": {"lr": 0.05, "momentum": 0.9},
    "layer_sgd": {"momentum": 0.9},
    "esgd": {"update_every": 1},
}
# Variants whose device path differs from the registry default's: (case id, registry name, settings).
OPTIMIZER_VARIANTS = [
    ("dozat-equilibrated", "dozat", {"curvature": "equilibrated", "curvature_every": 1, "eps": 0.03, "lr": 0.02}),
    ("sgd_hd-per_group", "sgd_hd", {"per_group": True}),
    ("ravaut1-momentum", "ravaut1", {"momentum": 0.5}),
]
OPTIMIZER_CASES = [(name, name, OPTIMIZER_SETTINGS.get(name, {})) for name in sorted(optimizers.OPTIMIZERS)]
OPTIMIZER_CASES += OPTIMIZER_VARIANTS

# Host reads a step may make besides one per extra closure evaluation, by case id; every case not
# listed must make none. These are scalar decisions whose result the algorithm needs as a Python
# number on the host:
# - ravaut1: η ← η + β·(g·g'), one dot product (optimizers.closure.dot) for the one global η;
# - esgd, dozat-equilibrated: the probe radius r = u^(1/3)·(1 + ‖θ‖)/‖v‖ of each Hessian-vector
#   product needs ‖v‖ and ‖θ‖ (two dots), checked for v = 0 and used as a Python float;
# - the hypergradient family keeps α as a Python float in group["lr"] (readable, saved with the
#   group) and updates it from dot products summed on the device: one read per step.
# The first closure call's loss stays on the device (optimizers/closure.py, point 4); each further
# call (a probe through evaluate_at) reads its loss once.
HOST_READS_BESIDES_PROBES: dict[str, int] = {
    "ravaut1": 1,
    "ravaut1-momentum": 1,
    "esgd": 2,
    "dozat-equilibrated": 2,
    "sgd_hd": 1,
    "sgdn_hd": 1,
    "adam_hd": 1,
    "sgd_hd-per_group": 1,
}
# Optimizers that legitimately keep no per-parameter arrays: Ravaut & Gorti learn one scalar η.
STATELESS = {"ravaut1", "ravaut2"}


def _optimizer_arrays(opt: optimizers.Optimizer) -> list[tuple[str, object]]:
    """Every array an optimizer holds: per-parameter state, group entries and its own attributes."""
    found: list[tuple[str, object]] = []

    def visit(where: str, value: object, depth: int = 0) -> None:
        if isinstance(value, np.ndarray) or is_cupy_array(value):  # (a real cupy.ndarray is no np.ndarray)
            found.append((where, value))
        elif depth < 2 and isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                visit(f"{where}[{i}]", v, depth + 1)
        elif depth < 2 and isinstance(value, dict):
            for k, v in value.items():
                visit(f"{where}[{k!r}]", v, depth + 1)

    for i, state in enumerate(opt.state.values()):
        visit(f"state[{i}]", state)
    for i, group in enumerate(opt.param_groups):
        visit(f"param_groups[{i}]", {k: v for k, v in group.items() if k != "params"})
    for attr, value in vars(opt).items():
        if attr not in ("state", "param_groups", "defaults"):
            visit(attr, value)
    return found


class _Run(NamedTuple):
    """What three optimizer steps did: the weights before and after, and the host reads per step."""

    before: list[np.ndarray]
    params: list[minigrad.Parameter]
    optimizer: optimizers.Optimizer
    reads: list[int]
    closure_calls: list[int]


def _run_three_steps(name: str, settings: dict[str, object], device: str) -> _Run:
    """Three steps of optimizer ``name`` over a tiny MLP on ``device``, through the driver every loop uses."""
    images, labels = datasets.take(*datasets.mnist("train"), 48)
    images = ((images - 0.13) / 0.31).astype(np.float32)  # standardised, as training does
    minigrad.seed(0)
    model = layers.MLP(28 * 28, (16,), 10).to(device)
    before = [minigrad.to_numpy(p.data).copy() for p in model.parameters()]
    opt = optimizers.build_optimizer(name, model.layer_groups(), **settings)
    # Re-seed after the weights are drawn, so random probe directions (ESGD, Dozat's equilibrated
    # curvature) come from identically seeded generators on both devices: the runs then agree.
    minigrad.seed(1)
    reads, calls = [], []
    for x, y in datasets.DataLoader(images, labels, 16, device=device):
        fake_cupy.host_reads.clear()
        count = [0]

        def forward(x: Any = x, y: Any = y, count: list[int] = count) -> minigrad.Tensor:
            count[0] += 1
            return cross_entropy_per_sample(model(x), y)

        optimizer_step(opt, forward)
        reads.append(len(fake_cupy.host_reads))
        calls.append(count[0])
    return _Run(before, model.parameters(), opt, reads, calls)


@pytest.mark.parametrize(("case", "name", "settings"), OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
def test_every_optimizer_steps_on_the_device(
    monkeypatch: pytest.MonkeyPatch, case: str, name: str, settings: dict[str, object]
) -> None:
    """Three steps of each registered optimizer keep all its arrays on the device, read back to the
    host only the scalars its algorithm needs as numbers, and move the weights as on the host."""
    host = _run_three_steps(name, settings, "cpu")
    fake_cupy.install(monkeypatch)
    run = _run_three_steps(name, settings, "gpu")

    arrays = _optimizer_arrays(run.optimizer)
    if name not in STATELESS:
        assert arrays, f"{case} kept no state arrays: the device check below would check nothing"
    on_host = [where for where, v in arrays if not isinstance(v, DeviceArray)]
    assert not on_host, f"{case}: optimizer arrays on the host after 3 steps: {on_host}"
    assert all(isinstance(p.data, DeviceArray) for p in run.params)

    assert min(run.closure_calls) >= 1, f"{case} never called its closure"
    for reads, n in zip(run.reads, run.closure_calls):
        budget = HOST_READS_BESIDES_PROBES.get(case, 0) + (n - 1)
        assert reads <= budget, f"{case}: {reads} host reads in a step with {n} closure calls, allowed {budget}"
    if not run.optimizer.needs_closure:
        assert run.closure_calls == [1, 1, 1], f"{case} works from .grad: one evaluation per step"

    # The same steps on the host give the same weights, and the weights did move (else equal is cheap).
    moved = 0
    for p, q, start in zip(run.params, host.params, run.before):
        np.testing.assert_allclose(p.data.get(), q.data, rtol=1e-5, atol=1e-6, err_msg=case)
        moved += not np.array_equal(q.data, start)
    assert moved, f"{case}: three steps changed no weight"
