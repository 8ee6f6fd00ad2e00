"""What the chapters say, written once: tables, verdict tables, the claims the prose makes, and the run's
numbers glued into it (figures: :mod:`kdcore.figures`).

Every function here reads plain data (lists of numbers, the comparison dicts of :mod:`kdcore.results`), never
models, so a chapter can redraw its tables and verdicts from its results JSON alone. A number in the prose
comes from the run through myst-nb's ``glue`` (:func:`glue`); the verdicts the prose states are checked
against the run that executes it (:func:`prose_check`).

Its module level imports the standard library alone, and :mod:`kdcore.results` (numpy, scipy) only inside the
functions that need it: ``make read``'s small environment imports this module for the HTML build
(``_ext/glued_numbers.py``) without numpy or scipy (``tests/test_read.py``).
"""

from __future__ import annotations

import html
import math
import re
import statistics
from collections.abc import Mapping, Sequence

from .notebook import in_ipython

# ---------------------------------------------------------------------------------------------------- tables
NEGATIVE = re.compile(r"(?<![\w.])-(?=\d)")  # the hyphen that starts "-0.09" or "[-1.22,", not "mlp-32" or "1e-3"


def minus_signs(text: str) -> str:
    """``text`` with a minus sign (U+2212) where a hyphen starts a number, for the page: ``"-0.09 to +0.67"``
    reads ``"−0.09 to +0.67"``, as the prose's glued numbers do in the HTML (``_ext/glued_numbers.py``). What
    a program reads (results JSON, the batch CSV, a table as text) keeps the hyphen Python prints."""
    return NEGATIVE.sub("\u2212", text)


class Strong(str):
    """A table cell set in bold (a verdict beyond noise, among verdicts within it)."""


class Table:
    """Rows of dicts shown as a table: HTML in the book and in Jupyter, Markdown as text (``str``)."""

    def __init__(self, rows: Sequence[Mapping | str], columns: Sequence[str] | None = None,
                 caption: str | None = None, wrap: bool = False, intro: str = "", note: str = "",
                 name: str | None = None):  # fmt: skip
        rows = [r for r in rows if r]
        dicts = [r for r in rows if not isinstance(r, str)]
        self.columns = list(columns or (dicts[0].keys() if dicts else []))
        # a string among the rows heads the rows after it: one cell across the table
        self.rows = [r if isinstance(r, str) else [_cell(r.get(c, "")) for c in self.columns] for r in rows]
        self.caption = caption
        self.wrap = wrap  # cells may break at their spaces (keep a number whole with no-break spaces)
        self.intro = intro  # a paragraph of plain text above the table: what its rows compare, and how
        self.note = note  # a line below it: what a mark in its cells means
        self.name = name  # the book's label for it: the prose says {numref}`name` ("Table 4.2")

    def to_markdown(self) -> str:
        star = lambda v: v.replace("*", "\\*")  # a mark, not emphasis or a list item
        bold = lambda v: f"**{star(v)}**" if isinstance(v, Strong) else star(v)
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join([f"**{row}**"] + [""] * (len(self.columns) - 1)) + " |" if isinstance(row, str)
                  else "| " + " | ".join(map(bold, row)) + " |" for row in self.rows]  # fmt: skip
        if not self.columns:  # no rows to show (verdicts of no comparisons): no table
            lines = []
        above = [self.intro, ""] if self.intro else []
        caption = [f"**{self.caption}**", ""] if self.caption and lines else []
        below = ["", star(self.note)] if self.note else []
        return "\n".join(above + caption + lines + below).strip("\n")

    def _repr_html_(self) -> str:
        esc = html.escape
        shown = lambda v: esc(minus_signs(v))  # as the page sets a number: "−0.09"
        cell = lambda v: f"<td><strong>{shown(v)}</strong></td>" if isinstance(v, Strong) else f"<td>{shown(v)}</td>"
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            f'<tr class="kdcore-heading"><th colspan="{len(self.columns)}">{esc(row)}</th></tr>'
            if isinstance(row, str) else "<tr>" + "".join(map(cell, row)) + "</tr>"
            for row in self.rows
        )  # fmt: skip
        caption = f"<caption>{esc(self.caption)}</caption>" if self.caption else ""
        intro = f"<p>{esc(self.intro)}</p>" if self.intro else ""
        note = f'<p class="kdcore-note">{esc(self.note)}</p>' if self.note else ""
        if not self.columns:  # no rows to show: no empty table
            return intro + note
        # the wrapper scrolls a wide table inside the text column instead of overflowing the page; the book
        # numbers a captioned table and labels it by its name (_ext/numbered_tables.py reads both from here)
        name = f' data-name="{esc(self.name)}"' if self.name else ""
        return (
            f'{intro}<div class="kdcore-table{" kdcore-wrap" if self.wrap else ""}"{name} style="overflow-x:auto">'
            f'<table class="table">{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>'
        )

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()

    __repr__ = __str__  # text/plain: the table as Markdown, not an object's address (nbval compares it)


