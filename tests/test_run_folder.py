"""Run folders never lose data: refusal, the lock, finite checkpoints, strict JSON, resume, Ctrl-C.

Each test here pins one rule of :mod:`experiments.run_folder` and the training loop; the rules
are stated for users in the README ("Run folders").
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigrad
from experiments import cli, training
from experiments.run_folder import LOCK, RunFolderError, read_jsonl, run_lock, strict_json
from experiments.training import CHECKPOINT, METRICS, TELEMETRY, TrainConfig, TrainingDiverged, train

ROOT = Path(__file__).resolve().parents[1]


def config(out: Path, **overrides) -> TrainConfig:
    base = dict(out_dir=str(out), train_limit=640, test_limit=200, epochs=1, progress=False, log_every=5,
                telemetry_every=5, hyperparams={"lr": 0.05, "momentum": 0.9})
    base.update(overrides)
    return TrainConfig(**base)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def strict_lines(path: Path) -> list[dict]:
    """Parse every line with a strict JSON reader: NaN, Infinity and torn lines are errors."""

    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def run_cli(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "experiments", "train", "--out", str(out), "--limit-train", "3200",
            "--limit-test", "200", "--epochs", "2", "--no-progress", "--lr", "0.05", "--opt", "momentum=0.9", *extra]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)


# ----- a new run never replaces an old one -------------------------------------------------------------
def test_a_new_run_refuses_a_folder_that_holds_a_run_and_names_the_ways_on(tmp_path: Path) -> None:
    train(config(tmp_path))
    before = {name: digest(tmp_path / name) for name in (CHECKPOINT, METRICS)}
    with pytest.raises(RunFolderError) as info:
        train(config(tmp_path, hyperparams={"lr": 50.0}))  # it would diverge, emptying the old metrics
    message = str(info.value)
    assert str(tmp_path) in message and "--resume" in message and "--overwrite" in message
    assert {name: digest(tmp_path / name) for name in before} == before


def test_overwrite_deletes_only_the_old_runs_outputs(tmp_path: Path) -> None:
    train(config(tmp_path, seed=1))
    (tmp_path / "notes.txt").write_text("mine")
    old = digest(tmp_path / CHECKPOINT)
    train(config(tmp_path, seed=2), overwrite=True)
    assert digest(tmp_path / CHECKPOINT) != old
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert [r["epoch"] for r in read_jsonl(tmp_path / METRICS) if r["kind"] == "epoch"] == [1]


def test_resume_and_overwrite_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose one"):
        train(config(tmp_path), resume=True, overwrite=True)


# ----- one run per folder --------------------------------------------------------------------------
def test_a_locked_folder_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    with run_lock(tmp_path):  # this test process holds the lock; a CLI run in another process must refuse
        result = run_cli(tmp_path)
    assert result.returncode == 1
    assert f"pid {os.getpid()}" in result.stderr and "in use by another run" in result.stderr
    assert not (tmp_path / METRICS).exists(), "the refused run wrote into the folder"
    assert not (tmp_path / LOCK).exists(), "the lock was not released"


def test_a_stale_lock_is_reported_with_its_pid_and_taken_over(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    with pytest.warns(UserWarning, match=rf"pid {dead.pid}.*no longer running"):
        train(config(tmp_path))
    assert not (tmp_path / LOCK).exists()


def test_a_lock_from_another_host_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere.example", "started": "then"}))
    with pytest.raises(RunFolderError, match="pid 1 on elsewhere.example"):
        train(config(tmp_path))
    assert (tmp_path / LOCK).exists()


def test_the_lock_is_released_on_every_exit_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train(config(tmp_path / "ok"))
    assert not (tmp_path / "ok" / LOCK).exists()
    with pytest.raises(TrainingDiverged):
        train(config(tmp_path / "diverged", hyperparams={"lr": 1e6}))
    assert not (tmp_path / "diverged" / LOCK).exists()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_step", interrupted)
    with pytest.raises(training.TrainingInterrupted):
        train(config(tmp_path / "interrupted"))
    assert not (tmp_path / "interrupted" / LOCK).exists()


# ----- nothing non-finite is saved, and every metrics line is strict JSON ------------------------------
def test_divergence_writes_a_null_loss_record_and_keeps_the_last_good_checkpoint(tmp_path: Path,
                                                                                  monkeypatch) -> None:
    train(config(tmp_path))
    kept = digest(tmp_path / CHECKPOINT)
    real = minigrad.functional.cross_entropy
    calls = {"n": 0}

    def poisoned(logits, labels, reduction="mean"):
        calls["n"] += 1
        loss = real(logits, labels, reduction)
        return loss * float("nan") if calls["n"] > 3 else loss  # from the 4th step of epoch 2 on

    monkeypatch.setattr(minigrad.functional, "cross_entropy", poisoned)
    with pytest.raises(TrainingDiverged, match=rf"epoch 2.*checkpoint of epoch 1 in {tmp_path} is kept"):
        train(config(tmp_path, epochs=2), resume=True)
    assert digest(tmp_path / CHECKPOINT) == kept
    records = strict_lines(tmp_path / METRICS)
    assert records[-1]["kind"] == "diverged" and records[-1]["loss"] is None and records[-1]["epoch"] == 2
    strict_lines(tmp_path / TELEMETRY)


def test_non_finite_weights_are_never_checkpointed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loss stays finite but a weight is NaN at the end of epoch 2: epoch 1's checkpoint stays."""
    train(config(tmp_path))
    kept = digest(tmp_path / CHECKPOINT)
    real_evaluate = training.evaluate

    def evaluate_then_poison(model, *args, **kwargs):
        result = real_evaluate(model, *args, **kwargs)
        model.parameters()[0].data[...] = np.nan
        return result

    monkeypatch.setattr(training, "evaluate", evaluate_then_poison)
    with pytest.raises(TrainingDiverged, match=r"after epoch 2 these are not finite: model/.*epoch 1 .* is kept"):
        train(config(tmp_path, epochs=2), resume=True)
    assert digest(tmp_path / CHECKPOINT) == kept
    assert minigrad.load(tmp_path / CHECKPOINT)["epoch"] == 1
    assert strict_lines(tmp_path / METRICS)[-1]["kind"] == "diverged"


