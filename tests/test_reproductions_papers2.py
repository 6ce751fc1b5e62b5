"""Reproductions II: the study specs of WAME's Table 2, Dozat's Tables 1-3 and Singh's Table II, and their pages.

- Every spec loads and validates; each reduced spec is its full spec on a smaller budget and nothing
  else; evaluations fall at epoch ends where the paper measures per epoch; the paper tables transcribed
  under ``experiments/reproductions/data`` name exactly the settings the specs run.
- Every spec runs in smoke mode (``run_smoke``): the MNIST ones on MNIST, the CIFAR ones on tiny
  synthetic files in the official binary format written here (CIFAR is not on this machine).
- The paper's measures (best validation epoch, test accuracy there, time to it; the last epoch's MSE)
  and the verdict rules, on hand-made numbers: the papers' own numbers satisfy the papers' claims.
- Each page is written from a store (the non-smoke path) and in smoke mode, with claims whose
  verdicts are valid; without CIFAR the CIFAR claims say "not run: data not available".
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from experiments.reproductions import PAPERS, dozat2016, mosca2017, singh2015_cifar
from experiments.reproductions.__main__ import main as reproductions_main
from experiments.reproductions.common import VERDICTS, read_claims
from experiments.reproductions.stored import (
    Results,
    Series,
    SpecFile,
    load_results,
    run_smoke,
    steps_per_epoch,
    train_images,
)
from experiments.studies import cell as study_cell
from experiments.studies.runner import inline, run_study
from experiments.studies.spec import load_study

cifar = importlib.import_module("datasets.cifar")
SPECS = Path(__file__).resolve().parents[1] / "experiments" / "studies" / "specs"
PAIRS = [
    ("mosca2017_table2_mnist", 100), ("mosca2017_table2_cifar10", 100),
    ("dozat2016_table1", 50), ("dozat2016_table2", 50), ("dozat2016_table3", 50),
    ("singh2015_table2_cifar10", None),
]
ALL_SPECS = [SPECS / f"{stem}{suffix}.toml" for stem, _ in PAIRS for suffix in ("", "_reduced")]
#: Keys a reduced spec may change: its name and words, and its budget.
BUDGET_KEYS = ("name", "description", "iterations", "eval_at", "seeds", "curve_stride")
BUDGET_DATA_KEYS = ("train_limit", "eval_limit")
CIFAR_TRAIN, CIFAR_TEST = 6, 8  # records per training file (5 files) and in the test file


# ----- synthetic CIFAR-10 ----------------------------------------------------------------------------
@pytest.fixture
def synthetic_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tiny CIFAR-10 files in the official binary format (label byte + 3072 pixel bytes), found by the loader."""
    rng = np.random.default_rng(0)
    root = tmp_path / "cifar"
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    files = {f"data_batch_{i}.bin": CIFAR_TRAIN for i in range(1, 6)}
    files["test_batch.bin"] = CIFAR_TEST
    for name, n in files.items():
        records = [bytes([int(rng.integers(10))]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
                   for _ in range(n)]
        (folder / name).write_bytes(b"".join(records))
    small = {"train": {f"data_batch_{i}.bin": CIFAR_TRAIN for i in range(1, 6)}, "test": {"test_batch.bin": CIFAR_TEST}}
    monkeypatch.setattr(cifar, "CIFAR_BIN_RECORDS", {**cifar.CIFAR_BIN_RECORDS, "cifar10": small})
    monkeypatch.setenv("MINIGRAD_CIFAR_ROOT", str(root))
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(tmp_path / "cache"))
    cifar.clear_cifar_cache()
    study_cell._DATA_CACHE.clear()
    yield root
    cifar.clear_cifar_cache()
    study_cell._DATA_CACHE.clear()


@pytest.fixture
def no_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CIFAR-10 looked for in an empty folder: not available."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MINIGRAD_CIFAR_ROOT", str(tmp_path / "empty"))
    cifar.clear_cifar_cache()
    study_cell._DATA_CACHE.clear()


