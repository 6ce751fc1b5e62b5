"""What every reproduction shares: a claim and its verdict, and how claims and tables are written.

A reproduction module (one per paper, e.g. :mod:`experiments.reproductions.singh2015`) runs or reads
its experiments, writes its page ``docs/reproductions/<paper>.md`` with its figures, and records
its claims in ``docs/reproductions/<paper>.claims.json``; :mod:`experiments.reproductions.index`
gathers every paper's claims into ``docs/reproductions/index.md``. The verdicts are words with a
fixed meaning (:data:`VERDICTS`), so that the index reads the same for every paper.
"""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Where the pages, figures and claim files go.
DOCS = ROOT / "docs" / "reproductions"

#: The verdicts a claim can get, and what each means.
VERDICTS = {
    "reproduced": "our numbers support the claim under the paper's conditions",
    "partly reproduced": "the claim holds for some of the paper's comparisons or conditions and not others",
    "not reproduced": "our numbers do not support the claim under the paper's conditions",
    "consistent at reduced budget": "a shortened run (fewer epochs, seeds or images, as stated) agrees with the claim",
    "partly consistent at reduced budget": "a shortened run agrees with some of the claim's comparisons and not others",
    "not consistent at reduced budget": "a shortened run disagrees with the claim; the paper's full budget may not",
    "not run: needs a GPU": "the full experiment is too large for 2 CPU cores; its command is given",
    "not run: data not available": "the data set cannot be obtained on this machine; the loader and command are given",
}


@dataclass
class Claim:
    """One claim of a paper and what minigrad found: a line of the reproductions index."""

    paper: str
    claim: str
    theirs: str
    ours: str
    verdict: str
    command: str
    cpu_time: str
    page: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}: expected one of {sorted(VERDICTS)}")


#: How a verdict reads when it comes from a reduced budget (fewer epochs, seeds or images than the paper's).
AT_REDUCED_BUDGET = {
    "reproduced": "consistent at reduced budget",
    "partly reproduced": "partly consistent at reduced budget",
    "not reproduced": "not consistent at reduced budget",
}


def share_verdict(k: int, n: int, needed: float = 1.0) -> str:
    """A claim that holds in ``k`` of its ``n`` comparisons: "reproduced" in at least ``needed`` of them, "partly
    reproduced" in some (at least half, for a claim the paper states only "generally", ``needed`` < 1), else "not
    reproduced" (also when there is nothing to compare)."""
    if n == 0:
        return "not reproduced"
    if k >= needed * n:
        return "reproduced"
    return "partly reproduced" if (k > 0 if needed == 1.0 else k >= n / 2) else "not reproduced"


def at_reduced_budget(claims: Sequence[Claim]) -> list[Claim]:
    """The claims with their verdicts read at a reduced budget: a shortened run cannot reproduce or refute a claim
    about the paper's full runs, only agree or disagree with it ("not run" verdicts are kept)."""
    return [replace(c, verdict=AT_REDUCED_BUDGET.get(c.verdict, c.verdict)) for c in claims]


def write_claims(name: str, claims: Sequence[Claim], out: Path = DOCS) -> Path:
    """Write ``out/<name>.claims.json`` (the index reads it)."""
    path = Path(out) / f"{name}.claims.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(c) for c in claims], indent=2, ensure_ascii=False) + "\n")
    return path


def write_page(name: str, sections: Sequence[str], claims: Sequence[Claim], out: Path = DOCS) -> Path:
    """Write the page ``out/<name>.md`` (the sections, a blank line apart) and its claims file; return the page."""
    page = Path(out) / f"{name}.md"
    page.write_text("\n\n".join(sections) + "\n")
    write_claims(name, claims, out)
    return page


def verdicts_section(claims: Sequence[Claim], heading: str = "Verdicts", preface: str = "") -> str:
    """The page's table of claims: claim, the paper's numbers, ours, and the verdict in bold."""
    rows = [(c.claim, c.theirs, c.ours, f"**{c.verdict}**") for c in claims]
    return f"## {heading}\n\n" + (f"{preface}\n\n" if preface else "") + markdown_table(
        ("claim", "paper", "minigrad", "verdict"), rows)


def regenerate(command: str, smoke: bool) -> str:
    """The page's last line: the command that wrote it."""
    return f"Regenerate this page: `{command}{' --smoke' if smoke else ''}`."


def smoke_warning(smoke: bool, what: str = "a few steps on a few images, for CI") -> str:
    """The warning a smoke page opens with (empty for a real run)."""
    return f"\n\n> **Smoke run**: {what}. These numbers say nothing about the paper." if smoke else ""


def figure_title(fig: Any, text: str, fontsize: int = 9) -> None:
    """Put ``text`` above a figure's panels, wrapped to the figure's width so no part of it is cut off."""
    chars_per_inch = 15 * 9 / fontsize  # DejaVu Sans at 9 pt: about 15 characters per inch
    fig.suptitle(textwrap.fill(text, int(fig.get_figwidth() * chars_per_inch)), fontsize=fontsize)


def save_figure(fig: Any, path: Path, title: str) -> Path:
    """Title the figure (:func:`figure_title`), lay it out, write it as a PNG at 100 dpi, close it; return ``path``."""
    import matplotlib.pyplot as plt

    figure_title(fig, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plain_log_axis(ax: Any) -> None:
    """Label a log-scaled y axis with plain numbers (2, 3, 20, 30; 1e+20 where a run blew up), not matplotlib's
    2×10⁰: over less than a decade only minor ticks carry labels, and those should read as numbers."""
    from matplotlib.ticker import FormatStrFormatter

    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a transcribed paper table (CSV with a header; lines starting with ``#`` are comments)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def mean_std_by_method(path: Path) -> dict[str, dict[int, tuple[float, float]]]:
    """A paper table of ``method,iteration,mean,std`` rows as ``{method: {iteration: (mean, std)}}``."""
    table: dict[str, dict[int, tuple[float, float]]] = {}
    for row in read_csv_rows(path):
        table.setdefault(row["method"], {})[int(row["iteration"])] = (float(row["mean"]), float(row["std"]))
    return table


def read_claims(out: Path = DOCS) -> list[Claim]:
    """Every claim recorded under ``out``, paper by paper in file-name order."""
    claims = []
    for path in sorted(Path(out).glob("*.claims.json")):
        claims += [Claim(**c) for c in json.loads(path.read_text())]
    return claims


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table (cells are written with ``str``; ``|`` is escaped)."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_std(values: Sequence[float], digits: int = 2) -> str:
    """``"1.23 ± 0.04"``: the mean and the sample standard deviation (n − 1) of ``values``."""
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return "—"
    std = values.std(ddof=1) if values.size > 1 else float("nan")
    return f"{values.mean():.{digits}f} ± {std:.{digits}f}"


def format_duration(seconds: float) -> str:
    """``"1 h 05 min"``, ``"12 min"``, ``"40 s"``."""
    seconds = float(seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