def _cell(value) -> str:
    if isinstance(value, Strong):
        return value
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(rows: Sequence[Mapping | str], columns: Sequence[str] | None = None, caption: str | None = None,
          wrap: bool = False, intro: str = "", note: str = "", name: str | None = None) -> Table:  # fmt: skip
    """A :class:`Table` of ``rows``; the last expression of a cell displays it. In the book a cell of a
    number column stays on one line; with ``wrap`` its cells break at spaces (a :func:`verdict_cell` before
    its verdict), so a table of several verdict columns fits the page. A string among the rows is a heading
    across the table for the rows below it; ``intro``, a paragraph above it; ``note``, a line below it. A
    :class:`Strong` cell is set in bold.

    The book numbers a table with a ``caption`` ("Table 4.2" before it, per chapter, as its figures); ``name`` makes
    it a label too, which the prose cites as ``{numref}`name```."""
    return Table(rows, columns, caption, wrap, intro, note, name)


def mean_std(values, scale: float = 100.0, digits: int = 2) -> str:
    """``"87.12 ± 0.21"``: mean ± sample std of ``values`` × ``scale`` (percent by default); one value: no ±;
    a spread that rounds to 0 but is not, ``"± <0.01"``.
    No-break spaces around the ±: the number stays whole in a :func:`table` that wraps."""
    from .results import summary

    values = [scale * float(v) for v in values]
    if not values:
        return "–"
    s = summary(values)
    if s["n"] < 2:
        return f"{s['mean']:.{digits}f}"
    std = f"{s['std']:.{digits}f}"
    tiny = 1e-9 * max(1.0, abs(s["mean"]))  # below it, float rounding (0.1 + 0.2 against 0.3), not a spread
    if s["std"] > tiny and float(std) == 0:  # a spread too small for the digits shown: not "± 0.000"
        std = f"<{10**-digits:.{digits}f}"
    return f"{s['mean']:.{digits}f}\u00a0±\u00a0{std}"


# -------------------------------------------------------------------------------------------------- verdicts
def called_by_holm_alone(c: Mapping) -> bool:
    """Whether Holm's step-down test calls a difference (higher or lower) that its Bonferroni interval, the
    more conservative of the two, still contains 0 for: the verdict and the interval printed beside it seem
    to disagree, and the reader is owed the reason (:data:`kdcore.results.HOLM_CI_NOTE`)."""
    ci = c.get("ci")
    return (c.get("p_adjusted") is not None and ci is not None and c.get("verdict") in ("higher", "lower")
            and ci[0] <= 0 <= ci[1])  # fmt: skip


def holm_alone(c: Mapping) -> str:
    """The clause that says why a verdict beyond noise stands beside an interval that includes 0
    (:func:`called_by_holm_alone`), or ``""``."""
    if not called_by_holm_alone(c):
        return ""
    return (f" by Holm's step-down test (adjusted p = {c['p_adjusted']:.3f}), though its Bonferroni interval, "
            "which is more conservative, includes 0")  # fmt: skip


def why_no_interval(c: Mapping) -> str:
    """Why a comparison has no interval: ``"fewer than 2 teachers on one side"``, no spread among its units, or a
    value that is not a number."""
    from .results import NO_SPREAD, NOT_FINITE

    units = c.get("unit", "seeds")
    if c.get("verdict") == NOT_FINITE:
        return "a value is nan or infinite"
    if c.get("verdict") == NO_SPREAD and c.get("paired"):
        return "every pair differs by the same amount, so the spread cannot be estimated"
    if c.get("verdict") == NO_SPREAD and "unit_a" in c and "unit_b" in c:
        return f"the {c['unit_a']} or the {c['unit_b']} do not vary at all, so their spread cannot be estimated"
    if c.get("verdict") == NO_SPREAD:
        return f"the {units} of a side do not vary at all, so their spread cannot be estimated"
    if c.get("paired"):
        return f"fewer than 2 pairs of {units}"
    if "unit_a" in c and "unit_b" in c:
        return f"fewer than 2 {c['unit_a']} or {c['unit_b']} on one side"
    return f"fewer than 2 {units} on one side"