# ----- the specs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.stem)
def test_every_spec_loads_validates_and_is_named_after_its_file(path: Path) -> None:
    study = load_study(path)
    assert study.name == path.stem.replace("_", "-")
    assert study.device == "cpu"
    assert study.smoke_version().iterations <= 4


@pytest.mark.parametrize("stem", [stem for stem, _ in PAIRS])
def test_each_reduced_spec_is_its_full_spec_on_a_smaller_budget(stem: str) -> None:
    full, reduced = load_study(SPECS / f"{stem}.toml"), load_study(SPECS / f"{stem}_reduced.toml")

    def rest(study):
        d = study.to_dict()
        for key in BUDGET_KEYS:
            d.pop(key)
        for key in BUDGET_DATA_KEYS:
            d["data"].pop(key)
        return d

    assert rest(full) == rest(reduced)
    assert full.data.train_limit is None and full.data.eval_limit is None
    assert reduced.iterations * reduced.data.batch_size < full.iterations * full.data.batch_size
    assert len(reduced.seeds) <= len(full.seeds)
    assert "REDUCED" in reduced.description


@pytest.mark.parametrize("stem,epochs", [(s, e) for s, e in PAIRS if e is not None])
def test_per_epoch_studies_evaluate_after_every_epoch_and_run_the_papers_epochs(stem: str, epochs: int) -> None:
    for suffix in ("", "_reduced"):
        study = load_study(SPECS / f"{stem}{suffix}.toml")
        spe = steps_per_epoch(study)
        n = study.iterations // spe
        assert study.iterations == n * spe
        assert list(study.eval_at) == [spe * k for k in range(1, n + 1)]
        if not suffix:
            assert n == epochs
            assert study.data.batch_size * spe >= train_images(study) > study.data.batch_size * (spe - 1)


def test_singh_table2_spec_evaluates_at_the_papers_iterations_with_caffes_schedule() -> None:
    study = load_study(SPECS / "singh2015_table2_cifar10.toml")
    assert study.iterations == 70_000
    assert {5000, 10000, 25000, 60000, 70000} <= set(study.eval_at)
    assert study.variants() == ["SGD", "Ours-SGD", "NAG", "Ours-NAG", "AdaGrad", "Ours-AdaGrad"]
    for method in study.methods:
        assert method.hyper["lr"] == 0.001 and method.hyper["weight_decay"] == 0.004
        assert method.hyper["schedule_step_size"] == 60_000
        assert {p.match for p in method.params} == {"features.0.bias", "features.4.bias", "classifier.1.bias"}


def test_the_transcribed_tables_name_exactly_the_settings_the_specs_run() -> None:
    paper = dozat2016.paper_table()
    for table in (1, 2, 3):
        assert set(paper[table]) == set(load_study(SPECS / f"dozat2016_table{table}.toml").variants())
    assert math.isnan(paper[2]['L1[nu=0.999,nu_schedule="constant"]'])
    assert paper[3]["NAG Linf[mu=0.9,nu=0.9]"] == 5.90
    wame = mosca2017.paper_table()
    assert set(wame) == {"mnist", "cifar10", "cifar100"}
    assert all(set(rows) == set(mosca2017.METHODS) for rows in wame.values())
    assert wame["mnist"]["WAME"]["epoch_mean"] == 33.90
    singh = singh2015_cifar.paper_table()
    assert set(singh) == set(load_study(SPECS / "singh2015_table2_cifar10.toml").variants())
    assert all(set(v) == {5000, 10000, 25000, 60000, 70000} for v in singh.values())


@pytest.mark.parametrize("path", ALL_SPECS[::2], ids=lambda p: p.stem)
def test_every_full_spec_runs_in_smoke_mode(path: Path, tmp_path: Path, synthetic_cifar: Path) -> None:
    # The reduced specs' smoke versions run in the page tests below (each module's smoke mode runs them).
    spec = SpecFile(path, "full")
    results = run_smoke([spec], tmp_path / "smoke.sqlite")[spec]
    assert results is not None and results.complete
    assert [c["status"] for c in results.cells] == ["done"] * len(results.cells)
    assert len(results.series) == len(results.study.cells())


