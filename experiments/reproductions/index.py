"""The reproductions index: one line per claim of every paper (``docs/reproductions/index.md``)."""

from __future__ import annotations

from pathlib import Path

from experiments.reproductions import PAPERS
from experiments.reproductions.common import DOCS, VERDICTS, markdown_table, read_claims


def write_index(out: Path = DOCS) -> Path:
    """Gather every ``*.claims.json`` under ``out`` into ``out/index.md``; returns its path."""
    # The papers in PAPERS' order (then any other claims file), each paper's claims in its own order.
    order = {f"{name}.md": i for i, name in enumerate(PAPERS)}
    claims = sorted(read_claims(out), key=lambda c: order.get(c.page, len(order)))
    rows = [
        (f"[{c.paper}]({c.page})", c.claim, c.theirs, c.ours, f"**{c.verdict}**", f"`{c.command}`", c.cpu_time)
        for c in claims
    ]
    text = "\n\n".join(
        [
            "# Reproductions",
            "Each line is one claim of one of the five papers, what the paper reports, what minigrad measured, "
            "the verdict, the command that regenerates it and the CPU time it took on the 2-core development "
            "machine. The pages linked in the first column give the conditions, the tables and the figures; "
            "an honest \"not reproduced\" is a result too.",
            markdown_table(("paper", "claim", "paper reports", "minigrad", "verdict", "command", "CPU time"), rows),
            "## Verdicts",
            "\n".join(f"- **{name}**: {meaning}." for name, meaning in VERDICTS.items()),
        ]
    )
    path = Path(out) / "index.md"
    path.write_text(text + "\n")
    return path
