"""What the chapters display, written once: tables, verdict tables, seed plots, curves and numbered figures.

Every display function reads plain data (lists of numbers, the comparison dicts of :mod:`kdcore.results`),
never models, so a chapter can redraw its tables and figures from its results JSON alone. One figure style
is set for the page: the book's text column is about 7 inches wide, and a figure drawn wider is shrunk, fonts
and all, until its labels are unreadable. So figures are drawn at most :data:`PAGE_WIDTH` inches wide with
9–10 pt text, which renders at 12 px or more in the HTML book.

In the HTML book a figure becomes numbered and captioned through myst-nb's ``glue``: :func:`figure` glues it
under a name, and the chapter's Markdown places it with a ``{glue:figure}`` directive, caption included.
In Jupyter and Colab the same call simply shows the figure.
"""

from __future__ import annotations

import html
import re
import statistics
from collections.abc import Mapping, Sequence

PAGE_WIDTH = 6.8  # inches: the HTML column is ~700 px at 100 dpi, so nothing is shrunk
STYLE = {
    "figure.dpi": 100,  # 1 inch = 100 px in the page: a 10 pt label is ~14 px tall
    "savefig.dpi": 100,
    "figure.figsize": (PAGE_WIDTH, 3.0),
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.constrained_layout.use": True,  # labels never overlap or fall off the edge
}


def use_style() -> None:
    """Apply :data:`STYLE` to matplotlib (every plotting function here calls it)."""
    import matplotlib as mpl

    mpl.rcParams.update(STYLE)


def subplots(ncols: int = 1, nrows: int = 1, height: float = 3.0, **kwargs):
    """``plt.subplots`` at the page width: ``ncols`` panels side by side, ``height`` inches per row. Rows
    stand a little further apart than matplotlib's default: the x-axis label of one row (a key, rotated tick
    labels) would otherwise read as the title of the row below."""
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH, height * nrows), squeeze=False, **kwargs)
    if nrows > 1 and isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):  # STYLE's; tight's differs
        fig.get_layout_engine().set(h_pad=0.15)  # inches between rows (default 0.04)
    return fig, axes


# ---------------------------------------------------------------------------------------------------- tables
class Strong(str):
    """A table cell set in bold (a verdict beyond noise, among verdicts within it)."""


class Table:
    """Rows of dicts shown as a table: HTML in the book and in Jupyter, Markdown as text (``str``)."""

    def __init__(self, rows: Sequence[Mapping | str], columns: Sequence[str] | None = None,
                 caption: str | None = None, wrap: bool = False, intro: str = "", note: str = ""):  # fmt: skip
        rows = [r for r in rows if r]
        dicts = [r for r in rows if not isinstance(r, str)]
        self.columns = list(columns or (dicts[0].keys() if dicts else []))
        # a string among the rows heads the rows after it: one cell across the table
        self.rows = [r if isinstance(r, str) else [_cell(r.get(c, "")) for c in self.columns] for r in rows]
        self.caption = caption
        self.wrap = wrap  # cells may break at their spaces (keep a number whole with no-break spaces)
        self.intro = intro  # a paragraph of plain text above the table: what its rows compare, and how
        self.note = note  # a line below it: what a mark in its cells means

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
        cell = lambda v: f"<td><strong>{esc(v)}</strong></td>" if isinstance(v, Strong) else f"<td>{esc(v)}</td>"
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
        # the wrapper scrolls a wide table inside the text column instead of overflowing the page
        return (
            f'{intro}<div class="kdcore-table{" kdcore-wrap" if self.wrap else ""}" style="overflow-x:auto">'
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
          wrap: bool = False, intro: str = "", note: str = "") -> Table:  # fmt: skip
    """A :class:`Table` of ``rows``; the last expression of a cell displays it. In the book a cell of a
    number column stays on one line; with ``wrap`` its cells break at spaces (a :func:`verdict_cell` before
    its verdict), so a table of several verdict columns fits the page. A string among the rows is a heading
    across the table for the rows below it; ``intro``, a paragraph above it; ``note``, a line below it. A
    :class:`Strong` cell is set in bold."""
    return Table(rows, columns, caption, wrap, intro, note)


