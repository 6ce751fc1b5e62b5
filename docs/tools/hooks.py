"""MkDocs hooks of the documentation site (``hooks:`` in mkdocs.yml): what the site holds beyond docs/.

- **Tutorials.** ``docs/tutorials/NN_*.py`` are links to the tutorials (so that the links of
  docs/ resolve on disk too), which mkdocs-jupyter reads with jupytext and executes as notebooks.
  The build runs them in fast mode
  (``MINIGRAD_FAST=1``) unless the environment says ``MINIGRAD_FAST=0``, and each page says which
  mode it was executed in. The kernels get the tutorials' folder on ``PYTHONPATH`` (so that
  ``import _common`` works from the build's working directory) and matplotlib's inline backend,
  whatever ``MPLBACKEND`` says outside (with ``Agg`` a kernel would show no figure).
- **The saddle lab.** For each surface of :data:`datasets.surfaces.SURFACES` the build runs the
  command a reader would, ``python -m experiments saddle --surface NAME --frames 40 --out
  NAME.html``, in the background while the notebooks execute, and completes the surface's page
  in docs/saddle/ (a title and a marker, :data:`SADDLE_MARKER`) with the surface, the
  command, what it printed, the animation (the command's HTML in a frame) and its PNG.
- **Globs in the nav.** A nav entry such as ``reproductions/*.md`` becomes the pages it matches,
  ``index.md`` first, then by file name, leaving out pages the nav names elsewhere; it may match
  nothing (the reproductions are written by their own commands).
- **Offline.** MathJax 2.7 is copied into the site from the ``jupyter-server-mathjax`` package
  (installed by the ``docs`` extra), with a local configuration that uses its STIX-Web fonts;
  pages with formulas load it from the site. The notebooks' HTML carries a loader for mermaid
  diagrams from a CDN, dead code here (no tutorial has a diagram), which is removed.
- **Caches.** Executed notebooks and saddle outputs are kept under ``build/docs-cache/``, keyed by
  a hash of the project's Python sources, the fast-mode setting and the inputs, so that ``mkdocs
  serve`` does not rerun them after an edit to a Markdown page, and never shows stale results.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

log = logging.getLogger("mkdocs.hooks.minigrad")

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "tutorials"
CACHE = ROOT / "build" / "docs-cache"
#: What the executed tutorials run: a change to any of it invalidates their cache (the papers'
#: reproductions, which no tutorial imports, aside).
NOTEBOOK_SOURCES = ("minigrad", "layers", "optimizers", "datasets", "experiments", "tutorials")
NOTEBOOK_UNUSED = ("experiments/reproductions",)
#: What ``minigrad saddle`` runs: a change to any of it invalidates the saddle lab's cache.
SADDLE_SOURCES = ("minigrad", "optimizers", "datasets/surfaces.py", "experiments/saddle.py",
                  "experiments/stepping.py", "experiments/arguments.py", "experiments/cli.py")
#: Frames of the site's saddle animations (the command's default is 60): 40 keep each page near 5 MB.
SADDLE_FRAMES = 40
MATHJAX_CONFIG = "local/minigrad"
SADDLE_MARKER = "<!-- saddle-lab:"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

_saddle_jobs: dict[str, Future[dict[str, Any]]] = {}
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def fast_mode() -> bool:
    """True when this build executes the tutorials in fast mode (the default; ``MINIGRAD_FAST=0`` turns it off)."""
    return os.environ.get("MINIGRAD_FAST", "1") == "1"


def source_hash(sources: tuple[str, ...], *extra: str, unused: tuple[str, ...] = ()) -> str:
    """A short SHA-256 of the Python files of ``sources`` and of the ``extra`` strings.

    ``sources`` are folders (searched recursively, less those in ``unused``) or files, under the root.
    """
    digest = hashlib.sha256()
    for source in sources:
        base = ROOT / source
        for path in sorted(base.rglob("*.py")) if base.is_dir() else [base]:
            if any(ROOT / folder in path.parents for folder in unused):
                continue
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    for item in extra:
        digest.update(item.encode())
    return digest.hexdigest()[:16]


def surfaces() -> dict[str, Any]:
    """The toy surfaces of the saddle lab, from the repository's own ``datasets.surfaces``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from datasets.surfaces import SURFACES

    return dict(SURFACES)


