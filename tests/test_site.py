"""The documentation site: its configuration, its pages' coverage, its hooks, and the saddle lab's HTML.

Fast checks only: nothing here builds the site or starts a browser (``.ci/docs`` does both, then
runs docs/tools/check_site.py). The tests of the hooks and of the API-reference extension need
the ``docs`` extra (``pip install ".[docs]"``) and skip without it; ``.ci/docs`` runs this file
again once it has installed it.

- mkdocs.yml builds strictly and offline: no web fonts, no CDN MathJax, the tutorials executed
  with errors failing the build.
- Every tutorial, toy surface and library module has its page, so that none is left off the site.
- The hooks: nav globs, the MathJax loader, the tutorials' banner, the saddle pages, MathJax's files.
- The API reference's docstring conversion (Sphinx roles, doctests, ``::`` blocks).
- ``minigrad saddle --out NAME.html`` and :func:`experiments.saddle.animation_html`: a page that
  fetches nothing, with its controls.
- The browser check's static scan of what a page loads from other hosts.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from datasets.surfaces import SURFACES, get_surface
from experiments import cli
from experiments.saddle import animation_html, run_trajectory

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TOOLS = DOCS / "tools"
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
LIBRARY = ("minigrad", "minigrad/ops", "layers", "optimizers", "datasets")


def _load(name: str) -> ModuleType:
    """A module of docs/tools, imported from its file (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_site_{name}", TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    pytest.importorskip("mkdocs", reason="needs the docs extra: pip install '.[docs]'")
    return _load("hooks")


@pytest.fixture(scope="module")
def check_site() -> ModuleType:
    return _load("check_site")


def _mkdocs_yml() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def _plugin(config: dict, name: str) -> dict:
    for entry in config["plugins"]:
        if isinstance(entry, dict) and name in entry:
            return entry[name]
    pytest.fail(f"mkdocs.yml has no {name} plugin")


# ----- configuration and coverage --------------------------------------------------------------------


def test_mkdocs_config_is_strict_and_offline() -> None:
    config = _mkdocs_yml()
    assert config["strict"] is True
    assert config["theme"]["name"] == "material" and config["theme"]["font"] is False, "web fonts are fetched"
    assert all(config["validation"][k] == "warn" for k in ("omitted_files", "unrecognized_links", "anchors"))
    jupyter = _plugin(config, "mkdocs-jupyter")
    assert jupyter["execute"] is True and jupyter["allow_errors"] is False
    mathjax = jupyter["custom_mathjax_url"]
    assert not re.match(r"(https?:)?//", mathjax) and "assets/mathjax/MathJax.js" in mathjax
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for key in ("repo_url", "extra_javascript", "extra_css", "privacy", "google_analytics"):
        assert not re.search(rf"^\s*-?\s*{key}\b", text, re.M), f"mkdocs.yml sets {key}: it would fetch at view time"


def test_every_tutorial_is_a_page_of_the_site() -> None:
    assert TUTORIALS
    index = (DOCS / "tutorials" / "index.md").read_text(encoding="utf-8")
    for path in TUTORIALS:
        link = DOCS / "tutorials" / path.name
        assert link.is_symlink() and link.resolve() == path.resolve(), f"docs/tutorials/{path.name} must link to it"
        assert f"]({path.name})" in index, f"docs/tutorials/index.md does not list {path.name}"
    strays = [p.name for p in (DOCS / "tutorials").glob("*.py") if not p.resolve().is_file()]
    assert not strays, f"links to tutorials that no longer exist: {strays}"


def test_every_surface_has_a_page_in_the_saddle_lab() -> None:
    index = (DOCS / "saddle" / "index.md").read_text(encoding="utf-8")
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in SURFACES:
        page = DOCS / "saddle" / f"{name}.md"
        assert page.is_file(), f"no page docs/saddle/{name}.md"
        assert "<!-- saddle-lab:" in page.read_text(encoding="utf-8"), f"{page.name} lacks the generated part's marker"
        assert f"]({name}.md)" in index, f"docs/saddle/index.md does not list {name}"
        assert f"saddle/{name}.md" in nav, f"mkdocs.yml's nav does not list saddle/{name}.md"


def _documented_modules() -> set[str]:
    return {m for page in (DOCS / "api").rglob("*.md") for m in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M)}


