"""Check the built documentation site as a reader would see it, in a real browser, offline.

``python docs/tools/check_site.py [--site build/site] [--out build/site-check]`` (after ``mkdocs
build``). It lives beside the site's hooks, under docs/tools/ (which the site leaves out),
because it checks what those hooks and mkdocs.yml build; ``.ci/docs`` runs it after the build.

1. **Every page, statically.** No HTML page of the site may load anything from another host:
   no ``src`` of a script, image, frame or media, nor ``href`` of a stylesheet or other
   ``<link>``, may be an ``http(s)://`` or ``//`` address. (Links a reader clicks, ``<a href>``,
   may go anywhere.)
2. **Four pages in Chromium.** Debian's ``chromium`` (``/usr/bin/chromium``), driven headless by
   Playwright's Python package, opens over a loopback HTTP server: the home page, one tutorial,
   the API page of one optimizer and one saddle-lab animation. Any request to a host other than
   the loopback server is refused and reported. On each page: no console error, no uncaught
   exception, no failed or 4xx/5xx request; every ``<img>`` has loaded (``complete`` with
   ``naturalWidth`` > 0), and the page has the figures it should; formulas, where the page has
   them, are typeset by the site's own MathJax with no error. On the animation, the "Next frame"
   button must advance the frame (slider position and picture). A screenshot of each page is
   saved in ``--out``.

Prints one line per page and a summary; exits 1 when anything is wrong, 2 when it cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
#: Chromium's flags for a headless run as root on a machine with no network beyond loopback:
#: without the background-networking ones it keeps trying to reach Google's services.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: The pages the browser opens: (name, path in the site, what to check).
PAGES = (
    ("home", "index.html", "home"),
    ("tutorial", "tutorials/04_saddle_points/index.html", "tutorial"),
    ("api-optimizer", "api/optimizers/adam/index.html", "api"),
    ("saddle-animation", "saddle/monkey/index.html", "animation"),
)
TIMEOUT_MS = 60_000


# ----- 1. every page, statically ----------------------------------------------------------------------


class _Loads(HTMLParser):
    """The addresses an HTML page makes the browser load by itself (not links the reader follows)."""

    ATTRS = {"script": "src", "img": "src", "iframe": "src", "audio": "src", "video": "src", "source": "src",
             "embed": "src", "track": "src", "object": "data", "link": "href"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = self.ATTRS.get(tag)
        values = dict(attrs)
        if tag == "link" and (values.get("rel") or "") in ("canonical", "alternate", "next", "prev"):
            return  # metadata the browser does not fetch
        if wanted and values.get(wanted):
            self.urls.append((tag, str(values[wanted])))
        if tag == "img" and values.get("srcset"):
            self.urls += [(tag, part.strip().split(" ")[0]) for part in str(values["srcset"]).split(",")]


def is_remote(url: str) -> bool:
    """True for an address on another host: ``http(s)://...`` or protocol-relative ``//...``."""
    url = url.strip()
    return url.startswith("//") or urlsplit(url).scheme in ("http", "https", "ws", "wss", "ftp")


def remote_loads(html: str) -> list[str]:
    """``"tag url"`` for everything ``html`` would load from another host."""
    parser = _Loads()
    parser.feed(html)
    found = [f"{tag} {url}" for tag, url in parser.urls if is_remote(url)]
    # CSS inside the page: @import and url(...) of fonts and images.
    found += [f"style {m}" for m in re.findall(r"""(?:@import\s+|url\()\s*["']?((?:https?:)?//[^"')\s]+)""", html)]
    return found


def scan_site(site: Path) -> dict[str, list[str]]:
    """Every HTML page of ``site`` that loads something from another host, with what it loads."""
    problems = {}
    for page in sorted(site.rglob("*.html")):
        found = remote_loads(page.read_text(encoding="utf-8", errors="replace"))
        if found:
            problems[page.relative_to(site).as_posix()] = found
    return problems


# ----- 2. four pages in Chromium --------------------------------------------------------------------


