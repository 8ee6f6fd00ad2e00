"""Every chapter redraws its figures, tables and verdicts from its committed results JSON alone (issue 15).

A chapter is results-first: its experiment cells fill the runs, one cell writes ``book/results/NAME.json``
with :func:`kdcore.record.write_chapter_results`, and every display below it is a code cell tagged ``report`` that
reads only ``results`` and ``P``. This test takes each chapter notebook and its committed JSON and, with no
training and no kernel:

* runs every ``report`` cell in order, each in a fresh namespace holding only ``results = record["results"]``
  (a fresh copy per cell) and ``P = Params(**record["params"])``: a cell that needs anything else (a model, a
  loop variable, a name an earlier cell defined) fails here. A static check names such free variables first;
* draws every figure (Agg) and renders every displayed object as the book would (HTML, Markdown);
* checks the figures against the page: at most :data:`kdcore.figures.PAGE_WIDTH` wide, no text under 9 pt,
  every figure handed to ``figures.figure`` (none left loose), its cell's output removed (the Markdown
  places it), and the keys of ``figures.figure`` equal the chapter's ``{glue:figure}`` directives;
* checks that every ``{glue:text}`` number of the prose is glued by a ``report`` cell;
* and, over all code cells, that no chapter defines a display helper (a ``def`` that plots, makes a table
  or writes Markdown): those belong in :mod:`kdcore.report`.

The last expression of a cell is displayed as IPython would; ``IPython.display.display`` collects objects.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import IPython.display
import matplotlib.pyplot as plt
import pytest
from IPython.core.inputtransformer2 import TransformerManager
from matplotlib.figure import Figure
from matplotlib.text import Text

from kdcore import figures, report
from kdcore.chapters import chapter_key, chapter_notebooks
from kdcore.params import Params

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = chapter_notebooks(BOOK)
MIN_FONT = 9  # pt: the smallest text the HTML book shows legibly (issue 16)
ALLOWED = {"results", "P"} | set(dir(builtins))

chapters = pytest.mark.parametrize("notebook", CHAPTERS, ids=[nb.stem for nb in CHAPTERS])


# ------------------------------------------------------------------------------------------- the notebook
def cells(notebook: Path) -> list[dict]:
    return json.loads(notebook.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def report_cells(notebook: Path) -> list[dict]:
    return [c for c in cells(notebook) if c["cell_type"] == "code" and "report" in tags(c)]


def markdown(notebook: Path) -> str:
    return "\n".join(source(c) for c in cells(notebook) if c["cell_type"] == "markdown")


WRITE_RESULTS = re.compile(r"write_chapter_results\(\s*[\"'](\w+)[\"']")


def results_json(notebook: Path) -> Path:
    """The committed JSON the chapter writes: ``NAME.json`` of its ``write_chapter_results("NAME", …)`` call,
    else ``NAME`` = the chapter key; ``P.output_dir`` is ``results`` (next to the notebook) at the book profile."""
    code = "\n".join(source(c) for c in cells(notebook) if c["cell_type"] == "code")
    found = WRITE_RESULTS.findall(code)
    return notebook.parent / "results" / f"{found[0] if found else chapter_key(notebook)}.json"


GLUE_FIGURE = re.compile(r"^\s*(?:`{3,}|:{3,})\s*\{glue:figure\}\s*(\S+)", re.MULTILINE)
GLUE_TEXT = re.compile(r"\{glue(?::text|:any|:md)?\}`([^`:]+)")


# ------------------------------------------------------------------------------------ static cell checks
def free_names(tree: ast.AST) -> set[str]:
    """Names a cell reads but never binds (imports, assignments, defs, arguments, loop targets)."""
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - ALLOWED


PLOTTING_NAMES = {"plt", "ax", "axes", "fig", "mpl", "matplotlib", "report"}
DISPLAY_CALLS = {"Markdown", "HTML", "display", "table"}


def display_calls(function: ast.AST) -> list[str]:
    """What in a ``def`` body draws or displays: matplotlib (``plt.``, ``ax.``, ``fig.``), ``report.``,
    ``Markdown(``, ``HTML(``, ``display(`` or ``table(``."""
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = node.value.id
            if base in PLOTTING_NAMES or base.startswith("ax"):
                found.append(f"{base}.{node.attr}")
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name in DISPLAY_CALLS:
                found.append(f"{name}(")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if (module or "").startswith("matplotlib"):
                found.append(f"import {module}")
    return found


def parse(cell: dict, where: str, magics: bool = False) -> ast.Module:
    """The cell's syntax tree. A report cell must be plain Python (it runs without a kernel); with ``magics``,
    IPython's ``%`` and ``!`` lines become the calls IPython makes of them (e.g. the ``%pip`` install cell)."""
    text = source(cell)
    if magics:
        text = TransformerManager().transform_cell(text)
    elif any(line.lstrip().startswith(("%", "!")) for line in text.splitlines()):
        pytest.fail(f"{where}: IPython magics and shell lines cannot be redrawn without a kernel")
    return ast.parse(text, filename=where)


# ----------------------------------------------------------------------------------------------- redraw
@dataclass
class Redraw:
    """What running a chapter's report cells produced."""

    figures: list[tuple[str, Figure, str]] = field(default_factory=list)  # key, figure, cell
    loose: list[tuple[Figure, str]] = field(default_factory=list)  # figures not handed to figures.figure
    glued: set[str] = field(default_factory=set)
    displayed: list = field(default_factory=list)
    shown: list = field(default_factory=list)  # everything displayed, in order (``displayed`` is per cell)
    figure_cells: set[str] = field(default_factory=set)  # ids of the cells that called figures.figure
    dropped: list[str] = field(default_factory=list)  # displayable values a cell built and never showed


def render(obj) -> None:
    """Produce what the book shows for a displayed object (its HTML or Markdown), so errors surface."""
    for method in ("_repr_html_", "_repr_markdown_"):
        if callable(getattr(obj, method, None)):
            getattr(obj, method)()
            return
    repr(obj)


def displayable(obj) -> bool:
    """A table, Markdown or HTML: what Jupyter shows only as a cell's last value or through ``display``."""
    return any(callable(getattr(obj, m, None)) for m in ("_repr_html_", "_repr_markdown_", "_repr_latex_"))


class KeepDropped(ast.NodeTransformer):
    """Wraps each top-level expression statement but the last in ``__dropped__(value, line)``: Jupyter throws
    those values away, so a table written there never reaches the page."""

    def __init__(self, body: list[ast.stmt]):
        self.statements = {id(s) for s in body[:-1] if isinstance(s, ast.Expr)}

    def visit_Expr(self, node: ast.Expr) -> ast.Expr:
        if id(node) not in self.statements:
            return node
        call = ast.Call(ast.Name("__dropped__", ast.Load()), [node.value, ast.Constant(node.lineno)], [])
        return ast.copy_location(ast.Expr(call), node)


def check_page(fig: Figure, where: str) -> None:
    width = fig.get_size_inches()[0]
    assert width <= figures.PAGE_WIDTH + 1e-6, f"{where}: figure {width:.2f} in wide > {figures.PAGE_WIDTH} in"
    fig.canvas.draw()  # errors of layout or mathtext appear only when drawn
    small = sorted(
        {(t.get_text()[:30], t.get_fontsize()) for t in fig.findobj(Text)
         if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT - 1e-6}
    )  # fmt: skip
    assert not small, f"{where}: text under {MIN_FONT} pt: {small[:5]}"


@functools.cache
def redraw(notebook: Path, text: str | None = None) -> Redraw:
    """Run the chapter's report cells from its committed JSON (or ``text``); fails at the first cell that errs."""
    path = results_json(notebook)
    assert path.is_file(), f"{notebook.name}: no committed results JSON at {path}"
    text = text or path.read_text()
    out = Redraw()
    current = {"cell": ""}
    original_figure, original_glue = figures.figure, report.glue

    def spy_figure(fig, name):
        out.figures.append((name, fig, current["cell"]))
        out.figure_cells.add(current["cell"])
        check_page(fig, f"{current['cell']}: figure {name!r}")
        original_figure(fig, name)

    def spy_glue(name, value):
        out.glued.add(name)
        original_glue(name, value)

    def collect(*objs, **kwargs):
        out.displayed.extend(objs)
        out.shown.extend(objs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures, "figure", spy_figure)
        mp.setattr(report, "glue", spy_glue)
        mp.setattr(report, "GLUED", {})  # this chapter's values only (report.glued_values lists them)
        mp.setattr(IPython.display, "display", collect)
        plt.close("all")
        for i, cell in enumerate(report_cells(notebook)):
            where = f"{notebook.name} report cell {cell.get('id', i)}"
            current["cell"] = where
            tree = parse(cell, where)
            free = free_names(tree)
            assert not free, f"{where} uses {sorted(free)}: a report cell may read only results, P and its own names"
            tree = ast.fix_missing_locations(KeepDropped(tree.body).visit(tree))
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            fresh = json.loads(text)  # a fresh copy for every cell: no cell sees another's changes

            def dropped(value, line, where=where):
                if displayable(value):
                    out.dropped.append(f"{where}, line {line}: {type(value).__name__}")
                return value

            namespace = {"__name__": "__main__", "__builtins__": builtins, "results": fresh["results"],
                         "P": Params(**fresh["params"]), "__dropped__": dropped}  # fmt: skip
            try:
                exec(compile(tree, where, "exec"), namespace)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), where, "eval"), namespace)
                    if value is not None:
                        out.displayed.append(value)
                        out.shown.append(value)
                for obj in out.displayed:
                    if isinstance(obj, Figure):
                        if not any(obj is fig for _, fig, _ in out.figures):  # figures.figure checked those
                            check_page(obj, where)
                    else:
                        render(obj)
                out.displayed.clear()
            except AssertionError:
                raise
            except Exception:
                pytest.fail(f"{where} failed:\n{traceback.format_exc(limit=-3)}\n--- cell ---\n{source(cell)}")
            for number in plt.get_fignums():
                fig = plt.figure(number)
                check_page(fig, where)
                out.loose.append((fig, where))
            plt.close("all")
    return out


# ------------------------------------------------------------------------------------------------- tests
@chapters
def test_chapter_has_report_cells_and_a_committed_results_json(notebook):
    assert report_cells(notebook), f"{notebook.name}: no code cell tagged 'report'"
    path = results_json(notebook)
    assert path.is_file(), f"{notebook.name}: no committed results JSON at {path}"
    record = json.loads(path.read_text())
    assert {"chapter", "params", "results"} <= set(record), f"{path}: not written by write_chapter_results"
    assert record["params"].get("profile") == "book", f"{path}: committed results must come from the book profile"


@chapters
def test_report_cells_redraw_from_the_results_json_alone(notebook):
    out = redraw(notebook)
    assert not out.loose, (
        f"figures not handed to figures.figure (so not numbered, captioned or placed): {[w for _, w in out.loose]}"
    )


@chapters
def test_report_cells_show_every_table_they_build(notebook):
    """A table (or Markdown) built by a statement that is not the cell's last, and not passed to ``display``,
    is computed and thrown away: the reader never sees it."""
    out = redraw(notebook)
    assert not out.dropped, f"{notebook.name}: built but never displayed (wrap in display()): {out.dropped}"


def test_a_table_built_before_the_last_statement_is_found_dropped():
    tree = ast.parse("t = 1\nreport.table([{'a': 1}])\nprint(t)\nreport.table([{'b': 2}])")
    tree = ast.fix_missing_locations(KeepDropped(tree.body).visit(tree))
    seen = []
    exec(compile(tree, "t", "exec"), {"report": report, "__dropped__": lambda v, line: seen.append((v, line))})
    assert [(type(v).__name__, line) for v, line in seen] == [("Table", 2), ("NoneType", 3)]
    assert displayable(seen[0][0]) and not displayable(seen[1][0])


@chapters
def test_figure_keys_match_the_glue_figure_directives(notebook):
    out = redraw(notebook)
    keys = [key for key, _, _ in out.figures]
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"{notebook.name}: figure keys used twice: {sorted(duplicates)}"
    placed = GLUE_FIGURE.findall(markdown(notebook))
    assert len(placed) == len(set(placed)), f"{notebook.name}: a {{glue:figure}} placed twice: {placed}"
    assert set(keys) == set(placed), (
        f"{notebook.name}: figures.figure keys without a {{glue:figure}}: {sorted(set(keys) - set(placed))}; "
        f"{{glue:figure}} directives no report cell makes: {sorted(set(placed) - set(keys))}"
    )


@chapters
def test_figure_cells_leave_the_figure_to_the_markdown(notebook):
    out = redraw(notebook)
    for i, cell in enumerate(report_cells(notebook)):
        where = f"{notebook.name} report cell {cell.get('id', i)}"
        if where in out.figure_cells:
            assert tags(cell) & {"remove-output", "remove-cell"}, (
                f"{where} glues a figure but shows its output too: tag it remove-cell (the figure would appear twice)"
            )


@chapters
def test_numbers_in_the_prose_are_glued_by_report_cells(notebook):
    out = redraw(notebook)
    missing = set(GLUE_TEXT.findall(markdown(notebook))) - out.glued
    assert not missing, f"{notebook.name}: {{glue:text}} names no report cell glues: {sorted(missing)}"


@chapters
def test_the_notebook_lists_its_glued_numbers_for_readers_outside_the_book(notebook):
    """Jupyter, Colab and GitHub show ``{glue:text}`name``` as written: after its last glue, a chapter shows
    this run's values by name (``report.glued_values``) in a cell the HTML removes, with its output committed."""
    found = cells(notebook)
    listing = [i for i, c in enumerate(found) if c["cell_type"] == "code" and "report.glued_values()" in source(c)]
    assert len(listing) == 1, f"{notebook.name}: {len(listing)} cells call report.glued_values()"
    at, cell = listing[0], found[listing[0]]
    assert {"report", "remove-cell"} <= tags(cell), f"{notebook.name}: tag the glued-values cell report, remove-cell"
    gluing = [
        i for i, c in enumerate(found) if c["cell_type"] == "code" and re.search(r"\bglue(_params)?\(", source(c))
    ]
    assert gluing and at > max(gluing), f"{notebook.name}: a cell glues after the glued-values cell"
    named = set(GLUE_TEXT.findall(markdown(notebook)))
    (table,) = [t for t in redraw(notebook).shown if isinstance(t, report.Table) and "name in the text" in t.columns]
    listed = [row[0] for row in table.rows]
    assert named <= set(listed), f"{notebook.name}: prose names the table lacks: {sorted(named - set(listed))}"
    committed = "".join("".join(o.get("data", {}).get("text/html", "")) for o in cell.get("outputs", []))
    for name in listed:  # the committed output is the run's (not an unexecuted cell)
        assert f"<td>{name}</td>" in committed, f"{notebook.name}: committed glued-values output lacks {name}"


@chapters
def test_signed_numbers_in_the_prose_never_read_minus_zero(notebook):
    # "{glue:text}`diff:+.2f`" prints -0.00 for a difference of -0.004; the z option (Python >= 3.11) prints +0.00
    signed = re.findall(r"\{glue:text\}`[\w.]+:([^`]*\+[^`]*)`", markdown(notebook))
    assert all("z" in spec for spec in signed), f"{notebook.name}: signed glue without z: {signed}"


@chapters
def test_the_prose_states_only_verdicts_the_committed_run_bears_out(notebook):
    """Each chapter lists the verdicts its prose states and the descriptions no verdict covers
    (``report.prose_check``, a report cell that shows only its output): against the committed book-profile
    run, the run the prose was written for, every one holds, so the book page shows no box, while a run at
    another profile shows one where it differs."""
    check_cells = [c for c in report_cells(notebook) if "report.prose_check(" in source(c)]
    assert check_cells, f"{notebook.name}: no report cell checks the verdicts its prose states (report.prose_check)"
    assert all("remove-input" in tags(c) for c in check_cells), f"{notebook.name}: a prose check shows its code"
    checked, untrue = [], []
    original = report.prose_check

    def spy(comparisons, claims, *args, **kwargs):
        assert claims, f"{notebook.name}: a prose check with no claims"
        checked.append((claims, report.unmet_claims(comparisons, claims)))
        untrue.extend(words for words, holds in (kwargs.get("statements") or {}).items() if not holds)
        return original(comparisons, claims, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "prose_check", spy)
        redraw.__wrapped__(notebook)
    assert len(checked) == len(check_cells)
    unmet = [f"{report.claim_name(claim)}: the text says {claim['verdict']}, the run {c['verdict'] if c else None}"
             for _, misses in checked for claim, c in misses]  # fmt: skip
    assert not unmet, f"{notebook.name}: the prose says what its committed run does not: {unmet}"
    assert not untrue, f"{notebook.name}: the prose describes what its committed run does not show: {untrue}"


@chapters
def test_no_display_helpers_in_the_chapter(notebook):
    helpers = []
    for i, cell in enumerate(c for c in cells(notebook) if c["cell_type"] == "code"):
        tree = parse(cell, f"{notebook.name} code cell {cell.get('id', i)}", magics=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (calls := display_calls(node)):
                helpers.append(f"def {node.name} (cell {cell.get('id', i)}: {', '.join(sorted(set(calls))[:4])})")
    assert not helpers, f"{notebook.name} defines display helpers; use kdcore.report instead: {helpers}"


def test_free_names_and_display_calls_see_what_a_cell_needs():
    tree = ast.parse("import numpy as np\nfrom kdcore import report\nx = [r for r in results['a']]\nprint(y, P, np)")
    assert free_names(tree) == {"y"}
    (helper,) = ast.parse("def draw(a):\n    ax = a.gca()\n    ax.plot([1])\n").body
    assert display_calls(helper) == ["ax.plot"]
    (factory,) = ast.parse("def make(s):\n    return KD(s, teacher, 4.0)\n").body
    assert display_calls(factory) == []


def test_install_cell_magics_do_not_stop_the_helper_check():
    cell = {"source": 'import sys\n\nif sys:\n    %pip install -q "kdcore"\n'}
    assert isinstance(parse(cell, "install", magics=True), ast.Module)
    with pytest.raises(pytest.fail.Exception, match="without a kernel"):
        parse(cell, "a report cell")


def test_glue_patterns_find_figures_and_numbers():
    md = "```{glue:figure} kr-curves\n:name: fig-kr\n\nCaption.\n```\nGain {glue:text}`kr_gain:+.2f` pp, {glue}`n`."
    assert GLUE_FIGURE.findall(md) == ["kr-curves"]
    assert GLUE_TEXT.findall(md) == ["kr_gain", "n"]


def test_comparison_sets_the_cnn_scale_verdicts_beside_its_own():
    """Chapter 9's side-by-side table: "not run yet" before a GPU run is imported, its verdicts after."""
    notebook = BOOK / "09_comparison.ipynb"
    record = json.loads(results_json(notebook).read_text())

    def side_by_side(text: str | None = None) -> tuple[report.Table, int, int]:
        """The table of both scales' verdicts, and its CPU and CNN columns (their heads give their levels)."""
        (table,) = [t for t in redraw(notebook, text).shown
                    if any(c.startswith("CPU scale: Δ pp [") for c in getattr(t, "columns", []))]  # fmt: skip
        cpu, cnn = (
            next(i for i, c in enumerate(table.columns) if c.startswith(f"{s}: Δ pp ["))
            for s in ("CPU scale", "CNN scale")
        )
        assert table.columns[cpu].replace("\u00a0", " ").endswith(" % CI]")  # the level of this page's family
        return table, cpu, cnn

    committed = record["results"].pop("cnn_scale", None)  # the imported GPU run, if any
    if committed:
        table, cpu, cnn = side_by_side()
        assert f"CNN scale: {committed['environment']['device']}" in table.caption
        assert all(row[cnn] != "not run yet" for row in table.rows if not isinstance(row, str))  # every method
    table, cpu, cnn = side_by_side(json.dumps(record))
    rows = [row for row in table.rows if not isinstance(row, str)]  # the regimes' heading rows aside
    assert len(rows) == len(record["results"]["comparisons"]) and len(table.rows) == len(rows) + 2
    assert all(row[cnn] == "not run yet" for row in rows)
    gpu = [{**c, "diff": c["diff"] + 0.01} for c in record["results"]["comparisons"]]  # a stand-in GPU run
    record["results"]["cnn_scale"] = {"environment": {"device": "NVIDIA H100 (stand-in)"},
                                      "params": {**record["params"], "confident_teacher": "resnet56", "seeds": [0]},
                                      "comparisons": gpu,
                                      "teachers": record["results"]["teachers"]}  # fmt: skip
    table, cpu, cnn = side_by_side(json.dumps(record))
    assert "NVIDIA H100 (stand-in), resnet56 teachers" in table.caption
    for row, c in zip([row for row in table.rows if not isinstance(row, str)], gpu, strict=True):
        assert row[cnn] == report.verdict_cell(c) != row[cpu]


def without_intervals(record: dict) -> dict:
    """A chapter's record as a one-seed run leaves it: every comparison keeps its difference but has no interval,
    no p-value and no verdict (``kdcore.results.NO_INTERVAL``)."""
    from kdcore.results import NO_INTERVAL

    def strip(node):
        if isinstance(node, dict):
            if {"diff", "ci", "verdict"} <= node.keys():
                node.update(ci=None, verdict=NO_INTERVAL, **{k: None for k in ("p", "p_adjusted") if k in node})
            for key, child in node.items():
                # chapter 9's copies of other runs' records (the gpu profile's; its confirming run and the
                # exploratory run, committed with their intervals, which a one-seed run quotes as they are)
                if key not in ("cnn_scale", "confirming_run", "exploratory_run"):
                    strip(child)
        elif isinstance(node, list):
            for child in node:
                strip(child)

    strip(record)
    return record


@chapters
def test_a_run_without_intervals_still_draws_and_its_prose_check_names_the_verdicts(notebook):
    """``kdcore-batch`` runs one seed per notebook: no comparison has an interval, and the prose check (its
    claims and its statements, which read p-values and intervals too) must draw a box, not raise."""
    record = without_intervals(json.loads(results_json(notebook).read_text()))
    boxes = []
    original = report.prose_check

    def spy(*args, **kwargs):
        boxes.append(original(*args, **kwargs))
        return boxes[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "prose_check", spy)
        redraw.__wrapped__(notebook, json.dumps(record))
    assert boxes and all(box is not None and "no interval here" in box.data for box in boxes)