def test_strict_json_writes_null_for_non_finite_numbers() -> None:
    line = strict_json({"a": float("nan"), "b": [1.0, float("inf")], "c": {"d": -float("inf")}, "e": 2.5})
    assert json.loads(line) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2.5}


def test_every_output_file_has_the_same_permissions(tmp_path: Path) -> None:
    train(config(tmp_path))
    modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in (CHECKPOINT, METRICS, TELEMETRY)}
    assert len(set(modes.values())) == 1, modes


# ----- resume --------------------------------------------------------------------------------------
def test_resume_restores_the_stopping_rules_window(tmp_path: Path) -> None:
    """A 30-step window spans the 20-step epochs: a resumed run must continue the window, not restart it."""
    kwargs = dict(stop_threshold=-1e9, stop_window=30, train_limit=1280)  # never stops; windows cross epochs
    train(config(tmp_path / "straight", epochs=3, **kwargs))
    train(config(tmp_path / "resumed", epochs=2, **kwargs))
    train(config(tmp_path / "resumed", epochs=3, **kwargs), resume=True)
    a, b = (minigrad.load(tmp_path / run / CHECKPOINT) for run in ("straight", "resumed"))
    assert json.loads(a["plateau"]) == json.loads(b["plateau"])
    assert json.loads(a["plateau"])["previous"] is not None
    for name in a["model"]:
        np.testing.assert_array_equal(a["model"][name], b["model"][name], err_msg=name)


