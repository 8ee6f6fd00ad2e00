"""Bring a GPU run (the folder scripts/gpu_check.py wrote, as the device tool returns it) into the book.

    python scripts/import_gpu_run.py RUN_DIR --commit SHA     # SHA: the commit the device ran
    python scripts/import_gpu_run.py --rerender               # no run: the copies' prose and displays, anew

* ``RUN_DIR/gpu/``: the `gpu` profile's executed chapters become the book part "At CNN scale"
  (``book/results/gpu/NN_name.ipynb``, beside their results JSON). Each copy gets a first cell saying where,
  when, on what device, from which commit and in how long it ran, and which values were overridden; its
  figure and table labels get a ``gpu-`` prefix (the book-profile chapter has the same ones) and its links are
  rewritten to point from its folder; its title is its chapter's, to the first colon, then ", at CNN scale" (the
  note names the chapter). ``_toc.yml`` gets the part if missing.
  ``--rerender`` brings the committed copies' prose and displays up to date with their chapters, from each
  run's results JSON (:func:`rerender`), when the chapters have changed since the runs. Either way the copy's
  Colab install cell installs ``kdcore_ref`` (``scripts/sync_install_cell.py``), the library its report
  cells were drawn with, not the run's older commit.
* ``RUN_DIR/gpu_check.json``: into ``benchmarks/results/gpu_check.json`` (merged with the record of the same
  session's other call, if any: :func:`merged`); the appendix page
  ``book/gpu_measurements.md`` is written from it (every number in it is read from that file, or computed
  from it with the cost plans in ``benchmarks/plan/``), and the paper profile's cost table goes into
  README.md, benchmarks/README.md and a line of each chapter's first cell (``scripts/cost_table.py table
  --write``, from the measured ``benchmarks/results/throughputs_paper.json``).

Nothing is trained here: the HTML build renders the committed outputs, as it does for the book profile; only
``--rerender`` runs a kernel, for report cells, which read a run's results alone.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
PART = "At CNN scale"
PREFIX = "gpu-"
BOOK_ONLY = "book-profile-only"  # a chapter's cells that its gpu-profile copy leaves out
FIXED = "nbval-check-output"  # a chapter's worked examples: the same output at every profile (the tests check)
SAYS_WHICH = ("Every number, table, figure and verdict on this page comes from this run; where its verdicts, or the "
              "orderings and trends the prose describes, differ from what the prose states, the box below this note "
              "says which, before any of that prose. Where the prose names `results/<chapter>.json`, this run's "
              "record is the file of that name in `book/results/gpu/`. Where the chapter's code has changed since "
              "this run, the code the run ran is folded behind a button that says so.")  # fmt: skip
RERUN = "To re-run it: `.venv/bin/python scripts/execute_chapters.py"  # the note's command, as the README runs it
FAST_PATHS = (("kd_throughput", "without"), ("kd_throughput_compile", "with"))  # torch.compile: step, with or not


def relabel(markdown: str, labels: set[str]) -> str:
    """Prefix every figure label defined in the chapter (``:name: x``) and every ``{numref}`` to it."""
    for label in sorted(labels, key=len, reverse=True):
        markdown = re.sub(rf"(:name:\s*){re.escape(label)}\b", rf"\g<1>{PREFIX}{label}", markdown)
        markdown = re.sub(rf"(\{{numref\}}`(?:[^`<]*<)?){re.escape(label)}([>`])", rf"\g<1>{PREFIX}{label}\2",
                          markdown)  # fmt: skip
    return markdown


def relink(markdown: str, up: str) -> str:
    """Relative links (``](02_x.ipynb)``, ``](notation.md)``) made relative to a folder ``up`` below book/; a
    link to a label (``](reading-a-verdict)``: no dot, no slash) resolves anywhere in the book and stays."""
    return re.sub(r"\]\((?!https?:|#|/|mailto:)([^)\s]*[./][^)\s]*)\)", lambda m: f"]({up}{m.group(1)})", markdown)


def up_to(book: Path, copy_path: Path) -> str:
    """``"../../"``: the way from a copy's folder back up to the book's, for its relative links."""
    return "../" * len(copy_path.parent.relative_to(book).parts)


def figure_labels(markdown: list[str]) -> set[str]:
    """The figure labels (``:name: x``) a chapter's Markdown defines."""
    return {m for source in markdown for m in re.findall(r":name:\s*(\S+)", source)}


TABLE_NAME = re.compile(r'(data-name=")([^"]+)(")')  # a kdcore.report table's label (_ext/numbered_tables.py)


def _html_outputs(cells: list):
    """Each HTML output of ``cells``' code cells with its text joined: ``(output, html)``."""
    for cell in cells:
        for out in cell.outputs if cell.cell_type == "code" else []:
            html = out.get("data", {}).get("text/html")
            if html is not None:
                yield out, "".join(html) if isinstance(html, list) else html


def table_labels(cells: list) -> set[str]:
    """The table labels (``report.table(..., name=x)``) that the HTML outputs of ``cells`` define, without the
    copy's prefix: a copy already dressed has it on its kept outputs."""
    return {m.group(2).removeprefix(PREFIX) for _, html in _html_outputs(cells) for m in TABLE_NAME.finditer(html)}


def relabel_tables(cells: list) -> None:
    """Prefix the table labels of ``cells``' HTML outputs, once: the chapter's outputs define the same ones."""
    prefixed = lambda m: f"{m.group(1)}{PREFIX}{m.group(2).removeprefix(PREFIX)}{m.group(3)}"
    for out, html in _html_outputs(cells):
        out["data"]["text/html"] = TABLE_NAME.sub(prefixed, html)


def book_only(chapter: nbformat.NotebookNode) -> set[str]:
    """The ids of the cells the chapter tags book-profile-only: its copies leave them out."""
    return {c.get("id") for c in chapter.cells if BOOK_ONLY in c.metadata.get("tags", [])}


def as_copied(markdown: str, labels: set[str], up: str, itself: str = "") -> str:
    """A chapter's Markdown as its copy shows it: figure and table labels prefixed, links made relative to the
    copy's folder (``up``), its paper profile's cost said to be not this page's, and no "Before you start" box
    (:func:`dress` says why). A link to the copy itself
    (``itself``: its path below book/, as the chapter links it) keeps its words only: the page would link to
    itself ("the `gpu` profile's [CNN-scale run](…)" on the CNN-scale run's own page)."""
    if itself:
        markdown = re.sub(rf"(?<!!)\[([^\]]*)\]\({re.escape(itself)}(#[^)]*)?\)", r"\1", markdown)  # not images
    # the chapter's line on what its paper profile costs: beside "A short run", not this page's cost
    markdown = markdown.replace("*Paper profile: ≈", "*Paper profile (not this page's run): ≈")
    return BEFORE_YOU_START.sub("", relink(relabel(markdown, labels), up))


SHORT_ANSWER = re.compile(r"^:::\{admonition\} The short answer\n.*?^:::\n*", re.DOTALL | re.MULTILINE)
FOLDED = "The text written for the book-profile run"  # the button a conclusion's text folds behind
FOLDED_HERE = "Written for the book-profile run: not so in this run"  # the button a flagged paragraph folds behind
CONCLUSIONS = ("## What we found", "## Key takeaways")  # they state the verdicts: folded whole in a copy that differs
# what stays in view in a folded conclusion: a figure, and a table of the prose ({table})
FIGURE = re.compile(r"^```\{(?:glue:figure|table)\}.*?^```$", re.DOTALL | re.MULTILINE)
RESULTS_ARE = (
    "*This run's results are this page's tables and figures, its verdicts in the verdict table; the box "
    "at the top of the page lists where they part from the text written for the book-profile run.*"
)
SAID = re.compile(r"The text says \*(.+?)\*: not so in this run")  # a statement the box lists


def flagged(box: str | None) -> list[str]:
    """The statements of the prose that a copy's box of differences (:func:`differences`) says its run does not
    bear out, as the box quotes them ("…" for words left out, [brackets] for words added)."""
    return SAID.findall(box or "")