def mean_std(values, scale: float = 100.0, digits: int = 2) -> str:
    """``"87.12 ± 0.21"``: mean ± sample std of ``values`` × ``scale`` (percent by default); one value: no ±;
    a spread that rounds to 0 but is not, ``"± <0.01"``.
    No-break spaces around the ±: the number stays whole in a :func:`table` that wraps."""
    from .results import mean_std as summary

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
    if c.get("verdict") == NO_SPREAD:
        return f"the {units} do not vary at all, so their spread cannot be estimated"
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
    level = round(100 * c.get("ci_level", c.get("level", 0.95)), 1)
    n_a, n_b = c.get("n_a", "?"), c.get("n_b", "?")
    if c.get("paired"):
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


def _verdict_row(c: Mapping, shared: Mapping[str, str], scale: float, sides: tuple[str, str] | None = None) -> dict:
    """One comparison as a row of :func:`verdicts`: its sides (``sides``: a and b as the row names them), the
    difference, the interval (with the facts of :func:`interval_facts` that ``shared`` does not say for the
    whole table) and the verdict: "higher" or "lower" (b against a, in bold) or "within noise"; a verdict
    Holm's test alone calls is marked ``*`` (:func:`_holm_note` says why, below the table)."""
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
    verdict = c["verdict"] if c["verdict"] == "within noise" else Strong(c["verdict"] + "*" * called_by_holm_alone(c))
    return row | {"interval": interval, "over": over, "verdict": verdict}


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
                   factor: bool = False) -> Table:  # fmt: skip
    """The :class:`Table` of :func:`verdicts` and :func:`verdicts_by`: a row per comparison, a heading row before
    each run of comparisons under one heading (``headings``, one per comparison; with ``factor``, a comparison's
    :func:`shared_part` joins its heading and leaves its sides' names). A heading that comes back, after
    another, says what its rows are over ("low data, over 3 pairs of teachers"): the same group, read again,
    would look like a slip. Where some rows have a heading, a run with none is "other comparisons". What every
    interval covers is said once, in the caption and the interval column's head, and the unit in the heads; a
    column that says nothing on any row is left out. Below, the reason for each verdict marked ``*``."""
    facts = shared_facts(comparisons)
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
        rows.append(_verdict_row(c, facts, scale, sides=part[1:] if part else None))
    units = f" ({unit})" if unit else ""
    named = {"difference": f"difference{units}", "interval": facts.get("level", "interval") + units}
    columns = [k for k in ("comparison", "difference", "interval", "over", "verdict")
               if any(isinstance(r, Mapping) and r.get(k) for r in rows)]  # fmt: skip
    renamed = [r if isinstance(r, str) else {named.get(k, k): v for k, v in r.items()} for r in rows]
    caption = f"Every interval: {_covers(facts)}." if facts else None
    return Table(renamed, [named.get(k, k) for k in columns], caption, wrap=True, intro=intro,
                 note=_holm_note(comparisons))  # fmt: skip


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
    (``beyond_first``) or the second only (``beyond_second``), and each run's median interval width over them
    (``widths``, in the comparisons' units; comparisons without an interval left out)."""
    pairs = [(c, other) for c, other in _matched(comparisons, others, by) if other is not None]
    beyond = [[x["ci"] is not None and x["verdict"] != "within noise" for x in pair] for pair in pairs]
    widths = [[x["ci"][1] - x["ci"][0] for x in side if x["ci"] is not None] for side in zip(*pairs)] or [[], []]
    return {"shared": len(pairs), "same": sum(a["verdict"] == b["verdict"] for a, b in pairs),
            "beyond_first": sum(a and not b for a, b in beyond), "beyond_second": sum(b and not a for a, b in beyond),
            "widths": [statistics.median(w) if w else None for w in widths]}  # fmt: skip


def verdicts(comparisons: Sequence[Mapping], intro: str = "", scale: float = 100.0, unit: str = "pp",
             factor: bool = False) -> Table:  # fmt: skip
    """A table of verdicts, a row a comparison: ``b − a``, the difference, its interval, the verdict ("higher"
    or "lower", for b against a, beyond noise; or "within noise"). What every interval covers (level, units,
    correction) is said once, in the caption, when the rows share it; a fact they do not share stays in each
    row. ``intro``: a paragraph above the table. ``factor``: what both sides of a comparison share
    (:func:`shared_part`, e.g. the regime in "KD (all labels) − CE (all labels)") is said once, in a heading
    row over the comparisons that share it."""
    return _verdict_table(comparisons, [""] * len(comparisons), intro, scale, unit, factor)


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


def quoted(c: Mapping | None, scale: float = 100.0, missing: str = "not in that run", count: bool = True) -> str:
    """Another run's comparison in a sentence: ``"2.72 points below (95 % CI −12.50 to +7.10), within noise
    (3 vs 3 teachers)"`` (the interval says how large a difference it leaves open), or ``"1.50 points above
    (99.8 % CI +0.20 to +2.80), higher beyond noise after Holm's correction"`` (the level is the interval's: a
    Holm family's is wider); ``missing`` for ``None``. For prose that quotes a run other than the page's own;
    ``count`` ``False`` leaves out what the units were, for prose that quotes several comparisons and says it
    once."""
    from .results import fmt_signed

    if c is None:
        return missing
    size = f"{abs(scale * c['diff']):.2f} points {'below' if c['diff'] < 0 else 'above'}"
    if c.get("ci") is None:
        return f"{size}, with no interval ({why_no_interval(c)})"
    low, high = (fmt_signed(scale * x, bound=True).replace("-", "−") for x in c["ci"])  # as the tables print it
    level = interval_facts(c)["level"] + " "  # e.g. "99.8 % CI ": a Holm family's interval is wider
    if c["verdict"] in ("higher", "lower"):
        correction = holm_alone(c) or (" after Holm's correction" if c.get("correction") == "holm" else "")
        return f"{size} ({level}{low} to {high}), {c['verdict']} beyond noise{correction}"
    if not count:
        return f"{size} ({level}{low} to {high}), within noise"
    units = interval_facts(c)["units"].removeprefix("over ")  # "3 vs 3 teachers", "5 pairs of seeds"
    return f"{size} ({level}{low} to {high}), within noise ({units})"


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
        words = verdict if verdict == "within noise" or verdict.startswith("no interval") else f"{verdict} beyond noise"
        return f"{words}, {mean} in the mean" if mean else words

    def here(c: Mapping | None) -> str:
        if c is None:
            return "not in this run"
        if c["ci"] is None:  # one unit on a side, or no spread: a difference, but no interval and no verdict
            return f"no interval here ({fmt_signed(scale * c['diff'])} {unit}; {why_no_interval(c)})"
        interval = f"{interval_facts(c)['level']} {fmt_interval(c['ci'], scale, signed=True)}"
        return f"{said(c['verdict'])} here ({fmt_signed(scale * c['diff'])} {unit}, {interval}){holm_alone(c)}"

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


# --------------------------------------------------------------------------------------------------- figures
def palette(n: int) -> list[str]:
    """``n`` colours, no two alike: matplotlib's C0–C9 (tab10) for up to ten series, as in every figure; for
    more (up to 20), tab20's ten dark shades, which are C0–C9, then its light ones."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab20 = colormaps["tab20"].colors
    return [to_hex(c) for c in (tab20[0::2] + tab20[1::2])[:n]]


# One colour per teacher kind in every figure that draws it (chapter 2 introduces five of them, chapter 9
# draws them again beside the methods): a reader who learnt "green is the over-confident teacher" in one
# figure reads the next one the same way. tab10 names; C7 (grey) is chapter 1's ordinary teacher.
TEACHER_COLORS = {"no teacher": "C0", "small": "C1", "over-confident": "C2", "early-stopped": "C3",
                  "assistant": "C4", "ordinary": "C7"}  # fmt: skip


def colors_for(names: Sequence[str], fixed: Mapping[str, str]) -> dict[str, str]:
    """A colour for each name: ``fixed[name]`` where it has one (e.g. :data:`TEACHER_COLORS`, keyed by the
    names a figure shows), else the next colour that no fixed one takes, in order: from tab10 while it has
    enough left, else from :func:`palette`'s twenty."""
    from matplotlib.colors import to_hex

    taken = {to_hex(fixed[name]) for name in names if name in fixed}  # "C2" and tab20's hex compare alike
    need = sum(name not in fixed for name in names)
    free = [c for c in palette(10) if to_hex(c) not in taken]
    if len(free) < need:
        free = [c for c in palette(20) if to_hex(c) not in taken]
    others = iter(free * (need // max(len(free), 1) + 1))  # more names than colours: they repeat
    return {name: fixed[name] if name in fixed else next(others) for name in names}


def seeds_plot(
    ax,
    groups: Mapping[str, Sequence[float]],
    ylabel: str = "test accuracy (%)",
    scale: float = 100.0,
    clusters: Mapping[str, Sequence] | None = None,
    colors: Mapping[str, str] | None = None,
    rotate: float = 0,
    floor: float | None = None,
    pairs: Sequence[tuple[str, str]] = (),
):
    """One column per group: every seed as a dot, the mean as a bar-free marker with a 95 % t-interval.

    ``clusters`` (optional, same keys) gives each value's teacher seed: dots of one teacher share a marker,
    so the reader sees how much of the spread is the teacher's. The interval is over all the values of the
    group (say what it covers in the caption); use :mod:`kdcore.results` for the interval a verdict uses.
    ``floor`` (in the plotted unit, e.g. 0 for a distance) is the least value the quantity can take: an
    interval reaching below it is drawn cut there, that end without a cap; say so in the caption too. A group
    of one value, or of values all alike, has no interval (:func:`kdcore.results.confidence_interval`): its
    mean is drawn without a bar. With ``clusters`` of more than one teacher seed, a key under the panel's group
    names says which marker is which seed (runs without a teacher: ×), so the reader can follow one teacher
    from column to column. ``pairs``: names of two groups whose values pair up by position (one seed each, in
    the same order): a thin line joins each seed's two dots, so its difference is the line's rise or fall, what a
    paired test is about.
    """
    from .results import confidence_interval

    use_style()
    markers, symbols = "os^Dvp*", "●■▲◆▼⬟★"  # a marker each teacher seed, and how the key writes it
    cycle = palette(len(groups))
    seeds = sorted({seed for name in groups for seed in (clusters or {}).get(name, [])} - {None}, key=str)
    keyed = len(seeds) > 1  # dots whose teacher seed is known, of more than one teacher
    no_teacher = False  # whether a dot without a teacher was drawn (×), for the key
    dots: dict[str, list[tuple[float, float]]] = {}  # each group's dots, for the lines of ``pairs``
    for i, (name, values) in enumerate(groups.items()):
        values = [scale * float(v) for v in values]
        color = (colors or {}).get(name, cycle[i % len(cycle)])
        n = len(values)
        offsets = [0.18 * ((j % 5) - 2) / 2 for j in range(n)]  # a small fixed jitter, no randomness
        teacher = list((clusters or {}).get(name, [None] * n))
        dots[name] = [(i + 0.22 + offsets[j] / 2, v) for j, v in enumerate(values)]
        for j in range(n):
            marker = markers[seeds.index(teacher[j]) % len(markers)] if teacher[j] in seeds else "o"
            marker = "x" if keyed and teacher[j] is None else marker  # no teacher: no seed to key
            no_teacher = no_teacher or marker == "x"
            ax.plot(*dots[name][j], marker, color=color, alpha=0.55, markersize=4,
                    markeredgewidth=1 if marker == "x" else 0)  # fmt: skip
        mean = sum(values) / n
        interval = confidence_interval(values)
        if interval is None:
            ax.plot(i, mean, "o", color=color, markersize=6)
            continue
        half = interval[1] - mean
        lower = half if floor is None else max(0.0, min(half, mean - floor))
        bar = ax.errorbar(i, mean, yerr=[[lower], [half]], fmt="o", color=color, capsize=4, markersize=6)
        bar[1][0].set_visible(lower == half)  # the lower cap: none where the interval is cut at the floor
    for a, b in pairs:  # behind the dots, quiet: which way each line runs is the message
        if len(dots[a]) != len(dots[b]):
            raise ValueError(f"paired groups need one value per seed on each side: {a!r} and {b!r}")
        for (xa, ya), (xb, yb) in zip(dots[a], dots[b]):
            ax.plot([xa, xb], [ya, yb], color="0.55", linewidth=0.6, alpha=0.6, zorder=1)
    if keyed:  # the key, under this panel's group names (a figure's other panels may use markers otherwise)
        key = "  ".join(f"{symbols[k % len(symbols)]} {seed}" for k, seed in enumerate(seeds))
        ax.set_xlabel(f"teacher seed: {key}" + ("  × none" if no_teacher else ""), color="0.3", fontsize=9)
    ax.set_xticks(range(len(groups)), list(groups), rotation=rotate, ha="right" if rotate else "center")
    ax.set_xlim(-0.5, len(groups) - 0.5)  # half a column either side: the jittered dots stay off the spines
    ax.set_ylabel(ylabel)
    ax.grid(axis="x", visible=False)
    ax.margins(y=0.08)  # markers and caps keep clear of the top and bottom spines
    return ax


def across_teachers_plot(across: Mapping, title: str = "their students", rotate: float = 0,
                         colors: Mapping[str, str] | None = None):  # fmt: skip
    """The two panels of a comparison over teacher seeds (:func:`kdcore.experiment.across_teacher_seeds`):
    each recipe's teachers, one dot per teacher seed (left), and the students they taught, one dot per student
    and one marker per teacher seed (right). Its intervals pool the values of a column; a verdict over
    teacher means (:func:`kdcore.results.compare_runs`) is wider: say so in the caption."""
    fig, axes = subplots(2, height=3.0)
    runs, teachers = across["runs"], across["teacher_test_acc"]
    seeds = {name: [r["teacher_seed"] for r in rs] for name, rs in runs.items()}
    # each teacher's seed, in the order the teachers were trained (its students' order): one marker a seed
    trained = {name: list(dict.fromkeys(seeds.get(name, []))) for name in teachers}
    marked = {name: order for name, order in trained.items() if len(order) == len(teachers[name])}
    seeds_plot(axes[0, 0], teachers, "teacher test accuracy (%)", clusters=marked, colors=colors,
               rotate=rotate).set_title("teachers")  # fmt: skip
    students = {name: [r["test_acc"] for r in rs] for name, rs in runs.items()}
    seeds_plot(axes[0, 1], students, clusters=seeds, colors=colors, rotate=rotate).set_title(title)
    return fig


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


def curves_plot(
    ax,
    curves: Mapping[str, Sequence[Sequence[float]]],
    ylabel: str = "validation accuracy (%)",
    xlabel: str = "epoch",
    scale: float = 100.0,
    colors: Mapping[str, str] | None = None,
    styles: Mapping[str, str] | None = None,
):
    """Mean curve over seeds with a ±1 std band, one line per name (``curves[name]`` = one list per seed).

    ``styles`` gives some names a line style (e.g. ``"--"``): a curve that runs on top of another then lets it
    show through."""
    from matplotlib.ticker import MaxNLocator

    from .results import mean_std as summary

    use_style()
    cycle = palette(len(curves))
    for i, (name, runs) in enumerate(curves.items()):
        color = (colors or {}).get(name, cycle[i % len(cycle)])
        length = min(len(r) for r in runs)
        summaries = [summary([scale * float(r[e]) for r in runs]) for e in range(length)]
        mean, sd = [s["mean"] for s in summaries], [s["std"] for s in summaries]
        epochs = range(1, length + 1)
        ax.plot(epochs, mean, (styles or {}).get(name, "-"), label=name, color=color)
        ax.fill_between(epochs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)],
                        color=color, alpha=0.2, linewidth=0)  # fmt: skip
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 2.5
    ax.legend()
    return ax


def figure(fig, name: str) -> None:
    """Show ``fig`` and register it as ``name`` for a numbered, captioned ``{glue:figure}`` in the book.

    The chapter's Markdown places it::

        ```{glue:figure} name
        :name: fig-name

        Caption: what is plotted, over how many seeds, what the intervals cover.
        ```

    Tag the cell ``remove-output`` so the HTML shows the figure only there, with its number; Jupyter and
    Colab ignore the tag and show it under the cell.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    try:
        from myst_nb import glue
    except ImportError:  # Colab: no myst-nb, just show it
        glue = None
    if glue is None or not in_ipython():  # a script or a test: no notebook to glue into, just show it
        display(fig)
    else:
        glue(name, fig, display=True)
    plt.close(fig)  # the inline backend would show it a second time


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


def in_ipython() -> bool:
    """Whether this runs under IPython (a Jupyter kernel, the IPython shell), where glued values are kept.

    Outside it (a plain script, a test redrawing a chapter from its results JSON) myst-nb's ``glue`` would
    start an IPython shell of its own just to format the value, so :func:`figure` and :func:`glue` skip it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def heatmap(ax, matrix, labels: Sequence[str] | None = None, boxes: Sequence[Sequence[int]] = (),
            blank_diagonal: bool = False, cmap: str = "viridis", vmin=None, vmax=None):  # fmt: skip
    """A square matrix (e.g. class-mean predictions, rows = true class) as an image; returns the image.

    ``labels`` names the rows and columns; ``boxes`` lists groups of indices whose off-diagonal cells get a
    white outline edged in black, seen on every colour of the map (e.g. look-alike classes); ``blank_diagonal``
    leaves the diagonal out of the picture, so that the colour scale shows the small off-diagonal values. Add a
    colour bar with ``fig.colorbar(image, ax=axes)``; share ``vmin``/``vmax`` between panels that are compared.
    """
    import numpy as np
    from matplotlib.patches import Rectangle
    from matplotlib.patheffects import withStroke

    use_style()
    shown = np.array(matrix, dtype=float)
    if blank_diagonal:
        np.fill_diagonal(shown, np.nan)
    image = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax)
    for group in boxes:
        for i in group:
            for j in group:
                if i != j:
                    ax.add_patch(Rectangle((j - 0.4, i - 0.4), 0.8, 0.8, fill=False, ec="white", lw=1.5,
                                           path_effects=[withStroke(linewidth=2.5, foreground="black")]))  # fmt: skip
    n = len(shown)
    if labels is not None:
        ax.set_xticks(range(n), labels, rotation=90)
        ax.set_yticks(range(n), labels)
    ax.grid(False)
    return image


