"""Running studies: the paired design, bit-identical cells on every executor, the store, failures, the report, the CLI.

Every study here is tiny (LeNet-5 on 256 MNIST training images, 12 steps of 32) so the whole file
runs in well under a minute of CPU; the Dask test starts a real LocalCluster of two worker
processes and skips when the ``cluster`` extra is not installed.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import layers
from experiments.studies import cell as cell_module
from experiments.studies import runner
from experiments.studies.cli import main
from experiments.studies.report import FIG_LOSS, FIG_METRIC, FIG_PAIRED, REPORT, build_report, write_report
from experiments.studies.spec import Study, StudySpecError, study_from_dict
from experiments.studies.store import StoreError, StudyChanged, StudyStore

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "experiments" / "studies" / "specs" / "layer_nag_vs_nag.toml"


def tiny(name: str = "tiny", **top) -> Study:
    """Two methods × two seeds, 12 steps of 32 on 256 images (a reshuffle after 8 steps)."""
    spec = {
        "name": name,
        "iterations": 12,
        "eval_at": [0, 6, 12],
        "seeds": [0, 1],
        "curve_stride": 3,
        "model": {"name": "lenet5"},
        "data": {"preprocess": "scale", "scale": 1 / 256, "batch_size": 32, "train_limit": 256, "eval_limit": 128},
        "report": {"baseline": "NAG"},
        "methods": [
            {"label": "NAG", "optimizer": "nesterov", "lr": 0.05, "momentum": 0.9},
            {"label": "layer-NAG", "optimizer": "layer_nesterov", "lr": 0.05, "momentum": 0.9},
        ],
    }
    spec.update(top)
    return study_from_dict(spec, source="<tiny>")


def run_inline(study: Study, store: Path, **kwargs) -> runner.StudySummary:
    return runner.run_study(study, runner.InlineExecutor(), store, progress=False, **kwargs)


def run_pool(study: Study, store: Path, workers: int = 2) -> runner.StudySummary:
    handle = runner.process_pool(workers)
    try:
        return runner.run_study(study, handle, store, progress=False)
    finally:
        handle.close()


def numbers(store: Path, name: str) -> dict:
    with StudyStore.open(store) as st:
        return st.result_numbers(name)


def cells_of(store: Path, name: str) -> dict[str, dict]:
    with StudyStore.open(store) as st:
        return {r["key"]: r for r in st.cells(name)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The tiny study run in-process once: the numbers every other way of running it must match."""
    path = tmp_path_factory.mktemp("reference") / "studies.sqlite"
    summary = run_inline(tiny(), path)
    assert (summary.done, summary.failed, summary.skipped) == (4, 0, 0)
    return path, numbers(path, "tiny")


# ----- the paired design --------------------------------------------------------------------------
def test_within_a_seed_every_method_starts_from_the_same_weights_and_sees_the_same_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights: list[dict[str, np.ndarray]] = []
    batches: list[bytes] = []
    real_hash, real_step = cell_module.weights_hash, cell_module.train_step

    def initial_weights(model):  # a cell fingerprints its model right after building it
        weights.append({k: np.array(v) for k, v in model.state_dict().items()})
        return real_hash(model)

    def step(model, optimizer, loss_fn, batch):
        batches.append(np.asarray(batch[0]).tobytes() + np.asarray(batch[1]).tobytes())
        return real_step(model, optimizer, loss_fn, batch)

    monkeypatch.setattr(cell_module, "weights_hash", initial_weights)
    monkeypatch.setattr(cell_module, "train_step", step)
    study = tiny()
    run_inline(study, tmp_path / "s.sqlite")
    cells = study.cells()  # the in-process executor runs them in this order: NAG s0, NAG s1, layer s0, layer s1
    assert [c.key for c in cells] == ["NAG/seed=0", "NAG/seed=1", "layer-NAG/seed=0", "layer-NAG/seed=1"]
    per_cell = [batches[i * 12 : (i + 1) * 12] for i in range(4)]
    for a, b in ((0, 2), (1, 3)):  # same seed, two methods
        assert weights[a].keys() == weights[b].keys()
        assert all(np.array_equal(weights[a][k], weights[b][k]) for k in weights[a])
        assert per_cell[a] == per_cell[b]
    assert not np.array_equal(weights[0]["features.0.weight"], weights[1]["features.0.weight"])
    assert per_cell[0] != per_cell[1] and per_cell[0][0] != per_cell[0][8]  # seeds differ; epoch 2 reshuffles
    # The stored fingerprints say the same, and so do the evaluations before the first step.
    rows = cells_of(tmp_path / "s.sqlite", "tiny")
    for seed in (0, 1):
        nag, layer = rows[f"NAG/seed={seed}"], rows[f"layer-NAG/seed={seed}"]
        assert (nag["init_hash"], nag["data_hash"]) == (layer["init_hash"], layer["data_hash"])
    assert rows["NAG/seed=0"]["init_hash"] != rows["NAG/seed=1"]["init_hash"]
    assert rows["NAG/seed=0"]["data_hash"] != rows["NAG/seed=1"]["data_hash"]
    got = numbers(tmp_path / "s.sqlite", "tiny")
    assert got["NAG/seed=0"]["measurements"][0] == got["layer-NAG/seed=0"]["measurements"][0]
    assert got["NAG/seed=0"]["measurements"][1] != got["layer-NAG/seed=0"]["measurements"][1]


