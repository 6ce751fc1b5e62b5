"""Singh et al. (2015) Table I reproduction: its specs, the paper's table as data, verdicts, the page from a store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.reproductions import singh2015
from experiments.reproductions.__main__ import main as reproductions_main
from experiments.reproductions.common import AT_REDUCED_BUDGET
from experiments.studies.spec import load_study, validate_study

SPECS = sorted((Path(__file__).resolve().parents[1] / "experiments/studies/specs").glob("*.toml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_every_study_spec_in_the_repository_loads_and_validates(path: Path) -> None:
    study = load_study(path)
    validate_study(study)
    validate_study(study.smoke_version())


def test_both_singh_specs_differ_only_in_data_order_and_name() -> None:
    files, shuffled = (load_study(singh2015.SPECS[o]) for o in ("files", "shuffled"))
    assert (files.data.order, shuffled.data.order) == ("files", "shuffle")
    assert files.methods == shuffled.methods and files.model == shuffled.model and files.eval_at == shuffled.eval_at
    assert files.eval_at == (200, 600, 1000, 1400, 1800) and len(files.seeds) == 10
    labels = [m.label for m in files.methods]
    for ours, base in singh2015.PAIRS:
        assert ours in labels and base in labels and all(c in labels for c in singh2015.CONTROLS[base])
    sgd = next(m for m in files.methods if m.label == "SGD")
    assert sgd.hyper == {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "schedule": "inv",
                         "schedule_gamma": 1e-4, "schedule_power": 0.75}
    assert files.model.init == {"weight": "caffe_xavier", "bias": "zeros"} and files.data.scale == 1 / 256
    assert [(p.match, p.settings) for p in sgd.params] == [("*.bias", {"lr_mult": 2.0})]


def test_the_papers_table_is_read_as_transcribed() -> None:
    table = singh2015.paper_table()
    assert sorted(table) == sorted(m for pair in singh2015.PAIRS for m in pair)
    assert all(sorted(rows) == [200, 600, 1000, 1400, 1800] for rows in table.values())
    assert table["SGD"][200] == (7.90, 0.44) and table["Ours-AdaGrad"][1800] == (1.34, 0.08)


def test_the_page_regenerates_from_a_store_in_smoke_mode(tmp_path: Path) -> None:
    assert reproductions_main(["singh2015", "--smoke", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "singh2015.md").read_text()
    assert "Smoke run" in page and "## Verdicts" in page
    for figure in ("singh2015_test_error.png", "singh2015_layer_multipliers.png"):
        assert (tmp_path / figure).stat().st_size > 10_000 and f"]({figure})" in page
    claims = json.loads((tmp_path / "singh2015.claims.json").read_text())
    assert len(claims) == len(singh2015.PAIRS) + 1
    assert all(c["verdict"] in AT_REDUCED_BUDGET.values() for c in claims)  # a smoke run settles nothing
    assert "singh2015.md" in (tmp_path / "index.md").read_text()