def histograms(axes, counts: Mapping[str, Sequence[float]], edges: Sequence[float], xlabel: str = "",
               ylabel: str = "count", log: bool = False, color: str = "C0"):  # fmt: skip
    """One histogram per panel from precomputed ``counts`` over the bins ``edges`` (``len(edges) − 1`` counts).

    A results JSON keeps the counts, not every value, so a chapter can redraw them. ``axes`` is a sequence of
    axes (e.g. ``axes.flat`` of :func:`subplots`); panels beyond ``counts`` are hidden. ``log``: log-scale
    counts. The y label goes on the first panel of each row, the x label under the last row.
    """
    import itertools

    use_style()
    axes = list(axes)
    for ax, (name, values) in zip(axes, counts.items()):
        if len(values) != len(edges) - 1:
            raise ValueError(f"{name}: {len(values)} counts for {len(edges) - 1} bins")
        widths = [b - a for a, b in itertools.pairwise(edges)]
        ax.bar(edges[:-1], values, width=widths, align="edge", color=color)
        ax.set_title(name)
        if log:
            ax.set_yscale("log")
        grid = ax.get_subplotspec()
        ax.set_ylabel(ylabel if grid is None or grid.is_first_col() else "")
        ax.set_xlabel(xlabel if grid is None or grid.is_last_row() else "")
    for ax in axes[len(counts) :]:
        ax.set_visible(False)
    return axes