# ----- nav ------------------------------------------------------------------------------------------


def _named_in_nav(nav: Any) -> set[str]:
    """Every page path the nav names explicitly (globs excluded)."""
    if isinstance(nav, str):
        return set() if "*" in nav else {nav}
    if isinstance(nav, dict):
        return set().union(*(_named_in_nav(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_named_in_nav(v) for v in nav)) if nav else set()
    return set()


def expand_nav(nav: Any, available: list[str], named: set[str]) -> Any:
    """``nav`` with each glob entry (``dir/*.md``) replaced by the ``available`` paths it matches.

    Matches come ``index.md`` first, then in the order of ``available``; a path the nav ``named``
    elsewhere is left out. A glob inside a titled entry (``{"Title": "a/*.md"}``) becomes a list
    under that title, and a section left with no page is dropped.
    """
    def is_glob(item: Any) -> bool:
        return isinstance(item, str) and "*" in item

    if isinstance(nav, list):
        out: list[Any] = []
        for item in nav:
            if is_glob(item):
                out.extend(_glob(item, available, named))
            elif (item := expand_nav(item, available, named)) != {}:
                out.append(item)
        return out
    if isinstance(nav, dict):
        expanded = {k: _glob(v, available, named) if is_glob(v) else expand_nav(v, available, named)
                    for k, v in nav.items()}
        return {k: v for k, v in expanded.items() if v != []}  # a section whose globs matched nothing goes
    return nav


def _glob(pattern: str, available: list[str], named: set[str]) -> list[str]:
    from fnmatch import fnmatchcase

    folder = pattern.rsplit("/", 1)[0] + "/" if "/" in pattern else ""
    hits = [p for p in available if fnmatchcase(p, pattern) and "/" not in p[len(folder):] and p not in named]
    return sorted(hits, key=lambda p: not p.endswith("/index.md"))  # stable: otherwise as available


def _site_paths(config: MkDocsConfig) -> list[str]:
    """The pages under docs/ (Markdown, and the tutorials' scripts), by path."""
    docs = Path(config.docs_dir)
    pages = [*docs.rglob("*.md"), *docs.glob("tutorials/[0-9][0-9]_*.py")]
    return sorted(p.relative_to(docs).as_posix() for p in pages)


# ----- configuration --------------------------------------------------------------------------------


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Expand the nav's globs, set the kernels' environment, and key the notebook cache."""
    config.nav = expand_nav(config.nav, _site_paths(config), _named_in_nav(config.nav))
    fast = fast_mode()
    os.environ["MINIGRAD_FAST"] = "1" if fast else "0"
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    figures = CACHE / "tutorial-figures"
    figures.mkdir(parents=True, exist_ok=True)
    os.environ["MINIGRAD_TUTORIAL_OUT"] = str(figures)
    path = [str(TUTORIALS), str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        key = source_hash(NOTEBOOK_SOURCES, f"fast={fast}", unused=NOTEBOOK_UNUSED)
        jupyter.config["cache_dir"] = str(CACHE / "notebooks" / key)
    return config


# ----- the saddle lab -------------------------------------------------------------------------------


def _run_saddle(name: str) -> dict[str, Any]:
    """Run ``minigrad saddle`` for one surface (or reuse its cached output); paths and printed text."""
    args = ["--surface", name, "--frames", str(SADDLE_FRAMES)]
    out = CACHE / "saddle" / source_hash(SADDLE_SOURCES, *args)
    result = out / f"{name}.json"
    if not result.exists():
        out.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "experiments", "saddle", *args, "--out", str(out / f"{name}.html")]
        env = dict(os.environ, MPLBACKEND="Agg")
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"minigrad saddle for {name!r} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
        printed = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("wrote "))
        result.write_text(json.dumps({"printed": printed, "args": args}), encoding="utf-8")
    data = json.loads(result.read_text(encoding="utf-8"))
    data.update(html=out / f"{name}.html", png=out / f"{name}.png")
    return data


def on_pre_build(config: MkDocsConfig) -> None:
    """Start the saddle-lab commands, one at a time in the background (the notebooks use the other core)."""
    global _pool
    with _lock:
        _saddle_jobs.clear()
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saddle")
        for name in surfaces():
            _saddle_jobs[name] = _pool.submit(_run_saddle, name)


def _saddle_page(name: str, job: dict[str, Any]) -> str:
    """The Markdown that completes one surface's page (after its title)."""
    from experiments.saddle import CAVEAT, DEFAULT_OPTIMIZERS, hyperparams_for

    surf = surfaces()[name]
    points = "\n".join(
        f"- ({c.x:.6g}, {c.y:.6g}): {c.kind}" + (f", {c.note}" if c.note else "") for c in surf.critical_points
    )
    rows = "\n".join(
        f"| `{opt}` | " + (", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                                    for k, v in hyperparams_for(opt, surf).items()) or "class defaults") + " |"
        for opt in DEFAULT_OPTIMIZERS
    )
    command = f"minigrad saddle {' '.join(job['args'])} --out {name}.html"
    x0, y0 = surf.starts[0]
    printed = (
        "the step at which it escaped the saddle ([defined on the lab's page](index.md#escapes)) and "
        "whether it left the plotted window"
        if surf.saddle is not None
        else "whether it left the plotted window, and when (this surface has no saddle)"
    )
    return f"""f(x, y) = {surf.formula}{": " + surf.description if surf.description else ""}.

Critical points:

{points}

Every optimizer starts from ({x0:g}, {y0:g}) and takes 300 steps, in float64, with no randomness.
The animation below was made when this site was built, by

```bash
{command}
```

which also printed, per optimizer, {printed}:

```text
{job["printed"]}
```

## The animation

Play, pause, or step one frame at a time with the buttons under the picture; the slider moves to
any frame. [Open it on its own]({name}.html).

<iframe class="saddle-animation" src="../{name}.html" title="{html.escape(name)}: trajectories over the steps"
        style="width: 100%; height: 900px; border: 0;"
        onload="this.style.height = this.contentDocument.documentElement.scrollHeight + 'px'"></iframe>

## Trajectories and loss

![{html.escape(name)}: contours with every trajectory, and the loss per step]({name}.png)

## Settings

| optimizer | hyperparameters (`experiments.saddle.TOY_HYPERPARAMS`) |
|---|---|
{rows}

Caveat: {CAVEAT}. A rate that suits one surface does not suit another, and two parameters say
little about a network's millions.
"""


def _saddle_name(page: Page) -> str | None:
    match = re.fullmatch(r"saddle/(\w+)\.md", page.file.src_uri)
    return match[1] if match and match[1] in _saddle_jobs else None


# ----- files and pages -----------------------------------------------------------------------------


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the saddle lab's animations and figures."""
    for name in _saddle_jobs:
        for suffix in ("html", "png"):  # their sources are known when the job is done (on_env)
            files.append(File.generated(config, f"saddle/{name}.{suffix}", abs_src_path=os.devnull))
    return files


def on_env(env: Any, config: MkDocsConfig, files: Files) -> Any:
    """Point the saddle lab's static files at the outputs of their commands (every page has been read)."""
    for name, job in _saddle_jobs.items():
        for suffix in ("html", "png"):
            file = files.get_file_from_path(f"saddle/{name}.{suffix}")
            if file is not None:
                file.abs_src_path = str(job.result()[suffix])
    return env


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """A saddle surface's page, completed once its command has run."""
    name = _saddle_name(page)
    if name is None:
        return markdown
    head, marker, _ = markdown.partition(SADDLE_MARKER)
    if not marker:
        raise RuntimeError(f"docs/saddle/{name}.md: no {SADDLE_MARKER!r} marker where the generated part goes")
    return head + _saddle_page(name, _saddle_jobs[name].result())


_MERMAID = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*?</script>", re.S)


def on_page_content(content: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Tutorial pages: drop the CDN mermaid loader, and say how and when the page was executed."""
    if not page.file.src_uri.startswith("tutorials/") or not page.file.src_uri.endswith(".py"):
        return content
    content = _MERMAID.sub("", content)
    if "cdnjs" in content or "mermaid.esm" in content:
        raise RuntimeError(f"{page.file.src_uri}: a CDN reference is left in the notebook's HTML")
    script = Path(page.file.src_uri).name
    if fast_mode():
        mode = (
            "in **fast mode** (`MINIGRAD_FAST=1`): the tutorials that train use a few hundred images "
            "and a few dozen steps, and the checks that need a full run are skipped (the output says "
            f"which). Run it in full with `python tutorials/{script}`."
        )
    else:
        mode = f"in **full mode** (`MINIGRAD_FAST=0`), as `python tutorials/{script}` runs it."
    banner = (
        '<div class="admonition note"><p class="admonition-title">Executed when this site was built</p>'
        f"<p>This page is <code>tutorials/{script}</code>, executed as a notebook when the site was built, "
        f"{_markdown_inline(mode)} <a href=\"{script}\" download>Download the script</a>.</p></div>"
    )
    # After the tutorial's title, the first heading of the notebook.
    head, found, rest = content.partition("</h1>")
    return head + found + banner + rest if found else banner + content


def _markdown_inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    """Load the site's MathJax on Markdown pages with formulas (the notebooks load their own)."""
    if 'class="arithmatex"' not in output or "MathJax.js" in output:
        return output
    url = get_relative_url("assets/mathjax/MathJax.js", page.url)
    loader = (
        '<script type="text/x-mathjax-config">MathJax.Hub.Config({tex2jax: {inlineMath: [["\\\\(", "\\\\)"]], '
        'displayMath: [["\\\\[", "\\\\]"]], processEscapes: false}});</script>\n'
        f'<script src="{url}?config=TeX-AMS-MML_HTMLorMML-full,{MATHJAX_CONFIG}"></script>\n'
    )
    return output.replace("</body>", loader + "</body>", 1)


# ----- MathJax --------------------------------------------------------------------------------------

#: What of MathJax 2.7 the site needs: the loader, TeX in, HTML-CSS out with the STIX-Web fonts, menus.
MATHJAX_PARTS = ("MathJax.js", "config", "extensions", "jax/input", "jax/element", "jax/output/HTML-CSS",
                 "fonts/HTML-CSS/STIX-Web", "localization/en", "LICENSE")
MATHJAX_LOCAL = """/* minigrad's MathJax settings: the STIX-Web fonts shipped with the site, no messages.
   MathJax 2 declares its empty fallback font MathJax_Blank as url('about:blank'), which browsers
   now refuse to load (a console error): local() names a font the browser looks up on the
   machine, finds missing and skips, as it skipped the refused one, without a request. */
MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  messageStyle: "none",
  showMathMenu: true
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/minigrad.js");
"""


def mathjax_source() -> Path:
    """The MathJax 2.7 files of the ``jupyter-server-mathjax`` package (the ``docs`` extra installs it)."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise RuntimeError('the site needs MathJax from jupyter-server-mathjax: pip install ".[docs]"') from err
    return Path(jupyter_server_mathjax.__file__).parent / "static"


def copy_mathjax(site_dir: Path) -> Path:
    """Copy :data:`MATHJAX_PARTS` into ``site_dir/assets/mathjax`` with the local config; returns that folder."""
    source, target = mathjax_source(), site_dir / "assets" / "mathjax"
    for part in MATHJAX_PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    local = target / "config" / f"{MATHJAX_CONFIG}.js"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(MATHJAX_LOCAL, encoding="utf-8")
    return target


def on_post_build(config: MkDocsConfig) -> None:
    """Copy MathJax into the site, and stop the saddle pool."""
    copy_mathjax(Path(config.site_dir))
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
