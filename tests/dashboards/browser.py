"""Open rendered pages in headless Chromium (Playwright for Python driving Debian's
/usr/bin/chromium; Playwright's own browser download does not work offline) and check
what a person would see: no console errors, no request to any host, every plot drawn,
every link resolving, no horizontal scrolling at 1280x800.

Set-up: `apt-get install -y chromium` (Debian/Ubuntu) and `pip install -e '.[dev]'`
(playwright). Without them the browser tests skip and say so.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags that keep Chromium off the network here (../shared/ENVIRONMENT.md)
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
# Texts of the table cells that keep whole words (`td.words`) but show a line break between
# two characters of one word: two neighbouring non-space characters on different lines.
CUT_WORDS = r"""() => [...document.querySelectorAll('td.words')].filter(td => {
  const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent, range = document.createRange();
    let top = null;
    for (let i = 0; i < text.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect(), here = rect.top;
      if (top !== null && here > top + 1 && /\S/.test(text[i]) && /\S/.test(text[i - 1]))
        return true;
      top = here;
    }
  }
  return false;
}).map(td => td.textContent)"""
PLOTS_DRAWN = """() => [...document.querySelectorAll('figure.plot')].every(f => {
  const svg = f.querySelector('.js-plotly-plot svg.main-svg');
  return svg && svg.getBoundingClientRect().width > 0 &&
         f.querySelectorAll('.trace, .hm, .bars').length > 0;
})"""


def require_browser():
    """The sync Playwright module, or skip with the reason and the fix."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]'")
    return sync_playwright


@dataclass
class PageCheck:
    path: Path
    plots: int
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # non-file URLs
    broken_links: list[str] = field(default_factory=list)
    scroll_width: int = 0
    words_cells: int = 0  # table cells that keep whole words (td.words)
    cut_words: list[str] = field(default_factory=list)  # of those, texts cut inside a word


def _links(page, path: Path) -> list[str]:
    broken = []
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
        url = urlparse(href)
        if url.scheme != "file" or not Path(unquote(url.path)).is_file():
            broken.append(href)
    return broken


def check_pages(pages: list[Path], screenshots: dict[str, Path] | None = None) -> list[PageCheck]:
    """Load each page; `screenshots` maps a page file name to a PNG path to write."""
    sync_playwright = require_browser()
    results = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            current: list[PageCheck] = []
            page.on("console", lambda m: m.type == "error" and current[-1].errors.append(m.text))
            page.on("pageerror", lambda e: current[-1].errors.append(str(e)))

            def route(r):
                if not r.request.url.startswith("file:"):
                    current[-1].requests.append(r.request.url)
                    return r.abort()
                return r.continue_()

            page.route("**/*", route)
            for path in pages:
                current.append(PageCheck(path, 0))
                page.goto(path.resolve().as_uri(), wait_until="load")
                try:
                    page.wait_for_function(PLOTS_DRAWN, timeout=20_000)
                except Exception as exc:  # Playwright's TimeoutError: name the page
                    raise AssertionError(f"{path}: not every plot was drawn ({exc})") from exc
                check = current[-1]
                check.plots = page.eval_on_selector_all("figure.plot", "els => els.length")
                check.broken_links = _links(page, path)
                check.scroll_width = page.evaluate("document.documentElement.scrollWidth")
                check.words_cells = page.eval_on_selector_all("td.words", "els => els.length")
                check.cut_words = page.evaluate(CUT_WORDS)
                if screenshots and path.name in screenshots:
                    screenshots[path.name].parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshots[path.name]))
                results.append(check)
        finally:
            browser.close()
    return results


def assert_pages_ok(results: list[PageCheck]) -> None:
    for r in results:
        assert r.errors == [], f"{r.path.name}: console errors {r.errors}"
        assert r.requests == [], f"{r.path.name}: requests to hosts {r.requests}"
        assert r.broken_links == [], f"{r.path.name}: broken links {r.broken_links}"
        assert r.scroll_width <= VIEWPORT["width"], f"{r.path.name}: scrolls sideways"
        assert r.cut_words == [], f"{r.path.name}: words cut across lines {r.cut_words}"
