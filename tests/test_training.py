"""The training loop and command line: learning, checkpoint/kill/resume, divergence, errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad
from experiments import cli
from experiments.training import CHECKPOINT, CURVE, METRICS, TrainConfig, TrainingDiverged, train

ROOT = Path(__file__).resolve().parents[1]


def small_config(out: Path, **overrides) -> TrainConfig:
    base = dict(out_dir=str(out), train_limit=3200, test_limit=1000, epochs=2, progress=False, log_every=10,
                hyperparams={"lr": 0.05, "momentum": 0.9})
    base.update(overrides)
    return TrainConfig(**base)


def test_lenet_learns_on_an_mnist_subset(tmp_path: Path) -> None:
    # 300 steps on 6,400 images: the loss must fall and test accuracy clear a bar chance (10%) is far from.
    result = train(small_config(tmp_path, train_limit=6400, test_limit=2000, epochs=3))
    records = [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()]
    epochs = [r for r in records if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 2
    assert result["test_accuracy"] > 0.92
    assert epochs[-1]["test_accuracy"] > epochs[0]["test_accuracy"]
    # The learning curve is a real picture, not a blank canvas.
    import matplotlib.image

    pixels = matplotlib.image.imread(tmp_path / CURVE)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05


def _run_cli(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "experiments", "train", "--out", str(out), "--limit-train", "3200",
            "--limit-test", "500", "--epochs", "2", "--no-progress", "--lr", "0.05", "--opt", "momentum=0.9", *extra]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)


def test_killed_run_resumes_bit_identically(tmp_path: Path) -> None:
    straight = _run_cli(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr
    # 50 steps per epoch: SIGKILL the process in the middle of epoch 2, with no chance to clean up.
    killed = _run_cli(tmp_path / "resumed", env={"MINIGRAD_DEBUG_KILL_AT_STEP": "75"})
    assert killed.returncode == -9
    assert minigrad.load(tmp_path / "resumed" / CHECKPOINT)["epoch"] == 1
    resumed = _run_cli(tmp_path / "resumed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = minigrad.load(tmp_path / "straight" / CHECKPOINT)
    b = minigrad.load(tmp_path / "resumed" / CHECKPOINT)
    assert a["epoch"] == b["epoch"] == 2
    for name in a["model"]:
        assert np.array_equal(a["model"][name], b["model"][name]), name
    for key, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert np.array_equal(value, b["optimizer"]["state"][key][name]), (key, name)
    # The killed run's partial epoch-2 log lines were dropped on resume: one record per epoch.
    epochs = [json.loads(x) for x in (tmp_path / "resumed" / METRICS).read_text().splitlines()]
    assert [r["epoch"] for r in epochs if r["kind"] == "epoch"] == [1, 2]


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    train(small_config(tmp_path, epochs=1))
    with pytest.raises(ValueError, match="other settings"):
        train(small_config(tmp_path, epochs=2, batch_size=32), resume=True)


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(small_config(tmp_path, epochs=1))
    checkpoint = tmp_path / CHECKPOINT
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    real = minigrad.functional.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, labels, reduction="mean"):
        calls["n"] += 1
        loss = real(logits, labels, reduction)
        return loss * float("nan") if calls["n"] > 20 else loss

    monkeypatch.setattr(minigrad.functional, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match=r"nan.*epoch 2.*kept"):
        train(small_config(tmp_path, epochs=2), resume=True)
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == digest


def test_cli_gpu_without_cupy_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if minigrad.cupy_available():
        pytest.skip("a GPU is available here")
    status = cli.main(["train", "--device", "gpu", "--out", str(tmp_path), "--no-progress", "--limit-train", "64"])
    assert status == 1
    assert "CuPy" in capsys.readouterr().err


def test_cli_parses_hyperparameters() -> None:
    assert cli.parse_hyperparams(["momentum=0.9", "nesterov=true", "schedule=inv", "steps=3", "x=none"]) == {
        "momentum": 0.9, "nesterov": True, "schedule": "inv", "steps": 3, "x": None}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        cli.parse_hyperparams(["momentum"])


def test_cli_opt_takes_several_values_and_repeats() -> None:
    args = cli.build_parser().parse_args(["train", "--opt", "momentum=0.9", "schedule=inv", "--opt", "lr=0.1"])
    assert cli.parse_hyperparams(args.opt) == {"momentum": 0.9, "schedule": "inv", "lr": 0.1}


def test_closure_optimizers_train_without_an_extra_forward_pass(tmp_path: Path, monkeypatch) -> None:
    """Ravaut's second order evaluates the loss six times per step (one with a gradient, five
    probes); the loop reuses the first call's logits for the accuracy instead of a seventh."""
    import layers

    calls = {"train": 0}
    forward = layers.LeNet5.forward

    def counting_forward(self, x):
        calls["train"] += self.training
        return forward(self, x)

    monkeypatch.setattr(layers.LeNet5, "forward", counting_forward)
    result = train(small_config(tmp_path, optimizer="ravaut2", hyperparams={"eta_max": 0.3}, train_limit=128,
                                test_limit=100, epochs=1, batch_size=64))
    assert calls["train"] == 2 * 6
    assert 0 <= result["train_accuracy"] <= 1 and np.isfinite(result["train_loss"])


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model"):
        train(small_config(tmp_path, model="resnet"))
    with pytest.raises(ValueError, match="batch_size"):
        train(small_config(tmp_path, batch_size=0))
    with pytest.raises(ValueError, match="device"):
        train(small_config(tmp_path, device="tpu"))


def test_benchmark_fast_mode_measures_something() -> None:
    from threadpoolctl import threadpool_limits

    from benchmarks import lenet_step
    from minigrad import parallel

    result = lenet_step.main(["--fast", "--batch-sizes", "16", "32", "--threads", "1"])
    assert [row["batch"] for row in result["rows"]] == [16, 32]
    assert all(row["minigrad_step_ms"] > 0 for row in result["rows"]) and result["minigrad_epoch_s"] > 0
    with threadpool_limits(limits=1):  # --threads was undone: minigrad follows BLAS's limit again
        assert parallel.get_num_threads() == 1