def test_the_files_order_is_the_same_for_every_seed(tmp_path: Path) -> None:
    study = tiny(data={"preprocess": "none", "order": "files", "batch_size": 32, "train_limit": 256, "eval_limit": 64})
    study = dataclasses.replace(study, methods=study.methods[:1], eval_at=(12,))
    run_inline(study, tmp_path / "s.sqlite")
    rows = list(cells_of(tmp_path / "s.sqlite", "tiny").values())
    assert rows[0]["data_hash"] == rows[1]["data_hash"] and rows[0]["init_hash"] != rows[1]["init_hash"]


# ----- where cells run ----------------------------------------------------------------------------
def test_a_process_pool_gives_bit_identical_numbers(tmp_path: Path, reference: tuple[Path, dict]) -> None:
    summary = run_pool(tiny(), tmp_path / "s.sqlite")
    assert summary.done == 4 and summary.where == "process pool, 2 worker(s)"
    assert numbers(tmp_path / "s.sqlite", "tiny") == reference[1]


def test_a_dask_local_cluster_of_two_worker_processes_gives_bit_identical_numbers(
    tmp_path: Path, reference: tuple[Path, dict]
) -> None:
    pytest.importorskip("distributed")
    workers = runner.dask_local(2)
    try:
        assert workers.capacity() == 2
        pids = workers.client.run(os.getpid)  # two worker processes, none of them this one
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        # Without Dask's MALLOC_TRIM_THRESHOLD_, which doubles the CPU time of a cell (runner.DASK_WORKER_ENVIRON).
        environ = workers.client.run(
            lambda: {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}
        )
        assert all(e == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"} for e in environ.values()), environ
        assert runner.slow_malloc_workers(workers.client) == []
        summary = runner.run_study(tiny(), workers, tmp_path / "s.sqlite", progress=False)
    finally:
        workers.close()
    assert summary.done == 4
    assert numbers(tmp_path / "s.sqlite", "tiny") == reference[1]


def test_workers_with_dasks_malloc_setting_are_found() -> None:
    class Client:  # what distributed.Client.run returns: {worker address: the function's result}
        def run(self, fn):
            return {"a": ("65536", None), "b": ("1073741824", "33554432"), "c": (None, None), "d": ("65536", None)}

    assert runner.slow_malloc_workers(Client()) == ["a", "d"]


def test_a_worker_that_dies_is_retried_once_then_the_cell_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: tuple[Path, dict]
) -> None:
    store = tmp_path / "s.sqlite"
    monkeypatch.setenv(cell_module.CRASH_ENV, "layer-NAG/seed=0")  # the worker dies on the first try only
    summary = run_pool(tiny(), store)
    # The death breaks the pool, so the cell running beside it (if any) is tried again too.
    assert (summary.done, summary.lost) == (4, 0) and summary.retried in (1, 2)
    rows = cells_of(store, "tiny")
    assert rows["layer-NAG/seed=0"]["attempts"] == 2
    assert sum(r["attempts"] for r in rows.values()) == 4 + summary.retried
    assert numbers(store, "tiny") == reference[1]

    store2 = tmp_path / "s2.sqlite"
    monkeypatch.setenv(cell_module.CRASH_ENV, "layer-NAG/seed=0*")  # dies on every try
    summary = run_pool(tiny(), store2)
    assert (summary.done, summary.lost) == (3, 1)  # its neighbour, tried again alone, is not blamed
    lost = cells_of(store2, "tiny")["layer-NAG/seed=0"]
    assert lost["status"] == "lost" and lost["attempts"] == 2 and "BrokenProcessPool" in lost["error"]
    monkeypatch.delenv(cell_module.CRASH_ENV)
    summary = run_pool(tiny(), store2)  # a rerun tries the lost cell again
    assert (summary.done, summary.skipped) == (1, 3)
    assert numbers(store2, "tiny") == reference[1]


