"""The built book as a reader sees it, offline, in a real headless browser (Debian's chromium;
``scripts/install_browser.sh`` installs it).

The book is built here as ``make html`` builds it (stored outputs, warnings are errors, the JavaScript
vendored from npm by ``scripts/vendor_js.sh``), into a temporary folder. Then chromium, with every host name
unresolvable and every proxy connection refused (so nothing can come from the network), opens every page of
the table of contents at a desktop width and reports, through the DevTools protocol over a pipe (no extra
Python package), what a reader would see:

* the page loaded, with one title, and requested nothing from the network: every script, style, font and
  image is a local file;
* every image decoded, and every figure is drawn at least :data:`MIN_FIGURE_SCALE` of its natural width
  (figures are drawn at 100 dpi with 9 pt or larger text, so their text renders at 9 px or more);
* tables are HTML tables: no raw Markdown pipe table (``| --- |``) in the text, and a table wider than the
  column scrolls inside it;
* the math is typeset: MathJax ran, left no TeX error and no raw ``\\(``, ``\\[`` or ``$$`` in the text;
* every "chapter N" in the prose is a link;
* no code box or printed output is cut off at its edge, and no line of code wraps in a code box;
* no cell shows an error or a traceback; saved widgets (progress bars) are drawn, and not hidden;
* chapter pages have at least one image per figure their notebook holds, and the Colab launch link.

A full-page screenshot of every page is saved to ``_build/screenshots/<page>.png`` and the measurements to
``_build/screenshots/pages.json`` (figures, tables, smallest figure scale and text size per page).
"""

import base64
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
SCREENSHOTS = ROOT / "_build" / "screenshots"
VIEWPORT = (1280, 900)  # a laptop browser window; the book theme's text column is then about 700 px wide
MIN_FIGURE_SCALE = 0.72  # 9 pt at 100 dpi is 12.5 px; drawn at ≥ 0.72 of its size it stays ≥ 9 px


def toc_files(node=None) -> list[str]:
    """Every document in _toc.yml, in order (``book/intro``, ``book/01_kd_basics``, …)."""
    node = yaml.safe_load((ROOT / "_toc.yml").read_text()) if node is None else node
    found = []
    if isinstance(node, dict):
        for key in ("root", "file"):
            if key in node:
                found.append(node[key])
        for value in node.values():
            if isinstance(value, (list, dict)):
                found += toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += toc_files(item)
    return found


PAGES = toc_files()
CHAPTERS = [p for p in PAGES if re.fullmatch(r"book/(results/gpu/)?\d\d_\w+", p)]  # with "At CNN scale"