def test_a_cifar_spec_is_skipped_in_smoke_mode_when_cifar_is_missing(tmp_path: Path, no_cifar: None) -> None:
    spec = SpecFile(SPECS / "singh2015_table2_cifar10_reduced.toml", "reduced")
    assert run_smoke([spec], tmp_path / "smoke.sqlite") == {spec: None}


# ----- the measures and verdicts on hand-made numbers ------------------------------------------------
def series(variant: str, seed: int, validation: list[float], test: list[float], loss: list[float],
           spe: int = 10, train_time: float = 600.0) -> Series:
    iterations = [spe * (k + 1) for k in range(len(validation))]
    return Series(variant=variant, seed=seed, status="done", error=None, wall_time=train_time, train_time=train_time,
                  iterations=iterations,
                  values={"validation": {"eval_accuracy": validation, "train_loss": loss},
                          "test": {"eval_accuracy": test, "train_loss": loss}})


def test_the_best_epoch_is_the_first_best_validation_and_the_time_is_prorated() -> None:
    s = series("WAME", 0, [0.90, 0.95, 0.95, 0.94], [0.91, 0.96, 0.97, 0.93], [1.0, 0.5, 0.4, 0.3])
    r = mosca2017.run_measures(s, spe=10)
    assert r.best_epoch == 2.0  # the first of the two best epochs
    assert r.test_at_best == pytest.approx(96.0)
    assert r.minutes_to_best == pytest.approx(600.0 * 20 / 40 / 60)
    assert r.epochs == [1.0, 2.0, 3.0, 4.0]


def wame_results(wame_slow: bool) -> Results:
    """Hand-made results on the reduced MNIST study: WAME peaks early (or late) and keeps pace in accuracy."""
    study = load_study(SPECS / "mosca2017_table2_mnist_reduced.toml")
    spe = steps_per_epoch(study)
    made = []
    for seed in range(3):
        for method, peak, acc, loss in (("SGD", 3, 0.985, 0.3), ("RMSprop", 3, 0.990, 0.2), ("Adam", 3, 0.990, 0.2),
                                        ("WAME", 4 if wame_slow else 1, 0.990, 0.3 if wame_slow else 0.1)):
            val = [acc - 0.01 * abs(k - peak) for k in range(5)]
            made.append(series(method, seed, val, [v + 0.001 for v in val], [loss / (k + 1) for k in range(5)],
                               spe=spe))
    return Results(study=study, budget="reduced", spec=None, cells=[], series=made)


def test_wame_claims_follow_the_numbers() -> None:
    paper = mosca2017.paper_table()["mnist"]
    good = mosca2017.claims_for("mnist", wame_results(False), paper, "cmd", "full", smoke=False)
    assert [c.verdict for c in good] == ["consistent at reduced budget"] * 5
    bad = mosca2017.claims_for("mnist", wame_results(True), paper, "cmd", "full", smoke=False)
    assert [c.verdict for c in bad] == ["consistent at reduced budget", "consistent at reduced budget",
                                        "not consistent at reduced budget", "not consistent at reduced budget",
                                        "not consistent at reduced budget"]
    missing = mosca2017.claims_for("cifar10", None, mosca2017.paper_table()["cifar10"], "cmd", "full", smoke=False)
    assert {c.verdict for c in missing} == {"not run: data not available"}


def test_dozats_own_numbers_satisfy_every_claim_and_a_reversal_fails_one() -> None:
    paper = dozat2016.paper_table()
    decided = dozat2016.decide(paper)
    assert len(decided) == 8
    assert [verdict for *_, verdict in decided] == ["reproduced"] * 8
    flipped = {t: dict(v) for t, v in paper.items()}
    for key in flipped[1]:
        if key.startswith("NAG"):
            flipped[1][key] = 1.0  # NAG now far below CM everywhere
    verdicts = dict((claim, verdict) for claim, _, _, verdict in dozat2016.decide(flipped))
    assert verdicts["Table 1: at α0 = 2, classical momentum (CM) has a lower MSE than NAG"] == "not reproduced"
    only_table2 = dozat2016.decide({2: paper[2]})
    assert len(only_table2) == 3  # Table 2's own claims; the cross-table one needs Table 1


