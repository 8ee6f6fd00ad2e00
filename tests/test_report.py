"""kdcore.report: one table renderer, verdict sentences, the claims the prose makes, and glue."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy import stats

from kdcore import report
from kdcore.results import NO_INTERVAL, NO_SPREAD, compare, holm


def test_table_renders_html_and_markdown_with_the_same_cells():
    t = report.table([{"method": "KD", "acc": 0.87654, "n": 54000}, {"method": "CE <b>"}], caption="Table")
    assert t.to_markdown().splitlines()[2:] == ["| method | acc | n |", "|---|---|---|", "| KD | 0.8765 | 54,000 |",
                                               "| CE <b> |  |  |"]  # fmt: skip
    html = t._repr_html_()
    assert "<caption>Table</caption>" in html and "<td>0.8765</td><td>54,000</td>" in html
    assert "CE &lt;b&gt;" in html  # escaped: a label never becomes markup
    assert "overflow-x:auto" in html  # wide tables scroll inside the column


def test_mean_std_formats_percent_and_drops_the_spread_for_one_value():
    assert report.mean_std([0.8, 0.9]) == "85.00\u00a0±\u00a07.07"  # no-break spaces: one line in any table
    assert report.mean_std([0.8]) == "80.00"
    # a spread that rounds to 0 at the digits shown is not 0; a spread of 0 is
    assert report.mean_std([0.9530, 0.9531], scale=1, digits=3) == "0.953\u00a0±\u00a0<0.001"
    assert report.mean_std([0.5, 0.5]) == "50.00\u00a0±\u00a00.00"
    assert report.mean_std([0.1 + 0.2, 0.3]) == "30.00\u00a0±\u00a00.00"  # float rounding is no spread
    assert report.mean_std([5.1, 5.2], scale=1, digits=0) == "5\u00a0±\u00a0<1"
    # a run without validation records val_acc nan: shown as nan, not an error
    assert report.mean_std([0.5, float("nan")]) == "nan\u00a0±\u00a0nan"


def said(c) -> str:
    """A comparison as a row of :func:`report.verdicts` says it, cells joined."""
    (row,) = report.verdicts([c]).rows  # one row, no heading
    return " | ".join(row).replace("\u00a0", " ")


def test_a_verdict_row_says_the_difference_its_interval_and_the_verdict_in_words():
    c = compare([0.80, 0.81, 0.79], [0.85, 0.86, 0.84])
    c.update(a="CE", b="KD")
    assert said(c) == "KD − CE | +5.00 | 95 % CI +2.73 to +7.27 | 3 vs 3 seeds | higher"
    assert isinstance(report.verdicts([c]).rows[0][-1], report.Strong)  # beyond noise: in bold
    assert said({**c, "verdict": "within noise"}).endswith("| within noise")
    assert not isinstance(report.verdicts([{**c, "verdict": "within noise"}]).rows[0][-1], report.Strong)
    assert said({**c, "ci": None}) == "KD − CE | +5.00 | no interval (fewer than 2 seeds on one side), so no verdict"


def test_a_table_of_verdicts_says_once_what_all_its_intervals_cover_and_each_row_what_is_its_own():
    family = holm([compare([0.80, 0.81, 0.79], [0.85, 0.86, 0.84], label_a="CE", label_b="KD"),
                   compare([0.80, 0.81, 0.79, 0.80], [0.80, 0.8099, 0.79], label_a="CE", label_b="KR")])  # fmt: skip
    table = report.verdicts(family, intro="Intro.")
    assert (
        table.intro == "Intro."
        and table.caption == "Verdicts. Every interval: 97.5 % CI; Holm-corrected over 2 comparisons."
    )
    assert table.columns == ["comparison", "difference (pp)", "97.5 % CI (pp)", "over", "verdict"]
    kd, kr = table.rows
    assert kd == ["KD − CE", "+5.00", "+2.15\u00a0to\u00a0+7.85", "3 vs 3 seeds", "higher"]
    # the difference rounds to zero: "+0.00", not "-0.00"; its own units, in its own row
    assert kr[:2] == ["KR − CE", "+0.00"] and family[1]["diff"] < 0
    assert kr[3:] == ["4 vs 3 seeds", "within noise"]
    # sides that count different things are named each
    mixed = {**family[1], "unit": "units", "unit_a": "no-teacher runs", "unit_b": "teachers"}
    assert report.verdicts([family[0], mixed]).rows[1][3] == "4 no-teacher runs vs 3 teachers"
    # one row says everything itself: its level heads the interval column, its correction follows the interval
    alone = report.verdicts(family[:1], unit="")
    assert (
        alone.caption == "Verdicts."  # a title, still: the book numbers a table by its caption
        and alone.columns[1:3] == ["difference", "interval"]
        and alone.rows[0][3] == "3 vs 3 seeds"
    )
    assert alone.rows[0][2] == "97.5\u00a0%\u00a0CI\u00a0+2.15\u00a0to\u00a0+7.85; Holm-corrected over 2 comparisons"
    # no interval: the row says why and leaves the interval empty
    missing = report.verdicts([family[0], {**family[1], "ci": None}])
    assert missing.rows[1][2:4] == ["", ""] and missing.rows[1][4].startswith("no interval (fewer than 2 seeds")
    # the HTML shows the intro above, the caption, a cell per column and the verdict beyond noise in bold;
    # Markdown, the same rows
    page = table._repr_html_()
    assert page.startswith("<p>Intro.</p>") and "<caption>Verdicts. Every interval: 97.5 % CI;" in page
    assert page.count("<td>") == 10 and "<td><strong>higher</strong></td>" in page
    assert "\n| KD − CE | +5.00 | +2.15\u00a0to\u00a0+7.85 | 3 vs 3 seeds | **higher** |" in str(table)
    assert table.note == "" and "kdcore-note" not in page  # nothing marked, nothing to explain
    # no comparisons: nothing to show, not an empty table
    assert str(report.verdicts([])) == "" and report.verdicts([])._repr_html_() == ""


def test_a_verdict_with_a_caveat_is_marked_and_the_caveat_said_under_the_table():
    c = compare([0.80, 0.81, 0.79], [0.85, 0.86, 0.84], label_a="CE", label_b="KD")
    plain = compare([0.80, 0.81, 0.79], [0.80, 0.8099, 0.79], label_a="CE", label_b="KR")
    table = report.verdicts([plain, c | {"caveat": "Within noise by another test."}])
    assert table.rows[0][-1] == "within noise" and table.rows[1][-1] == "higher†"
    assert isinstance(table.rows[1][-1], report.Strong) and table.note == "† Within noise by another test."
    both = report.verdicts([plain | {"caveat": "One."}, c | {"caveat": "Two."}])
    assert [r[-1] for r in both.rows] == ["within noise†", "higher‡"] and both.note == "† One. ‡ Two."


def test_factored_verdicts_say_once_what_both_sides_of_a_comparison_share():
    assert report.shared_part("KD (all labels)", "CE (all labels)") == ("all labels", "KD", "CE")
    assert report.shared_part("fixed, KD from dense", "fixed, CE only") == ("fixed", "KD from dense", "CE only")
    assert report.shared_part("derived, KD from 79%", "fixed, KD from 79%") == ("KD from 79%", "derived", "fixed")
    assert report.shared_part("KD, plain (low)", "KD, ICC (low)") == ("low", "KD, plain", "KD, ICC")  # () first
    assert report.shared_part("PrUE 90%", "dense") is None
    # a comma inside parentheses splits nothing
    assert report.shared_part("KD (T=4, α=0.9), all", "KD (T=4, α=0.5), all") == (
        "all", "KD (T=4, α=0.9)", "KD (T=4, α=0.5)")  # fmt: skip
    assert report.shared_part("x (a, b), KD", "x (a, c), CE") is None
    c = compare([0.80, 0.81, 0.79], [0.85, 0.86, 0.84])
    family = [c | {"a": "CE (all)", "b": "KD (all)"}, c | {"a": "CE (few)", "b": "KD (few)"},
              c | {"a": "dense", "b": "PrUE"}, c | {"a": "CE (few)", "b": "KR (few)"}]  # fmt: skip
    rows = report.verdicts(family, factor=True).rows
    names = [row if isinstance(row, str) else row[0] for row in rows]
    # in the family's order: a heading where the shared part changes, one for a comparison that shares none,
    # and a heading that comes back says what its rows are over (the same group again would read as a slip)
    assert names == ["all", "KD − CE", "few", "KD − CE", "other comparisons", "PrUE − dense",
                     "few, over 3 vs 3 seeds", "KR − CE"]  # fmt: skip
    first = [row if isinstance(row, str) else row[0] for row in report.verdicts(family[2:], factor=True).rows]
    assert first == ["other comparisons", "PrUE − dense", "few", "KR − CE"]  # a leading run without one, too
    assert report.verdicts(family).rows[0][0] == "KD (all) − CE (all)"  # not factored unless asked


def test_verdicts_by_puts_each_group_under_its_heading_in_first_seen_order():
    c = compare([0.80, 0.81, 0.79], [0.85, 0.86, 0.84], label_a="CE", label_b="KD")
    family = [{**c, "student": "s1", "measure": "test"}, {**c, "student": "s2", "measure": "test"},
              {**c, "student": "s1", "measure": "test", "b": "KR"}]  # fmt: skip
    table = report.verdicts_by(family, by=("student", "measure"), intro="Intro.")
    assert table.caption == "Verdicts. Every interval: 95 % CI over 3 vs 3 seeds." and "over" not in table.columns
    titled = report.verdicts_by(family, by=("student",), title="Verdicts on test accuracy", name="tab-v")
    assert titled.caption.startswith("Verdicts on test accuracy. Every interval:") and titled.name == "tab-v"
    headings = [row if isinstance(row, str) else row[0] for row in table.rows]
    assert headings == ["s1, test", "KD − CE", "KR − CE", "s2, test", "KD − CE"]  # grouped, not in input order
    page = table._repr_html_()
    assert page.count('<th colspan="4">') == 2 and page.count("<td>") == 3 * 4
    assert "| **s1, test** |  |  |  |" in str(table)


def test_resolved_parameters_show_as_a_table():
    from kdcore.params import resolve

    html = resolve("kd_basics", "smoke")._repr_html_()
    assert "<td>teacher</td><td>&#x27;mlp-64&#x27;</td>" in html


def test_verdict_cell_says_difference_interval_and_verdict_or_that_no_interval_exists():
    c = {"diff": 0.0123, "ci": [-0.004, 0.0286], "verdict": "within noise"}
    nbsp = "\u00a0"  # the number stays whole in a table that wraps; the verdict may go to the next line
    assert report.verdict_cell(c) == f"+1.23{nbsp}[-0.40,{nbsp}+2.86] within noise"
    wrapped = report.table([{"a": "x", "b": report.verdict_cell(c)}], wrap=True)._repr_html_()
    assert 'class="kdcore-table kdcore-wrap"' in wrapped and "kdcore-wrap" not in report.table([{"a": 1}])._repr_html_()
    one_seed = compare([0.80], [0.81, 0.82])
    assert report.verdict_cell(one_seed) == "+1.50, no interval (n < 2)"
    alike = compare([0.80, 0.80], [0.81, 0.81])  # no spread: no interval, whatever the difference
    assert report.verdict_cell(alike) == "+1.00, no interval (no spread)"
    assert "no interval (the seeds of a side do not vary at all" in said(alike)
    assert report.verdict_cell(None) == "–"
    beyond = report.verdict_cell({**c, "ci": [0.004, 0.0286], "verdict": "higher"})
    assert beyond == f"+1.23{nbsp}[+0.40,{nbsp}+2.86] higher" and isinstance(beyond, report.Strong)  # in bold
    assert not isinstance(report.verdict_cell(c), report.Strong)


def test_side_by_side_matches_comparisons_by_regime_and_sides_and_marks_the_missing_ones():
    kd_prue = {"a": "KD", "b": "PrUE"}
    here = [{"regime": "low-label", **kd_prue, "diff": 0.01, "ci": [0.0, 0.02], "verdict": "better"},
            {"regime": "unfriendly", **kd_prue, "diff": -0.01, "ci": None, "verdict": "–"}]  # fmt: skip
    there = [{"regime": "low-label", **kd_prue, "diff": 0.03, "ci": [-0.01, 0.07], "verdict": "within noise"},
             {"regime": "low-label", "a": "PrUE", "b": "KD", "diff": 0.5, "ci": [0.4, 0.6],
              "verdict": "better"}]  # fmt: skip
    rows = report.side_by_side(here, there, labels=("CPU", "GPU"))
    assert [r["comparison"] for r in rows] == ["low-label: PrUE − KD", "unfriendly: PrUE − KD"]
    assert rows[0]["CPU"].replace("\u00a0", " ") == "+1.00 [+0.00, +2.00] better"
    assert rows[0]["GPU"].replace("\u00a0", " ") == "+3.00 [-1.00, +7.00] within noise"  # not the reversed PrUE → KD
    assert rows[1]["GPU"] == "not run yet" and "no interval" in rows[1]["CPU"]
    # with headings, the regime heads its rows instead of leading each name
    grouped = report.side_by_side([*here, here[1] | {"b": "IMP"}], there, labels=("CPU", "GPU"), headings=True)
    names = [r if isinstance(r, str) else r["comparison"] for r in grouped]
    assert names == ["low-label", "PrUE − KD", "unfriendly", "PrUE − KD", "IMP − KD"]


def test_agreement_counts_shared_verdicts_and_where_only_one_run_sees_a_difference():
    def c(b, diff, ci, regime="unfriendly"):
        verdict = "within noise" if ci and ci[0] <= 0 <= ci[1] else ("higher" if diff > 0 else "lower")
        return {"regime": regime, "a": "KD", "b": b, "diff": diff, "ci": ci, "verdict": verdict}

    here = [c("PrUE", 0.02, [0.01, 0.03]), c("IMP", 0.0, [-0.01, 0.01]), c("KR", -0.02, [-0.03, -0.01]),
            c("ICC", 0.0, [-0.02, 0.02])]  # fmt: skip
    there = [c("PrUE", 0.01, [-0.05, 0.07]), c("IMP", 0.0, [-0.04, 0.04]), c("KR", -0.05, [-0.09, -0.01]),
             c("ICC", 0.0, [-0.02, 0.02], regime="low-label"), c("TA", 0.1, [0.05, 0.15])]  # fmt: skip
    got = report.agreement(here, there)
    assert got["shared"] == 3 and got["same"] == 2  # ICC is another regime there, TA is not here
    assert got["beyond_first"] == 1 and got["beyond_second"] == 0  # PrUE: beyond noise here only
    assert got["widths"] == [pytest.approx(0.02), pytest.approx(0.08)]
    assert got["same_within_noise"] == 1 and got["same_sign"] == 3  # IMP within noise in both; KR − in both
    flipped = report.agreement(here, [there[0] | {"diff": -0.01}, *there[1:]])
    assert flipped["same_sign"] == 2 and flipped["same"] == 2  # PrUE's sign differs, its verdict still differs
    assert report.agreement(here, []) == {"shared": 0, "same": 0, "beyond_first": 0, "beyond_second": 0,
                                          "same_within_noise": 0, "same_sign": 0, "widths": [None, None]}  # fmt: skip
    assert report.agreement_words(got, "this page", "the CNN run") == (
        "Of the 3 comparisons both runs made, 2 have the same verdict. In 1 of them this page finds a difference "
        "beyond noise that the CNN run does not; in none, the reverse.")  # fmt: skip
    one = {"shared": 1, "same": 1, "beyond_first": 0, "beyond_second": 0}
    assert report.agreement_words(one, "a", "b").startswith("Of the 1 comparison both runs made, it has the same")
    assert report.agreement_words({**one, "shared": 0, "same": 0}, "a", "b") == (
        "The two runs made no comparison in common."
    )
    alike = {"shared": 16, "same": 16, "beyond_first": 0, "beyond_second": 0}
    assert report.agreement_words(alike, "this page", "the CNN run") == (
        "Of the 16 comparisons both runs made, all 16 have the same verdict. Neither run finds a difference beyond "
        "noise that the other does not.")  # fmt: skip


def test_verdict_phrase_and_shown_interval_say_a_comparison_as_the_prose_does():
    assert report.verdict_phrase("lower") == "lower beyond noise"
    assert report.verdict_phrase("within noise") == "within noise"
    assert report.verdict_phrase("no interval (one seed)") == "no interval (one seed)"
    assert report.shown_interval({"ci": [-0.0009, 0.0067]}) == "\u22120.09 to +0.67"
    assert report.shown_interval({"ci": [-0.00001, 0.02]}) == "\u22120.001 to +2.00"  # a bound's side kept


def _comparison(a, b, before, after, **keys):
    c = compare(before, after)
    c.update(a=a, b=b, **keys)
    return c


def test_prose_check_is_silent_when_the_run_bears_the_text_out_and_names_each_sentence_it_does_not():
    higher = _comparison("CE", "KD", [0.80, 0.81, 0.79], [0.85, 0.86, 0.84], regime="all")  # +5 pp, tight
    noise = _comparison("CE", "KD", [0.80, 0.85, 0.75], [0.81, 0.76, 0.86], regime="few")  # +1 pp, wide
    assert (higher["verdict"], noise["verdict"]) == ("higher", "within noise")
    claims = [{"a": "CE", "b": "KD", "regime": "all", "verdict": "higher"},
              {"a": "CE", "b": "KD", "regime": "few", "verdict": "within noise"}]  # fmt: skip
    assert report.prose_check([higher, noise], claims) is None  # nothing to show on the page

    claims[1]["verdict"] = "higher"  # the text says KD helped with few labels: this run says noise
    claims.append({"a": "CE", "b": "PrUE", "regime": "all", "verdict": "lower"})  # a method this run left out
    box = report.prose_check([higher, noise], claims, described="the book-profile run").data
    assert "in 2 of the 3 verdicts" in box and "This run differs from the book-profile run" in box
    assert "**few: KD − CE**: within noise here (+1.00 pp, 95 % CI [" in box
    assert "the text says higher beyond noise" in box
    assert "**all: PrUE − CE**: not in this run; the text says lower beyond noise." in box
    assert "all: KD − CE" not in box  # the claim that holds is not listed
    one_seed = {**noise, "ci": None, "verdict": NO_INTERVAL}
    assert (
        "**few: KD − CE**: no interval here (+1.00 pp; fewer than 2 seeds on one side)"
        in report.prose_check([higher, one_seed], claims[:2]).data
    )
    alike = {**noise, "ci": None, "verdict": NO_SPREAD, "unit": "teachers"}
    assert (
        "no interval here (+1.00 pp; the teachers of a side do not vary at all, so their spread cannot be estimated)"
        in report.prose_check([higher, alike], claims[:2]).data
    )
    # a verdict beyond noise that no claim covers is named too, once the box is shown
    prue = {**higher, "a": "KD", "b": "PrUE", "diff": -0.02, "ci": [-0.03, -0.01], "verdict": "lower"}
    box = report.prose_check([higher, noise, prue], claims[:2]).data
    assert "and it finds 1 difference beyond noise the text does not state:" in box
    assert "**all: PrUE − KD**: lower beyond noise here (\u22122.00 pp" in box and "states no verdict on it" in box
    assert "[\u22123.00, \u22121.00]" in box  # the page's minus sign, as in the tables
    # a run that bears the text out shows no box, whatever else it finds
    assert report.prose_check([higher, {**noise, "verdict": "higher"}, prue], claims[:2]) is None
    both = [{**claims[0], "verdict": "lower"}, claims[1]]
    assert "in both verdicts the text states" in report.prose_check([higher, noise], both).data
    assert all(line.startswith(">") for line in box.splitlines())  # one quote block: Jupyter, Colab and the book


def test_a_claim_can_state_the_side_of_zero_a_difference_within_noise_falls_on():
    noise = _comparison("CE", "KD", [0.80, 0.85, 0.75], [0.81, 0.76, 0.86])  # +1 pp, within noise
    ahead = {"a": "CE", "b": "KD", "verdict": "within noise", "mean": "higher"}
    assert report.prose_check([noise], [ahead]) is None
    box = report.prose_check([noise], [{**ahead, "mean": "lower"}]).data  # "KD came out behind": it did not
    assert "**KD − CE**: within noise here (+1.00 pp" in box and "the text says within noise, lower in the mean" in box


def test_the_box_also_names_each_description_of_the_prose_this_run_does_not_bear_out():
    noise = _comparison("CE", "KD", [0.80, 0.85, 0.75], [0.81, 0.76, 0.86])  # +1 pp, within noise
    claim = {"a": "CE", "b": "KD", "verdict": "within noise"}
    holds = {"the small teacher is the best": True, "the assistant has the highest ECE": True}
    assert report.prose_check([noise], [claim], statements=holds) is None
    box = report.prose_check([noise], [claim], statements={**holds, "KD leads from epoch 3 on": False}).data
    assert "in 1 of the 3 descriptions it gives:" in box and "verdict" not in box.split(":")[0]
    assert "> - The text says *KD leads from epoch 3 on*: not so in this run." in box
    assert "… marks" not in box  # nothing left out of that quotation
    cut = report.prose_check([noise], [claim], statements={"KD leads from epoch … on": False}).data
    assert "> (In a quotation, … marks words or numbers left out; [brackets], words added.)" in cut
    assert "the small teacher" not in box  # a description that holds is not listed
    both = report.prose_check([noise], [{**claim, "verdict": "higher"}], statements={"x": False}).data
    assert "in the one verdict the text states and in the one description it gives:" in both
    assert all(line.startswith(">") for line in both.splitlines())


def test_a_claim_that_matches_several_comparisons_is_an_error_not_a_finding():
    twins = [_comparison("CE", "KD", [0.8, 0.81], [0.85, 0.86], regime=r) for r in ("all", "few")]
    with pytest.raises(ValueError, match="matches 2 comparisons"):
        report.unmet_claims(twins, [{"a": "CE", "b": "KD", "verdict": "higher"}])


def test_glue_params_glues_each_parameter_under_its_name(monkeypatch):
    from kdcore.params import resolve

    glued = {}
    monkeypatch.setattr(report, "glue", lambda name, value: glued.__setitem__(name, value))
    P = resolve("kd_basics", "smoke")
    report.glue_params(P, "student", "student_epochs", "temperature")
    assert glued == {"student": P.student, "student_epochs": P.student_epochs, "temperature": P.temperature}


def test_in_words_lists_items_as_prose_does():
    assert report.in_words(["36 %", "59 %", "79 %"]) == "36 %, 59 % and 79 %"
    assert report.in_words([0.55, 0.45]) == "0.55 and 0.45" and report.in_words(["a"]) == "a"
    assert report.in_words([]) == "none" and report.in_words([], empty="no sweep") == "no sweep"


def test_glue_hands_the_prose_plain_numbers_not_numpy_scalars(monkeypatch):
    import myst_nb
    import numpy as np

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.update({name: value}))
    monkeypatch.setattr(report, "in_ipython", lambda: True)
    report.glue("share", np.float64(0.23))
    report.glue("count", np.int64(3))
    assert glued == {"share": 0.23, "count": 3} and {type(v) for v in glued.values()} == {float, int}
    assert repr(glued["share"]) == "0.23"  # what myst-nb formats with the prose's spec


def test_a_paired_verdict_says_it_counts_pairs():
    c = compare([0.80, 0.82, 0.85], [0.81, 0.84, 0.86], paired=True) | {"unit": "teachers"}
    assert report.interval_facts(c)["units"] == "over 3 pairs of teachers"
    assert "95 % CI" in said(c) and "| 3 pairs of teachers |" in said(c)


def test_quoted_states_another_runs_comparison_in_words():
    below = {"a": "KD", "b": "PrUE", "regime": "low-label", "diff": -0.0272, "ci": [-0.125, 0.071], "n_a": 3,
             "n_b": 3, "unit": "teachers", "verdict": "within noise", "correction": "holm"}  # fmt: skip
    assert report.quoted(below) == "2.72 points below (95 % CI −12.50 to +7.10), within noise (3 vs 3 teachers)"
    above = {**below, "diff": 0.015, "ci": [0.002, 0.028], "verdict": "higher", "ci_level": 0.998}
    assert (
        report.quoted(above)
        == "1.50 points above (99.8 % CI +0.20 to +2.80), higher beyond noise after Holm's correction (3 vs 3 teachers)"
    )
    assert report.quoted(above, count=False).endswith("after Holm's correction")
    assert "no interval (fewer than 2 teachers on one side)" in report.quoted({**below, "ci": None, "n_a": 1})
    assert report.quoted(None, missing="not run") == "not run"
    near_zero = {**above, "ci": [0.0004, 0.0296]}  # +0.04 in a table; "+0.0" would hide which side of 0 it ends
    assert "(99.8 % CI +0.04 to +2.96)" in report.quoted(near_zero)
    assert "no interval (a value is nan or infinite)" in report.quoted(
        {**below, "ci": None, "verdict": "no interval (a nan or inf value)"}
    )
    assert report.quoted({**below, "paired": True}).endswith("(3 pairs of teachers)")
    assert report.quoted(below, count=False).endswith("), within noise")
    assert report.find_comparison([below, above], regime="low-label", verdict="higher") is above
    assert report.find_comparison([below], b="KD") is None
    with pytest.raises(ValueError, match="matches 2 comparisons"):
        report.find_comparison([below, above], regime="low-label")


def test_quoted_regimes_says_one_comparison_in_each_regime_of_another_run():
    kd = {"a": "KD", "b": "PrUE", "diff": 0.0024, "ci": [-0.0018, 0.0066], "ci_level": 0.997, "n_a": 3,
          "n_b": 3, "paired": True, "unit": "teachers", "verdict": "within noise", "correction": "holm"}  # fmt: skip
    family = [{**kd, "regime": "unfriendly"}, {**kd, "regime": "unfriendly", "b": "IMP"},
              {**kd, "regime": "low-label", "diff": -0.015, "ci": [-0.028, -0.002], "verdict": "lower"}]  # fmt: skip
    assert report.quoted_regimes(family, a="KD", b="PrUE") == (
        "in the unfriendly regime, 0.24 points above (99.7 % CI −0.18 to +0.66), within noise; "
        "in the low-label regime, 1.50 points below (99.7 % CI −2.80 to −0.20), lower beyond noise after Holm's "
        "correction"
    )
    assert report.quoted_regimes(family, a="KD", b="KR", missing="not run") == "not run"
    assert report.quoted_regimes([], a="KD", b="PrUE") == "not in that run"


def test_quoted_run_copies_what_a_chapter_quotes_or_nothing(tmp_path):
    from kdcore.record import quoted_run, write_results

    assert quoted_run(tmp_path / "absent.json") is None
    path = write_results(tmp_path / "gpu.json", "comparison", {"profile": "gpu"},
                         {"comparisons": [{"diff": 0.1}], "teachers": {"KD": []}, "runs": {}}, started=0)  # fmt: skip
    record = quoted_run(path)
    assert set(record) == {"environment", "params", "comparisons", "teachers", "protocol"}
    assert record["params"] == {"profile": "gpu"} and record["comparisons"] == [{"diff": 0.1}]
    # an older record's label for sides that count different things reads as the current keys
    older = {"comparisons": [{"diff": 0.1, "unit": "units (no-teacher runs, teachers)"}]}
    path = write_results(tmp_path / "older.json", "comparison", {}, older, started=0)
    (c,) = quoted_run(path)["comparisons"]
    assert (c["unit_a"], c["unit_b"]) == ("no-teacher runs", "teachers") and "unit" not in c
    # a record with its student runs: its family is recomputed with this book's tests, paired and Welch
    ce = [{"seed": 0, "teacher_seed": t, "test_acc": x} for t, x in enumerate([0.80, 0.82, 0.85])]
    kd = [{**r, "test_acc": r["test_acc"] + gain} for r, gain in zip(ce, [0.010, 0.020, 0.015])]
    none = [{"seed": s, "test_acc": x} for s, x in enumerate([0.70, 0.71, 0.69])]
    runs = {"few": {"CE": ce, "KD": kd, "none": none}}
    asked = [{"regime": "few", "a": "CE", "b": "KD"}, {"regime": "few", "a": "none", "b": "KD"}]
    path = write_results(tmp_path / "runs.json", "comparison", {}, {"comparisons": asked, "runs": runs}, started=0)
    record = quoted_run(path)
    paired, welch = record["comparisons"], record["comparisons_ignoring_pairs"]
    assert paired[0]["test"] == "paired t over teacher means" and welch[0]["test"] == "welch over teacher means"
    assert paired[0]["p"] == pytest.approx(stats.ttest_rel([0.81, 0.84, 0.865], [0.80, 0.82, 0.85]).pvalue)
    assert paired[1]["test"] == "welch over teacher means" and paired[1]["family_size"] == 2  # no pairs across units
    # a confirming run: the registered comparison is its own family of one, paired, from the same runs
    (registered,) = quoted_run(path, registered=[("few", "CE", "KD")])["registered"]
    assert registered["family_size"] == 1 and registered["p_adjusted"] == pytest.approx(paired[0]["p"])
    assert registered["regime"] == "few" and registered["test"] == "paired t over teacher means"
    both = quoted_run(path, registered=[("few", "CE", "KD"), ("few", "none", "KD")])["registered_runs"]
    assert both == {"few": {"CE": ce, "KD": kd, "none": none}}  # each side once, of either comparison
    # a record that quotes its confirming run passes it on, for chapters that quote that record
    confirmed = {"comparisons": asked, "confirming_run": {"registered": [{"diff": 0.3}]}}
    path = write_results(tmp_path / "confirmed.json", "comparison", {}, confirmed, started=0)
    assert quoted_run(path)["confirming_run"] == {"registered": [{"diff": 0.3}]}
    older = write_results(tmp_path / "no_runs.json", "comparison", {}, {"comparisons": asked}, started=0)
    with pytest.raises(ValueError, match="no student runs"):
        quoted_run(older, registered=[("few", "CE", "KD")])


def test_a_holm_verdict_beside_an_interval_that_reaches_zero_says_why():
    """Holm's step-down test can call a difference whose Bonferroni interval (more conservative) still holds 0:
    every display says so, instead of printing "beyond noise" beside "-0.05 to +2.68" unexplained."""
    rng = np.random.default_rng(4)  # a seed whose family has the case (seeds 1, 6, 7 … have it too)
    base = rng.normal(0.8, 0.01, 5)
    family = holm([compare(base, base + shift + rng.normal(0, 0.004, 5), paired=True)
                   for shift in (0.05, 0.04, 0.03, 0.006)])  # fmt: skip
    alone = [c for c in family if report.called_by_holm_alone(c)]
    assert alone, [(c["verdict"], c["ci"]) for c in family]  # the case exists in this family
    for c in family:
        contains_zero = c["ci"][0] <= 0 <= c["ci"][1]
        assert report.called_by_holm_alone(c) == (contains_zero and c["verdict"] != "within noise")
        table = report.verdicts([c])
        shown = [said(c), table.note, report.verdict_cell(c), report.quoted(c)]
        explained = [shown[0].endswith("*"), "step-down test" in shown[1], "by Holm" in shown[2],
                     "step-down test" in shown[3]]  # fmt: skip
        assert explained == [report.called_by_holm_alone(c)] * 4, shown
    assert f"(adjusted p = {alone[0]['p_adjusted']:.3f})" in report.verdicts(alone[:1]).note
    marked = report.verdicts(alone[:1])
    assert "| **higher\\*** |" in str(marked) or "| **lower\\*** |" in str(marked)  # a mark, not emphasis
    assert str(marked).endswith("\n\n\\* Beyond noise by Holm's step-down test (adjusted p = "
                                f"{alone[0]['p_adjusted']:.3f}), though its Bonferroni interval, which is more "
                                "conservative, includes 0.")  # a note, not a list item  # fmt: skip
    two = report.verdicts([alone[0] | {"a": "CE", "b": "KD"}, alone[0] | {"a": "CE", "b": "KR"}]).note
    assert "(adjusted p: KD − CE, 0.0" in two and "; KR − CE, 0.0" in two and "their Bonferroni intervals" in two
    assert not report.called_by_holm_alone({**alone[0], "verdict": "within noise"})
    uncorrected = {**alone[0], "p_adjusted": None}  # no Holm family: a verdict and its own interval agree
    assert not report.called_by_holm_alone(uncorrected)


def test_the_page_sets_a_negative_number_with_a_minus_sign_and_the_text_keeps_the_hyphen():
    """A table's HTML (the book, Jupyter) shows "−0.09", as the glued prose does; its text form, which nbval
    compares and a program may parse, keeps Python's "-0.09". A model's name and an exponent keep their hyphen."""
    assert report.minus_signs("-0.09 to +0.67, [-1.22, -0.07]") == "\u22120.09 to +0.67, [\u22121.22, \u22120.07]"
    assert report.minus_signs("mlp-32, 1e-3, 5-9") == "mlp-32, 1e-3, 5-9"
    shown = report.table([{"model": "mlp-32", "Δ (pp)": "-0.09 [-1.20, +0.30]"}])
    assert "<td>mlp-32</td><td>\u22120.09 [\u22121.20, +0.30]</td>" in shown._repr_html_()
    assert "-0.09 [-1.20, +0.30]" in str(shown)


def test_times_ten_writes_scientific_notation_for_prose():
    assert report.times_ten(3.815e-06) == "4 × 10⁻⁶"
    assert report.times_ten(3.815e-06, digits=1) == "3.8 × 10⁻⁶"
    assert report.times_ten(12500.0, digits=2) == "1.25 × 10⁴"
    assert report.times_ten(-3.815e-06) == "-4 × 10⁻⁶"
    assert [report.times_ten(x) for x in (0.0, float("nan"), float("inf"))] == ["0", "nan", "inf"]
