"""The built book in a real headless browser (Debian's chromium; ``scripts/install_browser.sh`` installs it).

The book is built here as ``make html`` builds it (stored outputs, warnings are errors), into a temporary
folder. Then chromium opens every page of the table of contents and, through the DevTools protocol over a
pipe (no extra Python package), reports what a reader would see: the page loaded, every image decoded
(``naturalWidth > 0``), at least one image per figure the notebook holds, no error output, and, on
chapter pages, the Colab launch link to the notebook on GitHub.
"""

import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


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
CHAPTERS = [p for p in PAGES if re.fullmatch(r"book/\d\d_\w+", p)]


class Chromium:
    """Headless chromium driven through the DevTools protocol over ``--remote-debugging-pipe``."""

    FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe")  # fmt: skip

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
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, session: str, expression: str):
        return self.send("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> tuple[str, str]:
        """Open ``url`` in a new tab and wait until it and all its images have loaded."""
        target = self.send("Target.createTarget", url=url)["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        loaded = (  # a new tab starts on about:blank, which is 'complete' at once: wait for the page itself
            f"location.href === {json.dumps(url)} && document.readyState === 'complete'"
            " && [...document.images].every(i => i.complete)"
        )
        deadline = time.monotonic() + timeout
        while not self.evaluate(session, loaded):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in {timeout} s")
            time.sleep(0.1)
        return target, session

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


PAGE_REPORT = """JSON.stringify({
  title: document.title,
  headings: document.querySelectorAll('article.bd-article h1').length,
  images: [...document.images].map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
  errors: document.querySelectorAll('.output.error, .output.traceback, .output.stderr .traceback').length,
  tracebacks: document.body.innerText.includes('Traceback (most recent call last)'),
  colab: [...document.querySelectorAll('a[href^="https://colab.research.google.com/"]')].map(a => a.href),
})"""


def page_report(browser: Chromium, url: str) -> dict:
    target, session = browser.open(url)
    report = json.loads(browser.evaluate(session, PAGE_REPORT))
    browser.send("Target.closeTarget", targetId=target)
    return report


def figures_in(notebook: Path) -> int:
    cells = nbformat.read(notebook, as_version=4).cells
    return sum("image/png" in out.get("data", {}) for cell in cells if cell.cell_type == "code" for out in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_shows_its_figures_and_has_no_error_output(page, html, browser):
    path = html / f"{page}.html"
    assert path.is_file(), f"{page}.html was not built"
    report = page_report(browser, path.as_uri())
    assert report["title"] and report["headings"] == 1, report
    broken = [i["src"] for i in report["images"] if i["width"] == 0]
    assert not broken, f"images that did not load: {broken}"
    assert report["errors"] == 0 and not report["tracebacks"], f"{page} shows an error output"
    if page in CHAPTERS:
        notebook = ROOT / f"{page}.ipynb"
        figures = figures_in(notebook)
        assert figures >= 1, f"{page} has no figure (were its outputs committed?)"
        assert len(report["images"]) >= figures, f"{page}: {figures} figures in the notebook, fewer images shown"
        repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
        colab = f"https://colab.research.google.com/github/{repo}/blob/{CONFIG['repository']['branch']}/{page}.ipynb"
        assert colab in report["colab"], f"no Colab launch link to {colab}: {report['colab']}"


def test_the_table_of_contents_lists_the_chapters_in_order():
    assert PAGES[0] == "book/intro" and CHAPTERS == sorted(CHAPTERS) and CHAPTERS
    for page in PAGES:
        assert any((ROOT / f"{page}{ext}").is_file() for ext in (".md", ".ipynb")), page


@pytest.mark.slow
def test_the_checks_see_a_broken_image_and_an_error_output(browser, tmp_path):
    (tmp_path / "ok.png").write_bytes(base64.b64decode(PIXEL))
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><head><title>t</title></head><body><article class="bd-article"><h1>T</h1>'
        '<img src="ok.png"><img src="missing.png"><div class="cell_output"><div class="output traceback">'
        "<pre>Traceback (most recent call last):</pre></div></div></article></body></html>"
    )
    report = page_report(browser, page.as_uri())
    assert [i["width"] for i in report["images"]] == [1, 0]
    assert report["errors"] == 1 and report["tracebacks"] and report["headings"] == 1


PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