def interval_facts(c: Mapping) -> dict[str, str]:
    """What a comparison's interval covers, fact by fact: its ``level`` ("99.6 % CI"), its ``units`` ("over 5
    vs 5 seeds", "over 6 student seeds vs 3 teachers" where the sides count different things: the keys
    ``unit_a`` and ``unit_b``, or "over 3 pairs of teachers" for a paired test) and its ``correction``
    ("Holm-corrected over 13 comparisons", when there is one)."""
    from .results import SEED_BLOCKS

    level = round(100 * c.get("ci_level", c.get("level", 0.95)), 1)
    n_a, n_b = c.get("n_a", "?"), c.get("n_b", "?")
    if c.get("paired") and c.get("unit") == SEED_BLOCKS:  # a pair: a teacher and its block of seeds
        units = f"over {n_a} teachers, each paired with its seed block"
    elif c.get("paired"):
        units = f"over {n_a} pairs of {c.get('unit', 'seeds')}"
    elif "unit_a" in c and "unit_b" in c:
        units = f"over {n_a} {c['unit_a']} vs {n_b} {c['unit_b']}"
    else:
        units = f"over {n_a} vs {n_b} {c.get('unit', 'seeds')}"
    facts = {"level": f"{level:g} % CI", "units": units}
    if c.get("correction"):
        facts["correction"] = f"{c['correction'].capitalize()}-corrected over {c.get('family_size', '?')} comparisons"
    return facts


def shared_facts(comparisons: Sequence[Mapping]) -> dict[str, str]:
    """The :func:`interval_facts` that every comparison with an interval has in common, when there are at least
    two: a table of verdicts says them once, in its caption and heads, instead of in every row."""
    facts = [interval_facts(c) for c in comparisons if c.get("ci") is not None]
    if len(facts) < 2:
        return {}
    return {key: text for key, text in facts[0].items() if all(f.get(key) == text for f in facts)}


def _covers(facts: Mapping[str, str]) -> str:
    """``"99.6 % CI over 5 vs 5 seeds; Holm-corrected over 13 comparisons"``, from the facts given."""
    head = " ".join(text for text in (facts.get("level"), facts.get("units")) if text)
    return "; ".join(text for text in (head, facts.get("correction")) if text)


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")")


def shared_part(a: str, b: str) -> tuple[str, str, str] | None:
    """What two labels share, to be said once: ``(part, a without it, b without it)``, or ``None``. The part is a
    trailing ``" (X)"``, else a leading ``"X, "``, else a trailing ``", X"``, the same on both sides:
    ``"KD (all labels)"`` and ``"CE (all labels)"`` share ``"all labels"``, and are ``"KD"`` and ``"CE"``. A
    comma inside parentheses splits nothing (``"KD (T=4, α=0.9)"`` keeps its settings whole)."""
    for pattern in (
        r"(?P<rest>.+) \((?P<part>[^()]+)\)",
        r"(?P<part>[^,]+), (?P<rest>.+)",
        r"(?P<rest>.+), (?P<part>[^,]+)",
    ):
        found = [re.fullmatch(pattern, label) for label in (a, b)]
        if all(found) and found[0]["part"] == found[1]["part"]:
            parts = (found[0]["part"], found[0]["rest"], found[1]["rest"])
            if all(map(_balanced, parts)):
                return parts
    return None


def _sides(c: Mapping) -> tuple[str, str]:
    """A comparison's two labels, ``(a, b)``; "A" and "B" where it has none."""
    return c.get("a") or "A", c.get("b") or "B"


def _verdict_row(c: Mapping, shared: Mapping[str, str], scale: float, sides: tuple[str, str] | None = None,
                 mark: str = "") -> dict:  # fmt: skip
    """One comparison as a row of :func:`verdicts`: its sides (``sides``: a and b as the row names them), the
    difference, the interval (with the facts of :func:`interval_facts` that ``shared`` does not say for the
    whole table) and the verdict: "higher" or "lower" (b against a, in bold) or "within noise"; a verdict
    Holm's test alone calls is marked ``*`` (:func:`_holm_note` says why, below the table), and one with a
    ``caveat`` its ``mark``."""
    from .results import fmt_signed

    a, b = sides or _sides(c)
    row = {"comparison": f"{b} − {a}", "difference": fmt_signed(scale * c["diff"])}
    if c.get("ci") is None:  # one unit on a side, or no spread
        return row | {"verdict": f"no interval ({why_no_interval(c)}), so no verdict"}
    low, high = (fmt_signed(scale * x, bound=True) for x in c["ci"])
    own = {key: text for key, text in interval_facts(c).items() if key not in shared}
    interval = " ".join(filter(None, (own.get("level"), f"{low} to {high}"))).replace(" ", "\u00a0")  # kept whole
    if own.get("correction"):
        interval += f"; {own['correction']}"
    over = own.get("units", "").removeprefix("over ")  # "5 pairs of seeds", where the rows differ in it
    verdict = (
        c["verdict"] + mark
        if c["verdict"] == "within noise"
        else Strong(c["verdict"] + "*" * called_by_holm_alone(c) + mark)
    )
    return row | {"interval": interval, "over": over, "verdict": verdict}


