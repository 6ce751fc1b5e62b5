"""A griffe extension for the API reference: the docstrings' Sphinx roles become links, or code.

minigrad's docstrings are prose with Sphinx cross-reference roles (``:func:`run_trajectory```,
``:class:`~minigrad.Tensor```, ``:mod:`.tensor```). mkdocstrings renders docstrings as Markdown,
where a role would show as raw text. Each role becomes an optional cross-reference of
mkdocs-autorefs: a link where the target is documented on some page of the site, plain code
where it is not (optional references never warn, so ``mkdocs build --strict`` is not affected by
a target the reference leaves out). The target is resolved in the scope of the docstring's
object, as Sphinx would: a relative name (``.tensor``) against the module, a bare name against
what the module defines and imports. ``~`` shows only the last component, as in Sphinx.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?P<role>func|meth|class|mod|data|attr|obj|exc|const):`(?P<target>[^`]+)`")


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full path ``target`` names in ``obj``'s scope, or ``target`` itself if it cannot be resolved."""
    target = target.removesuffix("()")
    module = obj if isinstance(obj, griffe.Module) else obj.module
    if target.startswith("."):
        base = module.path if module.is_package else module.parent.path if module.parent else module.path
        return f"{base}{target}"
    head, _, rest = target.partition(".")
    scope: griffe.Object | None = obj if not isinstance(obj, (griffe.Function, griffe.Attribute)) else obj.parent
    while scope is not None:
        try:
            found = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, ValueError):
            found = None
        if found:
            return f"{found}.{rest}" if rest else found
        scope = scope.parent
    return target


def _link(match: re.Match[str], obj: griffe.Object) -> str:
    target = match["target"].strip()
    shown = target.lstrip("~").lstrip(".")
    if target.startswith("~"):
        target = target[1:]
        shown = shown.rsplit(".", 1)[-1]
    if match["role"] in ("func", "meth") and not shown.endswith(")"):
        shown += "()"
    identifier = html.escape(_resolve(obj, target), quote=True)
    return f'<autoref identifier="{identifier}" optional><code>{html.escape(shown)}</code></autoref>'


def convert(text: str, obj: griffe.Object) -> str:
    """``text`` as Markdown: roles become optional references, doctests and ``::`` blocks become code.

    A doctest (a ``>>>`` line at the margin and the lines after it up to a blank line) becomes a
    fenced ``pycon`` block, which Markdown would otherwise read as prose (its ``[...]`` outputs as
    links). A paragraph ending in ``::`` ends in ``:``, and its indented block stays an indented
    code block, as reST means it. Roles are converted in prose only, never inside code.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        if line.startswith(("    ", "\t")) and (not out or not out[-1].strip() or out[-1].startswith(("    ", "\t"))):
            out.append(line)  # an indented code block: left as it is
        else:
            if line.rstrip().endswith("::") and not line.strip() == "::":
                line = line.rstrip()[:-1]
            out.append(ROLE.sub(lambda m: _link(m, obj), line))
        i += 1
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Turn Sphinx roles in every docstring into optional cross-references (see the module docstring)."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring once the whole tree is loaded (names can then be resolved)."""
        if obj.is_alias or obj.docstring is None:
            return
        obj.docstring.value = convert(obj.docstring.value, obj)
