"""Helpers shared by the tutorials: the fast-mode switch, the output folder, and saving figures.

Importing this module also puts the repository root on ``sys.path``, so a tutorial finds
``minigrad``, ``layers``, ``optimizers`` and ``datasets`` whether it runs as a script
(``python tutorials/01_autograd_from_scratch.py``), as a notebook executed from ``tutorials/``,
or from an installed copy of the project.

- ``FAST``: True when the environment variable ``MINIGRAD_FAST`` is ``1``. The tests set it; a
  tutorial then trains on less data for fewer steps, and relaxes only the checks that need a
  full run (it says which).
- ``OUT``: the folder figures go to: ``$MINIGRAD_TUTORIAL_OUT`` if set, else ``tutorials/out/``
  (ignored by git). Created on import.
- ``savefig(fig, name)``: write ``fig`` to ``OUT/name`` as a PNG and print the path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

TUTORIALS = Path(__file__).resolve().parent
ROOT = TUTORIALS.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAST: bool = os.environ.get("MINIGRAD_FAST", "0") == "1"
OUT: Path = Path(os.environ.get("MINIGRAD_TUTORIAL_OUT") or TUTORIALS / "out").resolve()
OUT.mkdir(parents=True, exist_ok=True)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (figures are shown inline there, so they stay open)."""
    return "ipykernel" in sys.modules


class _SavedFigure(type(Path())):  # type: ignore[misc]
    """A saved figure's path that a notebook does not display: it shows the figure itself."""

    def _ipython_display_(self) -> None:
        pass


def savefig(fig: Any, name: str, dpi: int = 100) -> Path:
    """Save a matplotlib figure as ``OUT/name`` (``.png`` added if missing) and return the path.

    As a script the path is printed and the figure closed (the PNG is the output); in a notebook
    the figure stays open so that Jupyter displays it under the cell, and the path is not shown.
    """
    path = OUT / (name if name.endswith(".png") else f"{name}.png")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    if in_notebook():
        return _SavedFigure(path)
    print(f"figure saved: {path}")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
