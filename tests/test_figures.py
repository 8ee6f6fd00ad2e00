"""kdcore.figures: figures drawn for the page (seed plots, curves, heatmaps, bars) and numbered figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.colors import to_hex

from kdcore import figures, report


def test_plots_draw_one_dot_per_seed_and_a_band_per_curve():
    fig, axes = figures.subplots(2)
    figures.seeds_plot(axes[0, 0], {"a": [0.8, 0.82, 0.81], "b": [0.9]}, clusters={"a": [0, 0, 1], "b": [0]})
    dots = [line for line in axes[0, 0].lines if line.get_alpha() == 0.55]
    assert len(dots) == 4
    figures.curves_plot(axes[0, 1], {"x": [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4]]})
    (line,) = axes[0, 1].lines
    assert list(line.get_ydata()) == pytest.approx([15, 25, 35])
    fig.canvas.draw()
    ticks = [t for t in axes[0, 1].get_xticks() if 1 <= t <= 3]
    assert ticks and all(t == int(t) for t in ticks), ticks  # whole epochs, never 2.5
    assert fig.get_size_inches()[0] == pytest.approx(figures.PAGE_WIDTH)
    figures.figure(fig, "test-figure")  # glues (myst-nb installed) and closes without error


def test_figure_and_glue_outside_ipython_show_the_figure_and_start_no_shell(monkeypatch):
    import IPython
    import IPython.display
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    assert IPython.get_ipython() is None and not figures.in_ipython()
    fig, _ = figures.subplots()
    figures.figure(fig, "outside")
    report.glue("number", 1.5)
    assert shown == [fig]  # shown, not glued: myst-nb would have started an InteractiveShell to format it
    assert IPython.get_ipython() is None
    assert not plt.fignum_exists(fig.number)  # closed, as in a notebook


def test_heatmap_blanks_the_diagonal_boxes_off_diagonal_cells_of_a_group_and_circles_quoted_cells():

    fig, axes = figures.subplots(1)
    matrix = np.arange(9.0).reshape(3, 3) / 10
    image = figures.heatmap(axes[0, 0], matrix, labels=["a", "b", "c"], boxes=[(0, 1)], blank_diagonal=True)
    shown = image.get_array()
    assert np.ma.is_masked(shown[1, 1]) and shown[0, 1] == pytest.approx(0.1)  # NaN: not drawn
    assert len(axes[0, 0].patches) == 2  # (0, 1) and (1, 0): the diagonal is not boxed
    assert [t.get_text() for t in axes[0, 0].get_xticklabels()] == ["a", "b", "c"]
    fig.colorbar(image, ax=axes)
    figures.figure(fig, "test-heatmap")
    # a cell the text quotes is circled at its row and column
    fig, axes = figures.subplots(1)
    figures.heatmap(axes[0, 0], matrix, marks=[(2, 0)])
    (circle,) = axes[0, 0].patches
    assert tuple(circle.center) == (0, 2) and circle.get_edgecolor()[:3] == (1.0, 0.0, 0.0)


def test_histograms_draw_counts_per_panel_and_hide_the_spare_ones():
    fig, axes = figures.subplots(2, 2)
    counts = {"x": [1, 5], "y": [2, 0], "z": [0, 1]}
    figures.histograms(axes.flat, counts, edges=[0.0, 0.5, 1.0], xlabel="p", log=True)
    bars = [rect.get_height() for rect in axes[0, 0].patches]
    assert bars == [1, 5] and axes[0, 0].get_yscale() == "log" and axes[0, 0].get_ylabel() == "count"
    assert axes[0, 1].get_ylabel() == "" and not axes[1, 1].get_visible()
    assert axes[0, 0].get_xlabel() == "" and axes[1, 0].get_xlabel() == "p"  # x label under the last row only
    with pytest.raises(ValueError, match="3 counts for 2 bins"):
        figures.histograms(axes.flat, {"z": [1, 2, 3]}, edges=[0.0, 0.5, 1.0])
    figures.figure(fig, "test-histograms")


def test_bars_draw_one_bar_per_label_and_colour_the_highlighted_one():
    fig, axes = figures.subplots(1)
    figures.bars(axes[0, 0], [0.2, 0.7, 0.1], ["a", "b", "c"], highlight=1, title="T = 4")
    patches = axes[0, 0].patches
    assert [p.get_height() for p in patches] == pytest.approx([0.2, 0.7, 0.1])
    assert patches[1].get_facecolor() != patches[0].get_facecolor() == patches[2].get_facecolor()
    assert [t.get_text() for t in axes[0, 0].get_xticklabels()] == ["a", "b", "c"]
    assert axes[0, 0].get_ylim() == (0, 1) and axes[0, 0].get_title() == "T = 4"
    figures.figure(fig, "test-bars")


def test_probability_panels_draw_one_panel_per_distribution_with_the_labels_once_and_the_first_on_top():
    probs = {"T = 1": [0.1, 0.8, 0.1], "T = 4": [0.3, 0.4, 0.3]}
    fig = figures.probability_panels(probs, ["a", "b", "c"], highlight=1)
    left, right = fig.axes
    assert [t.get_title() for t in fig.axes] == ["T = 1", "T = 4"]
    assert [p.get_width() for p in right.patches] == pytest.approx([0.3, 0.4, 0.3])
    colours = [p.get_facecolor() for p in left.patches]
    assert colours[1] != colours[0] == colours[2]
    assert [t.get_text() for t in left.get_yticklabels()] == ["a", "b", "c"]
    assert left.get_ylim()[0] > left.get_ylim()[1]  # inverted: "a" on top
    assert left.get_xlim() == right.get_xlim() == (0, 1)
    figures.figure(fig, "test-probability-panels")


def test_scatter_draws_each_group_with_its_own_legend_entry_and_error_bars():
    fig, axes = figures.subplots(1)
    ax = figures.scatter(axes[0, 0], {"a": [(0.02, 0.87, 0.001), (0.03, 0.86, 0.002)], "b": [(0.05, 0.85)]},
                        xlabel="ECE (%)", ylabel="student (%)", xscale=100)  # fmt: skip
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    first = ax.lines[0]
    assert list(first.get_xdata()) == pytest.approx([2.0, 3.0]) and list(first.get_ydata()) == pytest.approx([87, 86])
    assert len(ax.collections) == 1  # error bars for the group that has them only
    assert {line.get_marker() for line in ax.lines} - {"_"} == {"o"}  # colour alone tells groups apart ("_": caps)
    figures.figure(fig, "test-scatter")


def test_colors_for_keeps_each_teacher_kinds_colour_and_gives_the_others_free_ones():
    names = ["no teacher", "KD", "PrUE", "over-confident", "IMP"]
    colours = figures.colors_for(names, {"no teacher": "C0", "over-confident": "C2", "ordinary": "C7"})
    assert colours["no teacher"] == "C0" and colours["over-confident"] == "C2"
    assert [colours[n] for n in ("KD", "PrUE", "IMP")] == ["C1", "C3", "C4"]  # in order, skipping C0 and C2
    ten = figures.colors_for(
        ["no teacher", "KD", *[f"m{i}" for i in range(7)], "over-confident"], figures.TEACHER_COLORS
    )
    assert len({to_hex(c) for c in ten.values()}) == 10  # the free ones are tab10's that the fixed ones leave
    many = figures.colors_for([f"m{i}" for i in range(11)] + ["no teacher"], figures.TEACHER_COLORS)
    assert len({to_hex(c) for c in many.values()}) == 12 and many["no teacher"] == "C0"  # past ten: tab20


def test_seeds_plot_keeps_twelve_colours_apart_and_cuts_an_interval_at_a_floor():
    assert figures.palette(3) == ["C0", "C1", "C2"] and len(set(figures.palette(12))) == 12
    fig, axes = figures.subplots(2)
    groups = {f"m{i}": [0.80 + 0.01 * i, 0.81 + 0.01 * i, 0.79 + 0.01 * i] for i in range(12)}
    figures.seeds_plot(axes[0, 0], groups)
    colours = {line.get_color() for line in axes[0, 0].lines if line.get_marker() == "o" and line.get_alpha() is None}
    assert len(colours) == 12  # one per method, none repeated
    figures.seeds_plot(axes[0, 1], {"d": [0.1, 0.2, 3.0]}, scale=1.0, floor=0)
    (bars,) = axes[0, 1].collections
    assert bars.get_segments()[0][:, 1].min() == pytest.approx(0)  # cut at the floor, not below
    assert [cap.get_visible() for cap in axes[0, 1].lines[-2:]] == [False, True]  # no lower cap where cut
    figures.figure(fig, "test-seeds-extras")


def test_seeds_plot_joins_each_seeds_two_runs_of_a_pair():
    fig, axes = figures.subplots(1)
    groups = {"CE": [0.80, 0.82, 0.81], "KD": [0.81, 0.84, 0.82], "other": [0.7, 0.71]}
    figures.seeds_plot(axes[0, 0], groups, pairs=[("CE", "KD")])
    joins = [line for line in axes[0, 0].lines if line.get_linewidth() == 0.6]
    assert len(joins) == 3  # one line a seed
    # each runs from a CE dot (column 0) to the same seed's KD dot (column 1): its slope is that seed's difference
    assert [tuple(line.get_ydata()) for line in joins] == [(80.0, 81.0), (82.0, 84.0), (81.0, 82.0)]
    assert all(line.get_xdata()[0] < 1 < line.get_xdata()[1] for line in joins)
    with pytest.raises(ValueError, match="one value per seed"):
        figures.seeds_plot(axes[0, 0], groups, pairs=[("CE", "other")])
    figures.figure(fig, "test-seeds-pairs")


def test_seeds_plot_draws_no_interval_without_spread_and_keys_the_teacher_seeds_under_its_panel():
    fig, axes = figures.subplots(2)
    figures.seeds_plot(axes[0, 0], {"alike": [0.8, 0.8, 0.8], "varied": [0.8, 0.82, 0.81], "none": [0.7, 0.72]},
                      clusters={"alike": [0, 1, 2], "varied": [0, 1, 2]})  # fmt: skip
    figures.seeds_plot(axes[0, 1], {"x": [0.7, 0.71]}, clusters={"x": [0, 0]})
    assert len(axes[0, 0].containers) == 2  # error bars for "varied" and "none" only: no zero-width interval
    assert axes[0, 0].get_xlabel() == "teacher seed: ● 0  ■ 1  ▲ 2  × none"  # the key, under its own panel
    assert axes[0, 1].get_xlabel() == "" and not fig.legends  # one teacher: nothing to key
    markers = {line.get_marker() for line in axes[0, 0].lines if line.get_alpha() == 0.55}
    assert markers == {"o", "s", "^", "x"}  # one marker a teacher seed; runs without a teacher: ×


def test_shades_run_light_to_dark_around_the_colour():
    from matplotlib.colors import to_hex, to_rgb

    light, middle, dark = figures.shades("C6", 3)
    assert middle == to_hex("C6") and figures.shades("C6", 1) == [to_hex("C6")]
    assert sum(to_rgb(light)) > sum(to_rgb(middle)) > sum(to_rgb(dark))  # lighter to darker
    assert len(set(figures.shades("C0", 5))) == 5


def test_seeds_plot_over_several_teachers_draws_their_means_and_an_interval_over_them():
    # students of one teacher share its luck: pooled as independent, six students of three teachers gave an
    # interval far narrower than any verdict's (review 27); the unit is the teacher's mean
    from kdcore.results import confidence_interval

    fig, axes = figures.subplots(1)
    values, seeds = [0.80, 0.81, 0.84, 0.85, 0.82, 0.83], [0, 0, 1, 1, 2, 2]
    figures.seeds_plot(axes[0, 0], {"taught": values, "none": [0.7, 0.72, 0.71]}, clusters={"taught": seeds})
    hollow = [line for line in axes[0, 0].lines if line.get_markerfacecolor() == "none"]
    assert [line.get_ydata()[0] for line in hollow] == pytest.approx([80.5, 84.5, 82.5])  # one per teacher
    taught, none = (c.lines[0].get_ydata()[0] for c in axes[0, 0].containers)
    low, high = confidence_interval([80.5, 84.5, 82.5])
    bars = axes[0, 0].containers[0].lines[2][0].get_segments()[0]
    assert taught == pytest.approx(82.5) and [y for _, y in bars] == pytest.approx([low, high])
    assert none == pytest.approx(71.0)  # runs without a teacher: each its own unit, no hollow markers
    figures.figure(fig, "test-seeds-teachers")