CAVEAT_MARKS = "†‡§¶"  # a verdict with a caveat (a comparison's "caveat"), in the order of the table's rows


def _holm_note(comparisons: Sequence[Mapping]) -> str:
    """The line below a verdict table that says why each verdict marked ``*`` stands beside an interval that
    includes 0 (:func:`holm_alone`), or ``""``."""
    alone = [c for c in comparisons if called_by_holm_alone(c)]
    if len(alone) == 1:
        return f"* Beyond noise{holm_alone(alone[0])}."
    if not alone:
        return ""
    p = "; ".join(f"{_sides(c)[1]} − {_sides(c)[0]}, {c['p_adjusted']:.3f}" for c in alone)
    return (f"* Beyond noise by Holm's step-down test (adjusted p: {p}), though their Bonferroni intervals, which "
            "are more conservative, include 0.")  # fmt: skip


def _verdict_table(comparisons: Sequence[Mapping], headings: Sequence[str], intro: str, scale: float, unit: str,
                   factor: bool = False, title: str = "Verdicts", name: str | None = None) -> Table:  # fmt: skip
    """The :class:`Table` of :func:`verdicts` and :func:`verdicts_by`: a row per comparison, a heading row before
    each run of comparisons under one heading (``headings``, one per comparison; with ``factor``, a comparison's
    :func:`shared_part` joins its heading and leaves its sides' names). A heading that comes back, after
    another, says what its rows are over ("low data, over 3 pairs of teachers"): the same group, read again,
    would look like a slip. Where some rows have a heading, a run with none is "other comparisons". What every
    interval covers is said once, in the caption after its ``title`` and the interval column's head, and the unit
    in the heads; a column that says nothing on any row is left out. Below, the reason for each verdict marked
    ``*``."""
    facts = shared_facts(comparisons)
    marks = dict(zip((id(c) for c in comparisons if c.get("caveat")), CAVEAT_MARKS))
    parts = [shared_part(*_sides(c)) if factor else None for c in comparisons]
    headings = [", ".join(filter(None, (h, p and p[0]))) for h, p in zip(headings, parts)]
    rows: list[Mapping | str] = []
    current, seen, headed = None, set(), any(headings)
    for c, heading, part in zip(comparisons, headings, parts):
        if heading != current and headed:
            rows.append(heading or "other comparisons")
            if heading in seen:
                rows[-1] += f", {interval_facts(c)['units']}"  # "low data, over 3 pairs of teachers"
        current = heading
        seen.add(heading)
        rows.append(_verdict_row(c, facts, scale, sides=part[1:] if part else None, mark=marks.get(id(c), "")))
    units = f" ({unit})" if unit else ""
    named = {"difference": f"difference{units}", "interval": facts.get("level", "interval") + units}
    columns = [k for k in ("comparison", "difference", "interval", "over", "verdict")
               if any(isinstance(r, Mapping) and r.get(k) for r in rows)]  # fmt: skip
    renamed = [r if isinstance(r, str) else {named.get(k, k): v for k, v in r.items()} for r in rows]
    caption = f"{title}. Every interval: {_covers(facts)}." if facts else f"{title}."
    caveats = [f"{marks[id(c)]} {c['caveat']}" for c in comparisons if id(c) in marks]
    note = " ".join(filter(None, [_holm_note(comparisons), *caveats]))
    return Table(renamed, [named.get(k, k) for k in columns], caption, wrap=True, intro=intro, note=note,
                 name=name)  # fmt: skip


def verdict_cell(c: Mapping | None, scale: float = 100.0) -> str:
    """A comparison in a table cell: ``"+0.42 [-0.10, +0.94] within noise"`` (in bold when beyond noise: a
    :class:`Strong`), or ``"–"`` for none. The difference and its interval are joined by no-break spaces: a
    :func:`table` with ``wrap`` breaks the cell before the verdict only."""
    from .results import NO_INTERVAL, fmt_interval, fmt_signed

    if c is None:
        return "–"
    if c.get("ci") is None:  # one unit on a side, or no spread: no interval, so no verdict either
        why = c["verdict"] if str(c.get("verdict")).startswith("no interval") else NO_INTERVAL
        return f"{fmt_signed(scale * c['diff'])}, {why}"
    number = f"{fmt_signed(scale * c['diff'])} {fmt_interval(c['ci'], scale, signed=True)}".replace(" ", "\u00a0")
    if c["verdict"] == "within noise":
        return f"{number} within noise"
    holm = f" (by Holm, p\u00a0=\u00a0{c['p_adjusted']:.3f})" if called_by_holm_alone(c) else ""
    return Strong(f"{number} {c['verdict']}{holm}")  # beyond noise: in bold


