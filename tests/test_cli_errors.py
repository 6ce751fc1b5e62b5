"""What the user sees: clear errors for bad arguments, readable help, honest logs and figures."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from experiments import cli, saddle, training
from experiments.run_folder import RunFolderError, check_writable_folder
from experiments.training import METRICS, TrainConfig, train


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``minigrad ARGV`` in-process; argparse's SystemExit becomes its status."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def no_data_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the training command gets as far as loading data."""

    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the error")

    monkeypatch.setattr(training, "load_data", refuse)


# ----- minigrad train ------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--limit-train", "--limit-test", "--batch-size", "--epochs", "--log-every"])
def test_zero_counts_are_errors_not_everything(option: str, capsys, no_data_loading) -> None:
    status, _, err = run_cli(["train", option, "0"], capsys)
    assert status == 2 and f"argument {option}: must be >= 1, got 0" in err


def test_a_batch_larger_than_the_data_is_an_error(tmp_path: Path, capsys) -> None:
    status, _, err = run_cli(["train", "--out", str(tmp_path), "--limit-train", "100", "--batch-size", "128",
                              "--no-progress"], capsys)
    assert status == 1
    assert "batch size 128 is larger than the 100 training images (--limit-train)" in err
    assert not (tmp_path / METRICS).exists()


def test_out_that_is_a_file_fails_before_any_data_loads(tmp_path: Path, capsys, no_data_loading) -> None:
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    status, _, err = run_cli(["train", "--out", str(target), "--no-progress"], capsys)
    assert status == 1 and f"--out {target} is a file" in err
    status, _, err = run_cli(["train", "--out", str(target / "run"), "--no-progress"], capsys)
    assert status == 1 and f"{target} is a file, so the folder cannot be created" in err
    assert target.read_text() == "keep me"