def test_every_library_module_has_an_api_page() -> None:
    documented = _documented_modules()
    modules = {
        ".".join(path.with_suffix("").relative_to(ROOT).parts)
        for folder in LIBRARY
        for path in (ROOT / folder).glob("*.py")
        if not path.name.startswith("_")
    }
    missing = sorted(modules - documented)
    assert not missing, f"modules with no ::: entry under docs/api/: {missing}"
    for name in documented:  # and every entry names a module that exists (a rename breaks the build)
        path = ROOT / name.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), f"docs/api names {name}"


# ----- the hooks -------------------------------------------------------------------------------------


def test_nav_globs_expand_in_order_and_empty_sections_go(hooks: ModuleType) -> None:
    nav = [{"Home": "index.md"}, {"T": ["t/index.md", "t/*.py"]}, {"R": ["r/*.md"]}, {"A": "a/*.md"}]
    available = ["a/index.md", "a/x.md", "a/sub/y.md", "index.md", "t/01_a.py", "t/02_b.py", "t/index.md"]
    expanded = hooks.expand_nav(nav, available, hooks._named_in_nav(nav))
    assert expanded == [{"Home": "index.md"}, {"T": ["t/index.md", "t/01_a.py", "t/02_b.py"]},
                        {"A": ["a/index.md", "a/x.md"]}]


def test_the_caches_key_follows_the_sources_they_depend_on(hooks, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(hooks, "ROOT", tmp_path)
    (tmp_path / "pkg" / "unused").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "unused" / "b.py").write_text("y = 1\n")
    key = hooks.source_hash(("pkg",), "fast=True", unused=("pkg/unused",))
    assert hooks.source_hash(("pkg",), "fast=False", unused=("pkg/unused",)) != key
    (tmp_path / "pkg" / "unused" / "b.py").write_text("y = 2\n")
    assert hooks.source_hash(("pkg",), "fast=True", unused=("pkg/unused",)) == key
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert hooks.source_hash(("pkg",), "fast=True", unused=("pkg/unused",)) != key


def test_mathjax_is_loaded_from_the_site_on_pages_with_formulas(hooks: ModuleType) -> None:
    page = SimpleNamespace(url="optimizers/classic/")
    html = '<body><span class="arithmatex">\\(x\\)</span></body>'
    out = hooks.on_post_page(html, page=page, config=None)
    assert '<script src="../../assets/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,local/minigrad">' in out
    assert hooks.on_post_page("<body>no formula</body>", page=page, config=None) == "<body>no formula</body>"
    notebook = html.replace("</body>", '<script src="../../assets/mathjax/MathJax.js"></script></body>')
    assert hooks.on_post_page(notebook, page=page, config=None) == notebook  # loads its own


def test_mathjax_files_are_copied_with_the_local_config(hooks: ModuleType, tmp_path: Path) -> None:
    pytest.importorskip("jupyter_server_mathjax")
    target = hooks.copy_mathjax(tmp_path)
    for part in ("MathJax.js", "config/TeX-AMS-MML_HTMLorMML-full.js", "config/Safe.js", "jax/input/TeX/config.js",
                 "fonts/HTML-CSS/STIX-Web/woff/STIXMathJax_Main-Regular.woff", "config/local/minigrad.js"):
        assert (target / part).is_file(), part
    local = (target / "config" / "local" / "minigrad.js").read_text()
    assert 'webFont: "STIX-Web"' in local and "loadComplete" in local
    assert "src: \"local('MathJax_Blank')\"" in local  # not url('about:blank'): a console error in Chromium
    assert not (target / "jax" / "output" / "SVG").exists()