@dataclass
class PageReport:
    """What the browser saw on one page."""

    name: str
    url: str
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    def line(self) -> str:
        verdict = "ok" if not self.problems else f"{len(self.problems)} problem(s)"
        text = f"{self.name:17s} {verdict}: {'; '.join(self.facts)}"
        if self.screenshot:
            text += f"\n{'':17s} screenshot {self.screenshot}"
        return text + "".join(f"\n{'':17s} PROBLEM {p}" for p in self.problems)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@contextlib.contextmanager
def serve(site: Path) -> Iterator[str]:
    """Serve ``site`` on a free loopback port for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


IMAGES_JS = """(root) => Array.from((root || document).querySelectorAll('img')).map(img => ({
    src: img.currentSrc.slice(0, 80), complete: img.complete, width: img.naturalWidth}))"""
MATHJAX_JS = """() => new Promise(resolve => {
    if (!window.MathJax || !window.MathJax.Hub) { resolve(null); return; }
    MathJax.Hub.Queue(() => resolve({
        typeset: document.querySelectorAll('.MathJax, .MathJax_Display, .MathJax_CHTML').length,
        errors: document.querySelectorAll('.MathJax_Error, merror').length,
        raw: document.querySelectorAll('.arithmatex').length}));
})"""


def _check_images(report: PageReport, images: list[dict[str, Any]], at_least: int, what: str) -> None:
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    report.facts.append(f"{len(images)} {what} loaded" if not broken else f"{len(images)} {what}")
    if broken:
        report.problems.append(f"{len(broken)} image(s) did not load: {broken[:3]}")
    if len(images) < at_least:
        report.problems.append(f"expected at least {at_least} {what}, found {len(images)}")


def _check_math(report: PageReport, page: Any, required: bool) -> None:
    math = page.evaluate(MATHJAX_JS)
    if math is None:
        if required:
            report.problems.append("MathJax did not load")
        return
    report.facts.append(f"{math['typeset']} formulas typeset")
    if math["errors"]:
        report.problems.append(f"{math['errors']} formula(s) failed to typeset")
    if required and math["typeset"] == 0:
        report.problems.append("no formula was typeset")


def check_page(page: Any, report: PageReport, kind: str, out: Path) -> None:
    """Open ``report.url`` in ``page`` and check what ``kind`` of page it is."""
    response = page.goto(report.url, wait_until="load", timeout=TIMEOUT_MS)
    if response is None or response.status != 200:
        report.problems.append(f"the page answered {response.status if response else 'nothing'}")
        return
    title = page.title()
    report.facts.append(f"title {title!r}")
    target = page
    if kind == "home":
        _check_images(report, page.evaluate(IMAGES_JS), 0, "images")
        if not page.locator("nav.md-nav").count():
            report.problems.append("no navigation")
        _check_math(report, page, required=False)
    elif kind == "tutorial":
        figures = page.evaluate(IMAGES_JS.replace("(root || document)", "document.querySelector('.jupyter-wrapper')"))
        _check_images(report, figures, 1, "notebook figures")
        _check_math(report, page, required=True)
        target = page.locator(".jupyter-wrapper img").first
    elif kind == "api":
        if not page.locator("[id='optimizers.adam.Adam']").count():
            report.problems.append("no entry for optimizers.adam.Adam")
        links = page.locator("a.autorefs-internal").count()
        report.facts.append(f"{links} cross-reference links")
        _check_images(report, page.evaluate(IMAGES_JS), 0, "images")
        _check_math(report, page, required=False)
    elif kind == "animation":
        _check_animation(page, report)
        target = page.locator("iframe.saddle-animation")
    with contextlib.suppress(Exception):
        target.scroll_into_view_if_needed(timeout=5_000)
    # Scrolling starts the theme's header transition (site name -> page title, ~250 ms): let it finish
    # so the screenshot shows what a reader sees, not two titles crossing.
    page.wait_for_timeout(600)
    report.screenshot = out / f"{report.name}.png"
    page.screenshot(path=str(report.screenshot))


def _check_animation(page: Any, report: PageReport) -> None:
    """The saddle page's own figure, and its animation: loaded, and one click on "Next frame" advances it."""
    _check_images(report, page.evaluate(IMAGES_JS), 1, "page figures")
    frame = page.frame_locator("iframe.saddle-animation")
    image, slider = frame.locator("img[id^='_anim_img']"), frame.locator("input.anim-slider")
    image.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        """() => { const f = document.querySelector('iframe.saddle-animation');
                   const img = f && f.contentDocument && f.contentDocument.querySelector("img[id^='_anim_img']");
                   return img && img.complete && img.naturalWidth > 0; }""",
        timeout=TIMEOUT_MS,
    )
    frames = int(slider.get_attribute("max") or 0) + 1
    before = (slider.input_value(), image.get_attribute("src"))
    frame.locator("button[title='Next frame']").click()
    after = (slider.input_value(), image.get_attribute("src"))
    width = image.evaluate("img => img.naturalWidth")
    report.facts.append(f"animation of {frames} frames, {width} px wide; Next frame: slider {before[0]} -> {after[0]}")
    if frames < 2:
        report.problems.append(f"the animation has {frames} frame(s)")
    if not width:
        report.problems.append("the animation's frame did not load")
    if after[0] != str(int(before[0]) + 1) or after[1] == before[1]:
        report.problems.append("'Next frame' did not advance the animation by one frame")


