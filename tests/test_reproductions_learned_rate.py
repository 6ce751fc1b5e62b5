"""The reproduction pages of Ravaut & Gorti (2018) and Zheng et al. (2019) Fig. 8.

The smoke version of each page runs in seconds into a temporary folder, through the same entry
point as ``python -m experiments.reproductions PAPER --smoke``, and must write the page, its
figures and a claims file the index can read. The helpers behind the pages' verdicts are checked
on runs whose answer is known.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasets.surfaces import get_surface
from experiments.reproductions import ravaut2018, zheng2019
from experiments.reproductions.__main__ import main
from experiments.reproductions.common import VERDICTS, Claim, read_claims
from experiments.saddle import hyperparams_for, run_trajectory


def _check_page(out: Path, paper: str, figures: int) -> list[Claim]:
    """The page, its figures (linked from it, real PNGs) and its claims (valid, pointing at the page)."""
    page = (out / f"{paper}.md").read_text()
    assert page.startswith("# ") and "Smoke run" in page
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page)
    assert len(linked) == figures and all(name.startswith(f"{paper}_") and name.endswith(".png") for name in linked)
    for name in linked:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 200
    raw = json.loads((out / f"{paper}.claims.json").read_text())
    claims = [Claim(**c) for c in raw]  # every field present, the verdict one of VERDICTS
    title = importlib.import_module(f"experiments.reproductions.{paper}").TITLE
    assert claims and all(c.paper == title and c.page == f"{paper}.md" and c.verdict in VERDICTS for c in claims)
    assert all(c.command.startswith(f"python -m experiments.reproductions {paper}") for c in claims)
    index = (out / "index.md").read_text()
    assert all(c.claim.replace("|", "\\|") in index for c in claims)
    return claims


def test_ravaut2018_smoke_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ravaut2018", "--smoke", "--out", str(tmp_path)]) == 0
    assert "ravaut2018.md" in capsys.readouterr().out
    claims = _check_page(tmp_path, "ravaut2018", figures=4)
    assert len(claims) == 6 and all("(process, 1 thread)" in c.cpu_time for c in claims)
    page = (tmp_path / "ravaut2018.md").read_text()
    assert "test_second_order_is_the_barzilai_borwein_step" in page
    verdicts = {c.claim: c.verdict for c in claims}
    assert any("CIFAR-10" in k and v == "not run: data not available" for k, v in verdicts.items())
    assert read_claims(tmp_path) == claims


def test_zheng2019_smoke_page(tmp_path: Path) -> None:
    assert main(["zheng2019", "--smoke", "--out", str(tmp_path)]) == 0
    claims = _check_page(tmp_path, "zheng2019", figures=3)
    assert len(claims) == 3
    page = (tmp_path / "zheng2019.md").read_text()
    assert "toy surfaces do not rank optimizers" in page and "reconstruction" in page


# ----- Ravaut & Gorti: the helpers behind the verdicts -------------------------------------------------


def _run(eta: list[float], steps_per_epoch: int) -> ravaut2018.Run:
    return ravaut2018.Run(ravaut2018.SECOND, "unit", "float32", 64, 0, steps_per_epoch, eta=np.array(eta))


def test_stabilises_around_target_reads_the_last_two_epochs() -> None:
    assert _run([0.01, 0.01, 0.3, 0.5, 0.4, 0.45], 2).stabilises_around_target()
    assert not _run([0.3, 0.5, 0.4, 0.45, 1.5, 2.0], 2).stabilises_around_target()  # the last epoch left the band
    assert not _run([0.4, 0.4, 0.1, 0.15, 0.4, 0.4], 2).stabilises_around_target()  # the epoch before was below it
    assert _run([0.5, 0.5, 0.5], 2).epoch_medians() == [0.5, 0.5]  # a last, partial epoch counts as one


def test_runaway_step_and_floor_share() -> None:
    run = _run([0.01, 1e-6, 0.5, 150.0, 1e4, 1e-6], 3)
    assert run.runaway_step() == 4  # 1-based: the fourth step used η = 150
    assert run.floor_share() == pytest.approx(2 / 6)
    assert _run([0.4] * 4, 2).runaway_step() is None


def test_barzilai_borwein_check_finds_the_bb1_step() -> None:
    """The page's quadratic measurement: η(k+1) is sᵀs/sᵀHs of the move before, at the paper's ε."""
    assert ravaut2018.barzilai_borwein_check() < 1e-5
    assert ravaut2018.barzilai_borwein_check(size=8, seed=3) < 1e-5


def test_train_casts_the_model_and_batches_to_the_dtype() -> None:
    data = ravaut2018.load_mnist("standardised", train_limit=64, test_limit=32)
    assert abs(float(data.train_x.mean())) < 0.5  # the training split's statistics, not this subset's
    runs = {d: ravaut2018.train(ravaut2018.logistic_regression, ravaut2018.SECOND, data, 16, 0, 1, dtype=d)
            for d in ("float32", "float64")}
    for run in runs.values():
        assert run.eta.shape == run.loss.shape == run.curvature.shape == (4,) and run.eta[0] == 0.01
        assert len(run.test_accuracy) == 1 and run.diverged is None
    # The same start and batches: the first step's probes see the same f up to float32 rounding of the weights.
    assert runs["float64"].eta[1] == pytest.approx(runs["float32"].eta[1], rel=1e-3)
    with pytest.raises(ValueError, match="dtype must be one of"):
        ravaut2018.train(ravaut2018.logistic_regression, ravaut2018.SECOND, data, 16, 0, 1, dtype="float16")
    with pytest.raises(ValueError, match="pixels must be one of"):
        ravaut2018.load_mnist("raw")


# ----- Zheng et al.: the helpers and the LLb-SGD statements of the page ---------------------------------


def test_plateau_exit() -> None:
    assert zheng2019.plateau_exit(np.array([1.0, 0.9, 0.6, 0.4, 0.1])) == 3
    assert zheng2019.plateau_exit(np.array([1.0, 0.9, 0.8])) is None


def test_llb_sgd_on_the_flat_saddle_moves_like_sgd_and_ignores_the_loss_direction() -> None:
    """The page's LLb-SGD statements on flat_saddle: the loss average never rises (κ changes nothing), and the
    per-layer rate barely decays, so the path stays within 1e-5 of SGD's at the same rate."""
    surf = get_surface("flat_saddle")
    hyper = hyperparams_for("llb_sgd", surf)
    llb = run_trajectory(surf, "llb_sgd", surf.escape_start, 100, **hyper)
    no_direction = run_trajectory(surf, "llb_sgd", surf.escape_start, 100, **{**hyper, "kappa": 1.0})
    sgd = run_trajectory(surf, "sgd", surf.escape_start, 100, lr=hyper["lr"])
    assert zheng2019.largest_gap(llb, no_direction) == 0.0
    assert 0.0 < zheng2019.largest_gap(llb, sgd) < 1e-5


def test_long_escape_and_the_surfaces() -> None:
    assert zheng2019.saddle_surfaces()[:3] == ["saddle", "monkey", "flat_saddle"]
    assert zheng2019.long_escape("adam", 300) is not None  # Adam leaves flat_saddle within 300 steps
    assert zheng2019.long_escape("sgd", 300) is None