def test_cells_on_the_gpu_path_read_back_only_at_strides_and_evaluations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: tuple[Path, dict]
) -> None:
    from tests import fake_cupy

    fake_cupy.install(monkeypatch)  # the strict CuPy stand-in: device arrays, every host read counted
    study = tiny().with_device("gpu")
    fake_cupy.host_reads.clear()
    assert run_inline(study, tmp_path / "s.sqlite").done == 4
    # Per cell: one read per curve point (12 / 3), the train loss at each evaluation after 0 (2),
    # and the loss and accuracy sums of each evaluation (3 × 2): none per step.
    assert len(fake_cupy.host_reads) == 4 * (4 + 2 + 3 * 2)
    # NumPy underneath, through the device code paths (conv differs from the CPU's): the CPU's numbers
    # up to float32 rounding, and the same initial weights and batches.
    got = numbers(tmp_path / "s.sqlite", "tiny")
    for key, cpu in reference[1].items():
        assert got[key]["init_hash"] == cpu["init_hash"] and got[key]["data_hash"] == cpu["data_hash"]
        for mine, theirs in zip(got[key]["measurements"], cpu["measurements"], strict=True):
            assert mine[:2] == theirs[:2]  # iteration and split
            for a, b in zip(mine[2:], theirs[2:], strict=True):  # the train loss is None at iteration 0
                assert (a is None and b is None) or a == pytest.approx(b, rel=1e-5)


# ----- the store ----------------------------------------------------------------------------------
def test_a_killed_driver_loses_only_running_cells_and_a_rerun_resumes(
    tmp_path: Path, reference: tuple[Path, dict], capsys: pytest.CaptureFixture
) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_TOML)
    store = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT), runner.KILL_ENV: "2"}
    args = [
        sys.executable,
        "-m",
        "experiments.studies",
        "run",
        str(spec),
        "--workers",
        "0",
        "--store",
        str(store),
        "--no-progress",
    ]
    killed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    with StudyStore.open(store) as st:
        assert st.status_counts("tiny") == {"done": 2, "pending": 2}
    assert main(args[3:]) == 0  # the same command again, in this process
    out = capsys.readouterr().out
    assert "2 cell(s) done" in out and "2 already finished" in out
    assert numbers(store, "tiny") == reference[1]


TINY_TOML = """
name = "tiny"
iterations = 12
eval_at = [0, 6, 12]
seeds = [0, 1]
curve_stride = 3
[model]
name = "lenet5"
[data]
preprocess = "scale"
scale = 0.00390625
batch_size = 32
train_limit = 256
eval_limit = 128
[report]
baseline = "NAG"
[[methods]]
label = "NAG"
optimizer = "nesterov"
lr = 0.05
momentum = 0.9
[[methods]]
label = "layer-NAG"
optimizer = "layer_nesterov"
lr = 0.05
momentum = 0.9
"""


def test_the_toml_twin_of_the_tiny_study_is_the_same_study() -> None:
    from experiments.studies.spec import tomllib

    assert study_from_dict(tomllib.loads(TINY_TOML)).spec_hash() == tiny().spec_hash()