def test_a_diverged_run_counts_as_worse_than_any_finished_one() -> None:
    assert dozat2016.worse(math.nan, 1e9) and not dozat2016.worse(1e9, math.nan)
    assert not dozat2016.worse(math.nan, math.nan)
    assert dozat2016.fmt(math.nan) == "nan" and dozat2016.fmt(7.084) == "7.08" and dozat2016.fmt(2e5) == "2.00e+05"


def test_singh_pairs_are_judged_on_the_mean_difference() -> None:
    diffs = [("Ours-SGD", "SGD", [0.5, 0.1]), ("Ours-NAG", "NAG", [-0.2, 0.1]), ("Ours-AdaGrad", "AdaGrad", [])]
    assert singh2015_cifar.pair_verdict(diffs) == (1, "partly reproduced")
    assert singh2015_cifar.pair_verdict(diffs[:1]) == (1, "reproduced")


# ----- the pages -------------------------------------------------------------------------------------
def stored_as(spec_path: Path, store: Path, seeds: tuple[int, ...] = (0,)) -> None:
    """Run a spec's smoke budget under the spec's own name, as if the (reduced) study had been run."""
    study = load_study(spec_path)
    tiny = dataclasses.replace(study.smoke_version(), name=study.name, seeds=seeds)
    run_study(tiny, inline(), store, progress=False)


def claims_of(out: Path, paper: str) -> list[dict]:
    return json.loads((out / f"{paper}.claims.json").read_text())


def test_the_wame_page_reads_the_reduced_study_from_its_store(tmp_path: Path, no_cifar: None) -> None:
    store = tmp_path / "mosca2017.sqlite"
    with pytest.raises(FileNotFoundError, match="mosca2017_table2_mnist_reduced.toml"):
        mosca2017.run(out=tmp_path / "docs", store_path=store)
    stored_as(SPECS / "mosca2017_table2_mnist_reduced.toml", store, seeds=(0, 1))
    assert load_results(store, mosca2017.DATASETS["mnist"]).budget == "reduced"
    page = mosca2017.run(out=tmp_path / "docs", store_path=store)
    text = page.read_text()
    assert "REDUCED BUDGET" in text and "Not run" in text  # MNIST read, CIFAR-10 not run
    assert (tmp_path / "docs" / "mosca2017_mnist.png").stat().st_size > 0
    claims = claims_of(tmp_path / "docs", "mosca2017")
    mnist = [c for c in claims if c["claim"].startswith("MNIST")]
    assert len(mnist) == 5 and all(c["verdict"] in VERDICTS for c in mnist)
    assert all("mosca2017_table2_mnist_reduced.toml" in c["command"] for c in mnist)
    assert {c["verdict"] for c in claims if c["claim"].startswith("CIFAR")} == {"not run: data not available"}


def test_the_dozat_page_decides_the_tables_that_ran_and_marks_the_others_not_run(tmp_path: Path) -> None:
    store = tmp_path / "dozat2016.sqlite"
    with pytest.raises(FileNotFoundError, match="dozat2016_table1_reduced.toml"):
        dozat2016.run(out=tmp_path / "docs", store_path=store)
    stored_as(SPECS / "dozat2016_table1_reduced.toml", store)
    page = dozat2016.run(out=tmp_path / "docs", store_path=store)
    text = page.read_text()
    assert "## Table 1\n\n**REDUCED BUDGET**" in text and text.count("**Not run**") == 2
    claims = claims_of(tmp_path / "docs", "dozat2016")
    assert [c["claim"][:8] for c in claims] == ["Table 1:", "Table 1:"]
    assert all(c["verdict"] in VERDICTS and "dozat2016_table1_reduced.toml" in c["command"] for c in claims)


@pytest.mark.parametrize("module", [mosca2017, dozat2016, singh2015_cifar], ids=lambda m: m.PAPER)
def test_every_page_is_written_in_smoke_mode_on_synthetic_cifar(module, tmp_path: Path, synthetic_cifar: Path) -> None:
    page = module.run(smoke=True, out=tmp_path)
    assert "Smoke run" in page.read_text()
    claims = claims_of(tmp_path, module.PAPER)
    assert claims and all(c["verdict"] in VERDICTS for c in claims)
    assert not any(c["verdict"] == "not run: data not available" for c in claims)
    assert all(c["page"] == f"{module.PAPER}.md" for c in claims)