def test_out_that_is_not_writable_fails_before_any_data_loads(tmp_path: Path, monkeypatch, capsys,
                                                               no_data_loading) -> None:
    # Permission bits do not bind root (CI runs as root), so the check's answer is what is simulated.
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    status, _, err = run_cli(["train", "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    assert status == 1 and f"{tmp_path} is not writable by this user" in err
    with pytest.raises(RunFolderError, match="not writable"):
        check_writable_folder(tmp_path)


def test_train_help_gives_every_option_a_help_text_and_one_default(capsys) -> None:
    parser = cli.build_parser()
    train_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    for action in train_parser._actions:
        assert action.help, f"{action.option_strings} has no help"
    status, out, _ = run_cli(["train", "--help"], capsys)
    assert status == 0
    assert "(default: None)" not in out and out.count("(default: 64)") == 1
    assert "examples:" in out and "--resume" in out.split("examples:")[1]
    assert out.split("\n\n")[1].startswith("Train a model")  # a one-line description after the usage


def test_saddle_help_gives_every_option_a_help_text_and_examples(capsys) -> None:
    status, out, _ = run_cli(["saddle", "--help"], capsys)
    assert status == 0
    assert "(default: None)" not in out and "examples:" in out and "(default: 300)" in out
    parser = cli.build_parser()
    saddle_parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["saddle"]
    assert all(action.help for action in saddle_parser._actions)


def test_the_logged_loss_is_the_mean_of_its_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each "step" record is the mean of the minibatch losses of its --log-every window, not one batch's."""
    losses: list[float] = []
    real = training.train_step

    def recording(*args, **kwargs):
        result = real(*args, **kwargs)
        losses.append(float(result.loss))
        return result

    monkeypatch.setattr(training, "train_step", recording)
    train(TrainConfig(out_dir=str(tmp_path), train_limit=640, test_limit=100, log_every=4, progress=False,
                      telemetry_every=0, hyperparams={"lr": 0.05}))
    steps = [r for r in training.read_jsonl(tmp_path / METRICS) if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [4, 8, 10]
    assert [r["window"] for r in steps] == [4, 4, 2]
    np.testing.assert_allclose([r["loss"] for r in steps],
                               [np.mean(losses[0:4]), np.mean(losses[4:8]), np.mean(losses[8:10])], rtol=1e-12)
    assert len(set(losses[0:4])) == 4  # the window holds four different losses: the mean is not one of them


def test_the_learning_curve_says_what_each_line_is_and_shows_one_epoch() -> None:
    records = [
        {"kind": "step", "epoch": 1, "step": 50, "loss": 0.9, "window": 50},
        {"kind": "step", "epoch": 1, "step": 100, "loss": 0.5, "window": 50},
        {"kind": "epoch", "epoch": 1, "step": 100, "train_loss": 0.7, "train_accuracy": 0.91, "test_loss": 0.3,
         "test_accuracy": 0.95},
    ]
    fig = training.learning_curve_figure(records, "title")
    ax_loss, ax_acc = fig.axes
    labels = [t.get_text() for t in ax_loss.get_legend().get_texts()]
    assert labels == ["train: mean over each window of 50 steps", "test: end of each epoch"]
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["train (running, during the epoch)",
                                                                       "test (end of epoch)"]
    assert {t.get_text() for t in ax_acc.texts} == {"91.00%", "95.00%"}  # one epoch: the values are written out
    low, high = ax_acc.get_ylim()
    assert 80 < low < 91 and high >= 95
    records.append({"kind": "diverged", "epoch": 2, "step": 130, "loss": None, "message": "nan"})
    fig = training.learning_curve_figure(records, "title")
    assert "diverged at step 130" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


# ----- minigrad saddle -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--optimizers", ","], "give at least one optimizer"),
        (["--optimizers", "sgd,nope"], "unknown optimizer 'nope': expected one of"),
        (["--start", "nan,0"], "expected two finite numbers"),
        (["--start", "1"], "expected X,Y"),
        (["--start", "40,0", "--surface", "saddle"], "outside the plotted window of saddle"),
        (["--out", "figure.jpg"], "must end in .png or .gif"),
        (["--steps", "-3"], "argument --steps: must be >= 1"),
    ],
)
def test_saddle_errors_go_to_stderr_with_status_2(argv: list[str], message: str, capsys, tmp_path) -> None:
    status, out, err = run_cli(["saddle", *argv], capsys)
    assert status == 2 and message in err and out == ""
    assert err.startswith("usage: minigrad saddle")


def test_run_trajectory_refuses_non_finite_and_far_off_starts() -> None:
    with pytest.raises(ValueError, match="finite"):
        saddle.run_trajectory("saddle", "sgd", (float("inf"), 0.0), 5)
    with pytest.raises(ValueError, match=r"outside the ball \|θ\| <= 1000"):
        saddle.run_trajectory("saddle", "sgd", (2e3, 0.0), 5)


def test_a_run_that_leaves_the_plot_is_reported_and_marked(tmp_path: Path, capsys) -> None:
    out = tmp_path / "saddle.png"
    status, stdout, _ = run_cli(["saddle", "--surface", "saddle", "--optimizers", "sgd,adam", "--lr", "0.5",
                                 "--steps", "40", "--start", "1,0.01", "--out", str(out)], capsys)
    assert status == 0 and out.exists()
    sgd_line = next(line for line in stdout.splitlines() if line.startswith("sgd"))
    traj = saddle.run_trajectory("saddle", "sgd", (1.0, 0.01), 40, lr=0.5)
    k = traj.first_outside(saddle.get_surface("saddle").window)
    assert k is not None and f"[left the plot at step {k}]" in sgd_line
    figure = saddle.trajectories_figure([traj], "saddle")
    assert f"left the plot at step {k}" in [t.get_text() for t in figure.axes[0].texts]


def test_a_non_finite_run_is_named_as_such() -> None:
    traj = saddle.run_trajectory("saddle", "sgd", (1.0, 0.01), 400, lr=3.0)
    assert traj.stopped is not None
    assert saddle.get_surface("saddle").window  # the run left the window long before it overflowed
    note = traj.exit_note(saddle.get_surface("saddle").window)
    assert note.startswith("left the plot at step")
    positions = traj.positions.copy()
    positions[3] = np.nan
    broken = saddle.Trajectory(**{**traj.__dict__, "positions": positions[:4]})
    assert broken.exit_note((-100, 100, -100, 100)) == "non-finite at step 3"


def test_opt_errors_name_the_keys_as_the_user_must_type_them(tmp_path: Path, capsys) -> None:
    argv = ["train", "--out", str(tmp_path), "--limit-train", "64", "--no-progress"]
    status, _, err = run_cli([*argv, "--opt", "schedule=step", "step_size=3"], capsys)
    assert status == 1 and "unknown hyperparameter(s) ['step_size']" in err and "'schedule_step_size'" in err
    status, _, err = run_cli([*argv, "--opt", "momentm=0.9"], capsys)
    assert status == 1 and "'momentum'" in err
    status, _, err = run_cli([*argv, "--opt", "momentum"], capsys)
    assert status == 2 and "argument --opt: expected KEY=VALUE, e.g. momentum=0.9, got 'momentum'" in err


def test_a_rate_the_optimizer_refuses_is_a_saddle_usage_error(capsys) -> None:
    status, out, err = run_cli(["saddle", "--lr", "-1", "--steps", "5"], capsys)
    assert status == 2 and "lr must be a finite number >= 0, got -1.0" in err and "Traceback" not in err


def test_an_out_folder_that_cannot_be_created_is_named(tmp_path: Path, capsys, no_data_loading) -> None:
    status, _, err = run_cli(["train", "--out", "/proc/minigrad-cannot-be-here", "--no-progress"], capsys)
    assert status == 1 and "--out /proc/minigrad-cannot-be-here: cannot create the folder" in err


def test_non_finite_lr_and_threshold_are_argument_errors(capsys) -> None:
    for option in ("--lr", "--stop-threshold"):
        status, _, err = run_cli(["train", option, "nan"], capsys)
        assert status == 2 and f"argument {option}: must be a finite number" in err


def test_warnings_reach_the_user_as_one_line(tmp_path: Path) -> None:
    import json
    import socket
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    result = subprocess.run(
        [sys.executable, "-m", "experiments", "train", "--out", str(tmp_path), "--limit-train", "64", "--limit-test",
         "10", "--no-progress", "--telemetry-every", "0"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"minigrad: warning: {tmp_path}/run.lock was left by pid {dead.pid}" in result.stderr
    assert "return next" not in result.stderr and "warnings.warn" not in result.stderr
