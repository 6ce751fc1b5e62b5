"""``python -m experiments.reproductions PAPER [--smoke] [--out DIR]``: a paper's page, then the index."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from experiments.arguments import HelpFormatter
from experiments.reproductions import PAPERS
from experiments.reproductions.common import DOCS
from experiments.reproductions.index import write_index


def main(argv: list[str] | None = None) -> int:
    """Run one paper's reproduction (or all, or only the index); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m experiments.reproductions", formatter_class=HelpFormatter,
                                     description=__doc__)
    parser.add_argument("paper", choices=[*PAPERS, "all", "index"], help="which page to regenerate")
    parser.add_argument("--smoke", action="store_true", help="a few seeds, iterations and images (for CI)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the page, figures and claims go (default: docs/reproductions, or "
                        "runs/reproductions-smoke with --smoke)")
    args = parser.parse_args(argv)
    out = args.out or (Path("runs/reproductions-smoke") if args.smoke else DOCS)
    out.mkdir(parents=True, exist_ok=True)
    for paper in PAPERS if args.paper == "all" else [] if args.paper == "index" else [args.paper]:
        module = importlib.import_module(f"experiments.reproductions.{paper}")
        page = module.run(smoke=args.smoke, out=out)
        print(f"wrote {page}")
    print(f"wrote {write_index(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
