"""The GPU path on a real GPU, the errors without one, and the GPU benchmark's CPU-testable parts.

Tests taking ``xp`` run once on NumPy and once on CuPy; the CuPy run skips unless CuPy imports and
sees a CUDA device (:func:`minigrad.backend.cupy_available`). Every one compares the array module's
float32 results with a reference that can differ from them (a float64 host run, or the host run
in float32 for the GPU), so the NumPy run is a real check too and the CuPy run checks agreement
between the two array modules. The CPU-only CI drives the same code down the GPU path on a strict
stand-in in test_device_agnostic.py.

On a GPU machine: ``pip install ".[gpu,test]" torch`` then ``python -m pytest tests/test_gpu.py``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import datasets
import layers
import minigrad
import optimizers
from benchmarks import gpu_lenet
from experiments import cli
from experiments.training import TrainConfig, train
from minigrad import backend
from minigrad import functional as F
from tests import fake_cupy
from tests.test_device_agnostic import OPTIMIZER_CASES, STATELESS, _optimizer_arrays, _run_three_steps

GPU = backend.cupy_available()
needs_gpu = pytest.mark.skipif(not GPU, reason="needs CuPy and a CUDA device (pip install '.[gpu]')")
XP = [pytest.param("numpy", id="numpy"), pytest.param("cupy", id="cupy", marks=needs_gpu)]
DEVICE = {"numpy": "cpu", "cupy": "gpu"}
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch (pip install torch==2.13.0)")

# float32 against float64 (or against float32 summed in another order on the GPU): a few ulps of
# float32 (1.2e-7) times the terms of the longest sum, with room to spare.
RTOL, ATOL = 1e-4, 1e-5


def _module(name: str) -> Any:
    return np if name == "numpy" else backend.require_cupy()


# ----- ops: forward and backward agree with the host ---------------------------------------------
def _labels(device: str) -> Any:
    return minigrad.to_device(np.array([0, 3, 2, 9, 3, 1, 7]), device)


# name -> (function of the input Tensors and the device, input shapes)
OPS: dict[str, tuple[Callable[..., minigrad.Tensor], list[tuple[int, ...]]]] = {
    "conv2d": (lambda d, x, w, b: F.conv2d(x, w, b, padding=2), [(4, 3, 9, 9), (5, 3, 5, 5), (5,)]),
    "conv2d_strided": (lambda d, x, w: F.conv2d(x, w, stride=2, padding=1), [(3, 2, 8, 7), (4, 2, 3, 3)]),
    "max_pool2d": (lambda d, x: F.max_pool2d(x, 2), [(3, 4, 8, 8)]),
    "max_pool2d_overlapping": (lambda d, x: F.max_pool2d(x, 3, stride=2, padding=1), [(2, 3, 9, 9)]),
    "matmul": (lambda d, a, b: a @ b, [(7, 5), (5, 3)]),
    "linear": (lambda d, x, w, b: F.linear(x, w, b), [(6, 400), (120, 400), (120,)]),
    "cross_entropy": (lambda d, z: F.cross_entropy(z, _labels(d)), [(7, 10)]),
    "cross_entropy_sum": (lambda d, z: F.cross_entropy(z, _labels(d), reduction="sum"), [(7, 10)]),
}


def _forward_backward(op: str, inputs: list[np.ndarray], upstream: np.ndarray, device: str, dtype: Any) -> list:
    """The op's output and the gradients of Σ(output · upstream) with respect to each input, on the host."""
    fn, _ = OPS[op]
    tensors = [minigrad.Tensor(minigrad.to_device(a.astype(dtype), device), requires_grad=True) for a in inputs]
    out = fn(device, *tensors)
    (out * minigrad.Tensor(minigrad.to_device(upstream.astype(dtype), device))).sum().backward()
    assert out.device == device and all(t.grad is not None and t.device == device for t in tensors)
    return [minigrad.to_numpy(out.data)] + [minigrad.to_numpy(t.grad) for t in tensors]


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("xp", XP)
def test_ops_forward_and_backward_agree_with_the_host(xp: str, op: str) -> None:
    rng = np.random.default_rng(0)
    # Inputs are drawn in float32 and widened for the reference, so both runs see the same numbers
    # (and max-pooling the same argmax).
    inputs = [rng.standard_normal(shape).astype(np.float32) for shape in OPS[op][1]]
    probe = _forward_backward(op, inputs, np.ones(()), "cpu", np.float64)  # only for the output's shape
    upstream = rng.standard_normal(probe[0].shape).astype(np.float32)
    reference = _forward_backward(op, inputs, upstream, "cpu", np.float64)
    host32 = _forward_backward(op, inputs, upstream, "cpu", np.float32)
    ours = _forward_backward(op, inputs, upstream, DEVICE[xp], np.float32)
    for what, a, ref, h in zip(["output"] + [f"grad {i}" for i in range(len(inputs))], ours, reference, host32):
        assert a.dtype == np.float32, what
        np.testing.assert_allclose(a, ref, rtol=RTOL, atol=ATOL, err_msg=f"{op} {what} vs float64 host")
        np.testing.assert_allclose(a, h, rtol=RTOL, atol=ATOL, err_msg=f"{op} {what} vs float32 host")


