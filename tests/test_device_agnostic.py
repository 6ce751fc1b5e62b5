"""The GPU path on a CPU-only machine: a stand-in for CuPy that refuses hard-coded NumPy.

These tests fail if any op, layer, loss, optimizer or the data loader computes with NumPy
directly, mixes host and device arrays, or reads values back to the host inside a training step.
Real-GPU tests live in test_gpu.py and skip without CuPy and a device.
"""

from __future__ import annotations

import numpy as np
import pytest

import datasets
import layers
import minigrad
import optimizers
from minigrad import functional as F
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
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert fake_cupy.host_reads == [], "a training step read values back to the host"
        assert isinstance(loss.data, DeviceArray)
    for p in model.parameters():
        assert isinstance(p.data, DeviceArray) and isinstance(p.grad, DeviceArray)
    assert _arrays_of(opt) and all(isinstance(v, DeviceArray) for v in _arrays_of(opt))
    assert fake.transfers_to_device == 10 + 2 * 3  # parameters once, then one x and one y per batch
    for (name, p), q in zip(model.named_parameters(), cpu_model.parameters()):
        np.testing.assert_array_equal(p.data.get(), q.data, err_msg=name)


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