def bars(ax, values: Sequence[float], labels: Sequence[str], highlight: int | None = None, ylabel: str = "",
         title: str = "", ylim: tuple[float, float] | None = (0, 1), rotate: float = 90):  # fmt: skip
    """One bar per label, e.g. a model's class probabilities; bar ``highlight`` (an index) in another colour.

    ``ylim`` defaults to ``(0, 1)`` (probabilities); pass ``None`` to let matplotlib choose. Returns ``ax``.
    """
    use_style()
    values = [float(v) for v in values]
    ax.bar(range(len(values)), values, color=["C3" if i == highlight else "C0" for i in range(len(values))])
    ax.set_xticks(range(len(values)), labels, rotation=rotate, ha="center" if rotate in (0, 90) else "right")
    ax.set(ylabel=ylabel, title=title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(axis="x", visible=False)
    return ax


def verdicts_by(comparisons: Sequence[Mapping], by: Sequence[str], intro: str = "", scale: float = 100.0,
                unit: str = "pp") -> Table:  # fmt: skip
    """:func:`verdicts` under a heading row per group: the comparisons that share their values of the keys
    ``by`` (e.g. ``("student", "measure")``), groups in order of first appearance. What the whole family's
    intervals share is said once, in the caption."""
    groups: dict[str, list] = {}
    for c in comparisons:
        heading = ", ".join(filter(None, (str(c.get(key) or "") for key in by))).rstrip(":")
        groups.setdefault(heading, []).append(c)
    ordered = [c for group in groups.values() for c in group]
    headings = [heading for heading, group in groups.items() for _ in group]
    return _verdict_table(ordered, headings, intro, scale, unit)


def scatter(ax, points: Mapping[str, Sequence[Sequence[float]]], xlabel: str = "", ylabel: str = "",
            xscale: float = 1.0, yscale: float = 100.0, colors: Mapping[str, str] | None = None):  # fmt: skip
    """Groups of labelled points: ``points[name]`` is a list of ``(x, y)`` or ``(x, y, y_half_width)``.

    One colour per group, one legend entry per group, e.g. one point per teacher: its confidence against
    the mean accuracy of its students, with an error bar over them. Every group is drawn with one marker, so
    that beside a :func:`seeds_plot` (whose markers are teacher seeds) a marker never means two things. Values
    are multiplied by ``xscale`` and ``yscale`` (``y`` in percent by default). Returns ``ax``.
    """
    use_style()
    cycle = palette(len(points))
    for i, (name, group) in enumerate(points.items()):
        color = (colors or {}).get(name, cycle[i % len(cycle)])
        xs = [xscale * float(p[0]) for p in group]
        ys = [yscale * float(p[1]) for p in group]
        half = [yscale * float(p[2]) if len(p) > 2 else 0.0 for p in group]
        ax.errorbar(xs, ys, yerr=half if any(half) else None, fmt="o", color=color,
                    capsize=3, markersize=5, label=name)  # fmt: skip
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.margins(0.08)  # markers and error-bar caps keep clear of the spines
    ax.legend()
    return ax