def side_by_side(
    comparisons: Sequence[Mapping],
    others: Sequence[Mapping],
    labels: Sequence[str],
    by: Sequence[str] = ("regime",),
    missing: str = "not run yet",
    scale: float = 100.0,
    headings: bool = False,
) -> list[dict | str]:
    """Rows for :func:`table`: each comparison as a :func:`verdict_cell` beside the comparison of ``others``
    with the same ``by`` values and the same two sides (``missing`` where there is none), e.g. one run's
    verdicts beside another run's at another scale. ``labels`` name the two columns. The ``by`` values lead
    each comparison's name ("unfriendly: PrUE − KD"), or, with ``headings``, head each run of rows that share
    them (a heading row, as in :func:`verdicts_by`)."""
    rows: list[dict | str] = []
    current = None
    for c, other in _matched(comparisons, others, by):
        group = [str(c.get(k)) for k in by]
        if headings and ", ".join(group) != current:
            current = ", ".join(group)
            rows.append(current)
        name = f"{c['b']} − {c['a']}"
        rows.append({"comparison": name if headings else ": ".join([*group, name]),
                     labels[0]: verdict_cell(c, scale),
                     labels[1]: verdict_cell(other, scale) if other is not None else missing})  # fmt: skip
    return rows


def _matched(comparisons: Sequence[Mapping], others: Sequence[Mapping], by: Sequence[str]) -> list[tuple]:
    """Each comparison with the one of ``others`` that is the same comparison (the same ``by`` values and
    both sides, in order), or None."""

    def same(c: Mapping) -> tuple:
        return (*(c.get(k) for k in by), c["a"], c["b"])

    matching = {same(c): c for c in others}
    return [(c, matching.get(same(c))) for c in comparisons]