def _refuse_remote(report: PageReport) -> Any:
    """A route handler for Playwright: requests to the loopback server go on, any other is refused and reported."""

    def handle(route: Any, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            report.problems.append(f"request to another host refused: {request.url}")
            route.abort()
        else:
            route.continue_()

    return handle


def browse(site: Path, out: Path, chromium: str) -> list[PageReport]:
    """Open :data:`PAGES` in headless Chromium, refusing every request that is not to the loopback server."""
    from playwright.sync_api import sync_playwright

    reports = []
    with serve(site) as base, sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS),
            viewport={"width": 1280, "height": 900},
        )
        try:
            for name, path, kind in PAGES:
                report = PageReport(name, base + path)
                page = context.new_page()
                page.route("**/*", _refuse_remote(report))
                page.on("console", lambda m, r=report: m.type == "error" and r.problems.append(f"console: {m.text}"))
                page.on("pageerror", lambda e, r=report: r.problems.append(f"uncaught: {e}"))
                page.on("requestfailed", lambda q, r=report: r.problems.append(f"request failed: {q.url}"))
                page.on("response", lambda s, r=report: s.status >= 400 and r.problems.append(f"{s.status}: {s.url}"))
                try:
                    check_page(page, report, kind, out)
                except Exception as err:  # a timeout or a missing element: the page fails, the others still run
                    report.problems.append(f"{type(err).__name__}: {str(err).splitlines()[0]}")
                finally:
                    page.close()
                reports.append(report)
        finally:
            context.close()
    return reports


def main(argv: list[str] | None = None) -> int:
    """Run both checks; print one line per page and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "build" / "site", help="the built site (mkdocs build)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site-check", help="where screenshots go")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium executable")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"check_site: no built site at {args.site} (run mkdocs build first)", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"check_site: no Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)

    remote = scan_site(args.site)
    pages = len(list(args.site.rglob("*.html")))
    print(f"static: {pages} HTML pages, {len(remote)} loading from other hosts")
    for page, found in remote.items():
        print(f"  {page}: {', '.join(found[:3])}")
    reports = browse(args.site, args.out, args.chromium)
    for report in reports:
        print(report.line())
    failed = [r.name for r in reports if r.problems]
    print(f"site check: {len(reports)} pages in Chromium, {len(failed)} with problems"
          + (f" ({', '.join(failed)})" if failed else "") + f"; screenshots in {args.out}")
    return 1 if failed or remote else 0


if __name__ == "__main__":
    sys.exit(main())
