"""The documentation stands on its own: its links resolve, and nothing points outside the repository.

- Every relative link in ``docs/**/*.md``, ``README.md`` and ``tutorials/README.md`` names a file
  that exists, and a ``#fragment`` names a heading of that file (slugged as MkDocs' table of
  contents slugs headings), so the pages render without broken links.
- Every ``docs/....md`` path that a tracked file mentions (docstrings, comments, tutorials) exists.
- No tracked file (``.ci/`` aside) mentions the notes kept outside the repository: a user who
  clones it has only what is in it.

The last two need a git checkout and skip without one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md", ROOT / "tutorials" / "README.md"]

# The pages that docstrings, the README and the tutorials point to: they must exist.
REQUIRED_PAGES = [
    "index.md",
    "design.md",
    "references.md",
    "optimizers/index.md",
    "optimizers/classic.md",
    "optimizers/dozat.md",
    "optimizers/layer-specific.md",
    "optimizers/wame.md",
    "optimizers/llb-sgd.md",
    "optimizers/learned-rate.md",
    "optimizers/esgd.md",
]

# Names that must not appear in the repository, written in pieces so that this file does not
# contain them itself: the parent folder of the research notes, and the three note files.
FORBIDDEN = ["../" + "shared"] + [f"{a}-{b}.md" for a, b in (("optimizer", "decisions"), ("optimizer", "research"),
                                                             ("style", "anchors"))]

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
DOCS_PATH = re.compile(r"(?<![\w/.-])docs/(?:[\w-]+/)*[\w-]+\.md\b")


def slugify(heading: str) -> str:
    """A heading's anchor as Python-Markdown's ``toc`` extension makes it (MkDocs' default)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a linked heading anchors on its text
    text = text.replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def prose(path: Path) -> str:
    """The Markdown of ``path`` without code blocks and inline code, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))


def anchors(path: Path) -> set[str]:
    """The anchors of the headings of ``path``."""
    return {slugify(h) for h in HEADING.findall(prose(path))}


def relative_links(path: Path) -> list[str]:
    """The link targets of ``path`` that point into the repository (not URLs, not e-mail)."""
    targets = LINK.findall(prose(path))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def git_files(*args: str) -> list[str]:
    """``git`` output lines in the repository root; skips the test outside a git checkout."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: git grep found nothing
        pytest.fail(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.splitlines()


def test_the_pages_that_the_code_points_to_exist() -> None:
    missing = [page for page in REQUIRED_PAGES if not (DOCS / page).is_file()]
    assert not missing, f"missing documentation pages under docs/: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, fragment = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target} (no file {resolved})")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target} (no heading with anchor #{fragment} in {resolved.name})")
        elif ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_the_link_checker_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# A title\n[ok](page.md#a-title) [url](https://example.org) `[code](nowhere.md)`\n"
        "```\n[fenced](nowhere.md)\n```\n[bad](nowhere.md) [bad anchor](page.md#no-such)\n",
        encoding="utf-8",
    )
    assert relative_links(page) == ["page.md#a-title", "nowhere.md", "page.md#no-such"]
    assert anchors(page) == {"a-title"}
    assert slugify("Singh et al. (2015): `layer_sgd`") == "singh-et-al-2015-layer_sgd"


def test_every_docs_path_mentioned_in_a_tracked_file_exists() -> None:
    lines = git_files("grep", "-I", "-n", "-E", r"docs/[A-Za-z0-9_./-]+\.md", "--", ".", ":!.ci")
    missing = []
    for line in lines:
        file, number, text = line.split(":", 2)
        where = f"{file}:{number}"
        for path in DOCS_PATH.findall(text):
            if not (ROOT / path).is_file():
                missing.append(f"{where}: {path}")
    assert not missing, f"tracked files point to documentation pages that do not exist: {missing}"


def test_no_tracked_file_points_outside_the_repository() -> None:
    args = ["grep", "-I", "-n", "-F"]
    for name in FORBIDDEN:
        args += ["-e", name]
    hits = git_files(*args, "--", ".", ":!.ci")
    assert not hits, "tracked files refer to notes outside the repository:\n" + "\n".join(hits)