def agreement(comparisons: Sequence[Mapping], others: Sequence[Mapping], by: Sequence[str] = ("regime",)) -> dict:
    """How two runs' verdicts compare on the comparisons both made (matched as :func:`side_by_side` does):
    ``shared`` comparisons, how many with the ``same`` verdict, how many beyond noise in the first run only
    (``beyond_first``) or the second only (``beyond_second``), how many of the same verdicts are within noise
    in both (``same_within_noise``: an agreement that says little), how many differences have the same sign
    (``same_sign``), and each run's median interval width over them (``widths``, in the comparisons' units;
    comparisons without an interval left out)."""
    from .results import interval_width

    pairs = [(c, other) for c, other in _matched(comparisons, others, by) if other is not None]
    beyond = [[x["ci"] is not None and x["verdict"] != "within noise" for x in pair] for pair in pairs]
    widths = [[interval_width(x) for x in side if x["ci"] is not None] for side in zip(*pairs)] or [[], []]
    return {"shared": len(pairs), "same": sum(a["verdict"] == b["verdict"] for a, b in pairs),
            "beyond_first": sum(a and not b for a, b in beyond), "beyond_second": sum(b and not a for a, b in beyond),
            "same_within_noise": sum(a["verdict"] == b["verdict"] == "within noise" for a, b in pairs),
            "same_sign": sum((a["diff"] > 0) == (b["diff"] > 0) for a, b in pairs),
            "widths": [statistics.median(w) if w else None for w in widths]}  # fmt: skip


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def times_ten(x: float, digits: int = 0) -> str:
    """``x`` in scientific notation as prose writes it, ``"4 × 10⁻⁶"`` rather than ``"4e-06"`` (``digits``
    after the mantissa's point); 0, nan and infinity as themselves."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(SUPERSCRIPTS)}"


def agreement_words(counts: Mapping, first: str, second: str) -> str:
    """:func:`agreement`'s counts as the prose says them: how many of the comparisons both runs made have the
    same verdict, and how many differences beyond noise ``first`` (run) finds that ``second`` does not and the
    reverse; "all", "none" and "neither" where a count is all or none, rather than "16 of 16" and "in 0"."""
    n, same = counts["shared"], counts["same"]
    if n == 0:
        return "The two runs made no comparison in common."
    alike = "it has" if n == same == 1 else f"all {n} have" if same == n else "none has" if same == 0 else (
        f"{same} has" if same == 1 else f"{same} have")  # fmt: skip
    said = f"Of the {n} comparison{'s' if n > 1 else ''} both runs made, {alike} the same verdict."
    x, y = counts["beyond_first"], counts["beyond_second"]
    if x == y == 0:
        return f"{said} Neither run finds a difference beyond noise that the other does not."
    return (f"{said} In {x or 'none'} of them {first} finds a difference beyond noise that {second} does not; "
            f"in {y or 'none'}, the reverse.")  # fmt: skip


def verdicts(comparisons: Sequence[Mapping], intro: str = "", scale: float = 100.0, unit: str = "pp",
             factor: bool = False, title: str = "Verdicts", name: str | None = None) -> Table:  # fmt: skip
    """A table of verdicts, a row a comparison: ``b − a``, the difference, its interval, the verdict ("higher"
    or "lower", for b against a, beyond noise; or "within noise"). Its caption is ``title`` (what is compared:
    "Verdicts on the students' test accuracy"), then what every interval covers (level, units, correction),
    said once when the rows share it; a fact they do not share stays in each row. ``intro``: a paragraph above
    the table. ``factor``: what both sides of a comparison share (:func:`shared_part`, e.g. the regime in
    "KD (all labels) − CE (all labels)") is said once, in a heading row over the comparisons that share it.
    ``name``: the book's label for it (:func:`table`). A comparison with a ``"caveat"`` (text a chapter adds
    for display: a check that disagrees with the verdict) has its verdict marked †, ‡ …, and the caveat below
    the table."""
    return _verdict_table(comparisons, [""] * len(comparisons), intro, scale, unit, factor, title, name)


def verdicts_by(comparisons: Sequence[Mapping], by: Sequence[str], intro: str = "", scale: float = 100.0,
                unit: str = "pp", title: str = "Verdicts", name: str | None = None) -> Table:  # fmt: skip
    """:func:`verdicts` under a heading row per group: the comparisons that share their values of the keys
    ``by`` (e.g. ``("student", "measure")``), groups in order of first appearance. What the whole family's
    intervals share is said once, in the caption after ``title``."""
    groups: dict[str, list] = {}
    for c in comparisons:
        heading = ", ".join(filter(None, (str(c.get(key) or "") for key in by))).rstrip(":")
        groups.setdefault(heading, []).append(c)
    ordered = [c for group in groups.values() for c in group]
    headings = [heading for heading, group in groups.items() for _ in group]
    return _verdict_table(ordered, headings, intro, scale, unit, title=title, name=name)


# ------------------------------------------------------------------------------------- what the prose claims
STATED = ("verdict", "mean")  # what a claim says of its comparison; every other key picks the comparison out


def claim_name(claim: Mapping) -> str:
    """``"regime: B − A"``: a claim (or a comparison) named by its sides and any other keys it was matched on."""
    keys = [str(v) for k, v in claim.items() if k not in ("a", "b", *STATED)]
    return ": ".join([*keys, f"{claim.get('b', 'B')} − {claim.get('a', 'A')}"])


def find_comparison(comparisons: Sequence[Mapping], **keys) -> Mapping | None:
    """The one comparison whose ``keys`` (``a``, ``b``, ``regime``…) all match, or ``None`` if none does.

    Several matches are a mistake in the caller (a key that tells them apart is missing): ``ValueError``."""
    from .results import matches

    found = [c for c in comparisons if matches(c, keys)]
    if len(found) > 1:
        raise ValueError(f"{keys} matches {len(found)} comparisons; add the key that tells them apart")
    return found[0] if found else None


def verdict_phrase(verdict: str) -> str:
    """A verdict as the prose says it: ``"lower beyond noise"``, ``"within noise"`` (and a "no interval …"
    verdict as it is)."""
    return verdict if verdict == "within noise" or verdict.startswith("no interval") else f"{verdict} beyond noise"


def shown_interval(c: Mapping, scale: float = 100.0) -> str:
    """A comparison's interval as the page shows it: ``"−0.09 to +0.67"`` (a bound that rounds to zero keeps
    the digits that tell its side, :func:`kdcore.results.fmt_signed`)."""
    from .results import fmt_signed

    return " to ".join(minus_signs(fmt_signed(scale * x, bound=True)) for x in c["ci"])


def quoted(c: Mapping | None, scale: float = 100.0, missing: str = "not in that run", count: bool = True) -> str:
    """Another run's comparison in a sentence: ``"2.72 points below (95 % CI −12.50 to +7.10), within noise
    (3 vs 3 teachers)"`` (the interval says how large a difference it leaves open), or ``"1.50 points above
    (99.8 % CI +0.20 to +2.80), higher beyond noise after Holm's correction (3 vs 3 teachers)"`` (the level is
    the interval's: a Holm family's is wider); ``missing`` for ``None``. For prose that quotes a run other than
    the page's own; ``count`` ``False`` leaves out what the units were, for prose that quotes several
    comparisons and says it once."""
    if c is None:
        return missing
    size = f"{abs(scale * c['diff']):.2f} points {'below' if c['diff'] < 0 else 'above'}"
    if c.get("ci") is None:
        return f"{size}, with no interval ({why_no_interval(c)})"
    level = interval_facts(c)["level"]  # e.g. "99.8 % CI": a Holm family's interval is wider
    said = f"{size} ({level} {shown_interval(c, scale)}), "
    units = interval_facts(c)["units"].removeprefix("over ")  # "3 vs 3 teachers", "5 pairs of seeds"
    units = f" ({units})" if count else ""
    if c["verdict"] in ("higher", "lower"):
        correction = holm_alone(c) or (" after Holm's correction" if c.get("correction") == "holm" else "")
        return f"{said}{c['verdict']} beyond noise{correction}{units}"
    return f"{said}within noise{units}"


def quoted_regimes(comparisons: Sequence[Mapping], a: str, b: str, missing: str = "not in that run") -> str:
    """Another run's ``b − a`` in each regime it compared them in (chapter 9's two, in its order), in one
    clause for a chapter's prose: ``"in the unfriendly regime, 0.24 points above (99.7 % CI −0.18 to +0.66),
    within noise; in the low-label regime, …"`` (:func:`quoted` for each); ``missing`` where that run made no
    such comparison."""
    found = [c for c in comparisons if c.get("a") == a and c.get("b") == b]
    return "; ".join(f"in the {c['regime']} regime, {quoted(c, count=False)}" for c in found) or missing


def unmet_claims(comparisons: Sequence[Mapping], claims: Sequence[Mapping]) -> list[tuple[Mapping, Mapping | None]]:
    """The ``claims`` this run's ``comparisons`` do not bear out, each with its comparison (None: not run).

    A claim is what a chapter's prose says of one comparison: the ``verdict`` it states (``"higher"``,
    ``"lower"`` or ``"within noise"``, as :func:`kdcore.results.compare` words it), optionally the side of zero
    its mean difference falls on (``mean``: ``"higher"`` or ``"lower"``, for prose like "ahead, but within
    noise"), and the keys that pick the comparison out (``a`` and ``b``, and ``regime``, ``setting``… where
    sides repeat). A claim that matches several comparisons is a mistake in the chapter, not a finding, so it
    raises ``ValueError``.
    """

    def bears_out(c: Mapping, claim: Mapping) -> bool:
        side = {"higher": 1, "lower": -1, None: None}[claim.get("mean")]
        return c["verdict"] == claim["verdict"] and side in (None, (c["diff"] > 0) - (c["diff"] < 0))

    unmet = []
    for claim in claims:
        try:
            found = find_comparison(comparisons, **{k: v for k, v in claim.items() if k not in STATED})
        except ValueError as error:
            raise ValueError(f"the claim {claim_name(claim)!r}: {error}") from None
        if found is None or not bears_out(found, claim):
            unmet.append((claim, found))
    return unmet


def prose_check(comparisons: Sequence[Mapping], claims: Sequence[Mapping],
                described: str = "the committed book-profile run", scale: float = 100.0, unit: str = "pp",
                statements: Mapping[str, bool] | None = None):  # fmt: skip
    """A box that says where this run differs from what the prose says, or None when it bears the prose out.

    A chapter's prose is written once, for the run it describes, while its numbers are glued from whichever run
    executes it (another profile, a GPU, a reader's own parameters). The chapter lists the verdicts its prose
    states as ``claims`` (see :func:`unmet_claims`), and the descriptions it gives that no verdict covers (an
    ordering, "the highest", "ahead in the first epochs") as ``statements``: the prose's words, each mapped to
    whether this run bears them out, computed from ``results``. When all hold, nothing is shown; otherwise a
    reader learns which sentences no longer hold, instead of reading "KD hurt" beside "+0.26". The box then
    also names this run's verdicts beyond noise that the text states nothing about: what a run at another
    scale found that the prose, written for another run, does not mention. Those alone open no box: a
    chapter's claims need not list every comparison it makes, only those its words state.
    """
    from IPython.display import Markdown

    unmet = unmet_claims(comparisons, claims)
    statements = statements or {}
    untrue = [words for words, holds in statements.items() if not holds]
    if not unmet and not untrue:
        return None

    from .results import fmt_interval, fmt_signed, matches

    def said(verdict: str, mean: str | None = None) -> str:
        return f"{verdict_phrase(verdict)}, {mean} in the mean" if mean else verdict_phrase(verdict)

    def here(c: Mapping | None) -> str:  # the run's numbers as the page sets them ("−0.39 pp")
        if c is None:
            return "not in this run"
        if c["ci"] is None:  # one unit on a side, or no spread: a difference, but no interval and no verdict
            return minus_signs(f"no interval here ({fmt_signed(scale * c['diff'])} {unit}; {why_no_interval(c)})")
        interval = f"{interval_facts(c)['level']} {fmt_interval(c['ci'], scale, signed=True)}"
        diff = fmt_signed(scale * c["diff"])
        return minus_signs(f"{said(c['verdict'])} here ({diff} {unit}, {interval}){holm_alone(c)}")

    def which(n: int, of: int, noun: str) -> str:
        count = f"{n} of the {of}" if n < of else {1: "the one", 2: "both"}.get(of, f"all {of}")
        return f"{count} {noun}{'s' if of > 1 else ''}"

    lines = [f"> - **{claim_name(claim)}**: {here(c)}; the text says {said(claim['verdict'], claim.get('mean'))}."
             for claim, c in unmet]  # fmt: skip
    lines += [f"> - The text says *{words}*: not so in this run." for words in untrue]
    stated = [{k: v for k, v in claim.items() if k not in STATED} for claim in claims]
    unstated = [c for c in comparisons if c.get("ci") is not None and c["verdict"] in ("higher", "lower")
                and not any(matches(c, keys) for keys in stated)]  # fmt: skip
    picks = sorted({k for keys in stated for k in keys} - {"a", "b"})  # the keys a claim names, e.g. regime
    named = lambda c: claim_name({k: c[k] for k in ("a", "b", *picks) if k in c})
    lines += [f"> - **{named(c)}**: {here(c)}; the text states no verdict on it." for c in unstated]
    if any(mark in words for words in untrue for mark in "…["):
        lines += [">", "> (In a quotation, … marks words or numbers left out; [brackets], words added.)"]
    where = [which(len(unmet), len(claims), "verdict") + " the text states"] if unmet else []
    where += [which(len(untrue), len(statements), "description") + " it gives"] if untrue else []
    if unstated:
        plural = "s" if len(unstated) > 1 else ""
        where[-1] += f", and it finds {len(unstated)} difference{plural} beyond noise the text does not state"
    return Markdown("\n".join([
        f"> **This run differs from {described}, which the text below was written for**, in "
        f"{' and in '.join(where)}:", ">", *lines, ">",
        "> The numbers in the text, the tables and the figures are this run's; where they and the words "
        "disagree, the numbers hold.",
    ]))  # fmt: skip


# ----------------------------------------------------------------------------------------- numbers for the prose
def glue_across_teachers(across: Mapping, prefix: str, names: Mapping[str, str]) -> dict:
    """Glue, for each recipe of an :func:`kdcore.experiment.across_teacher_seeds` record, the range of its
    teachers' test accuracy as ``{prefix}_teacher_range_{names[recipe]}`` and of its students' mean per teacher
    as ``{prefix}_seed_range_{names[recipe]}`` (``"83.51–84.05"``, in %). Returns those per-teacher means (%),
    by recipe, in teacher-seed order."""
    from .results import by_teacher, group_means

    means = {}
    for recipe, name in names.items():
        means[recipe] = 100 * group_means(*by_teacher(across["runs"][recipe]))
        accs = [100 * a for a in across["teacher_test_acc"][recipe]]
        for what, values in (("teacher", accs), ("seed", means[recipe])):
            glue(f"{prefix}_{what}_range_{name}", f"{min(values):.2f}–{max(values):.2f}")
    return means


GLUED: dict[str, object] = {}  # every value :func:`glue` was given in this process, in order (glued_values)


def glue(name: str, value) -> None:
    """Make ``value`` (a number or short text) available to the prose as ``{glue:text}`name:.2f```.

    Numbers in the text then come from the run. The value is also kept in :data:`GLUED` for
    :func:`glued_values`. Without myst-nb (Colab), or outside IPython (a script, a test), that is all.
    """
    import numpy as np

    if isinstance(value, np.generic):  # NumPy 2 writes np.float64(0.5), which the prose could not format
        value = value.item()
    GLUED[name] = value
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    if in_ipython():
        myst_glue(name, value, display=False)


def glued_values() -> Table:
    """This run's glued values by name, for readers of the notebook itself.

    Only the HTML book replaces ``{glue:text}`name``` in the prose by the value: Jupyter, Colab and GitHub
    show the role as it is written. A chapter displays this table (in a cell the book removes) after its
    last :func:`glue`, so a reader there can look each name up.
    """
    rows = [{"name in the text": name, "this run's value": value} for name, value in GLUED.items()]
    caption = "The numbers the text quotes: where it shows {glue:text}`name`, the book prints this run's value"
    return Table(rows, ["name in the text", "this run's value"], caption)


def in_words(items: Sequence, empty: str = "none") -> str:
    """``"36 %, 59 % and 79 %"``: items as the prose lists them (``empty`` for none), for :func:`glue`."""
    *rest, last = [str(item) for item in items] or [empty]
    return f"{', '.join(rest)} and {last}" if rest else last


def glue_params(P, *names: str) -> None:
    """:func:`glue` each named parameter of the run under its own name, so the prose says
    ``{glue:text}`student``` or ``{glue:text}`student_epochs``` and reads true at every profile."""
    for name in names:
        glue(name, getattr(P, name))
