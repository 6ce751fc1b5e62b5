"""How much of an optimizer file is its update rule, and how much is set-up: two counts of the source.

Not a timing. It reads ``optimizers/*.py`` with :mod:`ast` and :mod:`tokenize` and prints:

- **update-rule length**: for every method named ``update`` of a class in ``optimizers/``, the
  code lines of its body; the median over all of them (and the list). The base class's abstract
  ``update`` (a body that only raises) is not a rule and is left out.
- **boilerplate share** of the classic optimizer files (``sgd``, ``adagrad``, ``adadelta``,
  ``rmsprop``, ``adam``, ``rprop``): the code lines of the constructors (``__init__``, signature
  included), the hyperparameter checks (``validate_group``, class-level tables named
  ``hyperparameters``, and module-level constants, i.e. ALL_CAPS assignments such as
  ``FORMS = ("caffe", "torch")``) and the state set-up (``init_state``), over all code lines of
  those files; the update rules' share beside it.

A *code line* is a physical line holding a token other than a comment, and not inside a
docstring (the first string statement of a module, class or function). Blank lines, comment
lines and docstrings never count; a signature written over seven lines counts seven. Imports
count towards the total, not towards boilerplate.

    python -m benchmarks.optimizer_shape            # this checkout's optimizers/
    python -m benchmarks.optimizer_shape DIR        # another copy, e.g. an older version's files
"""

from __future__ import annotations

import argparse
import ast
import io
import statistics
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "optimizers"
CLASSIC = ("sgd", "adagrad", "adadelta", "rmsprop", "adam", "rprop")
SET_UP_METHODS = ("__init__", "validate_group", "init_state")
TABLE_NAMES = ("hyperparameters",)


def code_lines(source: str) -> set[int]:
    """Line numbers that hold code: a token other than comments, newlines and indentation, docstrings excluded."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(range(token.start[0], token.end[0] + 1))
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    lines -= set(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def span(node: ast.AST) -> set[int]:
    """Every line number a node covers, decorators included."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return set(range(first, node.end_lineno + 1))


def body_span(node: ast.FunctionDef) -> set[int]:
    """The lines of a function's body (without its signature)."""
    return set(range(node.body[0].lineno, node.end_lineno + 1))


def _abstract(node: ast.FunctionDef) -> bool:
    """True for a method whose body is a docstring and a ``raise`` (an abstract method)."""
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Raise)


def measure(root: Path = ROOT) -> dict[str, object]:
    """The counts described in the module docstring, for the optimizer files under ``root``."""
    update_lengths: dict[str, int] = {}
    classic_total = classic_setup = classic_rule = 0
    per_file: dict[str, tuple[int, int, int]] = {}
    for path in sorted(root.glob("*.py")):
        source = path.read_text()
        code = code_lines(source)
        setup: set[int] = set()
        rule: set[int] = set()
        tree = ast.parse(source)
        for node in tree.body:  # module-level constants: choices and tables of checks
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id.isupper() for t in targets):
                    setup |= span(node)
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "update" and not _abstract(item):
                    update_lengths[f"{path.stem}.{node.name}"] = len(code & body_span(item))
                    rule |= span(item)
                elif isinstance(item, ast.FunctionDef) and item.name in SET_UP_METHODS:
                    setup |= span(item)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    if any(isinstance(t, ast.Name) and t.id in TABLE_NAMES for t in targets):
                        setup |= span(item)
        if path.stem in CLASSIC:
            counts = (len(code), len(code & setup), len(code & rule))
            per_file[path.stem] = counts
            classic_total += counts[0]
            classic_setup += counts[1]
            classic_rule += counts[2]
    return {
        "update_lengths": update_lengths,
        "median_update": statistics.median(update_lengths.values()),
        "per_file": per_file,
        "classic_total": classic_total,
        "classic_setup": classic_setup,
        "classic_rule": classic_rule,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Print the counts; returns them."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", default=str(ROOT), help="folder of optimizer files (default: optimizers/)")
    m = measure(Path(parser.parse_args(argv).root))
    lengths = m["update_lengths"]
    print(f"update rules: {len(lengths)}, median {m['median_update']} code lines")
    for name, n in sorted(lengths.items(), key=lambda kv: kv[1]):
        print(f"  {n:3d}  {name}")
    print("classic files: code lines, set-up (constructor, checks, state set-up), update rules")
    for name, (total, setup, rule) in m["per_file"].items():
        print(f"  {name:10s} {total:4d} {setup:4d} ({100 * setup / total:4.1f} %) "
              f"{rule:4d} ({100 * rule / total:4.1f} %)")
    total = m["classic_total"]
    print(f"  {'all':10s} {total:4d} {m['classic_setup']:4d} ({100 * m['classic_setup'] / total:4.1f} %) "
          f"{m['classic_rule']:4d} ({100 * m['classic_rule'] / total:4.1f} %)")
    return m


if __name__ == "__main__":
    main()
