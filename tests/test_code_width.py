"""The code a reader of the HTML book sees fits the page's code column without wrapping.

At the book's 1280-pixel width the code column holds 83 characters (13-pixel DejaVu Sans Mono in a 656-pixel
box; tests/test_html.py measures the built pages). Two kinds of code appear there: the cells a chapter shows
(not tagged to hide their input), and the kdcore source those cells display with ``show_source``. Both are
kept to 80 columns: book/ruff.toml formats the notebooks at that width, and kdcore/losses and kdcore/prune
(whose functions the chapters show) have a ruff.toml of their own; the few shown functions elsewhere are
written to fit.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import pytest

from kdcore.chapters import chapter_notebooks

BOOK = Path(__file__).resolve().parent.parent / "book"
WIDTH = 80
HIDDEN = {"remove-input", "remove-cell", "hide-input"}  # tags whose code the HTML does not show open
CHAPTERS = chapter_notebooks(BOOK)


def code_cells(notebook: Path) -> list[dict]:
    return [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]


def shown_objects(notebook: Path) -> list[tuple[str, object]]:
    """``(expression, object)`` for every argument of every ``show_source(...)`` call in the notebook,
    resolved with the notebook's own kdcore imports."""
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell  # %pip and other magics as Python
    sources = [python("".join(c["source"])) for c in code_cells(notebook)]
    namespace: dict = {}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and "kdcore" in ast.unparse(node):
                exec(ast.unparse(node), namespace)
    found = []
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "show_source":
                found += [(ast.unparse(a), eval(ast.unparse(a), namespace)) for a in node.args]
    return found


def code_blocks(markdown: str) -> list[str]:
    """The fenced code blocks of Markdown text (```` ```bash ```` and the like). MyST directives such as
    ```` ```{note} ```` hold prose, not code: the fences are matched as a stack."""
    blocks, stack, lines = [], [], []
    for line in markdown.splitlines():
        fence = re.match(r"\s*`{3,}([^`\s]*)", line)
        if stack and stack[-1] == "code" and not (fence and not fence.group(1)):
            lines.append(line)  # inside a code block everything is code, up to a bare closing fence
        elif fence and (fence.group(1) or not stack or stack[-1] == "code"):
            if not fence.group(1) and stack:  # a bare fence closes the innermost block
                if stack.pop() == "code":
                    blocks.append("\n".join(lines))
            else:
                stack.append("directive" if fence.group(1).startswith("{") else "code")
                lines = []
        elif fence:  # a bare fence inside a directive closes it
            stack.pop()
    return blocks


def too_long(text: str) -> list[str]:
    return [f"({len(line)}) {line}" for line in text.splitlines() if len(line) > WIDTH]


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_kdcore_source_a_chapter_shows_fits_the_page(notebook):
    shown = shown_objects(notebook)
    long = {name: too_long(inspect.getsource(obj)) for name, obj in shown}
    assert not any(long.values()), "\n".join(f"{n}:\n  " + "\n  ".join(lines) for n, lines in long.items() if lines)


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_the_cells_a_chapter_shows_fit_the_page(notebook):
    shown = [c for c in code_cells(notebook) if not HIDDEN & set(c["metadata"].get("tags", []))]
    long = [line for c in shown for line in too_long("".join(c["source"]))]
    assert not long, "\n".join(long)


PAGES = [*CHAPTERS, *sorted(BOOK.glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_code_blocks_in_the_prose_fit_the_page(page):
    if page.suffix == ".ipynb":
        cells = json.loads(page.read_text())["cells"]
        markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        markdown = page.read_text()
    long = [line for block in code_blocks(markdown) for line in too_long(block)]
    assert not long, "\n".join(long)


def test_code_blocks_are_found_and_directives_skipped():
    text = "a\n```bash\nls -l\n```\n```{note}\nnot code\n```\n   ```python\n   x = 1\n   ```\n"
    assert code_blocks(text) == ["ls -l", "   x = 1"]


def test_every_chapter_shows_some_kdcore_source_and_the_check_resolves_it():
    """The check above cannot pass by finding nothing: most chapters show kdcore source, resolved to the
    functions and classes of kdcore itself."""
    shown = [obj for nb in CHAPTERS for _, obj in shown_objects(nb)]
    assert len(shown) >= 30
    assert all(re.search(r"[/\\]kdcore[/\\]", inspect.getsourcefile(inspect.unwrap(o))) for o in shown)


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_a_cell_that_only_shows_source_shows_the_source_not_the_call(notebook):
    """The listing is what teaches; its imports and the ``show_source(...)`` call are boilerplate."""
    from IPython.core.inputtransformer2 import TransformerManager

    shown_call = []
    for cell in code_cells(notebook):
        body = ast.parse(TransformerManager().transform_cell("".join(cell["source"]))).body
        calls = [n for n in body if isinstance(n, ast.Expr) and getattr(n.value, "func", None) is not None]
        listing_only = calls and all(getattr(n.value.func, "id", None) == "show_source" for n in calls)
        rest = [n for n in body if not isinstance(n, ast.Import | ast.ImportFrom | ast.Expr)]
        if listing_only and not rest and not HIDDEN & set(cell["metadata"].get("tags", [])):
            shown_call.append(cell.get("id"))
    assert not shown_call, f"{notebook.name}: tag remove-input on the show_source-only cells {shown_call}"