def test_without_cifar_the_cifar_claims_say_so_and_the_index_lists_them(tmp_path: Path, no_cifar: None) -> None:
    assert {"mosca2017", "dozat2016", "singh2015_cifar"} <= set(PAPERS)
    assert reproductions_main(["singh2015_cifar", "--smoke", "--out", str(tmp_path)]) == 0
    claims = [c for c in read_claims(tmp_path) if c.page == "singh2015_cifar.md"]
    assert len(claims) == 2 and {c.verdict for c in claims} == {"not run: data not available"}
    assert "MINIGRAD_CIFAR_ROOT=DIR" in claims[0].command
    assert "not run: data not available" in (tmp_path / "index.md").read_text()


def test_the_index_lists_papers_in_the_order_of_papers_and_each_under_its_title(tmp_path: Path) -> None:
    from experiments.reproductions.common import Claim, write_claims
    from experiments.reproductions.index import write_index

    # Written in reverse order (and file names sort otherwise): the index still follows PAPERS.
    for name in reversed(PAPERS):
        title = importlib.import_module(f"experiments.reproductions.{name}").TITLE
        write_claims(name, [Claim(title, f"claim of {name}", "theirs", "ours", "reproduced", "cmd", "1 s",
                                  f"{name}.md")], tmp_path)
    index = write_index(tmp_path).read_text()
    positions = [index.index(f"claim of {name} |") for name in PAPERS]
    assert positions == sorted(positions)
    for name in PAPERS:
        title = importlib.import_module(f"experiments.reproductions.{name}").TITLE
        assert f"[{title}]({name}.md)" in index


def test_wall_span_reads_the_utc_offset() -> None:
    from experiments.reproductions.stored import wall_span

    cells = [{"started": "2026-11-30T11:00:00+0000", "finished": "2026-11-30T11:20:00+0000"},
             {"started": "2026-11-30T12:05:00+0100", "finished": "2026-11-30T12:30:00+0100"}]
    # The second cell ran from 11:05 to 11:30 UTC: the span is 11:00 to 11:30, not to 12:30.
    assert wall_span(cells) == 1800.0
    assert wall_span([{"started": None, "finished": None}]) is None


def test_verdicts_at_a_reduced_budget_agree_or_disagree_but_never_reproduce_or_refute() -> None:
    from experiments.reproductions.common import Claim, at_reduced_budget

    verdicts = ["reproduced", "partly reproduced", "not reproduced", "not run: data not available"]
    claims = [Claim("p", f"c{i}", "t", "o", v, "cmd", "1 s", "p.md") for i, v in enumerate(verdicts)]
    assert [c.verdict for c in at_reduced_budget(claims)] == [
        "consistent at reduced budget", "partly consistent at reduced budget", "not consistent at reduced budget",
        "not run: data not available"]
    assert [c.verdict for c in claims] == verdicts  # the originals are left as they were


def test_a_dozat_table_still_running_is_shown_but_its_claims_wait(tmp_path: Path) -> None:
    import sqlite3

    store = tmp_path / "dozat2016.sqlite"
    stored_as(SPECS / "dozat2016_table1_reduced.toml", store)
    stored_as(SPECS / "dozat2016_table2_reduced.toml", store)
    with sqlite3.connect(store) as db:  # one cell of Table 2 not finished yet, as while the study runs
        db.execute("UPDATE cells SET status = 'pending' WHERE id = (SELECT MIN(id) FROM cells WHERE study = ?)",
                   ("dozat2016-table2-reduced",))
    page = dozat2016.run(out=tmp_path / "docs", store_path=store)  # raised KeyError before
    assert "PARTIAL: 9 of 10 cells finished" in page.read_text()
    assert {c["claim"][:8] for c in claims_of(tmp_path / "docs", "dozat2016")} == {"Table 1:"}