# ----- LeNet-5 training steps --------------------------------------------------------------------
def _lenet_losses(device: str, dtype: Any, steps: int = 4) -> tuple[list[float], list[np.ndarray]]:
    """Losses of ``steps`` SGD-momentum steps of LeNet-5 from seed 0 (losses read after the run), and the weights."""
    images, labels = datasets.take(*datasets.mnist("train"), 32 * steps)
    minigrad.seed(0)
    model = layers.LeNet5().to(device)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    opt = optimizers.SGD(model.layer_groups(), lr=0.05, momentum=0.9)
    losses = []
    for x, y in datasets.DataLoader(images.astype(dtype), labels, 32, device=device):
        loss = F.cross_entropy(model(x.astype(dtype)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.data)  # kept on the device: no sync inside the loop
    return [float(v) for v in losses], [minigrad.to_numpy(p.data) for p in model.parameters()]


@pytest.mark.parametrize("xp", XP)
def test_lenet_training_steps_give_the_host_losses(xp: str) -> None:
    reference, ref_weights = _lenet_losses("cpu", np.float64)
    host, _ = _lenet_losses("cpu", np.float32)
    ours, weights = _lenet_losses(DEVICE[xp], np.float32)
    assert len(set(ours)) == len(ours), "the loss did not change between steps"
    np.testing.assert_allclose(ours, reference, rtol=RTOL)
    np.testing.assert_allclose(ours, host, rtol=RTOL)
    for w, r in zip(weights, ref_weights):
        assert w.dtype == np.float32
        np.testing.assert_allclose(w, r, rtol=1e-3, atol=1e-5)


# ----- every optimizer keeps its state on the device ----------------------------------------------
# Draws from the device's own generator (CuPy's stream differs from NumPy's for the same seed).
RANDOM_PROBES = {"esgd", "dozat-equilibrated"}


@pytest.mark.parametrize(("case", "name", "settings"), OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
@pytest.mark.parametrize("xp", XP)
def test_optimizer_state_lives_on_the_device(xp: str, case: str, name: str, settings: dict[str, object]) -> None:
    module = _module(xp)
    run = _run_three_steps(name, settings, DEVICE[xp])  # closure optimizers through loss_closure
    arrays = _optimizer_arrays(run.optimizer)
    if name not in STATELESS:
        assert arrays, f"{case} kept no state arrays"
    wrong = [f"{where}: {type(v).__name__}" for where, v in arrays if not isinstance(v, module.ndarray)]
    assert not wrong, f"{case}: optimizer arrays not on {xp} after a step: {wrong}"
    assert all(minigrad.device_of(p) == DEVICE[xp] for p in run.params)
    if xp == "numpy" or case in RANDOM_PROBES:
        return
    host = _run_three_steps(name, settings, "cpu")
    for p, q in zip(run.params, host.params):
        got = minigrad.to_numpy(p.data)
        # Sign-based rules (Rprop, WAME) may turn a gradient that is zero up to rounding the other
        # way on the GPU, whose sums run in another order: allow one coordinate in a thousand.
        off = ~np.isclose(got, q.data, rtol=1e-3, atol=1e-5)
        assert off.mean() <= 1e-3, f"{case}: {off.sum()} of {off.size} weights differ from the host run"


# ----- moving a model, and the training loop -------------------------------------------------------
@needs_gpu
def test_model_round_trip_to_the_gpu_and_back() -> None:
    cp = backend.require_cupy()
    model = layers.LeNet5()
    x, y = datasets.take(*datasets.mnist("train"), 8)
    F.cross_entropy(model(x), y).backward()
    params = model.parameters()
    before = [(p.data.copy(), p.grad.copy()) for p in params]
    assert model.to("gpu") is model
    # The same Parameter objects, so an optimizer holding them keeps working.
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert all(isinstance(p.data, cp.ndarray) and isinstance(p.grad, cp.ndarray) for p in params)
    model.to("cpu")
    for p, (data, grad) in zip(params, before):
        assert type(p.data) is np.ndarray and type(p.grad) is np.ndarray
        np.testing.assert_array_equal(p.data, data)
        np.testing.assert_array_equal(p.grad, grad)


@pytest.mark.parametrize("xp", XP)
def test_train_runs_on_the_device(xp: str, tmp_path: Path) -> None:
    def run(device: str) -> dict[str, Any]:
        config = TrainConfig(
            device=device,
            train_limit=1024,
            test_limit=500,
            batch_size=16,
            epochs=1,
            out_dir=str(tmp_path / device),
            progress=False,
        )
        return train(config)

    result = run(DEVICE[xp])
    assert result["test_accuracy"] > 0.5, result  # 64 steps of the default recipe learn (62.6 % on the CPU)
    assert (tmp_path / DEVICE[xp] / "checkpoint.npz").exists()
    records = [json.loads(line) for line in (tmp_path / DEVICE[xp] / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["kind"] == "epoch"
    if xp == "cupy":
        host = run("cpu")
        # 64 steps in float32 whose sums run in another order: close, not bit-equal.
        assert result["train_loss"] == pytest.approx(host["train_loss"], rel=2e-3)
        assert abs(result["test_accuracy"] - host["test_accuracy"]) <= 0.02


# ----- clear errors without CuPy or a device (run everywhere) --------------------------------------
def _without_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the backend behave as if ``import cupy`` had failed (it caches the first attempt)."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_tried", True)
    monkeypatch.setattr(backend, "_cupy_error", ModuleNotFoundError("No module named 'cupy'"))


GPU_REQUESTS = ["to_device", "require_cupy", "Tensor.to", "Module.to", "DataLoader", "train"]


@pytest.mark.parametrize("what", GPU_REQUESTS)
def test_asking_for_the_gpu_without_cupy_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, what: str
) -> None:
    _without_cupy(monkeypatch)
    assert not backend.cupy_available()
    images, labels = datasets.take(*datasets.mnist("train"), 4)
    attempts = {
        "to_device": lambda: minigrad.to_device(np.ones(3), "gpu"),
        "require_cupy": backend.require_cupy,
        "Tensor.to": lambda: minigrad.Tensor(np.ones(3)).to("gpu"),
        "Module.to": lambda: layers.LeNet5().to("gpu"),
        "DataLoader": lambda: datasets.DataLoader(images, labels, 2, device="gpu"),
        "train": lambda: train(
            TrainConfig(device="gpu", train_limit=4, test_limit=4, batch_size=4, out_dir=str(tmp_path))
        ),
    }
    with pytest.raises(RuntimeError, match=r"CuPy.*No module named 'cupy'.*pip install \"\.\[gpu\]\""):
        attempts[what]()


def test_the_command_line_without_cupy_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_cupy(monkeypatch)
    argv = ["train", "--device", "gpu", "--limit-train", "4", "--batch-size", "4", "--out", str(tmp_path)]
    assert cli.main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "CuPy" in err and 'pip install ".[gpu]"' in err


@pytest.mark.parametrize(
    ("count", "message"),
    [(lambda: 0, "reports no CUDA device"), (lambda: 1 // 0, "no CUDA device is usable")],
    ids=["no-device", "driver-error"],
)
def test_cupy_without_a_device_says_so(monkeypatch: pytest.MonkeyPatch, count: Callable[[], int], message: str) -> None:
    fake = fake_cupy.install(monkeypatch)
    fake.cuda.runtime.getDeviceCount = count
    assert not backend.cupy_available()
    with pytest.raises(RuntimeError, match=message):
        minigrad.to_device(np.ones(3), "gpu")


# ----- benchmarks/gpu_lenet.py: the parts that run on the CPU --------------------------------------
def test_benchmark_arguments() -> None:
    args = gpu_lenet.parse_args([])
    assert args.batch_sizes == [64, 256] and args.epochs == 1 and args.limit is None and args.device == "gpu"
    assert args.crossover_batch_sizes == [1, 4, 16, 64, 256, 1024]
    args = gpu_lenet.parse_args(["--batch-sizes", "32", "128", "--epochs", "3", "--limit", "5000", "--no-torch"])
    assert (args.batch_sizes, args.epochs, args.limit, args.no_torch) == ([32, 128], 3, 5000, True)
    for bad in (["--batch-sizes", "0"], ["--epochs", "-1"], ["--limit", "x"], ["--device", "tpu"]):
        with pytest.raises(SystemExit):
            gpu_lenet.parse_args(bad)


@pytest.mark.parametrize(
    ("timings", "expected"),
    [
        ({1: (1.0, 5.0), 4: (2.0, 5.0), 16: (6.0, 5.0), 64: (20.0, 6.0)}, 16),
        ({64: (20.0, 6.0), 1: (1.0, 5.0), 16: (6.0, 5.0), 4: (2.0, 5.0)}, 16),  # the table's order does not matter
        ({1: (1.0, 0.5), 4: (2.0, 3.0), 16: (6.0, 5.0), 64: (20.0, 6.0)}, 16),  # a lone noisy win at 1 is no crossover
        ({1: (1.0, 0.5), 4: (2.0, 1.0)}, 1),  # the GPU wins everywhere
        ({1: (1.0, 5.0), 4: (2.0, 5.0), 16: (6.0, 7.0)}, None),  # never
        ({1: (1.0, 5.0), 16: (6.0, 6.0)}, None),  # a tie is no win
        ({}, None),
    ],
)
def test_crossover_batch_size(timings: dict[int, tuple[float, float]], expected: int | None) -> None:
    assert gpu_lenet.crossover_batch_size(timings) == expected


@needs_torch
def test_the_torch_twin_is_minigrads_lenet5() -> None:
    import torch

    minigrad.seed(0)
    ours = layers.LeNet5()
    theirs = gpu_lenet.build_torch_lenet5()
    assert sum(p.numel() for p in theirs.parameters()) == ours.num_parameters() == 61_706
    gpu_lenet.copy_weights_to_torch(ours, theirs)
    x, _ = datasets.take(*datasets.mnist("test"), 16)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x.copy())).numpy()
    np.testing.assert_allclose(ours(x).data, want, rtol=RTOL, atol=ATOL)  # same layers, same flatten order


def test_the_benchmark_exits_with_a_message_without_cupy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_cupy(monkeypatch)
    assert gpu_lenet.main(["--no-torch"]) == gpu_lenet.EXIT_MISSING == 2
    err = capsys.readouterr().err
    assert "CuPy" in err and 'pip install ".[gpu]"' in err


@needs_torch
def test_the_benchmark_exits_with_a_message_without_torch_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this torch sees a CUDA device")
    fake_cupy.install(monkeypatch)  # CuPy "present", so the torch check is the one that fails
    assert gpu_lenet.main(["--limit", "64"]) == 2
    assert "sees no CUDA device" in capsys.readouterr().err


def test_the_benchmark_runs_its_gpu_path_on_the_stand_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """minigrad's side of the GPU run, timing and sweep included, on the strict CuPy stand-in."""
    fake_cupy.install(monkeypatch)
    argv = ["--no-torch", "--limit", "192", "--test-limit", "200", "--batch-sizes", "64", "--warmup", "1"]
    argv += ["--crossover-batch-sizes", "1", "8", "--crossover-steps", "1", "--crossover-rounds", "1"]
    assert gpu_lenet.main(argv) == 0
    out = capsys.readouterr().out
    assert "batch    64 (3 steps): minigrad" in out and "fake CuPy device" in out
    assert "batch     1: NumPy" in out and "batch     8: NumPy" in out
    assert "the GPU wins from batch size" in out or "the GPU did not win up to batch 8" in out


@pytest.mark.parametrize("torch_too", [pytest.param(True, marks=needs_torch), False], ids=["with-torch", "no-torch"])
def test_the_benchmark_cpu_smoke_run(torch_too: bool, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--device", "cpu", "--limit", "256", "--test-limit", "200", "--batch-sizes", "64", "--warmup", "1"]
    assert gpu_lenet.main(argv + ([] if torch_too else ["--no-torch"])) == 0
    out = capsys.readouterr().out
    assert "batch    64 (4 steps): minigrad" in out and "crossover sweep skipped" in out
    if torch_too:
        # Same initial weights, same batches, same update: the two frameworks agree on the accuracy.
        line = next(line for line in out.splitlines() if "minigrad/torch" in line)
        # (Within one test image of 200: the two frameworks' float32 sums run in different orders.)
        accuracies = [float(part.split("test acc ")[1].split(" %")[0]) for part in line.split("|")[:2]]
        assert abs(accuracies[0] - accuracies[1]) <= 0.5, line


@needs_gpu
@needs_torch
def test_the_benchmark_on_the_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("this torch build sees no CUDA device")
    argv = ["--limit", "512", "--test-limit", "500", "--batch-sizes", "64", "--warmup", "2"]
    argv += ["--crossover-batch-sizes", "1", "256", "--crossover-steps", "2", "--crossover-rounds", "1"]
    assert gpu_lenet.main(argv) == 0
    out = capsys.readouterr().out
    assert "minigrad/torch" in out and "batch   256: NumPy" in out
