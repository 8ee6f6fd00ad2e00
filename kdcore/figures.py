"""Figures drawn for the page, written once: seed plots, curves, heatmaps, bars, and numbered figures.

Every plotting function reads plain data (lists of numbers, the run records of a results JSON), never models,
so a chapter can redraw its figures from its results JSON alone. One figure style is set for the page: the
book's text column is about 7 inches wide, and a figure drawn wider is shrunk, fonts and all, until its labels
are unreadable. So figures are drawn at most :data:`PAGE_WIDTH` inches wide with 9–10 pt text, which renders
at 12 px or more in the HTML book. One colour per teacher kind (:data:`TEACHER_COLORS`) holds across figures.

In the HTML book a figure becomes numbered and captioned through myst-nb's ``glue``: :func:`figure` glues it
under a name, and the chapter's Markdown places it with a ``{glue:figure}`` directive, caption included.
In Jupyter and Colab the same call simply shows the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .notebook import in_ipython

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


def palette(n: int) -> list[str]:
    """``n`` colours, no two alike: matplotlib's C0–C9 (tab10) for up to ten series, as in every figure; for
    more (up to 20), tab20's ten dark shades, which are C0–C9, then its light ones."""
    if n <= 10:
        return [f"C{i}" for i in range(n)]
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    tab20 = colormaps["tab20"].colors
    return [to_hex(c) for c in (tab20[0::2] + tab20[1::2])[:n]]


def shades(color: str, n: int) -> list[str]:
    """``n`` shades of ``color``, light to dark (``color`` itself in the middle): one family of teachers, e.g.
    a method at several sparsities, in one hue, each told apart by its lightness."""
    import numpy as np
    from matplotlib.colors import to_hex, to_rgb

    if n == 1:
        return [to_hex(color)]
    base = np.array(to_rgb(color))
    # -1: 40 % of the way to white; +1: 40 % of the way to black
    mix = lambda t: base + (1 - base) * 0.4 * -t if t < 0 else base * (1 - 0.4 * t)
    return [to_hex(np.clip(mix(t), 0, 1)) for t in np.linspace(-1, 1, n)]


# One colour per teacher kind in every figure that draws it (chapter 2 introduces five of them, chapter 9
# draws them again beside the methods): a reader who learnt "green is the over-confident teacher" in one
# figure reads the next one the same way. tab10 names; C7 (grey) is chapter 1's ordinary teacher.
TEACHER_COLORS = {"no teacher": "C0", "small": "C1", "over-confident": "C2", "early-stopped": "C3",
                  "assistant": "C4", "ordinary": "C7"}  # fmt: skip
# The methods' teachers, in every chapter that draws them (their own chapter, and chapter 9 beside the kinds
# above); a method's variant on the same teacher (KD + ICC matching beside KD) takes the colour's darker
# shade (:func:`darker`).
METHOD_COLORS = {"PrUE": "C5", "IMP": "C6", "magnitude": "C9", "SNIP": "C8", "tolerant": "olivedrab", "ICC": "teal",
                 "KR": "goldenrod"}  # fmt: skip


def darker(color: str) -> str:
    """``color`` 40 % of the way to black: a second objective on the same teacher (:data:`METHOD_COLORS`)."""
    return shades(color, 3)[2]


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
    so the reader sees how much of the spread is the teacher's. Where a group's values come from more than one
    teacher, several of them from one, each teacher's mean is drawn too (a hollow marker of its shape, left of
    the mean), and the mean and interval are over those teacher means, the unit the verdicts count (students
    of one teacher share its luck: an interval pooling them as independent would look far narrower than any
    verdict's); elsewhere over the values. Either way it is one group's interval, uncorrected and unpaired
    (say what it covers in the caption); use :mod:`kdcore.results` for the interval of a difference a verdict
    uses.
    ``floor`` (in the plotted unit, e.g. 0 for a distance) is the least value the quantity can take: an
    interval reaching below it is drawn cut there, that end without a cap; say so in the caption too. A group
    of one value, or of values all alike, has no interval (:func:`kdcore.results.confidence_interval`): its
    mean is drawn without a bar. With ``clusters`` of more than one teacher seed, a key under the panel's group
    names says which marker is which seed (runs without a teacher: ×), so the reader can follow one teacher
    from column to column. ``pairs``: names of two groups whose values pair up by position (one seed each, in
    the same order): a thin line joins each seed's two dots, so its difference is the line's rise or fall, what a
    paired test is about.
    """
    from .results import confidence_interval, group_means

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
        units = values  # what the interval is over: the values, or each teacher's mean (the verdicts' unit)
        if len(set(teacher)) > 1 and None not in teacher and len(set(teacher)) < n:  # a teacher with several
            units = list(group_means(values, teacher))
            for seed, unit in zip(dict.fromkeys(teacher), units):  # group_means keeps the seeds' first order
                ax.plot(i - 0.2, unit, markers[seeds.index(seed) % len(markers)], color=color, markersize=6,
                        markerfacecolor="none", markeredgewidth=1.2)  # fmt: skip
        mean = sum(units) / len(units)
        interval = confidence_interval(units)
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
    and one marker per teacher seed (right), with each teacher's mean and an interval over those means (as
    :func:`seeds_plot` draws several teachers' students); a verdict (:func:`kdcore.results.compare_runs`) is
    of the difference, paired and corrected: say so in the caption."""
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

    from .results import summary

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


def heatmap(ax, matrix, labels: Sequence[str] | None = None, boxes: Sequence[Sequence[int]] = (),
            blank_diagonal: bool = False, cmap: str = "viridis", vmin=None, vmax=None,
            marks: Sequence[tuple[int, int]] = ()):  # fmt: skip
    """A square matrix (e.g. class-mean predictions, rows = true class) as an image; returns the image.

    ``labels`` names the rows and columns; ``boxes`` lists groups of indices whose off-diagonal cells get a
    white outline edged in black, seen on every colour of the map (e.g. look-alike classes); ``blank_diagonal``
    leaves the diagonal out of the picture, so that the colour scale shows the small off-diagonal values;
    ``marks`` lists cells ``(row, column)`` the text quotes, circled in red so the reader finds them. Add a
    colour bar with ``fig.colorbar(image, ax=axes)``; share ``vmin``/``vmax`` between panels that are compared.
    """
    import numpy as np
    from matplotlib.patches import Circle, Rectangle
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
    for i, j in marks:
        ax.add_patch(Circle((j, i), 0.62, fill=False, ec="red", lw=2))
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


def probability_panels(probs: Mapping[str, Sequence[float]], labels: Sequence[str], highlight: int | None = None,
                       height: float = 2.8):  # fmt: skip
    """One panel per distribution, side by side: ``probs[title]`` as horizontal bars over the class
    ``labels`` (named once, on the left panel, the first on top), bar ``highlight`` in another colour, each
    axis from 0 to 1. E.g. one set of logits softened at several temperatures. Returns the figure."""
    fig, axes = subplots(len(probs), height=height, sharey=True)
    colors = ["C3" if i == highlight else "C0" for i in range(len(labels))]
    for ax, (title, values) in zip(axes[0], probs.items()):
        ax.barh(range(len(labels)), [float(v) for v in values], color=colors)
        ax.set(title=title, xlim=(0, 1))
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", ""])  # 1 unlabelled: the next panel's 0 would read as "10"
        ax.grid(axis="y", visible=False)
    axes[0, 0].set_yticks(range(len(labels)), labels, fontsize=10)
    axes[0, 0].invert_yaxis()
    fig.supxlabel("probability", fontsize=10)
    return fig


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