def _words(text: str) -> list[str]:
    """``text``'s words, lower-cased, without Markdown, roles, links' targets or punctuation."""
    text = re.sub(r"\{[a-z:]+\}`[^`]*`", " … ", text)  # a glued value or a reference: a gap, as the box has it
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's target
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def states(block: str, quote: str, run: int = 8) -> bool:
    """Whether Markdown ``block`` says what the box quotes: it holds a run of ``run`` words of the quote (or the
    whole quote, if shorter) in their order. The quote is the prose's own words, shortened ("…") and glossed
    ("[…]"), so a run of its words, not all of them, is what finds it."""
    pieces = [_words(p) for p in re.sub(r"\[[^\]]*\]", "…", quote).split("…")]
    text = " " + " ".join(_words(block)) + " "
    for words in pieces:
        size = min(run, len(words))
        if size and any(f" {' '.join(words[i : i + size])} " in text for i in range(len(words) - size + 1)):
            if size == run or len(pieces) == 1:  # a short quote, found whole (no "…" or "[…]" in it)
                return True
    return False


def _blocks(text: str) -> list[str]:
    """Markdown ``text`` in blocks a blank line apart; a fenced block (a directive, code) is one block, blank
    lines and all."""
    blocks, lines, fence = [], [], None
    for line in text.split("\n"):
        opened = re.match(r"^(`{3,}|:{3,})", line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None and line.strip() == fence:
            fence = None
        if not line.strip() and fence is None:
            blocks.append("\n".join(lines))
            lines = []
        else:
            lines.append(line)
    blocks.append("\n".join(lines))
    return [b for b in blocks if b.strip()]


def _dropdown(label: str, text: str) -> str:
    fence = ":" * max([4, *(len(m) + 1 for m in re.findall(r"^(:{3,})", text, re.MULTILINE))])
    return f"{fence}{{dropdown}} {label}\n{text}\n{fence}"


def fold_sections(sources: list[str], chapter: str, said: list[str] = ()) -> list[str]:
    """A chapter's Markdown cells (``sources``, in order) in a copy whose run differs from what its prose states
    (a box of differences, which quotes ``said``: :func:`flagged`). The page keeps the chapter's teaching and
    folds what this run does not bear out:

    * the short answer goes;
    * the conclusions (:data:`CONCLUSIONS`), which state the verdicts, fold whole behind a button, their figures
      left in view;
    * elsewhere, each paragraph (a list, a box) that :func:`states` a statement of ``said`` folds behind a
      button that says so; a figure whose caption states one stays, with a line under it that says which;
    * everything else stays as the chapter has it: the explanation of a loss holds at every scale.

    A reader should not meet a sentence that this run contradicts, open on the page; the words stay one click
    away, with this run's numbers in them, and the box at the top lists where they and the run part. A line
    under the first fold says so. ``chapter`` links the chapter (:func:`chapter_link`)."""
    why = (f"*Folded here: text written for {chapter}'s book-profile run (MLPs on 2 CPU cores) that this run does "
           "not bear out, as the box at the top of the page lists; inside, its numbers are this run's.*")  # fmt: skip
    out, conclusion, explained = [], False, False
    for source in sources:
        items = []  # (label of the fold, or None where the block stays in view, block)
        for block in _blocks(SHORT_ANSWER.sub("", source)):
            if block.startswith("## "):
                heading, _, rest = block.partition("\n")
                conclusion = heading.strip() in CONCLUSIONS
                items.append((None, heading))
                if heading.strip() == CONCLUSIONS[0]:  # what the reader came for: where this run's results are
                    items.append((None, RESULTS_ARE))
                block = rest.strip("\n")
                if not block:
                    continue
            quoted = [q for q in said if states(block, q)]
            if FIGURE.fullmatch(block.strip()):
                items.append((None, block))
                items += [(None, f"*Not so in this run: the caption's “{q}”.*") for q in quoted]
            else:
                items.append((FOLDED if conclusion else FOLDED_HERE if quoted else None, block))
        kept = []
        for label, block in items:  # next folds of one kind share a button
            if label and kept and kept[-1][0] == label:
                kept[-1] = (label, f"{kept[-1][1]}\n\n{block}")
            else:
                kept.append((label, block))
        shown = []
        for label, block in kept:
            if label and not explained:
                shown.append(why)
                explained = True
            shown.append(_dropdown(label, block) if label else block)
        text = re.sub(r"\n{3,}", "\n\n", "\n\n".join(b.strip("\n") for b in shown)).strip("\n")
        out.append(text + ("\n" if source.endswith("\n") else ""))
    return out


def dress(cells: list, up: str, note: str, name: str, itself: str = "") -> None:
    """A copy's Markdown: figure and table labels prefixed (table labels in its outputs too), relative links made
    relative to its folder (``up``), and the title "Knowledge distillation in one notebook, at CNN scale" (the toc
    numbers the copies on from the chapters, 10, 11 …: a "Chapter 1" in it would be a second number; the note names
    the chapter) over the provenance ``note`` and, where this run's verdicts
    differ from the prose's, the box that says which (:func:`differences`): first, since prose above the chapter's
    own place for that box may state verdicts too. The HTML then leaves out the box's own cell further down, and
    papermill's cell of injected values, which the note states (every value the profile's, or the ones changed). The
    chapter's "Before you start" box goes: its run times are the book profile's, on 2 CPU cores, and its
    prerequisites are the chapter's, one link away in the note. Where there is a box, the chapter's sections fold
    (:func:`fold_sections`; ``name``: the chapter's notebook). ``itself``: the copy's path below book/, whose
    links to it keep their words only (:func:`as_copied`)."""
    markdown = [c for c in cells if c.cell_type == "markdown"]
    labels = figure_labels([c.source for c in markdown]) | table_labels(cells)
    for cell in markdown:
        cell.source = as_copied(cell.source, labels, up, itself)
    relabel_tables(cells)
    box = differences(cells)
    if box:  # the run parts from the prose: what it does not bear out folds (before the box, which quotes it, is in)
        folds = fold_sections([c.source for c in markdown], chapter_link(name, up), flagged(box))
        for cell, source in zip(markdown, folds):
            cell.source = source
    heading, _, rest = markdown[0].source.partition("\n")  # the H1, the note, then the rest of the first cell
    title = re.sub(r"^# (Chapter \d+ at CNN scale: )?", "", heading).removesuffix(" (at CNN scale)")  # once only
    heading = f"# {title.split(':')[0].removesuffix(SCALED)}{SCALED}"  # the toc numbers it: no "Chapter N" besides
    markdown[0].source = f"{heading}\n\n{shown_note(note)}\n" + (f"\n{box}\n{BOX_END}\n" if box else "") + rest
    for cell in cells:  # shown once on the page: the box stands first, the values the run was given in the note
        tags = cell.metadata.setdefault("tags", [])
        moved = box and cell.cell_type == "code" and "prose_check(" in cell.source
        if (moved or "injected-parameters" in tags) and "remove-cell" not in tags:
            tags.append("remove-cell")


SCALED = ", at CNN scale"  # a copy's title: its chapter's short title (before any colon), then this

NOTE_DETAILS = "How this page was made, and how to re-run it"  # the button the note's details fold behind
NOTE = re.compile(r"^:::\{admonition\}.*?^:::$", re.DOTALL | re.MULTILINE)  # the note, in a copy's first cell
DETAILS = re.compile(rf"\A\n\n:::\{{dropdown\}} {re.escape(NOTE_DETAILS)}\n(.*?)\n:::$", re.DOTALL | re.MULTILINE)


def shown_note(note: str) -> str:
    """The provenance ``note`` as the page shows it: the box keeps where, when and from which commit the run
    ran (its first paragraph) and how small it was (:data:`SCALE`); its other paragraphs (the values it was
    given, how to re-run it, retests, re-renders) fold behind a button just below it, so that the page's
    results come after a few lines, not a screen of provenance. :func:`full_note` joins them again."""
    lines = note.splitlines()
    head, body = lines[:2], "\n".join(lines[2:-1]).strip("\n")  # ":::{admonition} …", ":class: note"; then ":::"
    paragraphs = body.split("\n\n")
    kept = [p for i, p in enumerate(paragraphs) if i == 0 or p.startswith(SCALE)]
    rest = [p for p in paragraphs if p not in kept]
    shown = "\n".join([*head, "\n\n".join(kept), ":::"])
    return shown + (f"\n\n:::{{dropdown}} {NOTE_DETAILS}\n" + "\n\n".join(rest) + "\n:::" if rest else "")


def _note_parts(source: str) -> tuple[str, str | None, str]:
    """A copy's first cell (``source``) from its note on: the note's box, the paragraphs :func:`shown_note`
    folds below it (or ``None``), and the rest of the cell."""
    note = NOTE.search(source)
    rest = source[note.end() :]
    details = DETAILS.match(rest)
    return note.group(0), details and details.group(1), rest[details.end() :] if details else rest


def full_note(source: str) -> str:
    """The provenance note of a copy's first cell (``source``), whole: the box and, where the page folds the
    rest of it (:func:`shown_note`), the folded paragraphs inside it again, before its end."""
    note, details, _ = _note_parts(source)
    return note if details is None else note.removesuffix(":::").rstrip("\n") + f"\n\n{details}\n:::"


def opening(source: str) -> str:
    """A copy's first cell (``source``) after its title, its note (:func:`shown_note`) and its box of
    differences: the chapter's own first cell, less its title, as the copy shows it."""
    return _note_parts(source)[2].removeprefix("\n").split(f"{BOX_END}\n", 1)[-1]


BEFORE_YOU_START = re.compile(r"```\{admonition\} Before you start\n.*?\n```\n\n?", re.DOTALL)  # a chapter's tip box
BOX_END = "<!-- end of this run's differences -->"  # where the box ends, for the freshness test
SHOWN_PARAMETERS = "resolved-parameters"  # the id of the re-rendered display of P
TRAINING_LOG = {"code_prompt_show": "Show the training log", "code_prompt_hide": "Hide the training log"}
AND_LOG = ", with its training log"  # a cell whose code the chapter folds too: one button shows both
OLDER = " (as the run ran it)"  # a run's code that the chapter's cell has changed since (the note says so)
RUN_CODE = "Show the code"  # the label of such a cell where the chapter shows its cell


def parameters_at(chapter: nbformat.NotebookNode) -> int:
    """The index of the chapter's papermill parameters cell; the cell after it displays ``P``."""
    return next(i for i, c in enumerate(chapter.cells) if "parameters" in c.metadata.get("tags", []))


def presented_as_in_chapter(cells: list, chapter: nbformat.NotebookNode, profile: str) -> None:
    """A copy's cells are shown as the chapter shows its own: each cell the chapter has (matched by id) takes
    the chapter's tags and button label (``mystnb``), keeping a training log's fold (``hide-output``, from
    :func:`import_notebook`; where the chapter folds the cell's code too, both fold behind one button,
    ``hide-cell``, whose label then names both: the chapter's, :data:`AND_LOG` added), and drops the value its last line
    displayed where the chapter's cell displays none (a run from an older commit that ended a cell with
    ``write_chapter_results(...)`` printed its path; report cells keep theirs, drawn from the run's results,
    such as the box of :func:`differences`).
    A run's code cell that differs from the chapter's (not by spacing alone) folds, its label ending in
    :data:`OLDER`: the prose around it may describe the chapter's newer layout.
    The parameters cell's ``profile`` becomes the run's, which the run had through ``KDCORE_PROFILE``: opened
    in Colab, the copy then runs at the profile it shows."""
    import copy as copying

    chapters = {c.get("id"): c for c in chapter.cells}
    writer = next((c for c in chapter.cells if writes_results(c)), None)
    for cell in cells:
        ours = chapters.get(cell.get("id"))
        if writes_results(cell) and not (ours and writes_results(ours)):
            ours = writer  # an older run wrote its results JSON in another cell: fold that one as the chapter does
        if ours is None or ours.cell_type != cell.cell_type:
            continue
        prompt = cell.metadata.get("mystnb", {}).get("code_prompt_show", "")
        tags = cell.metadata.get("tags", [])
        folded = bool({"hide-output", "hide-cell"} & set(tags)) and "training log" in prompt  # (TRAINING_LOG's)
        cell.metadata["tags"] = list(dict.fromkeys([*ours.metadata.get("tags", []), *["hide-output"] * folded]))
        ours_prompt = ours.metadata.get("mystnb", {}).get("code_prompt_show")
        hidden = {"remove-input", "remove-cell", "report", "parameters"} & set(cell.metadata["tags"])
        # (the same tokens wrapped otherwise, as a formatter leaves them, are the same code)
        older = cell.cell_type == "code" and cell.source.split() != ours.source.split() and not hidden
        if older:  # the run's code, not the chapter's: folded, where the prose may describe another layout
            if not {"hide-input", "hide-cell"} & set(cell.metadata["tags"]):  # hide-cell folds the code already
                cell.metadata["tags"].append("hide-input")
            ours_prompt = (ours_prompt or RUN_CODE) + OLDER
        if "mystnb" in ours.metadata and not folded and not older:
            cell.metadata["mystnb"] = copying.deepcopy(ours.metadata["mystnb"])
        elif folded and "hide-input" in cell.metadata["tags"]:  # the code and the log: one button (hide-cell),
            # where hide-input and hide-output would make two, both with the one label
            others = [t for t in cell.metadata["tags"] if t not in ("hide-input", "hide-output")]
            cell.metadata["tags"] = [*others, "hide-cell"]
            label = (ours_prompt or "Show the cell") + AND_LOG
            cell.metadata["mystnb"] = {"code_prompt_show": label, "code_prompt_hide": "Hide the cell"}
        elif folded:
            cell.metadata["mystnb"] = dict(TRAINING_LOG)
        elif older:
            cell.metadata["mystnb"] = {"code_prompt_show": ours_prompt, "code_prompt_hide": "Hide the cell"}
        else:  # the chapter's cell has no label: neither has the copy's (an older label would stay otherwise)
            cell.metadata.pop("mystnb", None)
        shows_none = not any(o.output_type == "execute_result" for o in ours.get("outputs", []))
        if cell.cell_type == "code" and "report" not in cell.metadata["tags"] and shows_none:  # a run's cell
            cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"]
        if "parameters" in cell.metadata["tags"]:
            cell.source = re.sub(r"^profile: str = None", f'profile: str = "{profile}"', cell.source, flags=re.M)


def numbered(cell, count: int | None) -> None:
    """Give a code cell and the value it displays the execution count ``count`` (the run's, for a cell drawn
    again)."""
    cell.execution_count = count
    for output in cell.outputs:
        if output.output_type == "execute_result":
            output.execution_count = count


def writes_results(cell) -> bool:
    """Whether a code cell writes the chapter's results JSON (``write_chapter_results(...)``, or
    ``write_results(...)`` in runs of older commits), not just imports the function."""
    return cell.cell_type == "code" and re.search(r"\bwrite_(chapter_)?results\(", cell.source) is not None


def differences(cells: list) -> str | None:
    """The Markdown of the box ``kdcore.report.prose_check`` drew in a copy's cells (the verdicts of the prose
    this run does not bear out), or None where it drew none."""
    for cell in cells:
        if cell.cell_type == "code" and "prose_check(" in cell.source:
            for output in cell.get("outputs", []):
                box = output.get("data", {}).get("text/markdown")
                if box:
                    return box.strip()
    return None


SCALE = "**A short run.**"  # the note's line on how small the run was, once per copy
SCALE_KEYS = ("train_subset", "teacher_epochs", "confident_epochs", "student_epochs", "student_labels", "seeds",
              "teacher_seeds")  # fmt: skip


def scale_line(params: dict) -> str:
    """The note's line on the run's size, from its parameters: the prose was written for a longer run, and a
    reader comparing this page with the papers needs to know that "all labels" means a subset here."""
    values = ", ".join(f"`{k} = {params[k]!r}`" for k in SCALE_KEYS if params.get(k) is not None)
    subset = params.get("train_subset")
    labels = f'"All labels" in the prose means these {subset:,} training images. ' if subset else ""
    return (f"{SCALE} Its size: {values}. {labels}Its networks train for the few epochs above, far shorter than "
            "the papers' recipes, so its accuracies are below what these networks reach, and its verdicts have few "
            "seeds.")  # fmt: skip


RETESTED = "**Retested.**"  # the note's line when the run predates the chapters' paired tests
RETESTED_LINE = (
    f"{RETESTED} The commit this run ran used Welch's test throughout. Its verdicts on this page were "
    "recomputed at re-render from its student runs with the tests the chapter uses now (a paired t-test where "
    "the design pairs the two sides by seed, Welch's test elsewhere, as the book's run of the chapter has "
    "them), so they are what the prose describes. The run's results JSON and its collapsed results cell keep "
    "the Welch verdicts it made, as it ran."
)


CROPS = "**Crops padded with the mean colour.**"  # the note's line when the run predates black padding
CROPS_LINE = (
    f"{CROPS} This run's random crops filled their border with 0 after normalizing, which is the dataset's mean "
    "colour; kdcore now fills it with black, as torchvision's `RandomCrop(size, padding=4)` does before `Normalize` "
    "in the papers' pipelines (RepDistiller's). A run today differs in that border only; this one was not run "
    "again."
)


def padded_with_mean(commit: str) -> bool:
    """Whether kdcore at ``commit`` padded random crops with 0 after normalizing (the mean colour), as it did
    before crops were padded black. ``False`` where git does not know ``commit``."""
    shown = subprocess.run(["git", "show", f"{commit}:kdcore/augment.py"], capture_output=True, text=True,
                           cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    return shown.returncode == 0 and "fill" not in shown.stdout


def with_scale(note: str, params: dict, retested: bool = False, also: tuple[str, ...] = ()) -> str:
    """``note`` with its :func:`scale_line` (replaced if it had one) before the line on whose prose it is (or
    at its end), the :data:`RETESTED` line where the page's verdicts were made again with today's tests, and
    the lines ``also`` (:data:`TRAINED_TWICE`'s, :data:`CROPS`'s). Each paragraph stands once, one blank line
    apart, however often a copy is re-rendered."""
    lines = [line for line in note.splitlines() if not line.startswith((SCALE, RETESTED, TRAINED_TWICE, CROPS))]
    lines = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]  # no run of blank lines
    at = next((i for i, line in enumerate(lines) if line.startswith("The prose is ")), len(lines))
    extra = ([RETESTED_LINE, ""] if retested else []) + [part for line in also for part in (line, "")]
    return "\n".join([*lines[:at], scale_line(params), "", *extra, *lines[at:]])


# what makes chapter 1's teacher: two runs whose parameters agree on these trained the same recipe and seed
TEACHER_RECIPE = ("dataset", "train_subset", "val_fraction", "teacher", "teacher_epochs", "batch_size", "lr",
                  "weight_decay", "schedule", "milestones", "augment")  # fmt: skip
TRAINED_TWICE = "**One teacher, trained twice.**"  # chapter 2's copy's line, where that teacher differs


def teacher_trained_twice(gpu: Path) -> dict | None:
    """Chapter 1's teacher as the `gpu` copies of chapters 1 and 2 measured it (chapter 2 measures it too, for
    its confidence), when their runs share its recipe and seed but not its test accuracy: a cached teacher
    measures the same, so chapter 2's call trained it again. ``{"first", "second"}`` (test accuracies, chapter
    1's and chapter 2's) and each copy's ``commits``; ``None`` otherwise."""
    paths = [gpu / "kd_basics.json", gpu / "capacity_gap.json"]
    if not all(path.is_file() for path in paths):
        return None
    one, two = (json.loads(path.read_text()) for path in paths)
    measured = two["results"]["teachers"].get("chapter 1's") or [{}]
    if any(one["params"].get(k) != two["params"].get(k) for k in TEACHER_RECIPE) or "accuracy" not in measured[0]:
        return None
    first, second = one["results"]["teacher"]["test_acc"], measured[0]["accuracy"]
    if abs(first - second) < 1e-6:
        return None
    commits = []
    for name in ("01_kd_basics.ipynb", "02_capacity_gap.ipynb"):  # the commit each run ran, from its note
        found = re.search(r"from commit `([0-9a-f]+)`", nbformat.read(gpu / name, 4).cells[0].source)
        commits.append(found.group(1)[:7] if found else "?")
    return {"first": first, "second": second, "commits": commits}


def trained_twice_line(twice: dict, up: str) -> str:
    """Chapter 2's copy's note line on :func:`teacher_trained_twice`: the reader sees another accuracy for
    chapter 1's teacher here than on chapter 1's copy, and should know why before comparing the two pages."""
    return (f"{TRAINED_TWICE} This run was a separate GPU session from the one behind [chapter 1's CNN-scale "
            "page](01_kd_basics.ipynb), without its cache, so it trained that page's teacher again, with the same "
            f"recipe and seed: {100 * twice['second']:.2f} % on test here, {100 * twice['first']:.2f} % there. On a "
            f"GPU a seed does not fix a run (the [GPU measurements]({up}gpu_measurements.md) say why); the teacher "
            "table below is this run's.")  # fmt: skip


def one_seed_twice(folder: Path, calls: list[dict]) -> list[str]:
    """The appendix's section on :func:`teacher_trained_twice` (links relative to ``folder``, the book; ``calls``:
    the calls the appendix's table lists, to say whether the first of the two is among them)."""
    twice = teacher_trained_twice(folder / "results" / "gpu")
    if twice is None:
        return []
    gap = 100 * (twice["second"] - twice["first"])
    listed = any(call["commit"].startswith(twice["commits"][0]) for call in calls)
    missing = ("" if listed else " (The first call is not in the table of calls at the end: its record was replaced "
               "by a later one; the measurement log below tells it.)")  # fmt: skip
    return ["## One seed, trained in two calls", "",
            "[Chapter 1](results/gpu/01_kd_basics.ipynb) and [chapter 2](results/gpu/02_capacity_gap.ipynb) at the "
            "`gpu` profile ran in different calls (commits " + " and ".join(f"`{c}`" for c in twice["commits"])
            + "), and the second measures the first one's teacher too. Its call had no cache of the first, so it "
            f"trained that teacher again, from the same recipe and seed: {100 * twice['second']:.2f} % on test, "
            f"against {100 * twice['first']:.2f} % on the first one's page ({gap:+.2f} pp). On a CPU with the same "
            "thread count kdcore's runs of one seed are bit-identical; on a GPU they are not: cuDNN chooses its "
            "convolution algorithms by timing them in each call (`torch.backends.cudnn.benchmark`, which "
            "`kdcore.fit` turns on unless deterministic algorithms were asked for), and some backward kernels add "
            "in an order that varies from run to run. The commits differ too, so we cannot be sure the gap is GPU "
            "noise alone; either way it is the kind of teacher-to-teacher spread the chapters' teacher seeds are "
            f"there to average over.{missing}", ""]  # fmt: skip


def changed_from_profile(overrides: dict, chapter: str) -> dict:
    """The ``overrides`` a run was given that differ from the chapter's `gpu` profile (a scale close to 1
    rounds every epoch count back to the profile's)."""
    from kdcore.params import resolve

    profile = resolve(chapter, "gpu").as_dict()
    return {k: v for k, v in overrides.items() if k in profile and profile[k] != v}


def chapter_link(name: str, up: str) -> str:
    """``"[chapter 2](../../02_capacity_gap.ipynb)"``: the chapter a copy ``name`` is of, linked from ``up``."""
    return f"[chapter {int(name[:2])}]({up}{name})"


def provenance(name: str, run: dict, environment: dict, commit: str, up: str, left_out: int = 0,
               earlier: tuple[str, ...] = ()) -> str:  # fmt: skip
    chapter = chapter_link(name, up)
    after = " and ".join(f"[chapter {int(e[:2])}]({e})" for e in earlier)  # the gpu copies, beside this one
    after = f", after {after} of the same run, whose cached runs it reused" if earlier else ""
    overrides = changed_from_profile(run.get("overrides") or {}, run["chapter"])
    changed = ", ".join(f"`{k} = {v!r}`" for k, v in overrides.items())
    lines = [
        f":::{{admonition}} This page is {chapter} at the `gpu` profile\n:class: note",
        f"Executed on **{environment['device']}** (torch {environment['torch']}"
        + (f", CUDA {environment['cuda']}) " if environment.get("cuda") else ") ")
        + f"on {run['started']}, in {run['seconds'] / 60:.1f} min{after}, from commit `{commit[:12]}`, by "
        "`scripts/gpu_check.py` (step `gpu_book`): Fashion-MNIST with CIFAR-style ResNets, crop-and-flip "
        "augmentation and kdcore's fast path on one GPU.",
        "",
        f"Values changed from the profile for this run: {changed}." if changed else "Every value is the profile's.",
        "",
        f"{RERUN} kd_basics capacity_gap comparison --profile gpu "
        '--out runs/gpu` from the repository root (on a GPU), or `profile = "gpu"` in its parameters cell.',
        "",
        f"The prose is {chapter}'s, written for its book-profile results (MLPs on 2 CPU cores). {SAYS_WHICH}",
        *(["", left_out_line(left_out, chapter)] if left_out else []),
        ":::",  # a colon fence: a backtick fence's title may not hold backticks
    ]
    return "\n".join(lines)


LEFT_OUT = "Left out of this copy:"  # the note's line on the chapter's book-profile-only cells


def left_out_line(count: int, chapter: str) -> str:
    """The note's line on the ``count`` cells the copy leaves out (its ``chapter``, a Markdown link)."""
    cells = "one cell that holds" if count == 1 else f"{count} cells that hold"
    return (f"{LEFT_OUT} {cells} only for the book profile, such as the section that sets the book profile's "
            f"results beside this run's ({chapter} shows it, with this run's numbers).")  # fmt: skip


def as_a_terminal_shows(text: str) -> str:
    """A stream's text as a terminal leaves it: each line only after its last carriage return (a tqdm bar's
    final state, not every redraw on one line), without tqdm's warning that ipywidgets is missing (the
    device image has none, so its bars are text)."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    kept = [line for i, line in enumerate(lines) if "TqdmWarning: IProgress not found" not in line
            and not (i and "TqdmWarning: IProgress not found" in lines[i - 1] and "import tqdm" in line)]  # fmt: skip
    return "\n".join(kept)


def import_notebook(source: Path, dest: Path, run: dict, environment: dict, commit: str, book: Path,
                    earlier: tuple[str, ...] = ()) -> None:  # fmt: skip
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            for output in cell.outputs:
                if output.output_type == "stream":
                    output.text = as_a_terminal_shows(output.text)
            cell.outputs = [o for o in cell.outputs if o.output_type != "stream" or o.text.strip()]
            if cell.outputs and all(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs):
                tags = cell.metadata.setdefault("tags", [])  # a training log (its bars' final lines): behind
                tags += [] if "hide-output" in tags else ["hide-output"]  # a toggle, as wide as tqdm made it
                cell.metadata["mystnb"] = dict(TRAINING_LOG)
    # cells the book's chapter tags book-profile-only (matched by cell id) compare the two scales: the book
    # profile's page has them; in the run of the gpu profile they would compare the run with itself
    left = book_only(nbformat.read(book / source.name, as_version=4))
    kept = [c for c in nb.cells if c.get("id") not in left]
    left_out, nb.cells = len(nb.cells) - len(kept), kept
    up = up_to(book, dest)
    presented_as_in_chapter(nb.cells, nbformat.read(book / source.name, as_version=4), run["profile"])
    params = json.loads((source.parent / f"{run['chapter']}.json").read_text())["params"]
    note = with_scale(provenance(source.name, run, environment, commit, up, left_out, earlier), params)
    dress(nb.cells, up, note, source.name, dest.relative_to(book).as_posix())
    write_copy(nb, dest)


RERENDERED = "Its prose, tables, figures and verdicts were re-rendered"  # the note's line, once per copy


def rerender(copy_path: Path, book: Path, commit: str) -> int:
    """Bring a gpu copy's prose and displays up to date with its chapter, from the run's results JSON alone.

    A chapter's report cells read only ``results`` and ``P`` (tests/test_redraw.py), so they can run again on
    the copy's results JSON, in a kernel, without training anything. The copy then takes the chapter's
    Markdown (figure labels and links rewritten as at import), its report cells with their new outputs and its
    worked examples (``FIXED``: the same at every profile), and keeps the run's own experiment cells, their
    code and their logs, and the values it was given (papermill's
    injected cell): a chapter cell the run did not have is left out, since it never ran, and so is a cell the
    chapter no longer has. The provenance note keeps its facts about the run and gains one line saying
    when and from which commit the rest was re-rendered. Returns how many report cells ran."""
    import copy as copying

    import papermill
    from execute_chapters import clean

    from kdcore.batch import KERNEL_START_TIMEOUT
    from kdcore.chapters import chapter_key

    chapter_path = book / copy_path.name
    run, chapter = (nbformat.read(p, as_version=4) for p in (copy_path, chapter_path))
    left = book_only(chapter)
    cells = [c for c in chapter.cells if c.get("id") not in left]
    report = [c for c in cells if c.cell_type == "code" and "report" in c.metadata.get("tags", [])]
    key = chapter_key(chapter_path)
    record = json.loads((copy_path.parent / f"{key}.json").read_text())
    params, results = record["params"], record["results"]
    book_run = book / "results" / f"{key}.json"  # the book's run of the chapter: how it tests each comparison now
    current = json.loads(book_run.read_text())["results"] if book_run.is_file() else {}
    # a run from before the chapter paired its comparisons: its verdicts made again with today's tests
    retested = "comparisons_ignoring_pairs" in current and "comparisons_ignoring_pairs" not in results
    setup = nbformat.v4.new_code_cell(
        "import json\n\nfrom kdcore.params import Params\nfrom kdcore.record import retest\n\n"
        f"record = json.loads(open({key + '.json'!r}).read())\n"
        'results, P = record["results"], Params(**record["params"])'
        + (f"\nresults = retest(results, json.loads({json.dumps(current['comparisons'])!r}))" if retested else "")
    )  # fmt: skip
    shown = nbformat.v4.new_code_cell("P")  # the resolved parameters, for the cell that displays them
    shown["id"] = SHOWN_PARAMETERS
    redraw = nbformat.v4.new_notebook(cells=[setup, shown, *copying.deepcopy(report)], metadata=chapter.metadata)
    scratch = copy_path.with_suffix(".rerender.ipynb")
    try:
        nbformat.write(redraw, scratch)
        papermill.execute_notebook(
            str(scratch), str(scratch), cwd=str(copy_path.parent), kernel_name="python3", progress_bar=False,
            start_timeout=KERNEL_START_TIMEOUT,
        )  # fmt: skip
        drawn = {c.get("id"): c for c in clean(nbformat.read(scratch, as_version=4)).cells[1:]}
    finally:
        scratch.unlink(missing_ok=True)
    ran = {c.get("id"): c for c in run.cells}
    kept = []
    for cell in cells:
        if cell.cell_type == "markdown":
            kept.append(copying.deepcopy(cell))
        elif cell.get("id") in drawn:
            kept.append(drawn[cell["id"]])  # numbered as in the run, where the run had the cell
            numbered(kept[-1], ran[cell["id"]].get("execution_count") if cell["id"] in ran else None)
        elif FIXED in cell.metadata.get("tags", []):
            kept.append(copying.deepcopy(cell))  # a worked example: the same at every profile, nbval checks it
        elif cell.get("id") in ran:
            kept.append(ran[cell["id"]])  # the code that ran, and what it printed
    shows_p = chapter.cells[parameters_at(chapter) + 1].get("id")
    for cell in kept:  # the display of P: the run's parameters, from its results JSON
        if cell.get("id") == shows_p and cell.cell_type == "code":
            cell.outputs = drawn[SHOWN_PARAMETERS].outputs
            numbered(cell, cell.get("execution_count"))
    chapter_ids = {c.get("id") for c in chapter.cells}
    for i, cell in enumerate(run.cells):  # the values a run was given (papermill's cell): where the run had them
        if cell.get("id") not in chapter_ids and "injected-parameters" in cell.metadata.get("tags", []):
            before = next((c.get("id") for c in reversed(run.cells[:i]) if c.get("id") in chapter_ids), None)
            at = next((j + 1 for j, c in enumerate(kept) if c.get("id") == before), 0)
            kept.insert(at, cell)
    note = full_note(next(c for c in run.cells if c.cell_type == "markdown").source)
    note = "\n".join(line for line in note.splitlines() if not line.startswith(RERENDERED))
    link = chapter_link(chapter_path.name, up_to(book, copy_path))
    note = re.sub(rf"^{re.escape(LEFT_OUT)} .*$", left_out_line(len(left), link) if left else "", note,
                  flags=re.M)  # as many as now  # fmt: skip
    note = re.sub(r"Every number, table, figure and verdict on this page comes from this run;[^\n]*", SAYS_WHICH, note)
    note = note.replace("To re-run it: `python scripts/", "To re-run it: `.venv/bin/python scripts/")  # older notes
    when = time.strftime("%Y-%m-%d")
    line = (f"{RERENDERED} on {when} from commit `{commit[:12]}`, from this run's results JSON "
            "(`scripts/import_gpu_run.py --rerender`; nothing was trained again); its experiment cells and their "
            "logs are the run's.")  # fmt: skip
    note = note.removesuffix(":::").rstrip("\n") + f"\n\n{line}\n:::"
    twice = teacher_trained_twice(copy_path.parent) if key == "capacity_gap" else None
    also = (trained_twice_line(twice, up_to(book, copy_path)),) if twice else ()
    ran = re.search(r"from commit `([0-9a-f]+)`", note)  # the run's: the note's first (the re-render line is last)
    if params.get("augment") and ran and padded_with_mean(ran.group(1)):
        also += (CROPS_LINE,)
    note = with_scale(note, params, retested, also)
    presented_as_in_chapter(kept, chapter, params["profile"])
    dress(kept, up_to(book, copy_path), note, chapter_path.name, copy_path.relative_to(book).as_posix())
    run.cells = kept
    write_copy(run, copy_path)
    return len(report)


def add_to_toc(toc_path: Path, files: list[str], part: str) -> None:
    """Add ``files`` to the part captioned ``part`` (created before the appendix), unless listed already."""
    toc = yaml.safe_load(toc_path.read_text())
    listed = {c["file"] for p in toc["parts"] for c in p["chapters"]}
    missing = [f for f in files if f not in listed]
    if not missing:
        return
    for entry in toc["parts"]:
        if entry["caption"] == part:
            entry["chapters"] += [{"file": f} for f in missing]
            break
    else:
        numbered = {"numbered": 1} if part == PART else {}  # the copies go on from the chapters' numbers
        toc["parts"].insert(len(toc["parts"]) - 1, {"caption": part, **numbered,
                                                    "chapters": [{"file": f} for f in missing]})  # fmt: skip
    header = "".join(line + "\n" for line in toc_path.read_text().splitlines() if line.startswith("#"))
    toc_path.write_text(header + yaml.safe_dump(toc, sort_keys=False, indent=2))


def appendix(check: dict, plans: dict, folder: Path) -> str:
    """The appendix page: what scripts/gpu_check.py measured, every number read from its JSON (and the cost
    plans, ``plans[profile]``, that turn throughputs into a chapter's GPU time; links relative to ``folder``)."""
    from cost_table import markdown_table
    from gpu_check import STEPS

    env, calls = check["environment"], check.get("calls") or []
    when = f"in {len(calls)} calls (at the end)" if len(calls) > 1 else f"started {env['started']}"
    lines = ["# GPU measurements", "",
             f"Measured by `scripts/gpu_check.py` on **{env['device']}** (torch {env['torch']}, CUDA {env['cuda']}, "
             f"Python {env['python']}), {when}; the raw record is "
             "`benchmarks/results/gpu_check.json`; how each is measured: `benchmarks/README.md`.", "",
             "This page is for readers with a GPU: what the `paper` profile costs, and how fast kdcore's KD "
             "training step is against the usual pipeline.", ""]  # fmt: skip
    three_ways = ["The KD throughput tables time one teacher → student step three ways, on the same GPU, models "
                  "and loss: **(a)** the RepDistiller-style pipeline (a DataLoader of CPU-augmented images, fp32, "
                  "batch 64); **(b)** kdcore's fast path at the same batch (data and augmentation on the GPU, bf16, "
                  "a frozen bf16 teacher copy); **(c)** the fast path at the batch size of a sweep that gave the most "
                  "images per second. The column *× (a)* divides by (a): (b) ÷ (a) is the pipeline alone, while "
                  "(c) ÷ (a) also counts the larger batch, which is most of its gain.", ""]  # fmt: skip
    paper_rates = (check.get("paper_throughputs") or {}).get("json")
    if paper_rates:  # what a reader with a GPU asks first
        lines += ["## What the paper profile costs", "", markdown_table(plans["paper"], paper_rates, folder), ""]
    for step, title in FAST_PATHS:
        kd = (check.get(step) or {}).get("json")
        if not kd:
            continue
        rates, a = kd["images_per_s"], kd["args"]
        mode = f" (mode `{a['compile']}`)" if isinstance(a.get("compile"), str) else ""
        baseline = "(a) RepDistiller-style" + (", not compiled" if title == "with" else "")
        lines += [f"## KD throughput, {a['teacher']} → {a['student']}, {title} `torch.compile`{mode}", ""]
        lines += three_ways  # under the first of the tables it explains
        three_ways = []
        lines += ["| pipeline | batch | images/s | × (a) |", "|---|---|---|---|",
                  f"| {baseline} | {a['baseline_batch']} | {rates['a']:,.0f} | 1.00 |",
                  f"| (b) kdcore fast path | {a['baseline_batch']} | {rates['b']:,.0f} | {kd['ratio_b_a']:.2f} |",
                  f"| (c) kdcore, best batch | {kd['best_batch']} | {rates['c']:,.0f} | {kd['ratio_c_a']:.2f} |",
                  ""]  # fmt: skip
    lines += both_baselines(check)
    lines += targets(check)
    for profile in ("paper", "gpu"):
        rates = (check.get(f"{profile}_throughputs") or {}).get("json")
        if not rates:
            continue
        lines += [f"## Training and forward throughput of the `{profile}` profile's networks", "",
                  "| network | batch | training, images/s | forward, images/s |", "|---|---:|---:|---:|"]  # fmt: skip
        for arch in sorted(set(rates["train"]) | set(rates["forward"])):
            batches = sorted({*rates["train"].get(arch, {}), *rates["forward"].get(arch, {})}, key=int)
            for batch in batches:
                train, forward = rates["train"].get(arch, {}).get(batch), rates["forward"].get(arch, {}).get(batch)
                lines.append(f"| {arch} | {batch} | {f'{train:,.0f}' if train else '–'} | "
                             f"{f'{forward:,.0f}' if forward else '–'} |")  # fmt: skip
        lines.append("")
        if profile == "gpu" and "projected_gpu_book_seconds" in check["gpu_throughputs"]:
            lines += [gpu_book_sentence(check, folder), ""]
    step = check.get("chapter_kd_step") or {}
    if "images_per_s" in step:
        lines += chapter_step_table(check, step)
        paths = fast_paths(check)
        calls_of = {s: call_of(check, s) for s in ("chapter_kd_step", *(s for _, s, _, _ in paths))}
        if len({c["started"] for c in calls_of.values() if c}) > 1:
            lines += ["", "Measured in different calls (" + "; ".join(f"`{s}`: {c['started']}" for s, c in
                      calls_of.items() if c) + "), possibly on different machines of the same kind: a ratio "
                      "between two calls carries the spread between machines too."]  # fmt: skip
        lines.append("")
    lines += objectives_table(check)
    lines += paper_profile_runs(check)
    lines += one_seed_twice(folder, calls)
    # how it was measured, last: the calls, what is missing, the log (a reader with a GPU wants the numbers first)
    how: list[str] = []
    if len(calls) > 1:  # each call may have had a different machine of the same kind: say which measured what
        how += ["Each call ran `scripts/gpu_check.py` on a GPU machine of that kind, at the commit shown:", "",
                "| call started | commit | steps it measured (as kept here) |", "|---|---|---|"]  # fmt: skip
        how += [f"| {c['started']} | `{c['commit'][:12]}` | {', '.join(f'`{s}`' for s in c['steps'])} |"
                for c in calls]  # fmt: skip
        how.append("")
    missing = [(step, why) for step in STEPS if (why := not_measured(check.get(step)))]
    if missing:
        how += ["These steps of `scripts/gpu_check.py` have no GPU record yet (the tests run each of them on a "
                "CPU, at a tiny size):", "", "| step | why |", "|---|---|"]  # fmt: skip
        how += [f"| `{step}` | {why} |" for step, why in missing]
        how.append("")
    if check.get("notes"):
        how += ["What each GPU session measured, in order: which run gave which number, what failed and was fixed, "
                "and what the numbers above can and cannot say.", "",
                f":::{{admonition}} The measurement log ({len(check['notes'])} entries)", ":class: dropdown",
                *(f"* {note}" for note in check["notes"]), ":::", ""]  # fmt: skip
    if how:  # a heading only over something to say
        lines += ["## How these numbers were taken", "", *how]
    return "\n".join(lines).rstrip("\n")


def write_appendix(root: Path, check: dict) -> None:
    """``book/gpu_measurements.md`` from ``check`` (the merged gpu_check.json) and the committed cost plans."""
    plans = {p: json.loads((root / "benchmarks" / "plan" / f"{p}.json").read_text()) for p in ("paper", "gpu")}
    (root / "book" / "gpu_measurements.md").write_text(appendix(check, plans, root / "book") + "\n")


def chapter_step_table(check: dict, step: dict) -> list[str]:
    """The chapters' own KD step beside the benchmark's fast path at each batch size, compiled with compiled
    and eager with eager, and what the step's other variants (a folded teacher, compiling) measured."""
    paths = [path for path in fast_paths(check) if path[3]]
    lines = [f"## The chapters' own KD step, {step['teacher']} → {step['student']}", "",
             "Images per second; *fast ÷ step* is the fast path's throughput over the chapters' step (the target: at "
             "most 1.5).", "",
             "| batch | " + " | ".join(f"{name}: chapters' step | fast path | fast ÷ step" for name, *_ in paths)
             + " |",
             "|---:|" + "---:|---:|---:|" * len(paths)]  # fmt: skip
    for batch in step["images_per_s"]:
        cells = [f"{chapters[batch]:,.0f} | " + (f"{sweep[batch]:,.0f} | {sweep[batch] / chapters[batch]:.2f}"
                 if batch in sweep else "– | –") for _, _, sweep, chapters in paths]  # fmt: skip
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    plain, folded = step["images_per_s"], step.get("images_per_s_fold_bn")
    if folded:
        lines += ["", "With the teacher's BatchNorms folded into its convolutions (`kdcore.fit.fold_batchnorm`), "
                  "the chapters' step ran at " + ", ".join(f"{folded[b] / plain[b]:.2f} ×" for b in plain)
                  + f" its speed unfolded (batch {', '.join(plain)}), in the same call."]  # fmt: skip
    if extra := step.get("compile_seconds"):
        lines += ["", f"Compiling (`{step['compile']}`) made each run's first epoch {min(extra.values()):.0f}–"
                  f"{max(extra.values()):.0f} s longer than its second: compiling and graph capture at the start "
                  "of each run (each at a new batch size here)."]  # fmt: skip
    return lines


def paper_profile_runs(check: dict) -> list[str]:
    """Step ``chapters``: did each chapter run to its end at the paper profile on CUDA (tiny sizes), and how long."""
    chapters = check.get("chapters") or []
    if not isinstance(chapters, list) or not chapters:
        return []
    given = chapters[0].get("parameters", {})
    call = next((c["started"] for c in check.get("calls") or [] if "chapters" in c["steps"]), None)
    return ["## Every chapter at the paper profile on CUDA, at a tiny size", "",
            f"Each chapter ran to its end on the GPU at the paper profile{f' (call of {call})' if call else ''}, "
            f"on `{given.get('dataset', '?')}` ({given.get('train_subset', 0):,} training images, CIFAR-100's shape "
            "and classes, generated: nothing to download) with every teacher and student trained for one or two "
            "epochs: a check that the paper-scale code path works on CUDA, not a measurement of the chapters' cost "
            "(that is the table above). *s*: the chapter's wall-clock seconds.", "",
            "| chapter | ran to the end | s |", "|---|---|---|",
            *(f"| {c['chapter']} | {'yes' if c['ok'] else 'no'} | {c['seconds']:.0f} |" for c in chapters),
            ""]  # fmt: skip


def gpu_book_sentence(check: dict, book_dir: Path) -> str:
    """What the `gpu` profile's chapters (those step ``gpu_book`` ran) were projected at, and how long they
    took at which epochs."""
    from gpu_check import GPU_CHAPTERS

    from kdcore.chapters import chapter_key, chapter_notebooks

    throughputs, book = check["gpu_throughputs"], check.get("gpu_book") or {}
    keys = book.get("chapters", GPU_CHAPTERS)  # --gpu-chapters; a record without them ran all
    names = {chapter_key(nb): nb.name for nb in chapter_notebooks(book_dir)}  # links to the gpu pages
    ran = [f"[chapter {int(names[key][:2])}](results/gpu/{names[key]})" if key in names else key for key in keys]
    which = f"{ran[0]} was" if len(ran) == 1 else f"{', '.join(ran[:-1])} and {ran[-1]} were"
    projected = throughputs["projected_gpu_book_seconds"] / 60
    overhead = throughputs.get("overhead_gpu_book_seconds")
    said = f"{projected:.1f} min of training" + (f" and {overhead / 60:.1f} min of fixed overhead" if overhead else "")
    if "seconds" not in book:
        return f"The `gpu` profile's {which} projected at {said} from these; not run to the end yet."
    changes = {k: v for c in keys for k, v in changed_from_profile(book.get("overrides") or {}, c).items()}
    epochs = (
        "at the profile's epochs"
        + (f" (scale {book['scale']:.2f} rounds back to them)" if book.get("scale", 1) < 1 else "")
        if not changes
        else f"their epochs scaled by {book['scale']:.2f} ({', '.join(f'`{k} = {v}`' for k, v in changes.items())})"
    )
    return (f"The `gpu` profile's {which} projected at {said} from these, and ran in "
            f"{book['seconds'] / 60:.1f} min (step `gpu_book`), {epochs}.")  # fmt: skip


def objectives_table(check: dict) -> list[str]:
    """Step ``compile_objectives``: each objective the chapters train with, eager and compiled, for two seeds
    (benchmarks/compile_objectives.py): images/s, what compiling cost, whether the losses agree."""
    result = (check.get("compile_objectives") or {}).get("json")
    if not result:
        return []
    a = result["args"]
    lines = [f"## Every objective compiled (mode `{a['compile']}`), {a['teacher']} → {a['student']}, "
             f"batch {a['batch']}", "",
             f"Four runs an objective, one after the other in one process, {a['num_train']:,} images × "
             f"{a['epochs']} epochs each (the first a warm-up): eager; compiled; compiled for a fresh student "
             "(a chapter's next seed); eager for that seed. Images/s over the warm epochs; *extra s*: how much "
             "longer the first epoch took than a warm one; the loss is the first epoch's mean, the same seed's "
             "eager and compiled runs starting from the same student and batches.", "",
             "| objective | eager, images/s | compiled, images/s | × eager | extra s, compiled | "
             "extra s, next seed (graphs) | loss, eager / compiled | graph breaks |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]  # fmt: skip
    for name, runs in result["objectives"].items():
        failed = [f"{label}: {run['error'][:120]}" for label, run in runs.items() if "error" in run]
        if failed:
            lines.append(f"| {name} | failed: {'; '.join(failed)} | | | | | | |")
            continue
        eager, compiled, again = runs["eager"], runs["compiled"], runs["compiled, next seed"]
        extra = [round(r["first_epoch_extra_s"], 1) or 0.0 for r in (compiled, again)]  # no "-0.0"
        lines.append(
            f"| {name} | {eager['images_per_s']:,.0f} | {compiled['images_per_s']:,.0f} | "
            f"{compiled['images_per_s'] / eager['images_per_s']:.2f} | {extra[0]:.1f} | "
            f"{extra[1]:.1f} ({again['graphs_compiled']}) | "
            f"{eager['first_epoch_loss']:.4f} / {compiled['first_epoch_loss']:.4f} | "
            f"{compiled['graph_breaks'] + again['graph_breaks']} |"
        )
    return [*lines, ""]


def not_measured(record) -> str | None:
    """Why a step's record holds no measurement (never ran, skipped, failed), or None if it holds one."""
    if record is None:
        return "no record: the step never ran, or its call ended before the step did"
    if isinstance(record, list):
        return None
    if "skipped" in record:
        return f"skipped: {record['skipped']}"
    if "error" in record or record.get("exit") not in (None, 0):
        tail = (record.get("error") or record.get("tail") or "").strip().splitlines()
        return f"failed (exit {record.get('exit', '–')}): `{tail[-1][:160] if tail else '?'}`"
    return None


def fast_paths(check: dict) -> list[tuple[str, str, dict, dict]]:
    """The benchmark's fast-path sweeps in the record, each beside the chapters' KD step run the same way
    (compiled or not): (name, step, the fast path's images/s by batch, the chapters' step's)."""
    chapters = check.get("chapter_kd_step") or {}
    paths = []
    for step, word in FAST_PATHS:
        if kd := (check.get(step) or {}).get("json"):
            mode = kd["args"].get("compile")
            name = f"{word} compile" + (f" ({mode})" if isinstance(mode, str) else "")
            rates = chapters.get("images_per_s_compiled" if mode else "images_per_s") or {}
            if mode and chapters.get("compile") != mode:  # the chapters' step compiled another way, or not
                rates = {}
            paths.append((name, step, kd["images_per_s"]["sweep"], rates))
    return paths


def both_baselines(check: dict) -> list[str]:
    """Under the two KD throughput tables: each divides by its own run's (a), never compiled, so their × (a)
    columns differ by (a)'s spread as well as by compile; what compile did is the ratio of images/s."""
    kds = [(check.get(step) or {}).get("json") for step, _ in FAST_PATHS]
    if not all(kds):
        return []
    (eager, compiled), (a1, a2) = [k["images_per_s"] for k in kds], [k["images_per_s"]["a"] for k in kds]
    return [f"Baseline (a) is not compiled in either table and is measured anew in each run: {a1:,.0f} images/s "
            f"in the first, {a2:,.0f} in the second. So the two *× (a)* columns divide by different numbers; "
            f"what compile did shows in images per second: (b) went from {eager['b']:,.0f} to "
            f"{compiled['b']:,.0f} (× {compiled['b'] / eager['b']:.1f}), (c) from {eager['c']:,.0f} to "
            f"{compiled['c']:,.0f} (× {compiled['c'] / eager['c']:.1f}).", ""]  # fmt: skip


def targets(check: dict) -> list[str]:
    """kdcore's three speed targets, each as the ratio this record measured (rows for what it has)."""
    rows = []
    for name, source, _, _ in fast_paths(check):
        kd = check[source]["json"]
        rates, args = kd["images_per_s"], kd["args"]
        recipe = args["recipe_images"] * args["recipe_epochs"] / rates["c"] / 60
        rows += [f"| (c) ÷ (a), images/s, {name} | ≥ 10 | {kd['ratio_c_a']:.2f} | "
                 f"{'yes' if kd['ratio_c_a'] >= 10 else 'no'} |",
                 f"| {args['recipe_epochs']}-epoch recipe at (c), teacher aside, {name} | ≤ 10 min | "
                 f"{recipe:.1f} min | {'yes' if recipe <= 10 else 'no'} |"]  # fmt: skip
    for name, source, sweep, chapters in fast_paths(check):
        one_call = call_of(check, source) == call_of(check, "chapter_kd_step")
        for batch, rate in chapters.items():
            if str(batch) in sweep:
                ratio = sweep[str(batch)] / rate
                rows.append(f"| fast path {name} ÷ chapters' KD step, images/s, batch {batch}"
                            f"{'' if one_call else ', two calls'} | ≤ 1.5 | {ratio:.2f} | "
                            f"{'yes' if ratio <= 1.5 else 'no'} |")  # fmt: skip
    if not rows:
        return []
    why = (
        "What kdcore's fast path is for, in numbers, and whether it got there: at least 10 times the images per "
        "second of the RepDistiller-style pipeline, the 240-epoch KD recipe in at most 10 minutes of one GPU "
        "(the teacher's training aside), and the chapters' own KD step within 1.5 times of the fast path, so "
        "that a chapter runs as fast as the benchmark says. The targets were set for an H100; the numbers are "
        "the device's named at the top of this page. Each row is one run's: a ratio to (a) moves with (a), "
        "which varies between runs more than the fast path does, and an earlier run can have missed a target "
        "this one met (the log at the end of this page)."
    )
    return ["## kdcore's speed targets, as measured", "", why, "", "| target | aimed for | measured | met |",
            "|---|---|---|---|", *rows, ""]  # fmt: skip


def merged(path: Path, new: dict, commit: str) -> dict:
    """``new`` (one call's record, from ``commit``) on top of the record already at ``path`` from the same
    device and torch: the device check's calls, in one session or over several, make one record, each step as
    the latest call to run it measured it. ``calls`` says which call measured which step (``started``,
    ``commit``, ``steps``); a call whose every step was measured again drops out. A record from another
    device or torch is replaced, not mixed in."""
    from gpu_check import STEPS

    call = {"started": new["environment"]["started"], "commit": commit, "steps": [s for s in STEPS if s in new]}
    if not path.exists():
        return {**new, "calls": [call]}
    old = json.loads(path.read_text())
    if any(old["environment"].get(k) != new["environment"].get(k) for k in ("device", "torch")):
        return {**new, "calls": [call]}
    earlier = [{**c, "steps": [s for s in c["steps"] if s not in call["steps"]]} for c in old.get("calls", [])]
    return {**old, **new, "calls": [c for c in earlier if c["steps"]] + [call]}


def call_of(check: dict, step: str) -> dict | None:
    """The call of the record that measured ``step`` (None in a record without ``calls``)."""
    return next((c for c in check.get("calls", []) if step in c["steps"]), None)


def write_copy(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a copy with its Colab install cell set to the book's ``kdcore_ref``, the library its report cells
    were drawn with (tests/test_install_cell.py checks it), in ``sync_install_cell``'s layout."""
    import sync_install_cell as sync

    notebook = json.loads(nbformat.writes(nb))
    path.write_text(sync.dumps(sync.synced(notebook, sync.install_source(*sync.read_config()))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument("--commit", help="the commit the device ran (git rev-parse HEAD then)")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="no run: re-render the committed gpu copies' prose and displays from their results JSON",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # tests: a copy of the book
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.rerender:
        commit = args.commit or subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                               text=True, check=True).stdout.strip()  # fmt: skip
        for copy in sorted((root / "book" / "results" / "gpu").glob("*.ipynb")):
            print(f"{copy.relative_to(root)}: {rerender(copy, root / 'book', commit)} report cells re-run")
        check_path = root / "benchmarks" / "results" / "gpu_check.json"
        if check_path.is_file():  # the appendix reads the copies too (one_seed_twice)
            write_appendix(root, json.loads(check_path.read_text()))
        return 0
    if args.run_dir is None or not args.commit:
        parser.error("RUN_DIR and --commit are needed to import a run")
    gpu, check_path = args.run_dir / "gpu", args.run_dir / "gpu_check.json"
    if not (gpu / "run.json").exists() and not check_path.exists():
        parser.error(f"{args.run_dir} holds neither gpu/run.json nor gpu_check.json: pass the folder a device call "
                     "returned (the one holding them), once per call")  # fmt: skip
    if (gpu / "run.json").exists():
        run = json.loads((gpu / "run.json").read_text())
        dest = root / "book" / "results" / "gpu"
        dest.mkdir(parents=True, exist_ok=True)
        names = tuple(run["chapters"])  # in the order they ran: a later one reused the earlier ones' runs
        for i, (name, info) in enumerate(run["chapters"].items()):
            earlier = names[:i]
            import_notebook(gpu / name, dest / name, info, run["environment"], args.commit, root / "book", earlier)
            shutil.copyfile(gpu / f"{info['chapter']}.json", dest / f"{info['chapter']}.json")  # not its mode
            print(f"book/results/gpu/{name}")
        add_to_toc(root / "_toc.yml", [f"book/results/gpu/{Path(n).stem}" for n in run["chapters"]], PART)
    if check_path.exists():
        check = merged(
            root / "benchmarks" / "results" / "gpu_check.json", json.loads(check_path.read_text()), args.commit
        )
        (root / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
        (root / "benchmarks" / "results" / "gpu_check.json").write_text(json.dumps(check, indent=2) + "\n")
        write_appendix(root, check)
        rates = (check.get("paper_throughputs") or {}).get("json")
        if rates:  # the paper profile's cost table in the READMEs and a line in each chapter's first cell
            path = root / "benchmarks" / "results" / "throughputs_paper.json"
            path.write_text(json.dumps(rates, indent=1) + "\n")
            command = [sys.executable, str(ROOT / "scripts" / "cost_table.py"), "table", "--throughputs", str(path),
                       "--plan", str(root / "benchmarks" / "plan" / "paper.json"), "--book", str(root / "book"),
                       "--write", str(root / "README.md"), str(root / "benchmarks" / "README.md")]  # fmt: skip
            subprocess.run(command, check=True)
        add_to_toc(root / "_toc.yml", ["book/gpu_measurements"], "Appendix")
        print("benchmarks/results/gpu_check.json, book/gpu_measurements.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