def test_resume_with_more_epochs_refuses_to_resize_a_cosine_schedule(tmp_path: Path) -> None:
    cosine = {"lr": 0.05, "momentum": 0.9, "schedule": "cosine"}
    train(config(tmp_path, hyperparams=cosine))
    with pytest.raises(ValueError, match=r"cannot resume with --epochs 2: .*cosine schedule was sized for 1 epoch"):
        train(config(tmp_path, epochs=2, hyperparams=cosine), resume=True)


def test_resume_with_more_epochs_continues_a_length_free_schedule(tmp_path: Path) -> None:
    inv = {"lr": 0.05, "momentum": 0.9, "schedule": "inv"}
    train(config(tmp_path, hyperparams=inv))
    assert train(config(tmp_path, epochs=2, hyperparams=inv), resume=True)["epoch"] == 2


def test_a_torn_last_line_is_dropped_with_a_warning_naming_file_and_line(tmp_path: Path) -> None:
    train(config(tmp_path))
    lines = (tmp_path / METRICS).read_text().count("\n")
    with open(tmp_path / METRICS, "a") as f:
        f.write('{"kind": "step", "epoch": 2, "st')  # a kill in the middle of a write
    with pytest.warns(UserWarning, match=rf"{METRICS}, line {lines + 1}: dropping a torn last line"):
        train(config(tmp_path, epochs=2), resume=True)
    assert [r["epoch"] for r in strict_lines(tmp_path / METRICS) if r["kind"] == "epoch"] == [1, 2]


def test_any_other_bad_line_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    train(config(tmp_path))
    text = (tmp_path / METRICS).read_text().splitlines()
    text[1] = "not json"
    (tmp_path / METRICS).write_text("\n".join(text) + "\n")
    with pytest.raises(ValueError, match=rf"{METRICS}, line 2: not a valid JSON record"):
        train(config(tmp_path, epochs=2), resume=True)


def test_a_minigrad_save_that_is_not_a_checkpoint_gets_a_clear_error(tmp_path: Path) -> None:
    minigrad.save({"weights": np.ones(3)}, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match=r"a minigrad save but not a training checkpoint .*another program"):
        train(config(tmp_path), resume=True)


# ----- Ctrl-C --------------------------------------------------------------------------------------
def test_ctrl_c_stops_cleanly_with_one_line_and_status_130(tmp_path: Path) -> None:
    # 50 steps per epoch: SIGINT in the middle of epoch 2, as Ctrl-C in a terminal sends it.
    result = run_cli(tmp_path, env={"MINIGRAD_DEBUG_KILL_AT_STEP": "75", "MINIGRAD_DEBUG_KILL_SIGNAL": "SIGINT"})
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"minigrad train: interrupted at epoch 2 step 75; the checkpoint of epoch 1 in {tmp_path} is kept; "
        "continue with --resume"
    ]
    assert not (tmp_path / LOCK).exists()
    resumed = run_cli(tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert minigrad.load(tmp_path / CHECKPOINT)["epoch"] == 2


def test_a_real_sigint_from_outside_is_handled_the_same_way(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "experiments", "train", "--out", str(tmp_path), "--limit-train", "60000",
            "--limit-test", "100", "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / METRICS).exists() or not (tmp_path / METRICS).read_text():  # training has started
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "interrupted at epoch 1 step" in err and f"no checkpoint was written yet in {tmp_path}" in err


def test_the_cli_reports_a_refused_folder_without_a_traceback(tmp_path: Path, capsys) -> None:
    train(config(tmp_path))
    status = cli.main(["train", "--out", str(tmp_path), "--limit-train", "640", "--no-progress"])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("minigrad train: error:") and "--overwrite" in err


def test_bytes_that_are_not_utf8_are_an_error_naming_file_and_line(tmp_path: Path) -> None:
    train(config(tmp_path))
    lines = (tmp_path / METRICS).read_text().count("\n")
    with open(tmp_path / METRICS, "ab") as f:
        f.write(b"\xff\xfe garbage\n")
    with pytest.raises(ValueError, match=rf"{METRICS}, line {lines + 1}: not a valid JSON record"):
        train(config(tmp_path, epochs=2), resume=True)