class Chromium:
    """Headless chromium driven through the DevTools protocol over ``--remote-debugging-pipe``.

    The network is cut off inside the browser: no host name resolves and every proxied connection goes to a
    closed local port, so a page that needs a CDN shows what an offline reader sees (and the test sees the
    attempt in the page's network events).
    """

    FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
             "--proxy-bypass-list=<-loopback>", "--hide-scrollbars", "--force-device-scale-factor=1",
             f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--remote-debugging-pipe")  # fmt: skip

    def __init__(self, binary: str, profile: Path):
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def pipes_on_3_and_4():  # chromium reads commands on fd 3 and writes replies to fd 4
            # 3 and 4 are taken (by these pipes or other files), so dup() lands elsewhere and dup2 is safe
            reads, writes = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        self.process = subprocess.Popen(
            [binary, *self.FLAGS, f"--user-data-dir={profile}", "about:blank"], pass_fds=(3, 4),
            preexec_fn=pipes_on_3_and_4, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._id = b"", 0
        self.events: list[dict] = []  # protocol events (network requests, console) of attached pages

    def send(self, method: str, session: str | None = None, timeout: float = 60, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                if not select.select([self._read], [], [], max(0, deadline - time.monotonic()))[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise EOFError(f"chromium exited during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if "method" in reply and "id" not in reply:
                self.events.append(reply)
            elif reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, session: str, expression: str, timeout: float = 60):
        """The value of a JavaScript expression in the page; a promise is awaited."""
        result = self.send("Runtime.evaluate", session, timeout=timeout, expression=expression, returnByValue=True,
                           awaitPromise=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> tuple[str, str]:
        """Open ``url`` in a new tab, recording its network requests, and wait until it and its images loaded."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Network.enable", session)
        self.send("Emulation.setDeviceMetricsOverride", session, width=VIEWPORT[0], height=VIEWPORT[1],
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        self.send("Page.navigate", session, url=url)
        loaded = (
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
            " && [...document.images].every(i => i.complete)"
        )
        deadline = time.monotonic() + timeout
        while not self.evaluate(session, loaded):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            time.sleep(0.1)
        return target, session

    def requests(self, session: str) -> list[str]:
        """The URLs the page at ``session`` requested so far."""
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("sessionId") == session and e["method"] == "Network.requestWillBeSent"]  # fmt: skip

    def screenshot(self, session: str, path: Path) -> None:
        """A full-page PNG of the page (the whole scroll height, at the viewport's width)."""
        height = min(int(self.send("Page.getLayoutMetrics", session)["cssContentSize"]["height"]), 30000)
        # a window as tall as the page (capturing beyond the viewport mis-places scrolled boxes)
        self.send("Emulation.setDeviceMetricsOverride", session, width=VIEWPORT[0], height=height,
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        shot = self.send("Page.captureScreenshot", session, timeout=120, format="png")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close_tab(self, target: str, session: str) -> None:
        self.send("Target.closeTarget", targetId=target)
        self.events = [e for e in self.events if e.get("sessionId") != session]

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, TimeoutError, EOFError, RuntimeError):
            self.process.kill()
        self.process.wait(timeout=30)
        os.close(self._write)
        os.close(self._read)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The book built as `make html` builds it; KDCORE_HTML_DIR=_build/html reuses a build (while developing)."""
    if os.environ.get("KDCORE_HTML_DIR"):
        return Path(os.environ["KDCORE_HTML_DIR"]).resolve()
    vendored = subprocess.run(["bash", str(ROOT / "scripts" / "vendor_js.sh")], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)  # fmt: skip
    assert vendored.returncode == 0, f"scripts/vendor_js.sh failed:\n{vendored.stdout}\n{vendored.stderr}"
    out = tmp_path_factory.mktemp("book")
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--all", "-W", "-n",
               "--keep-going", "--path-output", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"the book build failed or warned:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if binary is None:
        pytest.fail("no chromium found: run `bash scripts/install_browser.sh` (make test does)")
    chromium = Chromium(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


# Everything the checks need from a page, measured in the page once MathJax has typeset it and the saved
# widgets have been drawn (or a few seconds have passed).
PAGE_REPORT = r"""(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const drawn = () => document.querySelectorAll('.jupyter-widgets, .widget-subarea > *').length;
  for (let i = 0; views && !drawn() && i < 50; i++) await sleep(100);

  const article = document.querySelector('article.bd-article') || document.body;
  const column = article.getBoundingClientRect();
  // the text of the page outside the elements matching `skip`, one string per text node
  const texts = skip => {
    const out = [], walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode())
      if (!n.parentElement.closest(skip)) out.push(n);
    return out;
  };
  const code = 'script, style, pre, code, .cell_input, mjx-container, mjx-assistive-mml';

  const rawTables = texts('script, style, .cell_input').map(n => n.textContent)
    .filter(t => /\|\s*:?-{3,}:?\s*(\||$)/m.test(t)).map(t => t.trim().slice(0, 80));
  // TeX that MathJax never saw, in the text of each block (a paragraph, list item, cell…) outside code and
  // typeset math: delimiters, or a $ next to a TeX command or a sub/superscript. Text nodes are joined per
  // block because a broken formula ($$ in a list item, a line starting with +) is split by the math around it.
  const blocks = new Map();
  for (const n of texts(code)) {
    const block = n.parentElement.closest('p, li, dt, dd, td, th, h1, h2, h3, h4, h5, h6, caption, figcaption') || n;
    blocks.set(block, (blocks.get(block) || '') + n.textContent);
  }
  const tex = new RegExp([/\\\(|\\\)|\\\[|\\\]|\$\$|\\begin\{/, /\$[^$\s][^$]{0,80}?(\\[a-zA-Z]+|[_^]\{)/,
                          /(\\[a-zA-Z]+|[_^]\{)[^$\s]{0,40}\$/].map(r => r.source).join('|'));
  const rawMath = [...blocks.values()].map(t => t.match(tex)).filter(m => m)
    .map(m => m.input.slice(Math.max(0, m.index - 30), m.index + 50).trim());
  const unlinked = [];
  // the prose: a label inside a results table or a printed output ("chapter 1's teacher") is data, not a
  // reference, and a page's title ("Chapter 1 at CNN scale: …") names the page itself
  for (const n of texts(code + ', .cell_output, table, h1')) {
    for (const m of n.textContent.matchAll(/\bchapters?\s+\d+/gi))
      if (!n.parentElement.closest('a')) unlinked.push(m[0]);
  }

  const images = [...article.querySelectorAll('img')].map(i => {
    const r = i.getBoundingClientRect();
    return {src: i.getAttribute('src'), alt: i.getAttribute('alt') || '', natural: i.naturalWidth, shown: r.width,
            visible: r.width > 0 && r.height > 0};
  });
  // a table wider than the column scrolls inside it (kdcore.css): its last columns are hidden until the reader
  // scrolls, so the page reports each one by its caption (or first header); one in a closed dropdown (a
  // run's parameters) is read by a reader who opened it to look things up, and may scroll
  const scroller = t => {
    for (let e = t.parentElement; e && e !== article; e = e.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) return e;
    return null;
  };
  const scrolling = [...article.querySelectorAll('table')]
    .filter(t => {
      const box = scroller(t);
      return box && !t.closest('details:not([open])') && box.scrollWidth > box.clientWidth + 1;
    })
    .map(t => (t.closest('figure.kdcore-numbered')?.querySelector('figcaption') || t.querySelector('caption')
               || t.querySelector('th') || t).textContent.trim().slice(0, 60));
  // a kdcore.report table is numbered with its caption above it (_ext/numbered_tables.py), as a figure is;
  // one folded behind a button (a run's parameters) is looked up there, not cited, and needs no number
  const unnumbered = [...article.querySelectorAll('.kdcore-table table')]
    .filter(t => !t.closest('figure.kdcore-numbered') && !t.closest('details'))
    .map(t => (t.querySelector('caption') || t.querySelector('th') || t).textContent.trim().slice(0, 60));
  const overflowing = [...article.querySelectorAll('table')]
    .filter(t => t.getBoundingClientRect().right > column.right + 1 && !scroller(t)).length;
  // code (cell inputs, code blocks in the prose) must show every character: no box scrolls sideways;
  // lines longer than the box wraps (kdcore.css) are counted, and so are outputs cut at the box's edge
  const codeBoxes = [...article.querySelectorAll('div[class*="highlight-"]:not(.output) pre')];
  const cutCode = codeBoxes.filter(p => p.scrollWidth > p.clientWidth + 1).length;
  const wrappedLines = [];
  // a folded cell (hide-input: a closed <details>) shows its code only once opened: its lines are not counted
  for (const p of codeBoxes.filter(p => p.getClientRects().length && !p.closest('details:not([open])'))) {
    const probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    probe.style.whiteSpace = 'pre';
    p.appendChild(probe);
    const style = getComputedStyle(p), charWidth = probe.getBoundingClientRect().width / 100;
    probe.remove();
    const inner = p.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const fits = Math.floor(inner / charWidth);
    wrappedLines.push(...p.textContent.split('\n').filter(line => line.length > fits));
  }
  const cutOutputs = [...article.querySelectorAll('.cell_output pre')]
    .filter(p => p.scrollWidth > p.clientWidth + 1).length;
  let minText = Infinity;
  for (const n of texts('script, style, mjx-container, mjx-assistive-mml'))
    if (n.textContent.trim() && n.parentElement.getClientRects().length)
      minText = Math.min(minText, parseFloat(getComputedStyle(n.parentElement).fontSize));
  // a value glued from the run ({glue:text}) whose words are underlined with its numbers: it reads as a link
  const underlinedWhole = [...article.querySelectorAll('span.pasted-text')]
    .filter(e => /[A-Za-z]{2}/.test(e.textContent) && getComputedStyle(e).textDecorationLine.includes('underline'))
    .map(e => e.textContent.trim().slice(0, 60));
  const outputText = [...article.querySelectorAll('.cell_output')].map(o => o.textContent).join('\n');
  const external = [...document.querySelectorAll('script[src], link[href], img[src], iframe[src]')]
    .filter(e => !(e.tagName === 'LINK' && /\b(next|prev|index|search|canonical|alternate)\b/.test(e.rel)))
    .map(e => e.getAttribute('src') || e.getAttribute('href')).filter(u => /^(https?:)?\/\//.test(u));

  return JSON.stringify({
    title: document.title,
    headings: article.querySelectorAll('h1').length,
    // the chapter's number in its title ("4. " on chapter 4) and its figures' ("Fig. 4.1"), as numbered by Sphinx
    titleNumber: (article.querySelector('h1 .section-number') || {textContent: ''}).textContent.trim(),
    figureNumbers: [...article.querySelectorAll('.caption-number')].map(e => e.textContent.trim()),
    column: column.width,
    images, overflowing, scrolling, unnumbered, cutCode, wrappedLines, cutOutputs, external, rawTables, rawMath,
    unlinked,
    underlinedWhole,
    minText: minText === Infinity ? null : minText,
    tables: article.querySelectorAll('table').length,
    mathSources: article.querySelectorAll('.math').length,
    mathTypeset: article.querySelectorAll('mjx-container').length,
    mathErrors: article.querySelectorAll('mjx-merror').length,
    mathjax: !!(window.MathJax && MathJax.startup),
    widgetViews: views, widgetsDrawn: drawn(),
    // tqdm hides a bar it closes with leave=False: the saved page then shows an empty gap in its place
    widgetsHidden: document.querySelectorAll('.widget-subarea > [style*="visibility: hidden"]').length,
    errors: article.querySelectorAll('.output.error, .output.traceback, .output.stderr .traceback').length,
    tracebacks: article.innerText.includes('Traceback (most recent call last)')
      || /^\s*\w*(Error|Exception): /m.test(outputText),
    colab: [...document.querySelectorAll('a[href^="https://colab.research.google.com/"]')].map(a => a.href),
  });
})()"""


def page_report(browser: Chromium, url: str, screenshot: Path | None = None) -> dict:
    target, session = browser.open(url)
    report = json.loads(browser.evaluate(session, PAGE_REPORT))
    report["requests"] = [u for u in browser.requests(session) if not re.match(r"(file|data|blob|about):", u)]
    if screenshot is not None:
        browser.screenshot(session, screenshot)
    browser.close_tab(target, session)
    return report


def problems(report: dict) -> list[str]:
    """What a reader would see wrong on a page, one sentence each (empty: nothing)."""
    found = []
    if not report["title"] or report["headings"] != 1:
        found.append(f"{report['headings']} h1 headings (one title expected)")
    if report["requests"] or report["external"]:
        found.append(f"needs the network: {sorted(set(report['requests'] + report['external']))[:5]}")
    broken = [i["src"] for i in report["images"] if i["natural"] == 0]
    if broken:
        found.append(f"images that did not load: {broken}")
    small = [f"{i['src']} at {i['shown'] / i['natural']:.2f}" for i in report["images"]
             if i["visible"] and i["natural"] and i["shown"] / i["natural"] < MIN_FIGURE_SCALE]  # fmt: skip
    if small:
        found.append(f"figures shrunk below {MIN_FIGURE_SCALE} of their size, so their text is under 9 px: {small}")
    # a screen reader reads the alt text aloud: a file's path says nothing (_ext/figure_alt.py gives the caption's)
    pathlike = [i["src"] for i in report["images"] if not i["alt"] or i["alt"] == i["src"] or i["alt"].endswith(".png")]
    if pathlike:
        found.append(f"figures whose alt text is empty or their file's path: {pathlike[:3]}")
    if report["rawTables"]:
        found.append(f"raw Markdown tables in the text: {report['rawTables'][:3]}")
    if report["overflowing"]:
        found.append(f"{report['overflowing']} table(s) wider than the column and not scrollable")
    if report["scrolling"]:
        found.append(
            f"table(s) wider than the column, whose last columns the reader must scroll to: {report['scrolling']}"
        )
    if report["unnumbered"]:
        found.append(f"tables without a number and caption (give report.table a caption): {report['unnumbered']}")
    if report["mathSources"] and (not report["mathjax"] or report["mathTypeset"] < report["mathSources"]):
        found.append(f"math not typeset: {report['mathTypeset']} of {report['mathSources']} formulas (MathJax "
                     f"{'ran' if report['mathjax'] else 'did not load'})")  # fmt: skip
    if report["mathErrors"]:
        found.append(f"{report['mathErrors']} TeX error(s) in the typeset math")
    if report["rawMath"]:
        found.append(f"raw TeX in the text: {report['rawMath'][:3]}")
    if report["unlinked"]:
        found.append(f"chapter mentions that are not links: {report['unlinked']}")
    if report["underlinedWhole"]:
        found.append(f"glued words underlined with their numbers (glued_numbers.py): {report['underlinedWhole'][:3]}")
    if report["errors"] or report["tracebacks"]:
        found.append("an error output or traceback")
    if report["wrappedLines"]:
        found.append(f"{len(report['wrappedLines'])} code line(s) wrap in the code column (a line of at most 80 "
                     f"characters does not; tests/test_code_width.py): {report['wrappedLines'][:3]}")  # fmt: skip
    if report["cutOutputs"]:
        found.append(f"{report['cutOutputs']} printed output(s) wider than the column (the reader scrolls sideways)")
    if report["cutCode"]:
        found.append(f"{report['cutCode']} code box(es) cut off at the edge (scrolling sideways)")
    if report["widgetsHidden"]:
        found.append(f"{report['widgetsHidden']} saved widget(s) drawn hidden: an empty gap on the page")
    if report["widgetViews"] and not report["widgetsDrawn"]:
        found.append(f"{report['widgetViews']} saved widget(s) not drawn (widget JavaScript missing?)")
    return found


def numbered_as(chapter: int, report: dict) -> bool:
    """Whether a page is numbered as chapter ``chapter``: "4." before its title, figures "Fig. 4.1", "Fig. 4.2" …
    (a reader of chapter 4 looks for its first figure under 4.1, not under the book-wide count)."""
    pattern = rf"(Fig\.|Table) {chapter}\.\d+"
    return report["titleNumber"] == f"{chapter}." and all(re.fullmatch(pattern, f) for f in report["figureNumbers"])


def figures_in(notebook: Path) -> int:
    cells = nbformat.read(notebook, as_version=4).cells
    return sum("image/png" in out.get("data", {}) for cell in cells if cell.cell_type == "code" for out in cell.outputs)


MEASURED: dict[str, dict] = {}


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_as_a_reader_sees_it(page, html, browser):
    path = html / f"{page}.html"
    assert path.is_file(), f"{page}.html was not built"
    shot = SCREENSHOTS / f"{page.removeprefix('book/').replace('/', '_')}.png"  # results/gpu/01_… ≠ 01_…
    report = page_report(browser, path.as_uri(), shot)
    shown = [i for i in report["images"] if i["visible"] and i["natural"]]
    MEASURED[page] = {
        "figures": len(report["images"]), "tables": report["tables"], "formulas": report["mathTypeset"],
        "min_figure_scale": round(min((i["shown"] / i["natural"] for i in shown), default=1.0), 3),
        # 9 pt at 100 dpi (the smallest text figures.STYLE draws) is 12.5 px, times the figure's scale
        "min_figure_text_px": round(12.5 * min((i["shown"] / i["natural"] for i in shown), default=1.0), 1),
        "min_text_px": report["minText"], "code_lines_wrapped": len(report["wrappedLines"]),
        "outputs_cut": report["cutOutputs"], "tables_scrolling": report["scrolling"], "column_px": report["column"],
        "screenshot": str(shot),
    }  # fmt: skip
    (SCREENSHOTS / "pages.json").write_text(json.dumps(MEASURED, indent=1))
    found = problems(report)
    if "# fmt:" in path.read_text():  # _ext/strip_fmt.py: the formatter's directives are not for the reader
        found.append("a code cell shows a '# fmt:' directive")
    if page in CHAPTERS:
        figures = figures_in(ROOT / f"{page}.ipynb")
        if figures < 1:
            found.append("no figure (were its outputs committed?)")
        if len(report["images"]) < figures:
            found.append(f"{figures} figures in the notebook, {len(report['images'])} images shown")
        number = re.match(r"book/(\d\d)_", page)
        copies = [p for p in CHAPTERS if p.startswith("book/results/gpu/")]  # numbered on after the chapters
        if page in copies:
            number = [None, str(len(CHAPTERS) - len(copies) + 1 + copies.index(page))]
        if number and not numbered_as(int(number[1]), report):
            found.append(f"not numbered as chapter {int(number[1])} (numbered: 1 in _toc.yml): "
                         f"title {report['titleNumber']!r}, figures {report['figureNumbers']}")  # fmt: skip
        repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
        colab = f"https://colab.research.google.com/github/{repo}/blob/{CONFIG['repository']['branch']}/{page}.ipynb"
        if colab not in report["colab"]:
            found.append(f"no Colab launch link to {colab}: {report['colab']}")
    assert not found, f"{page} (screenshot {MEASURED[page]['screenshot']}):\n- " + "\n- ".join(found)


def test_the_html_drops_ruffs_directives_and_nothing_else():
    sys.path.insert(0, str(ROOT / "_ext"))
    from strip_fmt import strip_directives

    code = "x = f(a,  b)  # fmt: skip\n# fmt: off\ny = 1  # why: one line\n# fmt: on\nz = '# fmt: skip'\n"
    assert strip_directives(code) == "x = f(a,  b)\ny = 1  # why: one line\nz = '# fmt: skip'\n"
    assert "strip_fmt" in CONFIG["sphinx"]["local_extensions"]


def test_a_number_and_its_unit_stay_on_one_line():
    """ "70 %" and "+0.26 pp" must not break before the unit; "ppm", a lone "%" sign and code are left alone."""
    sys.path.insert(0, str(ROOT / "_ext"))
    from nbsp_units import keep_units

    nbsp = "\u00a0"
    assert keep_units("at 70 % sparsity, +0.26 pp.") == f"at 70{nbsp}% sparsity, +0.26{nbsp}pp."
    assert keep_units(" % of its training images") == f"{nbsp}% of its training images"  # after a glued number
    assert keep_units("5 ppm and the % sign") == "5 ppm and the % sign"
    assert "nbsp_units" in CONFIG["sphinx"]["local_extensions"]


def test_a_glued_value_is_underlined_at_its_numbers_only():
    """A glued value splits into its numbers (underlined) and the words between them (plain), which join
    back to the value. A hyphen that starts a glued number becomes a minus sign, as in kdcore.report's
    tables; a model's name keeps its own."""
    sys.path.insert(0, str(ROOT / "_ext"))
    from glued_numbers import split_numbers

    from kdcore.report import minus_signs

    text = minus_signs("Nor did the mlp-512 (+0.33 and -0.54\u00a0pp of 5,000 labels, 99.8 % CI, ±2.1, 1e-3): no.")
    assert "(+0.33 and \u22120.54\u00a0pp" in text and "mlp-512" in text and "1e-3" in text
    pieces = split_numbers(text)
    assert "".join(piece for piece, _ in pieces) == text
    assert [piece for piece, number in pieces if number] == ["+0.33", "\u22120.54", "5,000", "99.8", "±2.1", "1"]
    assert split_numbers("lower beyond noise") == [("lower beyond noise", False)]
    assert split_numbers("0.26") == [("0.26", True)]
    assert "glued_numbers" in CONFIG["sphinx"]["local_extensions"]


def test_a_figures_alt_text_is_its_caption_read_aloud():
    sys.path.insert(0, str(ROOT / "_ext"))
    from figure_alt import MOST, opening, readable

    caption = "Test accuracy of\nevery student: one dot per seed, in the colours of Fig. 5.3. The bars are 3.5 wide."
    assert opening(caption) == caption.replace("\n", " ").rstrip(".")  # whole sentences, "Fig." inside one
    long = "Left: " + "a word " * 30 + "ends here. Right: " + "more words " * 30 + "end."
    assert opening(long) == long[: long.index(". Right")]  # the sentences that fit
    assert len(opening("word " * 100)) <= MOST and opening("word " * 100).endswith("…")
    assert readable(r"\eta\,\mathrm{CE} + (1-\eta)\,\mathrm{TSD}") == "η CE + (1-η) TSD"  # not TeX spelt out


def test_a_captioned_table_is_found_with_its_name_and_intro():
    """_ext/numbered_tables.py reads kdcore.report.Table's HTML: the intro above, the caption (taken out, to be
    set with its number), the name that labels it, and the table, which stays whole."""
    sys.path.insert(0, str(ROOT / "_ext"))
    from numbered_tables import TABLE

    from kdcore import report

    rows = [{"method": "KD", "acc": "87.1 ± 0.2"}]
    page = report.table(rows, caption="Students <b> & teachers", intro="Read it so.", name="tab-students")
    match = TABLE.fullmatch(page._repr_html_())
    assert match["before"] == "<p>Read it so.</p>" and match["name"] == "tab-students"
    assert match["caption"] == "Students &lt;b&gt; &amp; teachers"
    whole = match["open"] + match["after"]
    assert whole.startswith('<div class="kdcore-table"') and whole.endswith("</table></div>")
    assert "<caption>" not in whole and "<td>87.1 ± 0.2</td>" in whole
    assert TABLE.fullmatch(report.table(rows)._repr_html_()) is None  # no caption: left as it is
    verdicts = report.verdicts([], title="Verdicts")
    assert verdicts._repr_html_() == ""  # no comparisons, no table to number
    assert "numbered_tables" in CONFIG["sphinx"]["local_extensions"]


def test_the_bibliography_labels_its_entries_as_the_chapters_cite_them():
    sys.path.insert(0, str(ROOT / "_ext"))
    from author_year import author_year
    from pybtex.database import parse_file

    entries = parse_file(ROOT / "book" / "references.bib").entries
    labels = {key: author_year(entry) for key, entry in entries.items()}
    assert labels["hinton2015distilling"] == "Hinton et al., 2015"
    assert labels["cho2019efficacy"] == "Cho and Hariharan, 2019"
    assert len(set(labels.values())) == len(labels), "two entries would share a label"
    assert ":style: authoryear" in (ROOT / "book" / "bibliography.md").read_text()


def test_the_table_of_contents_lists_the_chapters_in_order():
    assert PAGES[0] == "book/intro" and CHAPTERS == sorted(CHAPTERS) and CHAPTERS
    for page in PAGES:
        assert any((ROOT / f"{page}{ext}").is_file() for ext in (".md", ".ipynb")), page


def test_no_static_folder_injects_the_vendored_javascript():
    """Jupyter Book 1 adds every .js and .css under every html_static_path to every page once a `_static`
    folder exists: MathJax's and the widget manager's files would then load on every page, in any order."""
    assert not (ROOT / "_static").exists(), "move _static/ into _assets/ (see _config.yml)"
    paths = CONFIG["sphinx"]["config"]["html_static_path"]
    assert "_vendor" in paths and CONFIG["sphinx"]["config"]["mathjax_path"].startswith("mathjax/")


@pytest.mark.slow
def test_the_checks_see_what_a_reader_would(browser, tmp_path):
    """A page with every fault the checks look for, and a clean one: each fault is reported, nothing else."""
    (tmp_path / "ok.png").write_bytes(png(1, 1))
    (tmp_path / "wide.png").write_bytes(png(2000, 1))
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><head><title>t</title><script src="https://cdn.example.org/x.js"></script></head><body>'
        '<article class="bd-article"><h1>T</h1><img src="ok.png"><img src="missing.png">'
        '<img src="wide.png" style="width:100%"><p>| a | b |\n|---|---|\n| 1 | 2 |</p>'
        '<div style="overflow-x:auto"><table><caption>cut</caption><tr><td><div style="width:3000px">a</div></td></tr>'
        "</table></div>"
        '<p>see chapter 3 and <a href="x">chapter 4</a></p><span class="math">\\(x^2\\)</span>'
        '<div class="cell_output"><div class="output traceback"><pre>Traceback (most recent call last):</pre>'
        "</div></div></article></body></html>"
    )
    found = problems(page_report(browser, bad.as_uri()))
    for expected in ("needs the network", "did not load", "shrunk", "raw Markdown tables", "math not typeset",
                     "raw TeX", "not links: ['chapter 3']", "error output", "scroll to: ['cut']",
                     "alt text is empty"):  # fmt: skip
        assert any(expected in p for p in found), (expected, found)
    assert len(found) == 10, found

    good = tmp_path / "good.html"
    good.write_text(
        '<html><head><title>t</title></head><body><article class="bd-article"><h1>T</h1><img src="ok.png" alt="A dot">'
        '<img src="wide.png" alt="A line" style="width:1500px">'
        '<details><summary>parameters</summary><div style="overflow-x:auto">'
        '<table><tr><td><div style="width:3000px">a</div></td></tr></table></div></details>'
        '<p>see <a href="x">chapter 3</a>, a | b, and $5 or $6</p>'
        '<div class="cell_input"><pre>"| --- |"  # chapter 2</pre></div></article></body></html>'
    )
    assert problems(page_report(browser, good.as_uri())) == []

    # formulas MyST left as text (chapters 7 and 8 had them): $$ inside a list item's paragraph, typeset in pieces
    # with its dollars and TeX between them left over, and a line of a formula that started with "+" (a list)
    for broken in (
        "<li><p>examples:\n$<mjx-container>G</mjx-container><mjx-container> is </mjx-container>"
        "G_{ab} &gt; 0<mjx-container> when </mjx-container>b$.</p></li>",
        "<li><p>KD+KR: $w_{ce}\\,\\mathrm{CE}</p><ul><li><p>\\mathcal{L}_{KR}$, with</p></li></ul></li>",
    ):
        page = tmp_path / "broken.html"
        page.write_text(f'<html><head><title>t</title></head><body><article class="bd-article"><h1>T</h1><ol>'
                        f'{broken}</ol></article></body></html>')  # fmt: skip
        found = problems(page_report(browser, page.as_uri()))
        assert len(found) == 1 and found[0].startswith("raw TeX"), (broken, found)


def png(width: int, height: int) -> bytes:
    """A grey PNG image of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
