"""The tutorials: every ``tutorials/NN_*.py`` runs as a script in fast mode and reads as a notebook.

The list is found when the tests are collected, so a new tutorial is tested as soon as its file
exists. Each runs in a subprocess as a reader would run it (``python tutorials/NN_name.py``),
with ``MINIGRAD_FAST=1``, ``MPLBACKEND=Agg``, the repository root on ``PYTHONPATH`` and its
figures sent to a temporary folder; it must exit 0 within :data:`TIMEOUT_S` and write at least
one non-empty PNG. Each is also checked to be a jupytext percent-format notebook: prose cells
(``# %% [markdown]``), code cells (``# %%``), opening with prose.

All tests here are marked ``tutorials``: ``python -m pytest -m "not tutorials"`` skips them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
IDS = [p.stem for p in TUTORIALS]
TIMEOUT_S = 120
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CELL = re.compile(r"^# %%(?P<rest>.*)$")

pytestmark = pytest.mark.tutorials  # registered in pyproject.toml


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if text is None:
        return "(nothing)"
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(nothing)"


def test_the_tutorials_are_found() -> None:
    assert TUTORIALS, f"no tutorials/[0-9][0-9]_*.py found under {ROOT}"
    numbers = [p.name[:2] for p in TUTORIALS]
    assert len(set(numbers)) == len(numbers), f"two tutorials share a number: {[p.name for p in TUTORIALS]}"


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_runs_in_fast_mode(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ)
    env.update(
        MINIGRAD_FAST="1",
        MPLBACKEND="Agg",
        MINIGRAD_TUTORIAL_OUT=str(out),
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    try:
        proc = subprocess.run(
            [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(
            f"{path.name} did not finish within {TIMEOUT_S} s in fast mode.\n"
            f"--- stdout (tail) ---\n{_tail(err.stdout)}\n--- stderr (tail) ---\n{_tail(err.stderr)}",
            pytrace=False,
        )
    if proc.returncode != 0:
        pytest.fail(
            f"{path.name} exited with status {proc.returncode} in fast mode.\n"
            f"--- stderr (tail) ---\n{_tail(proc.stderr)}\n--- stdout (tail) ---\n{_tail(proc.stdout, 10)}",
            pytrace=False,
        )
    pngs = sorted(out.rglob("*.png")) if out.exists() else []
    assert pngs, f"{path.name} wrote no figure to MINIGRAD_TUTORIAL_OUT (use savefig from tutorials/_common.py)"
    for png in pngs:
        data = png.read_bytes()
        assert len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE), f"{png.name} is not a non-empty PNG"


def _cells(text: str) -> list[tuple[str, list[str]]]:
    """(kind, lines) of each ``# %%`` cell, kind "markdown" or "code"; a YAML header is skipped."""
    lines = text.splitlines()
    if lines and lines[0] == "# ---":
        end = lines.index("# ---", 1)  # ValueError: an unterminated header
        lines = lines[end + 1 :]
    cells: list[tuple[str, list[str]]] = []
    for line in lines:
        match = CELL.match(line)
        if match:
            rest = match["rest"].strip()
            cells.append(("markdown" if rest.startswith("[markdown]") or rest.startswith("[md]") else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            cells.append(("code", [line]))  # code before the first marker: an implicit first cell
    return cells


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_is_a_percent_format_notebook(path: Path) -> None:
    cells = _cells(path.read_text(encoding="utf-8"))
    kinds = [kind for kind, _ in cells]
    assert kinds, f"{path.name} has no '# %%' cells"
    assert kinds[0] == "markdown", f"{path.name} should open with a '# %% [markdown]' cell saying what it will show"
    assert "code" in kinds, f"{path.name} has no code cell"
    prose = kinds.count("markdown")
    assert prose >= 2, f"{path.name} should explain as it goes, but has only {prose} prose cell"
    for i, (kind, body) in enumerate(cells):
        if kind == "markdown":
            stray = [line for line in body if line.strip() and not line.startswith("#")]
            assert not stray, f"{path.name}, cell {i}: markdown lines must be comments ('# ...'), found {stray[:2]}"
        else:
            assert any(line.strip() for line in body), f"{path.name}, cell {i}: an empty code cell"


@pytest.mark.parametrize("path", TUTORIALS, ids=IDS)
def test_tutorial_reads_as_a_notebook_with_jupytext(path: Path) -> None:
    jupytext = pytest.importorskip("jupytext")
    notebook = jupytext.read(path)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds[0] == "markdown" and "code" in kinds, f"{path.name} read by jupytext as {kinds}"
    assert kinds == [kind for kind, _ in _cells(path.read_text(encoding="utf-8"))], (
        f"{path.name}: jupytext splits the cells differently from the '# %%' markers"
    )
    # Writing the notebook back as a percent script and reading it again keeps every cell.
    again = jupytext.reads(jupytext.writes(notebook, fmt="py:percent"), fmt="py:percent")
    assert [c.source for c in again.cells] == [c.source for c in notebook.cells], f"{path.name} does not round-trip"