def test_a_changed_spec_is_refused_unless_restarted_and_new_seeds_extend_the_study(
    tmp_path: Path, reference: tuple[Path, dict]
) -> None:
    store = tmp_path / "s.sqlite"
    study = tiny()
    one_seed = study.with_seeds([0])
    assert run_inline(one_seed, store).done == 2
    summary = run_inline(study, store)  # seed 1 added: two new cells, seed 0's are kept
    assert (summary.done, summary.skipped) == (2, 2)
    assert numbers(store, "tiny") == reference[1]
    assert run_inline(study, store).skipped == 4  # nothing left to do
    changed = dataclasses.replace(
        study, methods=(dataclasses.replace(study.methods[0], hyper={"lr": 0.02, "momentum": 0.9}), study.methods[1])
    )
    with pytest.raises(StudyChanged, match="another spec.*--restart"):
        run_inline(changed, store)
    assert numbers(store, "tiny") == reference[1]  # untouched
    summary = run_inline(changed.with_seeds([0]), store, restart=True)
    assert summary.done == 2
    with StudyStore.open(store) as st:
        assert st.status_counts("tiny") == {"done": 2}


def test_a_corrupt_store_is_reported_and_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    before = garbage.read_bytes()
    with pytest.raises(StoreError, match="not a readable study store.*left untouched"):
        run_inline(tiny(), garbage)
    assert main(["list", "--store", str(garbage)]) == 1
    assert "left untouched" in capsys.readouterr().err
    assert garbage.read_bytes() == before
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE accounts (id INTEGER)")
    before = foreign.read_bytes()
    with pytest.raises(StoreError, match="not a minigrad study store"):
        StudyStore.open(foreign)
    assert foreign.read_bytes() == before
    altered = tmp_path / "altered.sqlite"
    StudyStore.open(altered, create=True).close()
    with sqlite3.connect(altered) as db:
        db.execute("ALTER TABLE cells DROP COLUMN data_hash")  # a store of another layout
    before = altered.read_bytes()
    with pytest.raises(StoreError, match="table cells has columns"):
        StudyStore.open(altered)
    assert altered.read_bytes() == before
    with pytest.raises(FileNotFoundError, match="no study store"):
        StudyStore.open(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


# ----- failures -----------------------------------------------------------------------------------
class _Exploding(layers.Module):
    """LeNet-5 that raises on its 5th forward pass (a cell that raises)."""

    def __init__(self, activation_name: str = "relu") -> None:
        self.net = layers.MODELS["lenet5"](activation_name=activation_name)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 5:
            raise RuntimeError("boom in forward")
        return self.net(x)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow of a diverging run
def test_a_diverging_or_raising_cell_is_recorded_as_failed_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(layers.MODELS, "exploding", _Exploding)
    study = tiny(
        methods=[
            {"label": "NAG", "optimizer": "nesterov", "lr": 0.05, "momentum": 0.9},
            {"label": "huge", "optimizer": "sgd", "lr": 1e6},
        ]
    )
    summary = run_inline(study, tmp_path / "s.sqlite")
    assert (summary.done, summary.failed) == (2, 2)
    rows = cells_of(tmp_path / "s.sqlite", "tiny")
    assert rows["huge/seed=0"]["status"] == "failed" and rows["huge/seed=0"]["error"].startswith("diverged: ")
    assert rows["NAG/seed=1"]["status"] == "done"
    with StudyStore.open(tmp_path / "s.sqlite") as st:
        report = build_report(st, "tiny")
    assert not report.partial and len(report.failures) == 2 and report.paired["huge"] == {}

    exploding = dataclasses.replace(tiny("boom"), model=dataclasses.replace(tiny().model, name="exploding"))
    summary = run_inline(exploding, tmp_path / "s.sqlite")
    assert summary.failed == 4
    row = cells_of(tmp_path / "s.sqlite", "boom")["NAG/seed=0"]
    assert row["error"] == "RuntimeError: boom in forward" and row["status"] == "failed"


def test_a_bad_spec_fails_before_anything_runs_or_is_stored(tmp_path: Path) -> None:
    study = tiny(eval_at=[0, 99])
    with pytest.raises(StudySpecError, match="<tiny>: eval_at: iteration 99 is outside the run"):
        run_inline(study, tmp_path / "s.sqlite")
    assert not (tmp_path / "s.sqlite").exists()


# ----- the report ---------------------------------------------------------------------------------
def test_the_report_states_means_paired_tests_and_is_partial_while_cells_remain(
    tmp_path: Path, reference: tuple[Path, dict]
) -> None:
    out = tmp_path / "report"
    with StudyStore.open(reference[0]) as st:
        report = write_report(st, "tiny", out)
    text = (out / REPORT).read_text()
    assert "Complete: all 4 cells finished." in text and "PARTIAL" not in text
    # The numbers come straight from the stored measurements: recompute them here.
    errors = {
        (k.split("/")[0], int(k.split("=")[1])): dict((m[0], m[4]) for m in v["measurements"])[12]
        for k, v in reference[1].items()
    }
    nag = np.array([errors["NAG", s] for s in (0, 1)])
    layer = np.array([errors["layer-NAG", s] for s in (0, 1)])
    assert report.summaries["NAG"][12].mean == pytest.approx(nag.mean(), abs=1e-12)
    assert report.summaries["NAG"][12].std == pytest.approx(nag.std(ddof=1), abs=1e-12)
    assert f"{100 * nag.mean():.2f} ± {100 * nag.std(ddof=1):.2f} (2)" in text
    paired = report.paired["layer-NAG"][12]
    assert paired.differences == pytest.approx(list(layer - nag), abs=1e-12)
    if np.any(layer != nag):
        assert paired.t_p == pytest.approx(stats.ttest_rel(layer, nag).pvalue)
        assert paired.wilcoxon_p == pytest.approx(stats.wilcoxon(layer, nag).pvalue)
    assert paired.better + paired.worse + paired.ties == 2
    assert "Paired design: within every seed" in text
    for name in (FIG_METRIC, FIG_PAIRED, FIG_LOSS):
        import matplotlib.image

        pixels = matplotlib.image.imread(out / name)
        assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.02, name
    # Two more seeds registered but not run yet: the report is partial and says so.
    partial_store = tmp_path / "partial.sqlite"
    with sqlite3.connect(reference[0]) as source, sqlite3.connect(partial_store) as copy:
        source.backup(copy)
    with StudyStore.open(partial_store) as st:
        st.begin_study(tiny().with_seeds([0, 1, 2]))
        report = write_report(st, "tiny", tmp_path / "partial")
    assert report.partial and report.finished == 4 and report.total == 6
    assert "**PARTIAL**: 4 of 6 cells finished" in (tmp_path / "partial" / REPORT).read_text()


def test_a_paired_comparison_counts_seeds_and_handles_degenerate_samples() -> None:
    from experiments.studies.report import paired_comparison

    p = paired_comparison([0.10, 0.20, 0.30, 0.25], [0.12, 0.25, 0.30, 0.20], [0, 1, 2, 3], higher_better=False)
    assert (p.better, p.worse, p.ties) == (2, 1, 1)
    assert p.mean == pytest.approx(-0.005) and p.t_p == pytest.approx(
        stats.ttest_rel([0.1, 0.2, 0.3, 0.25], [0.12, 0.25, 0.3, 0.2]).pvalue
    )
    same = paired_comparison([0.1, 0.2], [0.1, 0.2], [0, 1], higher_better=False)
    assert same.t_p is None and same.wilcoxon_p is None and same.ties == 2
    one = paired_comparison([0.9], [0.8], [5], higher_better=True)
    assert one.better == 1 and one.std is None and one.t_p is None


def test_validation_and_test_splits_are_both_measured_and_the_report_compares_the_one_named(tmp_path: Path) -> None:
    data = {
        "preprocess": "scale",
        "scale": 1 / 256,
        "batch_size": 32,
        "train_limit": 256,
        "eval_limit": 64,
        "eval_split": ["validation", "test"],
        "validation_size": 500,
    }
    study = tiny("splits", data=data, eval_at=[6, 12], report={"baseline": "NAG", "split": "test"})
    run_inline(study, tmp_path / "s.sqlite")
    with StudyStore.open(tmp_path / "s.sqlite") as st:
        rows = st.measurements("splits")
        test_report = write_report(st, "splits", tmp_path / "test")
        validation_report = build_report(st, "splits", split="validation")
    assert len(rows) == 4 * 2 * 2 and {r["split"] for r in rows} == {"validation", "test"}
    for split, report in (("test", test_report), ("validation", validation_report)):
        expected = {
            r["seed"]: r["eval_error"]
            for r in rows
            if r["key"].startswith("NAG/") and r["split"] == split and r["iteration"] == 12
        }
        assert report.split == split and report.values["NAG"][12] == expected
    assert test_report.values != validation_report.values
    assert "## test error (%)" in (tmp_path / "test" / REPORT).read_text()


# ----- other tasks --------------------------------------------------------------------------------
class _AutoEncoder(layers.Module):
    def __init__(self, activation_name: str = "relu") -> None:
        self.net = layers.Sequential(layers.Flatten(), layers.Linear(784, 32), layers.ReLU(), layers.Linear(32, 784))

    def forward(self, x):
        return self.net(x)


def test_a_reconstruction_study_trains_on_the_mse_of_its_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(layers.MODELS, "tiny_autoencoder", _AutoEncoder)
    study = tiny(
        "ae",
        task="reconstruction",
        model={"name": "tiny_autoencoder"},
        methods=[{"label": "SGD", "optimizer": "sgd", "lr": 0.5}, {"label": "Adam", "optimizer": "adam", "lr": 1e-3}],
        report={"baseline": "SGD", "metric": "loss"},
        data={"preprocess": "none", "batch_size": 32, "train_limit": 256, "eval_limit": 128},
    )
    assert run_inline(study, tmp_path / "s.sqlite").done == 4
    with StudyStore.open(tmp_path / "s.sqlite") as st:
        rows = st.measurements("ae")
        report = write_report(st, "ae", tmp_path / "report")
    assert all(r["eval_error"] is None and r["eval_accuracy"] is None for r in rows)
    first, last = rows[0], [r for r in rows if r["key"] == rows[0]["key"]][-1]
    assert last["eval_loss"] < first["eval_loss"]  # the autoencoder learns
    assert report.metric == "loss" and "test loss: mean" in (tmp_path / "report" / REPORT).read_text()
    with pytest.raises(StudySpecError, match="report.metric: unknown metric 'error'"):
        runner.run_study(dataclasses.replace(study, metric="error"), runner.InlineExecutor(), tmp_path / "t.sqlite")


# ----- the command line ---------------------------------------------------------------------------
def test_the_command_line_runs_reports_lists_and_shows_status(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "s.sqlite")
    assert (
        main(["run", str(EXAMPLE), "--smoke", "--seeds", "3", "--workers", "0", "--store", store, "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "study 'layer-nag-vs-nag-smoke': 2 cells on in-process" in out and "2 cell(s) done" in out
    assert main(["status", "layer-nag-vs-nag-smoke", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 cells finished" in out and "layer-NAG" in out
    assert main(["list", "--store", store]) == 0
    assert "layer-nag-vs-nag-smoke" in capsys.readouterr().out
    assert main(["report", "layer-nag-vs-nag-smoke", "--out", str(tmp_path / "r"), "--store", store]) == 0
    assert (tmp_path / "r" / REPORT).exists() and (tmp_path / "r" / FIG_METRIC).exists()
    assert main(["status", "nope", "--store", store]) == 1
    assert "no study 'nope'" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace('optimizer = "nesterov"', 'optimizer = "nesterovv"'))
    assert main(["run", str(bad), "--store", store]) == 2
    assert f"{bad}: methods[0].optimizer: unknown optimizer 'nesterovv'; valid: " in capsys.readouterr().err


def test_the_study_command_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.studies", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert proc.returncode == 0 and "{run,status,report,list}" in proc.stdout


def test_the_scaling_benchmark_runs_in_its_smallest_form() -> None:
    from benchmarks import study_scaling

    figures = study_scaling.main(["--small", "--seeds", "1", "--iterations", "2", "--no-dask"])
    assert figures["cells"] == 2 and figures["identical"] and figures["speedup"] > 0
    assert set(figures["cells_per_minute"]) == {"process pool, 1 worker", "process pool, 2 workers"}