def _tutorial_page(name: str) -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=f"tutorials/{name}"))


def test_tutorial_pages_say_how_they_were_executed_and_lose_the_cdn_loader(hooks, monkeypatch) -> None:
    content = ('<div class="jupyter-wrapper"><script type="module">\n  const m = (await import('
               '"https://cdnjs.cloudflare.com/ajax/libs/mermaid/11/mermaid.esm.min.mjs")); // mermaid\n</script>'
               '<h1 id="t">1. Title</h1><p>text</p></div>')
    monkeypatch.setenv("MINIGRAD_FAST", "1")
    out = hooks.on_page_content(content, page=_tutorial_page("01_x.py"), config=None, files=None)
    assert "cdnjs" not in out and "mermaid" not in out
    assert out.index("</h1>") < out.index("Executed when this site was built") < out.index("<p>text</p>")
    assert "fast mode" in out and 'href="01_x.py" download' in out
    monkeypatch.setenv("MINIGRAD_FAST", "0")
    assert "full mode" in hooks.on_page_content(content, page=_tutorial_page("01_x.py"), config=None, files=None)
    other = SimpleNamespace(file=SimpleNamespace(src_uri="design.md"))
    assert hooks.on_page_content("<p>x</p>", page=other, config=None, files=None) == "<p>x</p>"


def test_a_saddle_page_is_completed_from_its_command(hooks, monkeypatch) -> None:
    job: Future = Future()
    job.set_result({"printed": "sgd   escape step (r = 0.5): 47", "args": ["--surface", "monkey", "--frames", "40"],
                    "html": Path("monkey.html"), "png": Path("monkey.png")})
    monkeypatch.setattr(hooks, "_saddle_jobs", {"monkey": job})
    page = SimpleNamespace(file=SimpleNamespace(src_uri="saddle/monkey.md"))
    stub = (DOCS / "saddle" / "monkey.md").read_text(encoding="utf-8")
    out = hooks.on_page_markdown(stub, page=page, config=None, files=None)
    assert out.startswith("# monkey\n") and "<!--" not in out
    assert "minigrad saddle --surface monkey --frames 40 --out monkey.html" in out
    assert "escape step (r = 0.5): 47" in out and 'src="../monkey.html"' in out and "](monkey.png)" in out
    assert "x³ − 3xy²" in out and "toy surfaces do not rank optimizers" in out
    with pytest.raises(RuntimeError, match="marker"):
        hooks.on_page_markdown("# monkey\n", page=page, config=None, files=None)
    design = SimpleNamespace(file=SimpleNamespace(src_uri="design.md"))
    assert hooks.on_page_markdown("# Design\n", page=design, config=None, files=None) == "# Design\n"


# ----- the API reference's docstrings -----------------------------------------------------------------


def test_sphinx_roles_doctests_and_literal_blocks_become_markdown() -> None:
    griffe = pytest.importorskip("griffe", reason="needs the docs extra")
    roles = _load("griffe_roles")
    code = "from minigrad.tensor import Tensor\n\ndef f():\n    pass\n"
    with griffe.temporary_visited_module(code, module_name="example") as module:
        text = ("Uses :class:`Tensor` and :func:`~pkg.mod.g`.\n\n"
                ">>> f([1])\n[1.0, 2.0]\n\nThe rule::\n\n    x ← x − :func:`f`\n")
        out = roles.convert(text, module["f"])
    assert '<autoref identifier="minigrad.tensor.Tensor" optional><code>Tensor</code></autoref>' in out
    assert '<autoref identifier="pkg.mod.g" optional><code>g()</code></autoref>' in out
    assert "```pycon\n>>> f([1])\n[1.0, 2.0]\n```" in out  # not a Markdown link
    assert "The rule:\n\n    x ← x − :func:`f`" in out  # a literal block stays literal
    assert ":class:" not in out.split("The rule")[0]


