"""kdcore.results: intervals, Welch comparisons (plain and over teacher means), Holm, Spearman."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from kdcore.record import environment
from kdcore.results import (
    NO_INTERVAL,
    NO_SPREAD,
    NOT_FINITE,
    compare,
    confidence_interval,
    fmt_interval,
    fmt_signed,
    group_means,
    holm,
    holm_adjusted,
    spearman,
    summary,
)

ROOT = Path(__file__).resolve().parents[1]


def two_sided_t_p(t: float, df: float) -> float:
    """The two-sided p-value of a t statistic from the regularized incomplete beta function (not scipy.stats)."""
    return float(special.betainc(df / 2, 0.5, df / (df + t * t)))


def test_summary():
    s = summary([0.8, 0.9])
    assert (s["mean"], s["std"]) == pytest.approx((0.85, math.sqrt(0.005))) and (s["n"], s["values"]) == (2, [0.8, 0.9])


def test_confidence_interval_is_student_t_and_none_for_one_value():
    # mean 2.5, s = 1.2910, t(0.975, 3) = 3.182446 (textbook table): half-width 3.182446 · 1.2910 / 2 = 2.05427
    low, high = confidence_interval([1, 2, 3, 4])
    assert (low, high) == pytest.approx((2.5 - 2.05427, 2.5 + 2.05427), abs=1e-5)
    assert confidence_interval([0.9]) is None
    assert confidence_interval([0.9, 0.9]) is None  # a spread of 0 is not an estimate: no zero-width interval


def test_compare_is_welch_with_hand_computed_values():
    # a = 1..4, b = 2a: variances 5/3 and 20/3, so se² = 5/12 + 20/12 = 25/12, t = 2.5 / se = √3 and the
    # Welch–Satterthwaite df = (25/12)² / (((5/12)² + (20/12)²) / 3) = 75/17
    c = compare([1, 2, 3, 4], [2, 4, 6, 8], label_a="CE", label_b="KD")
    se, df = math.sqrt(25 / 12), 75 / 17
    assert c["diff"] == pytest.approx(2.5) and c["se"] == pytest.approx(se) and c["df"] == pytest.approx(df)
    assert c["p"] == pytest.approx(two_sided_t_p(math.sqrt(3), df))
    half = stats.t.ppf(0.975, df) * se
    assert c["ci"] == pytest.approx([2.5 - half, 2.5 + half])
    assert c["verdict"] == "within noise" and c["test"] == "welch" and (c["n_a"], c["n_b"]) == (4, 4)
    assert (c["a"], c["b"], c["level"]) == ("CE", "KD", 0.95)
    json.dumps(c)  # chapters write it into their results JSON


def test_compare_verdicts_say_which_way_b_differs():
    a = [0.80, 0.81, 0.79, 0.80]
    assert compare(a, [x + 0.05 for x in a])["verdict"] == "higher"
    assert compare(a, [x - 0.05 for x in a])["verdict"] == "lower"
    assert compare(a, [0.81, 0.79, 0.80, 0.80])["verdict"] == "within noise"


def test_compare_with_one_unit_has_no_interval():
    c = compare([0.80], [0.90, 0.91])
    assert c["ci"] is None and c["p"] is None and c["verdict"] == NO_INTERVAL == "no interval (n < 2)"
    assert c["diff"] == pytest.approx(0.105) and (c["n_a"], c["n_b"]) == (1, 2)
    # three students of one teacher are still one teacher
    grouped = compare([0.8, 0.81, 0.82], [0.9, 0.91, 0.92], groups_a=[0, 0, 0], groups_b=[0, 0, 0])
    assert grouped["ci"] is None and grouped["verdict"] == NO_INTERVAL and grouped["n_a"] == 1


def test_units_that_do_not_vary_give_no_interval_and_no_verdict():
    # a variance estimate of 0 is not evidence of no noise: never p = 0 and "beyond noise"
    c = compare([0.80, 0.80], [0.81, 0.81])
    assert c["ci"] is None and c["p"] is None and c["verdict"] == NO_SPREAD and c["diff"] == pytest.approx(0.01)
    family = holm([c, compare([0.80, 0.82, 0.81], [0.90, 0.91, 0.92])])
    assert family[0]["verdict"] == NO_SPREAD and family[0]["p_adjusted"] is None and family[1]["family_size"] == 1
    # paired: every difference alike is no spread either, though both sides vary
    assert compare([0.80, 0.85], [0.81, 0.86], paired=True)["verdict"] == NO_SPREAD
    assert confidence_interval([0.7, 0.7, 0.7]) is None


def test_paired_compare_is_scipys_paired_t_and_pairs_units_by_label():
    a, b = [0.80, 0.83, 0.78, 0.81], [0.82, 0.84, 0.81, 0.82]
    c = compare(a, b, paired=True)
    d = np.subtract(b, a)  # differences 2, 1, 3, 1 (×0.01): mean 1.75, sd √(0.9167) × 0.01
    se = d.std(ddof=1) / 2
    assert c["diff"] == pytest.approx(0.0175) and c["se"] == pytest.approx(se) and c["df"] == 3
    assert c["p"] == pytest.approx(two_sided_t_p(0.0175 / se, 3))
    half = stats.t.ppf(0.975, 3) * se
    assert c["ci"] == pytest.approx([0.0175 - half, 0.0175 + half])
    assert c["test"] == "paired t" and c["paired"] is True and c["verdict"] == "higher"
    assert compare(a, b)["verdict"] == "within noise"  # Welch ignores the pairing: the same data, no call
    # grouped: teacher means are paired by teacher seed, whatever order the runs come in
    grouped = compare(a * 2, b[::-1] * 2, groups_a=[0, 1, 2, 3] * 2, groups_b=[3, 2, 1, 0] * 2, paired=True)
    assert grouped["test"] == "paired t over teacher means"
    for key in ("diff", "ci", "p", "se", "df"):
        assert grouped[key] == pytest.approx(c[key])
    with pytest.raises(ValueError, match="same units"):
        compare(a, b, groups_a=[0, 1, 2, 3], groups_b=[0, 1, 2, 4], paired=True)
    with pytest.raises(ValueError, match="come in pairs: got 4 and 3"):
        compare(a, b[:3], paired=True)
    # Holm widens a paired interval with its own df (n − 1)
    widened = holm([c, compare(a, [x + 0.05 for x in a])])[0]
    half = stats.t.ppf(1 - 0.05 / 4, 3) * se
    assert widened["ci"] == pytest.approx([0.0175 - half, 0.0175 + half])


def test_compare_by_seed_pairs_runs_by_their_seed_not_their_order():
    from kdcore.results import compare_by_seed

    ce = [{"seed": s, "test_acc": x, "teacher_seed": 0} for s, x in [(0, 0.80), (1, 0.82), (2, 0.85)]]
    kd = [{"seed": s, "test_acc": x, "teacher_seed": 0} for s, x in [(2, 0.86), (0, 0.81), (1, 0.84)]]  # shuffled
    c = compare_by_seed(ce, kd, paired=True, label_a="CE", label_b="KD")
    assert c["p"] == pytest.approx(stats.ttest_rel([0.81, 0.84, 0.86], [0.80, 0.82, 0.85]).pvalue)
    assert (c["test"], c["unit"], c["n_a"], c["a"], c["b"]) == ("paired t", "seeds", 3, "CE", "KD")
    # one teacher's students are each a unit here (compare_runs would count the one teacher)
    welch = compare_by_seed(ce, kd)
    assert welch["test"] == "welch" and welch["n_b"] == 3
    assert compare_by_seed(ce, kd, paired=True, metric=lambda r: -r["test_acc"])["diff"] == pytest.approx(-c["diff"])
    with pytest.raises(ValueError, match="same units"):
        compare_by_seed(ce, [{**kd[0], "seed": 5}, *kd[1:]], paired=True)
    with pytest.raises(ValueError, match="one run a seed"):
        compare_by_seed(ce, [*kd[:2], {**kd[2], "seed": 0}], paired=True)
    # two generations of one lineage: different seeds, paired by lineage
    gen0 = [{**r, "lineage": r["seed"]} for r in ce]
    gen3 = [{**r, "lineage": r["seed"], "seed": r["seed"] + 3000} for r in kd]
    assert compare_by_seed(gen0, gen3, paired=True, pair_by="lineage")["p"] == pytest.approx(c["p"])


def test_compare_runs_pairs_teachers_by_teacher_seed_and_runs_by_seed():
    from kdcore.results import compare_runs

    dense = [{"seed": s, "teacher_seed": t, "test_acc": x}
             for s, (t, x) in enumerate(zip([0, 0, 1, 1, 2, 2], [0.84, 0.85, 0.80, 0.82, 0.86, 0.83]))]  # fmt: skip
    pruned = [{**r, "test_acc": r["test_acc"] - 0.01 * (1 + r["teacher_seed"] % 2)} for r in reversed(dense)]
    c = compare_runs(dense, pruned, paired=True)
    expected = compare([0.845, 0.81, 0.845], [0.835, 0.79, 0.835], paired=True)
    for key in ("diff", "ci", "p", "df"):
        assert c[key] == pytest.approx(expected[key])
    assert (c["unit"], c["test"], c["n_a"]) == ("teachers", "paired t over teacher means", 3)
    alone = [{"seed": s, "test_acc": x} for s, x in enumerate([0.80, 0.82, 0.78])]
    shifted = [{"seed": s, "test_acc": x} for s, x in reversed(list(enumerate([0.81, 0.84, 0.79])))]
    by_seed = compare_runs(alone, shifted, paired=True)
    assert (by_seed["unit"], by_seed["test"]) == ("seeds", "paired t")
    assert by_seed["p"] == pytest.approx(stats.ttest_rel([0.81, 0.84, 0.79], [0.80, 0.82, 0.78]).pvalue)


def test_grouped_compare_is_welch_over_group_means():
    a, teachers_a = [0.80, 0.82, 0.78, 0.79, 0.81, 0.80], [0, 0, 1, 1, 2, 2]
    b, teachers_b = [0.84, 0.85, 0.80, 0.83, 0.86, 0.82, 0.83], [5, 5, 6, 6, 6, 7, 7]
    grouped = compare(a, b, groups_a=teachers_a, groups_b=teachers_b)
    means_a, means_b = [0.81, 0.785, 0.805], [0.845, (0.80 + 0.83 + 0.86) / 3, 0.825]
    plain = compare(means_a, means_b)
    assert grouped["test"] == "welch over teacher means" and (grouped["n_a"], grouped["n_b"]) == (3, 3)
    for key in ("diff", "ci", "p", "se", "df", "verdict"):
        assert grouped[key] == pytest.approx(plain[key])
    # and the same p as scipy's Welch test on the means, called directly
    assert grouped["p"] == pytest.approx(stats.ttest_ind(means_b, means_a, equal_var=False).pvalue)


def test_compare_runs_takes_each_teacher_as_a_unit_and_says_what_each_side_counted():
    from kdcore.results import compare_runs

    no_teacher = [{"seed": s, "test_acc": x} for s, x in enumerate([0.80, 0.82, 0.78, 0.79])]
    taught = [{"seed": s, "teacher_seed": t, "test_acc": x}
              for s, (t, x) in enumerate(zip([5, 5, 6, 6, 7, 7], [0.84, 0.85, 0.80, 0.83, 0.86, 0.82]))]  # fmt: skip
    mixed = compare_runs(no_teacher, taught, label_a="none", label_b="KD")
    expected = compare([0.80, 0.82, 0.78, 0.79], [0.845, 0.815, 0.84])  # the teacher means, by hand
    for key in ("diff", "ci", "p", "verdict"):
        assert mixed[key] == pytest.approx(expected[key])
    assert (mixed["n_a"], mixed["n_b"], mixed["test"]) == (4, 3, "welch over teacher means")
    assert (mixed["unit_a"], mixed["unit_b"], mixed["a"], mixed["b"]) == ("student seeds", "teachers", "none", "KD")
    assert "unit" not in mixed
    assert compare_runs(taught, taught)["unit"] == "teachers" and "unit_a" not in compare_runs(taught, taught)
    assert compare_runs(no_teacher, no_teacher)["unit"] == "seeds"
    assert compare_runs(no_teacher, taught, metric="seed")["diff"] == pytest.approx(2.5 - 1.5)
    # a metric can be a function of the run (chapter 8: the first epoch's validation accuracy)
    doubled = compare_runs(no_teacher, taught, metric=lambda r: 2 * r["test_acc"])
    assert doubled["diff"] == pytest.approx(2 * mixed["diff"]) and doubled["unit_b"] == "teachers"


def test_group_means_keep_first_appearance_order_and_check_lengths():
    assert group_means([1, 2, 3, 5], ["t1", "t0", "t1", "t0"]).tolist() == [2.0, 3.5]
    with pytest.raises(ValueError, match="group labels"):
        group_means([1, 2], [0])


def test_a_nan_or_inf_unit_gives_no_interval_and_no_verdict():
    # nan fails every comparison, so an unguarded verdict would read "lower" (nan > 0 is False)
    for bad in (math.nan, math.inf):
        c = compare([0.80, 0.81, bad], [0.82, 0.83, 0.84])
        assert c["ci"] is None and c["p"] is None and c["verdict"] == NOT_FINITE
        assert compare([0.80, 0.81, 0.82], [0.82, bad, 0.84], paired=True)["verdict"] == NOT_FINITE
    # in a family it keeps its verdict and the others are adjusted among themselves
    family = holm([compare([0.80, math.nan], [0.9, 0.91]), compare([0.80, 0.82, 0.81], [0.90, 0.91, 0.92])])
    assert family[0]["verdict"] == NOT_FINITE and family[1]["family_size"] == 1


def test_holm_refuses_a_nan_p_value_rather_than_wiping_out_the_family():
    # sorted with a nan key the order is undefined, and min(1, m·nan) is 1 for every p after it
    with pytest.raises(ValueError, match="finite p-values"):
        holm_adjusted([math.nan, 0.01, 0.04])


def test_holm_adjusted_p_values_known_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → raised to the running max 0.06
    assert holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1


def test_holm_adjusts_verdicts_and_widens_intervals_to_bonferroni():
    rng = np.random.default_rng(0)
    base = list(0.8 + 0.01 * rng.standard_normal(5))
    family = {
        "large": compare(base, [x + 0.05 for x in base]),
        "small": compare(base, [x + 0.012 + 0.01 * e for x, e in zip(base, rng.standard_normal(5))]),
        "none": compare(base, list(0.8 + 0.01 * rng.standard_normal(5))),
        "one seed": compare(base, [0.9]),
    }
    adjusted = holm(family)
    assert list(adjusted) == list(family)
    tested = ["large", "small", "none"]
    expected = holm_adjusted([family[name]["p"] for name in tested])
    for name, p_adjusted in zip(tested, expected):
        c = adjusted[name]
        assert c["p_adjusted"] == pytest.approx(p_adjusted) and c["p_adjusted"] >= c["p"]
        assert (c["correction"], c["family_size"], c["ci_level"]) == ("holm", 3, pytest.approx(1 - 0.05 / 3))
        assert c["verdict"] == ("within noise" if p_adjusted >= 0.05 else ("higher" if c["diff"] > 0 else "lower"))
        # the Bonferroni interval, computed by scipy from the same data at level 1 − α/m
        assert c["ci"][0] <= family[name]["ci"][0] and c["ci"][1] >= family[name]["ci"][1]
        assert "Bonferroni" in c["ci_note"]
    welch = stats.ttest_ind([x + 0.05 for x in base], base, equal_var=False)
    assert adjusted["large"]["ci"] == pytest.approx(list(welch.confidence_interval(1 - 0.05 / 3)))
    assert adjusted["large"]["verdict"] == "higher"
    assert adjusted["one seed"]["verdict"] == NO_INTERVAL and adjusted["one seed"]["p_adjusted"] is None
    assert family["large"].get("p_adjusted") is None  # the inputs are not modified
    assert [c["p_adjusted"] for c in holm(list(family.values()))] == [adjusted[n]["p_adjusted"] for n in family]


def test_holm_can_turn_a_difference_into_noise():
    # p = 0.02 alone is a difference at α = 0.05; with two more comparisons Holm needs 0.02 · 3 < 0.05
    one = {"diff": 1.0, "ci": [0.1, 1.9], "p": 0.02, "se": 0.4, "df": 10.0, "verdict": "higher"}
    others = [dict(one, p=0.5, ci=[-1, 3], verdict="within noise") for _ in range(2)]
    assert holm([one, *others])[0]["verdict"] == "within noise"


def test_spearman_hand_computed():
    # ranks of y = (5, 6, 7, 8, 7): (1, 2, 3.5, 5, 3.5); Pearson of the ranks: 8 / √(10 · 9.5)
    rho, p = spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])
    assert rho == pytest.approx(8 / math.sqrt(95))
    assert p == pytest.approx(two_sided_t_p(rho * math.sqrt(3 / (1 - rho * rho)), 3))


def test_environment_records_scipy():
    assert environment()["scipy"]


def test_source_commit_names_the_checkouts_commit_and_nothing_outside_a_checkout(tmp_path):
    from kdcore.record import source_commit

    loose = tmp_path / "results.py"  # kdcore installed, not checked out
    loose.write_text("")
    assert source_commit(loose) is None
    git = shutil.which("git")
    head = git and subprocess.run([git, "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if not head or head.returncode:
        pytest.skip("not a git checkout")
    found = environment()["source"]
    assert found["commit"] == head.stdout.strip() and isinstance(found["kdcore_modified"], bool)


def test_fmt_interval_prints_no_interval_for_none():
    assert fmt_interval((0.0012, 0.005), signed=True) == "[+0.12, +0.50]"
    assert fmt_interval((-0.00004, 0.005), signed=True) == "[-0.004, +0.50]"  # a bound near 0 says its side
    assert fmt_signed(-0.004) == "+0.00" and fmt_signed(-0.006) == "-0.01" and fmt_signed(1.5, 1) == "+1.5"
    assert fmt_signed(-0.003, bound=True) == "-0.003" and fmt_signed(0.003, bound=True) == "+0.003"
    assert fmt_signed(-0.00002, bound=True) == "-0.00" and fmt_signed(0.0, bound=True) == "+0.00"
    assert fmt_interval([-0.00003, 0.0248], signed=True) == "[-0.003, +2.48]"
    assert fmt_interval([0.8, 0.9]) == "[80.00, 90.00]"
    assert fmt_interval(compare([0.8], [0.9, 0.91])["ci"]) == "no interval (n < 2)"


def _exactly(mean: float, sd: float, m: int) -> np.ndarray:
    """``m`` values with exactly this mean and sample standard deviation."""
    z = np.linspace(-1, 1, m)
    return mean + sd * z / z.std(ddof=1)


def test_units_needed_is_the_first_n_whose_bonferroni_welch_interval_excludes_zero():
    from kdcore.results import units_needed

    a, b = [0.861, 0.866, 0.863], [0.870, 0.869, 0.867]
    n = units_needed(a, b, family_size=4)
    assert n > 3  # the three units a side do not suffice at this level
    for m, excludes_zero in ((n - 1, False), (n, True)):
        c = compare(_exactly(np.mean(a), np.std(a, ddof=1), m), _exactly(np.mean(b), np.std(b, ddof=1), m),
                    level=1 - 0.05 / 4)  # fmt: skip
        assert (c["verdict"] != "within noise") == excludes_zero
    assert units_needed([0.8, 0.9], [0.8, 0.9]) is None and units_needed([0.8], [0.9, 0.91]) is None
    assert units_needed([0.8, 0.8], [0.9, 0.9]) is None  # no spread: compare gives no interval either
    assert units_needed([0.80, 0.81, 0.82], [0.83, 0.84, 0.85, 0.86, 0.90]) >= 2  # Welch: sides of any sizes


def test_paired_units_needed_is_the_first_n_whose_bonferroni_paired_interval_excludes_zero():
    from kdcore.results import units_needed

    a, b = [0.861, 0.866, 0.863], [0.864, 0.866, 0.868]  # three pairs of teachers
    n = units_needed(a, b, family_size=4, paired=True)
    d = np.subtract(b, a)
    for m, excludes_zero in ((n - 1, False), (n, True)):  # differences of that mean and sd, m of them
        diffs = _exactly(d.mean(), d.std(ddof=1), m)
        c = compare(np.zeros(m), diffs, level=1 - 0.05 / 4, paired=True)
        assert (c["verdict"] != "within noise") == excludes_zero
    assert n != units_needed(a, b, family_size=4)  # pairing changes the answer
    # runs grouped by teacher seed, one side listed in another order: averaged per seed, paired by label
    runs_a, seeds_a = [0.860, 0.862, 0.866, 0.866, 0.863, 0.863], [0, 0, 1, 1, 2, 2]
    runs_b, seeds_b = [0.868, 0.868, 0.864, 0.864, 0.866, 0.866], [2, 2, 0, 0, 1, 1]
    assert units_needed(runs_a, runs_b, family_size=4, paired=True, groups_a=seeds_a, groups_b=seeds_b) == n
    assert units_needed([0.8, 0.9], [0.81, 0.91], paired=True) is None  # every pair differs alike: no spread
    with pytest.raises(ValueError, match="pairs"):
        units_needed([0.8, 0.9, 0.85], [0.81, 0.9], paired=True)


def test_holm_intervals_are_plain_floats():
    family = holm([compare([0.80, 0.82, 0.81], [0.85, 0.86, 0.84]), compare([0.8, 0.81, 0.79], [0.8, 0.82, 0.8])])
    assert all(type(x) is float for c in family for x in c["ci"])  # not numpy scalars (glue shows their repr)


def test_retest_makes_an_older_records_comparisons_with_todays_tests():
    from kdcore.record import retest
    from kdcore.results import compare_runs

    def runs(accuracies, teachers=True):
        return [
            {"seed": s, "test_acc": x, **({"teacher_seed": s} if teachers else {})} for s, x in enumerate(accuracies)
        ]

    record_runs = {"CE": runs([0.80, 0.82, 0.85], False), "KD": runs([0.81, 0.84, 0.86], False),
                   "big": runs([0.70, 0.75, 0.72]), "small": runs([0.72, 0.76, 0.75])}  # fmt: skip
    made = [
        compare_runs(record_runs[a], record_runs[b], label_a=a, label_b=b) for a, b in (("CE", "KD"), ("big", "small"))
    ]
    old = holm([*made, {**compare([0.1, 0.2], [0.3, 0.4]), "a": "x", "b": "y"}])
    like = [{"a": "CE", "b": "KD", "test": "paired t", "paired": True}]  # how the chapter tests it today
    again = retest({"runs": record_runs, "comparisons": old}, like)
    ce_kd, big_small, kept = again["comparisons"]
    assert ce_kd["test"] == "paired t" and ce_kd["p"] == pytest.approx(
        stats.ttest_rel([0.81, 0.84, 0.86], [0.80, 0.82, 0.85]).pvalue)  # fmt: skip
    # not in `like`: over teacher means, paired where both sides have teachers (chapter 9's rule)
    assert big_small["test"] == "paired t over teacher means" and big_small["n_a"] == 3
    assert kept["p"] == old[2]["p"] and kept["family_size"] == 3  # its runs are not in the record: as it was
    assert [c["test"] for c in again["comparisons_ignoring_pairs"][:2]] == ["welch", "welch over teacher means"]


def test_alike_values_have_no_spread_even_where_floats_round():
    # 0.81 − 0.80, 0.83 − 0.82 and 0.86 − 0.85 differ in their last bits: still one gap, no noise measured
    assert compare([0.80, 0.82, 0.85], [0.81, 0.83, 0.86], paired=True)["verdict"] == NO_SPREAD
    assert compare([0.8] * 3, [0.5] * 3)["verdict"] == NO_SPREAD and confidence_interval([0.7] * 4) is None
    with pytest.raises(ValueError, match="both sides or on neither"):
        compare([0.8, 0.9], [0.7, 0.6], groups_a=[0, 1], paired=True)


def test_retest_pairs_only_matching_seeds_and_matches_every_naming_key():
    from kdcore.record import retest

    ce = [{"seed": s, "test_acc": x} for s, x in zip([0, 1, 3], [0.80, 0.82, 0.85])]
    kd = [{"seed": s, "test_acc": x} for s, x in zip([0, 1, 2], [0.81, 0.84, 0.86])]
    old = holm([{**compare([0.80, 0.82, 0.85], [0.81, 0.84, 0.86], label_a="CE", label_b="KD"), "key": k}
                for k in ("test", "first_epoch")])  # fmt: skip
    like = [{"a": "CE", "b": "KD", "key": "test", "test": "paired t", "paired": True},
            {"a": "CE", "b": "KD", "key": "first_epoch", "test": "welch"}]  # fmt: skip
    again = retest({"runs": {"CE": ce, "KD": kd}, "comparisons": old}, like)["comparisons"]
    assert [c["key"] for c in again] == ["test", "first_epoch"]
    assert again[0]["test"] == "welch" and "paired" not in again[0]  # seeds 0, 1, 3 against 0, 1, 2: no pairs
    kd[2]["seed"] = 3
    again = retest({"runs": {"CE": ce, "KD": kd}, "comparisons": old}, like)["comparisons"]
    assert again[0]["test"] == "paired t" and again[1]["test"] == "welch"  # each as its own key is tested now


def test_holm_takes_the_familys_level_from_its_comparisons():
    a, b = [0.80, 0.82, 0.81, 0.83], [0.84, 0.85, 0.83, 0.86]
    family = holm([compare(a, b, level=0.9), compare(b, a, level=0.9)])
    assert {c["level"] for c in family} == {0.9} and family[0]["ci_level"] == pytest.approx(1 - 0.1 / 2)
    assert holm([compare(a, b)])[0]["level"] == 0.95 and holm([]) == []
    with pytest.raises(ValueError, match="different levels"):
        holm([compare(a, b, level=0.9), compare(b, a)])
    assert holm([compare(a, b, level=0.9), compare(b, a)], level=0.95)[0]["level"] == 0.95  # said outright


def test_paired_power_is_the_share_of_runs_that_call_the_difference():
    """The noncentral-t power of a paired test against a simulation of the runs it describes: normal
    differences of mean 0.3 and sd 0.25, five pairs, a family of two (Bonferroni's 97.5 %)."""
    from kdcore.results import paired_power, pairs_for_power

    rng = np.random.default_rng(0)
    diffs = rng.normal(0.3, 0.25, size=(20000, 5))
    p = stats.ttest_1samp(diffs, 0.0, axis=1).pvalue
    called = np.mean((p < 0.05 / 2) & (diffs.mean(axis=1) > 0))
    assert paired_power(0.3, 0.25, 5, family_size=2) == pytest.approx(called, abs=0.01)
    assert paired_power(-0.3, 0.25, 5, family_size=2) == paired_power(0.3, 0.25, 5, family_size=2)
    n = pairs_for_power(0.3, 0.25, power=0.8, family_size=2)
    assert paired_power(0.3, 0.25, n, family_size=2) >= 0.8 > paired_power(0.3, 0.25, n - 1, family_size=2)
    assert math.isnan(paired_power(0.3, 0.0, 5)) and pairs_for_power(0.0, 0.25) is None


def test_paired_spread_is_the_standard_deviation_of_the_paired_differences():
    from kdcore.results import paired_spread

    a, b = [0.80, 0.82, 0.85, 0.81], [0.81, 0.84, 0.855, 0.83]
    c = compare(a, b, paired=True)
    assert paired_spread(c) == pytest.approx(np.std(np.subtract(b, a), ddof=1))
    with pytest.raises(ValueError, match="not a paired comparison"):
        paired_spread(compare(a, b))  # Welch's standard error is not the pairs' spread (here 3.8 times it)
    assert math.isnan(paired_spread(compare(a, [x + 0.01 for x in a], paired=True)))  # every pair alike


def test_student_seeds_shared_reads_how_a_run_was_seeded_from_its_records():
    from kdcore.results import student_seeds_shared

    shared = {"KD": [{"teacher_seed": t, "seed": s} for t in (0, 1) for s in (0, 1)], "no teacher": [{"seed": 3}]}
    own = {"KD": [{"teacher_seed": t, "seed": 2 * t + s} for t in (0, 1) for s in (0, 1)]}
    assert student_seeds_shared(shared) and not student_seeds_shared(own)
    # across conditions too: one method's teacher 1 reusing another's teacher-0 seed is shared
    assert student_seeds_shared({**own, "PrUE": [{"teacher_seed": 1, "seed": 0}]})
    assert not student_seeds_shared({"no teacher": [{"seed": 0}, {"seed": 0}]})


def test_family_ci_level_is_holms_bonferroni_level_even_where_the_first_comparison_has_no_interval():
    from kdcore.results import family_ci_level

    spread = compare([0.80, 0.82, 0.85], [0.81, 0.84, 0.86])
    flat = compare([0.5, 0.5], [0.5, 0.5])  # no spread: no interval, no ci_level
    family = holm([flat, spread, spread])
    assert "ci_level" not in family[0] or family[0]["ci"] is None
    assert family_ci_level(family) == pytest.approx(family[1]["ci_level"]) == pytest.approx(1 - 0.05 / 2)
    assert math.isnan(family_ci_level([]))


def test_interval_width_is_upper_minus_lower_and_nan_without_an_interval():
    from kdcore.results import interval_width

    assert interval_width({"ci": [-0.01, 0.03]}) == pytest.approx(0.04)
    assert math.isnan(interval_width({"ci": None})) and math.isnan(interval_width(None))


def test_statistics_names_every_key_the_comparisons_compute():
    # kdcore.record.retest keeps a comparison's other keys (its names) and makes these again: a key the
    # statistics add but STATISTICS lacks would be taken for a name, and a retested comparison would not match
    from kdcore.record import STATISTICS
    from kdcore.results import compare_by_seed, compare_runs

    runs_a = [
        {"seed": s, "teacher_seed": t, "test_acc": 0.80 + 0.01 * s + 0.003 * t} for t in (0, 1, 2) for s in (0, 1)
    ]
    runs_b = [{**r, "test_acc": r["test_acc"] + 0.004 * (1 + r["teacher_seed"])} for r in runs_a]
    family = holm([compare_runs(runs_a, runs_b, label_a="A", label_b="B"),
                   compare_runs(runs_a, runs_b, label_a="A", label_b="B", paired=True),
                   compare_by_seed(runs_a[:2], runs_b[:2], label_a="A", label_b="B", paired=True),
                   compare([0.8, 0.82], [0.81, 0.84])])  # fmt: skip
    for c in family:
        assert set(c) - {"a", "b"} <= set(STATISTICS), set(c) - {"a", "b"} - set(STATISTICS)


def test_one_side_without_spread_gives_no_interval():
    # Welch's test would take the constant side's variance of 0 as known and call this "higher"
    constant, varied = [0.80, 0.80, 0.80], [0.90, 0.91, 0.92]
    for a, b in ((constant, varied), (varied, constant)):
        c = compare(a, b)
        assert c["verdict"] == NO_SPREAD and c["ci"] is None and c["p"] is None
    from kdcore.results import units_needed

    assert units_needed(constant, varied) is None
    assert compare([0.80, 0.81, 0.79], varied)["verdict"] == "higher"  # both vary: a verdict


def test_the_unit_never_changes_without_a_word():
    from kdcore.results import by_teacher, compare_by_seed, compare_runs

    taught = [{"seed": s, "teacher_seed": s // 2, "test_acc": 0.8 + 0.01 * s} for s in range(4)]
    half_labelled = [*taught[:3], {"seed": 3, "test_acc": 0.83}]  # one run lost its teacher seed
    with pytest.raises(ValueError, match="some runs have a teacher_seed"):
        by_teacher(half_labelled)
    with pytest.raises(ValueError, match="some runs have a teacher_seed"):
        compare_runs(taught, half_labelled)
    # runs under two teachers are two units, not four: compare_by_seed refuses them
    with pytest.raises(ValueError, match="several teachers"):
        compare_by_seed(taught, taught)
    one_teacher = [{**r, "teacher_seed": 0} for r in taught]
    assert compare_by_seed(one_teacher, one_teacher)["n_a"] == 4


def test_seed_blocks_pair_each_teachers_students_with_the_no_teacher_runs_of_their_seeds():
    from kdcore.results import compare_seed_blocks

    rng = np.random.default_rng(0)
    # per-teacher seeding: the i-th teacher (seeds 5, 6, 7: labels, not positions) gave its students 2i, 2i + 1
    teachers = [5, 6, 7]
    taught = [{"seed": 2 * i + k, "teacher_seed": t, "test_acc": 0.80 + rng.normal(0, 0.01)}
              for i, t in enumerate(teachers) for k in range(2)]  # fmt: skip
    no_teacher = [{"seed": s, "test_acc": 0.82 + rng.normal(0, 0.01)} for s in (5, 4, 3, 2, 1, 0)]  # any order
    c = compare_seed_blocks(no_teacher, taught, label_a="no teacher", label_b="KD")
    by_seed = {r["seed"]: r["test_acc"] for r in no_teacher}
    blocks = [np.mean([by_seed[2 * i], by_seed[2 * i + 1]]) for i in range(3)]
    means = [np.mean([r["test_acc"] for r in taught if r["teacher_seed"] == t]) for t in teachers]
    expected = stats.ttest_rel(means, blocks)
    assert c["paired"] and c["n_a"] == c["n_b"] == 3 and c["unit"] == "seed blocks"
    from kdcore.report import interval_facts

    assert interval_facts(c)["units"] == "over 3 teachers, each paired with its seed block"
    assert c["p"] == pytest.approx(expected.pvalue) and c["df"] == 2
    assert c["diff"] == pytest.approx(np.mean(means) - np.mean(blocks))
    # shared seeding (every teacher's students ran seeds 0 and 1): one block for every teacher, no pairs
    shared = [{**r, "seed": r["seed"] % 2} for r in taught]
    assert compare_seed_blocks(no_teacher, shared) is None
    assert compare_seed_blocks(no_teacher[:4], taught) is None  # runs of other seeds: no blocks either


def test_retest_refuses_a_comparison_of_another_measure():
    from kdcore.record import retest

    runs = {x: [{"seed": s, "test_acc": 0.8, "val_curve": [0.5]} for s in range(2)] for x in ("A", "B")}
    record = {"runs": runs, "comparisons": [{"a": "A", "b": "B", "measure": "val acc, epoch 1"}]}
    with pytest.raises(ValueError, match="val acc, epoch 1"):
        retest(record)


def test_compare_runs_pairs_no_teacher_by_seed_block_only_when_asked_and_possible():
    from kdcore.record import compare_family
    from kdcore.results import compare_runs, compare_seed_blocks

    taught = [{"seed": 2 * i + k, "teacher_seed": i, "test_acc": 0.8 + 0.003 * i + 0.001 * k}
              for i in range(3) for k in range(2)]  # fmt: skip
    no_teacher = [{"seed": s, "test_acc": 0.82 + 0.002 * (s % 3)} for s in range(6)]
    welch = compare_runs(no_teacher, taught, paired=True)
    assert welch["unit_a"] == "student seeds" and not welch.get("paired")
    blocked = compare_runs(no_teacher, taught, paired=True, seed_blocks=True)
    assert blocked == compare_seed_blocks(no_teacher, taught)
    assert compare_runs(no_teacher, taught, seed_blocks=True) == compare_runs(no_teacher, taught)  # unpaired
    others = [{**r, "seed": r["seed"] + 10} for r in no_teacher]  # no shared seeds: Welch's, as before
    assert compare_runs(others, taught, paired=True, seed_blocks=True)["unit_a"] == "student seeds"
    family = compare_family({"r": {"none": no_teacher, "KD": taught}}, [("r", "none", "KD")], seed_blocks=True)
    assert family[0]["unit"] == "seed blocks" and family[0]["regime"] == "r" and family[0]["correction"] == "holm"


def test_a_run_without_a_teacher_records_no_teacher_seed():
    import torch

    from kdcore.experiment import StudentRun
    from kdcore.fit import History
    from kdcore.results import by_teacher

    run = StudentRun(0.8, 0.79, History([{"val_acc": 0.8}]), torch.nn.Linear(1, 1), seed=3)
    assert "teacher_seed" not in run.record(teacher_seed=None)
    assert run.record(teacher_seed=0)["teacher_seed"] == 0  # a teacher of seed 0 is a teacher
    assert by_teacher([run.record(teacher_seed=None)] * 2)[1] is None  # its own unit
    assert run.record(entropy=None)["entropy"] is None  # a measure a run did not take stays in the schema
    for clash in ({"seed": 99}, {"val_acc": 0.9}, {"val_curve": []}):  # the run's own values: not overwritten
        with pytest.raises(ValueError, match="sets"):
            run.record(**clash)


def test_seed_blocks_leave_every_other_pair_of_sides_as_it_was():
    from kdcore.report import why_no_interval
    from kdcore.results import compare_runs, units_needed

    ce = [{"seed": s, "test_acc": 0.80 + 0.01 * (s % 3)} for s in range(4)]
    other = [{"seed": s, "test_acc": 0.81 + 0.004 * s} for s in range(4)]
    # no teachers on either side: paired by student seed, as without seed_blocks (it once raised KeyError)
    assert compare_runs(ce, other, paired=True, seed_blocks=True) == compare_runs(ce, other, paired=True)
    taught = [{"seed": s, "teacher_seed": s // 2, "test_acc": 0.8 + 0.002 * s} for s in range(4)]
    # the runs without a teacher on side b: Welch's, as without seed_blocks
    assert compare_runs(taught, ce, paired=True, seed_blocks=True) == compare_runs(taught, ce, paired=True)
    # a paired design needs its differences to vary, not each side: a constant side still plans
    assert units_needed([0.8] * 4, [0.81, 0.83, 0.82, 0.84], paired=True) is not None
    # no spread where the sides count different units: the message names both
    alike = compare_runs(ce, [{**r, "test_acc": 0.9} for r in taught])
    assert alike["verdict"] == NO_SPREAD
    assert why_no_interval(alike).startswith("the student seeds or the teachers do not vary")