# ----- the saddle lab's HTML --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_runs() -> list:
    surf = get_surface("saddle")
    return [run_trajectory(surf, name, None, 12, lr=0.1) for name in ("sgd", "adam")]


def test_animation_html_plays_offline(short_runs: list) -> None:
    page = animation_html(short_runs, "saddle", frames=3, fps=5)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", page), "the page would fetch from another host"
    assert "font-awesome" not in page and "fa fa-" not in page
    for control in ("Play", "Pause", "Next frame", "Previous frame", "First frame", "Last frame"):
        assert f'title="{control}"' in page
    assert len(re.findall(r"frames\[\d+\] = \"data:image/png;base64,", page)) == 3
    assert "toy surfaces do not rank optimizers" in page and "sgd (lr=0.1)" in page
    fragment = animation_html(short_runs, "saddle", frames=2, standalone=False)
    assert "<html" not in fragment and 'title="Next frame"' in fragment


def test_saddle_command_writes_an_html_animation(tmp_path: Path, capsys) -> None:
    out = tmp_path / "lab" / "saddle.html"
    rc = cli.main(["saddle", "--surface", "saddle", "--optimizers", "sgd,nag", "--steps", "10", "--frames", "2",
                   "--out", str(out)])
    assert rc == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert (tmp_path / "lab" / "saddle.png").stat().st_size > 0
    assert f"wrote {tmp_path / 'lab' / 'saddle.png'}, {out}" in capsys.readouterr().out


def test_saddle_command_refuses_html_for_the_network_picture(tmp_path: Path, capsys) -> None:
    assert cli.main(["saddle", "--network", "--out", str(tmp_path / "net.html")]) == 2
    err = capsys.readouterr().err
    assert "--network draws a PNG, not an animation" in err and not (tmp_path / "net.png").exists()
    assert cli.main(["saddle", "--out", "x.txt"]) == 2
    assert "must end in .png or .gif (pictures) or .html (an animation), got 'x.txt'" in capsys.readouterr().err


# ----- the browser check's static scan ----------------------------------------------------------------


def test_the_static_scan_finds_what_a_page_loads_from_other_hosts(check_site: ModuleType) -> None:
    page = """<html><head>
      <link rel="stylesheet" href="https://cdn.example.org/a.css"><link rel="canonical" href="https://site/x/">
      <script src="//cdn.example.org/b.js"></script><script src="../assets/local.js"></script>
      <style>@font-face { src: url("https://fonts.example.org/f.woff") }</style></head>
      <body><img src="data:image/png;base64,AAAA"><img src="fig.png"><iframe src="http://example.org/frame"></iframe>
      <a href="https://arxiv.org/abs/1510.04609">a paper</a></body></html>"""
    found = check_site.remote_loads(page)
    assert found == ["link https://cdn.example.org/a.css", "script //cdn.example.org/b.js",
                     "iframe http://example.org/frame", "style https://fonts.example.org/f.woff"]
    assert check_site.remote_loads('<a href="https://example.org">x</a><img src="a.png">') == []


def test_the_browser_refuses_requests_to_other_hosts(check_site: ModuleType) -> None:
    class Route:
        def __init__(self) -> None:
            self.done = ""

        def abort(self) -> None:
            self.done = "aborted"

        def continue_(self) -> None:
            self.done = "continued"

    report = check_site.PageReport("p", "http://127.0.0.1:1/")
    handle = check_site._refuse_remote(report)
    for url, expected in [("http://127.0.0.1:8000/a.js", "continued"), ("data:image/png;base64,AA", "continued"),
                          ("https://cdn.example.org/x.js", "aborted"), ("http://localhost/x", "continued")]:
        route = Route()
        handle(route, SimpleNamespace(url=url))  # Playwright calls a route handler with (route, request)
        assert route.done == expected, url
    assert report.problems == ["request to another host refused: https://cdn.example.org/x.js"]
