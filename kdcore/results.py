"""Summaries over seeds and the comparisons every chapter reports (the results JSON: :mod:`kdcore.record`).

The statistics come from :mod:`scipy.stats`:

* :func:`summary`: mean ± sample standard deviation over seeds (``kdcore.report.mean_std`` prints it);
  :func:`fmt_interval` and :func:`fmt_signed` print intervals and differences;
* :func:`confidence_interval`: Student-t interval of a mean (``None`` with fewer than 2 values, or values all
  alike);
* :func:`compare`: the difference of means ``b − a`` with a Welch interval, p-value and verdict, optionally
  over the teacher means of grouped runs (see below), or a paired t-test where the design pairs the units;
  the one comparison dict every chapter writes;
  :func:`compare_runs` does it for two lists of student runs, each grouped by its teacher seed, and
  :func:`compare_by_seed` for two lists of one teacher's students, each run a unit, paired by seed;
* :func:`holm`: Holm–Bonferroni over a family of comparisons;
* :func:`spearman`: rank correlation.

**The unit of replication.** Students distilled from the same teacher share that teacher's luck; seeds of
the student alone do not show teacher-to-teacher variance. Passing ``groups_a``/``groups_b`` (e.g. the
teacher seed of each student run) to :func:`compare` averages within each group first and compares the
group means, so the interval includes the teacher's variance and ``n_a``/``n_b`` count teachers.

**Paired designs.** Where unit *i* of both sides shares something that moves its result (the same student
seed, so the same initial weights and batch order; a pruned teacher and the dense teacher it came from),
``paired=True`` tests the differences within pairs (``scipy.stats.ttest_rel``). It removes what the pair
shares from the noise, so where pairs move together its interval is narrower than Welch's, which ignores
the pairing; with few pairs (``n − 1`` degrees of freedom) it can also come out wider.

**No interval without spread.** With fewer than 2 units on a side no variance can be estimated; when the units
of a side do not vary at all, an estimate of 0 is not evidence of no noise (Welch's test would take it as a
known variance and give a side that never varied all the certainty). In both cases the interval and p-value are
``None`` and the verdict says so, rather than printing a zero-width interval.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import stats

NO_INTERVAL = "no interval (n < 2)"
NO_SPREAD = "no interval (no spread)"  # a side's units (or the pairs' differences) all alike: 0 is no estimate
NOT_FINITE = "no interval (a nan or inf value)"  # a diverged run, or a measure a run did not take
WELCH = "welch"
WELCH_OVER_GROUPS = "welch over teacher means"
PAIRED = "paired t"
PAIRED_OVER_GROUPS = "paired t over teacher means"
SEED_BLOCKS = "seed blocks"  # the unit of compare_seed_blocks: a teacher paired with its block of no-teacher runs


def summary(values) -> dict:
    """``{"mean", "std", "n", "values"}`` with the sample standard deviation (0 for a single value; nan where a
    value is nan or infinite: a run without validation records ``val_acc`` nan)."""
    values = [float(v) for v in values]
    if not all(map(math.isfinite, values)):  # statistics.stdev raises on them
        return {"mean": statistics.fmean(values), "std": math.nan, "n": len(values), "values": values}
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": values}


def confidence_interval(values, level: float = 0.95) -> tuple[float, float] | None:
    """Student-t confidence interval of the mean, ``(low, high)``; ``None`` with fewer than 2 values.

    One value has no spread to estimate, and values all alike estimate a spread of 0 that nobody believes, so
    there is no interval in either case (not a zero-width one).
    """
    values = np.asarray([float(v) for v in values])
    if len(values) < 2 or not _varies(values):
        return None
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(confidence_level=level)
    return (float(interval.low), float(interval.high))


def group_means(values, groups=None) -> np.ndarray:
    """The units of replication: ``values`` themselves, or the mean of each group (in order of first appearance).

    ``groups[i]`` is the group of ``values[i]`` (e.g. the teacher seed a student run was distilled from).
    """
    return _units(values, groups)[1]


def _units(values, groups=None) -> tuple[list, np.ndarray]:
    """``(labels, means)``: each unit's group label (its position when there are no groups) and its value."""
    values = np.asarray([float(v) for v in values])
    if groups is None:
        return list(range(len(values))), values
    groups = list(groups)
    if len(groups) != len(values):
        raise ValueError(f"got {len(values)} values but {len(groups)} group labels")
    labels = list(dict.fromkeys(groups))
    return labels, np.array([values[[g == label for g in groups]].mean() for label in labels])


def _varies(values: np.ndarray) -> bool:
    """Whether ``values`` spread beyond rounding: equal accuracies, or a constant gap, can differ in the last
    bits of a float (0.81 − 0.80 ≠ 0.83 − 0.82), and a spread of 1e-17 is no estimate of noise."""
    return float(np.ptp(values)) > 1e-12 * max(1.0, float(np.abs(values).max()))


def _paired_units(a, b, groups_a, groups_b) -> tuple[np.ndarray, np.ndarray]:
    """The two sides' units in matching order: by group label, or by position when there are no groups."""
    if (groups_a is None) != (groups_b is None):
        raise ValueError("a paired comparison needs group labels on both sides or on neither")
    if groups_a is None and len(a) != len(b):
        raise ValueError(f"paired units come in pairs: got {len(a)} and {len(b)}")
    (labels_a, units_a), (labels_b, units_b) = _units(a, groups_a), _units(b, groups_b)
    if sorted(labels_a, key=str) != sorted(labels_b, key=str):
        raise ValueError(f"a paired comparison needs the same units on both sides; got {labels_a} and {labels_b}")
    position = {label: i for i, label in enumerate(labels_b)}
    return units_a, units_b[[position[label] for label in labels_a]]


def compare(
    a,
    b,
    level: float = 0.95,
    groups_a=None,
    groups_b=None,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
    paired: bool = False,
) -> dict:
    """The difference of means ``b − a`` with a t confidence interval (Welch's, or the paired t where
    ``paired``), its p-value and a plain verdict.

    Without groups each value is a unit (Welch's t-test via ``scipy.stats.ttest_ind(equal_var=False)``).
    With ``groups_a``/``groups_b`` (one label per value, e.g. the teacher seed; either side may have them) the
    values are first averaged within each group and Welch's test runs over the group means: the unit of
    replication is the teacher, and the interval includes the teacher's variance.

    ``paired=True`` pairs the units (by group label, or by position without groups) and tests their
    differences with ``scipy.stats.ttest_rel``: ``df`` is ``n − 1`` and ``paired`` is ``True`` in the dict.

    Returns the comparison dict every chapter writes::

        {"a": label_a, "b": label_b,          # labels, None if not given
         "diff": mean(b) − mean(a),           # over units (group means when grouped)
         "ci": [low, high] or None,           # t interval of diff at `level` (Welch or paired)
         "level": level, "p": two-sided p-value or None,
         "test": "welch" | "welch over teacher means" | "paired t" | "paired t over teacher means",
         "n_a": units of a, "n_b": units of b,
         "se": standard error of diff or None, "df": degrees of freedom (Welch–Satterthwaite, or n − 1
                                               when paired) or None,
         "verdict": "higher" | "lower" | "within noise" | "no interval (n < 2)" | "no interval (no spread)"
                    | "no interval (a nan or inf value)"}

    ``verdict`` (for b against a) is ``"within noise"`` when the interval contains 0, else ``"higher"`` or
    ``"lower"``. With fewer than 2 units on a side, units that do not vary at all (every difference
    alike, when paired; the units of either side all alike, when not), or a unit that is nan or infinite,
    ``ci``, ``p``, ``se`` and ``df`` are ``None``
    and the verdict says why there is none. ``se`` and ``df`` let :func:`holm` widen the interval. With few
    seeds the interval is wide: that is the honest answer, not a failure.
    """
    if paired:
        units_a, units_b = _paired_units(a, b, groups_a, groups_b)
    else:
        units_a, units_b = group_means(a, groups_a), group_means(b, groups_b)
    diff = float(units_b.mean() - units_a.mean())
    grouped = groups_a is not None or groups_b is not None
    result = {
        "a": label_a,
        "b": label_b,
        "diff": diff,
        "ci": None,
        "level": level,
        "p": None,
        "test": {
            (False, False): WELCH,
            (False, True): WELCH_OVER_GROUPS,
            (True, False): PAIRED,
            (True, True): PAIRED_OVER_GROUPS,
        }[(paired, grouped)],
        "n_a": len(units_a),
        "n_b": len(units_b),
        "se": None,
        "df": None,
        "verdict": NO_INTERVAL,
    }
    if paired:
        result["paired"] = True
    if len(units_a) < 2 or len(units_b) < 2:
        return result
    if not (np.isfinite(units_a).all() and np.isfinite(units_b).all()):  # nan compares false: no verdict from it
        return result | {"verdict": NOT_FINITE}
    if paired:
        differences = units_b - units_a
        se = stats.sem(differences)
        alike = not _varies(differences)
    else:
        se = math.sqrt(units_a.var(ddof=1) / len(units_a) + units_b.var(ddof=1) / len(units_b))
        alike = not (_varies(units_a) and _varies(units_b))  # one constant side is no estimate either
    if alike:  # scipy's t would be ±inf or 0/0, and an interval of width 0 would claim a certainty we lack
        return result | {"verdict": NO_SPREAD}
    if paired:
        test = stats.ttest_rel(units_b, units_a)  # statistic of mean(b − a) over the pairs
    else:
        test = stats.ttest_ind(units_b, units_a, equal_var=False)  # statistic of mean(b) − mean(a)
    interval = test.confidence_interval(confidence_level=level)
    result.update(ci=[float(interval.low), float(interval.high)], p=float(test.pvalue), se=se, df=float(test.df))
    result["verdict"] = _verdict(diff, result["ci"])
    return result


def by_teacher(
    runs: Sequence[Mapping], metric: str | Callable[[Mapping], float] = "test_acc"
) -> tuple[list[float], list | None]:
    """``(values, groups)`` of student runs for :func:`compare`: each run's ``metric`` (a key of the run, or a
    function of it, e.g. ``lambda r: r["val_curve"][0]``), and the ``teacher_seed`` of each run as its group, or
    ``None`` when the runs have no teacher seed (then each run is its own unit). Some runs with one and some
    without: ``ValueError``."""
    seeds = [r.get("teacher_seed") for r in runs]
    if None in seeds and any(seed is not None for seed in seeds):  # the unit would change without a word
        raise ValueError("some runs have a teacher_seed and some do not: record one for every run, or for none")
    return _measured(runs, metric), None if None in seeds else seeds


def _measured(runs: Sequence[Mapping], metric: str | Callable[[Mapping], float]) -> list[float]:
    """Each run's ``metric``: a key of the run, or a function of it."""
    return [metric(r) if callable(metric) else r[metric] for r in runs]


def compare_by_seed(
    runs_a: Sequence[Mapping],
    runs_b: Sequence[Mapping],
    level: float = 0.95,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
    metric: str | Callable[[Mapping], float] = "test_acc",
    paired: bool = False,
    pair_by: str = "seed",
) -> dict:
    """:func:`compare` of two lists of student runs, each run a unit: one student against another under the
    same teacher (or none), as when a chapter varies the objective and not the teacher. Runs of one side under
    several teacher seeds: ``ValueError`` (their unit is the teacher: :func:`compare_runs`).

    ``paired=True`` pairs the runs by their student ``seed`` (seed *s* starts both sides from the same weights
    and batches), by name, not by list order: the two sides must have run the same seeds, one run each.
    ``pair_by`` names another key that says which runs pair up (chapter 4's ``"lineage"``: two generations of
    one lineage have different seeds)."""
    for runs in (runs_a, runs_b):
        if len({r.get("teacher_seed") for r in runs}) > 1:
            raise ValueError(
                "runs under several teachers (or some under a teacher and some under none): "
                "compare_runs takes the teacher as the unit"
            )
    values_a, values_b = _measured(runs_a, metric), _measured(runs_b, metric)
    labels = {"label_a": label_a, "label_b": label_b}
    if not paired:
        return compare(values_a, values_b, level, **labels) | {"unit": "seeds"}
    seeds_a, seeds_b = [r[pair_by] for r in runs_a], [r[pair_by] for r in runs_b]
    for seeds in (seeds_a, seeds_b):
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"pairing by {pair_by} needs one run a {pair_by}; got {seeds}")
    # the seeds name the pairs only (one run each, nothing to average): the plain paired t, not compare's
    # "over teacher means" that group labels would otherwise have it say
    c = compare(values_a, values_b, level, seeds_a, seeds_b, **labels, paired=True)
    return c | {"test": PAIRED, "unit": "seeds"}


def compare_runs(
    runs_a: Sequence[Mapping],
    runs_b: Sequence[Mapping],
    level: float = 0.95,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
    metric: str | Callable[[Mapping], float] = "test_acc",
    paired: bool = False,
    seed_blocks: bool = False,
) -> dict:
    """:func:`compare` of two lists of student runs, with the teacher as the unit wherever a side has one.

    Runs with a ``teacher_seed`` are averaged per teacher first (:func:`by_teacher`); runs without one (no
    teacher) count one unit each. The dict says what it counted: ``unit`` ("teachers", or "seeds" when no side
    has teachers), or ``unit_a`` and ``unit_b`` when the sides differ ("student seeds" vs "teachers").

    ``paired=True`` pairs teachers by teacher seed (teacher *s* of one side was derived from, or shares its
    starting weights with, teacher *s* of the other), or runs without teachers by their student ``seed``. Sides
    that count different units (student seeds against teachers) stay Welch's, unless ``seed_blocks`` (with
    ``paired``): then runs without a teacher on side a that ran side b's teachers' student seeds pair with
    them block by block (:func:`compare_seed_blocks`), where the seeds make blocks; the runs without a
    teacher must be side a (``no teacher`` − … is not handled the other way round: Welch's then).
    """
    # compare_seed_blocks itself refuses a side b without teacher seeds (None: no blocks)
    if paired and seed_blocks and runs_a and all(r.get("teacher_seed") is None for r in runs_a):
        blocks = compare_seed_blocks(runs_a, runs_b, level, label_a=label_a, label_b=label_b, metric=metric)
        if blocks is not None:
            return blocks
    (a, groups_a), (b, groups_b) = by_teacher(runs_a, metric), by_teacher(runs_b, metric)
    paired = paired and (groups_a is None) == (groups_b is None)
    if paired and groups_a is None:  # no teachers on either side: runs pair by student seed
        return compare_by_seed(runs_a, runs_b, level, label_a=label_a, label_b=label_b, metric=metric, paired=True)
    c = compare(a, b, level, groups_a, groups_b, label_a=label_a, label_b=label_b, paired=paired)
    if (groups_a is None) == (groups_b is None):
        return c | {"unit": "seeds" if groups_a is None else "teachers"}
    unit_a, unit_b = ("student seeds" if g is None else "teachers" for g in (groups_a, groups_b))
    return c | {"unit_a": unit_a, "unit_b": unit_b}


def compare_seed_blocks(
    no_teacher: Sequence[Mapping],
    taught: Sequence[Mapping],
    level: float = 0.95,
    *,
    label_a: str | None = None,
    label_b: str | None = None,
    metric: str | Callable[[Mapping], float] = "test_acc",
) -> dict | None:
    """``taught − no_teacher`` paired by seed block, for runs without a teacher that ran the very seeds the
    students of several teachers took, each teacher with seeds of its own (the book's per-teacher seeding).

    Seed *s* starts both sides from the same weights and batch order, so each teacher's students pair with
    the *block* of ``no_teacher`` runs of their seeds: the paired t over the blocks of (teacher mean − its
    block's mean), one pair per teacher, the teacher still the unit (:func:`compare_runs` without
    ``seed_blocks`` takes Welch's test here: its two sides count different units). ``None`` when the seeds
    make no such blocks: a seed under two teachers (shared seeding, where every block would be the same
    runs), ``no_teacher`` runs that ran other seeds, or a ``taught`` run without a teacher seed.
    """
    block = {}  # student seed → the teacher seed whose students ran it
    for r in taught:
        if r.get("teacher_seed") is None or block.setdefault(r["seed"], r["teacher_seed"]) != r["teacher_seed"]:
            return None
    if sorted(r["seed"] for r in no_teacher) != sorted(block):
        return None
    c = compare(_measured(no_teacher, metric), _measured(taught, metric), level,
                [block[r["seed"]] for r in no_teacher], [r["teacher_seed"] for r in taught],
                label_a=label_a, label_b=label_b, paired=True)  # fmt: skip
    return c | {"unit": SEED_BLOCKS}


def _verdict(diff: float, ci) -> str:
    if ci is None:
        return NO_INTERVAL
    low, high = ci
    return "within noise" if low <= 0 <= high else ("higher" if diff > 0 else "lower")


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    Sorted ascending, the ``i``-th smallest (1-based) of ``m`` gets ``max_{j ≤ i} min(1, (m − j + 1) p_(j))``;
    rejecting where the adjusted p < α controls the family-wise error rate at α (Holm 1979).
    """
    if not all(math.isfinite(p) for p in p_values):  # a nan sorts anywhere and would wipe out the others
        raise ValueError(f"Holm's adjustment needs finite p-values, got {list(p_values)}")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running_max = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running_max = max(running_max, min(1.0, (m - rank) * p_values[i]))  # step-down: never decreases
        adjusted[i] = running_max
    return adjusted


HOLM_CI_NOTE = (
    "Bonferroni interval at level 1 − α/m (Holm has no matching intervals): together the intervals cover all "
    "m differences with probability ≥ 1 − α. An interval that excludes 0 implies Holm's verdict is higher or "
    "lower, but Holm may also call a difference whose interval still contains 0."
)


def holm(comparisons, level: float | None = None):
    """Holm–Bonferroni over a family of :func:`compare` dicts (a list, or a dict of them by name).

    ``level`` is the family's; by default the one its comparisons were made at (they must agree: a family
    made at 0.9 is not silently re-judged at 0.95), or 0.95 for an empty family.

    Returns copies (the same kind of container) with ``p_adjusted`` (Holm's step-down adjustment, see
    :func:`holm_adjusted`), ``correction: "holm"``, ``family_size`` ``m`` (the comparisons that have a
    p-value), ``level`` (the family's), ``ci_level`` and ``verdict`` replaced by the adjusted one: ``"higher"`` or
    ``"lower"`` where ``p_adjusted < α = 1 − level``, else ``"within noise"``. ``ci`` becomes the Bonferroni
    interval at level ``1 − α/m``, and ``ci_note`` says what it means: Holm's step-down test has no
    matching confidence intervals; the Bonferroni intervals hold simultaneously at ``level`` and are
    conservative: one that excludes 0 agrees with Holm's verdict (Holm rejects whatever Bonferroni rejects),
    but Holm can declare a difference whose Bonferroni interval still contains 0. Comparisons without a
    p-value (fewer than 2 units, or no spread) keep their verdict and get ``p_adjusted`` ``None``.
    """
    names = list(comparisons) if isinstance(comparisons, Mapping) else None
    items = [dict(comparisons[name]) for name in names] if names is not None else [dict(c) for c in comparisons]
    if level is None:
        levels = {c.get("level", 0.95) for c in items}
        if len(levels) > 1:
            raise ValueError(f"a family's comparisons were made at different levels {sorted(levels)}: pass level=")
        level = levels.pop() if levels else 0.95
    tested = [c for c in items if c["p"] is not None]
    m, alpha = len(tested), 1 - level
    for c, p_adjusted in zip(tested, holm_adjusted([c["p"] for c in tested])):
        ci_level = 1 - alpha / m
        c.update(p_adjusted=p_adjusted, ci=_bonferroni_interval(c, ci_level), ci_level=ci_level, ci_note=HOLM_CI_NOTE)
        c["verdict"] = "within noise" if p_adjusted >= alpha else ("higher" if c["diff"] > 0 else "lower")
    for c in items:
        c.setdefault("p_adjusted", None)
        c.update(correction="holm", family_size=m, level=level)
    return dict(zip(names, items)) if names is not None else items


def interval_width(c: Mapping | None) -> float:
    """A comparison's interval, upper end minus lower end (in its units); ``nan`` where there is no comparison
    or it has no interval (one unit a side, or no spread)."""
    return c["ci"][1] - c["ci"][0] if c and c.get("ci") else math.nan


def family_ci_level(comparisons: Sequence[Mapping]) -> float:
    """The level of a :func:`holm` family's Bonferroni intervals, ``1 − α/m``: read from every comparison,
    including one with no interval (no spread, or one unit), which has no ``ci_level`` of its own; ``nan``
    for no comparisons."""
    if not comparisons:
        return math.nan
    c = comparisons[0]
    return 1 - (1 - c.get("level", 0.95)) / max(c.get("family_size", len(comparisons)), 1)


def _bonferroni_interval(comparison: dict, level: float) -> list[float]:
    """The comparison's t interval (Welch or paired) recomputed at ``level`` from its ``diff``, ``se`` and ``df``."""
    diff, se = comparison["diff"], comparison["se"]
    if not se or comparison["df"] is None:  # a record from before no-spread comparisons had no p: its point
        return comparison["ci"]
    half = stats.t.ppf(0.5 + level / 2, comparison["df"]) * se
    return [float(diff - half), float(diff + half)]  # plain floats: JSON, and glued text in the book


def spearman(x, y) -> tuple[float, float]:
    """Spearman's rank correlation ``(rho, p)`` of paired values, via ``scipy.stats.spearmanr``.

    ``p`` is scipy's two-sided p-value (from a t approximation); it is ``nan`` with fewer than 3 pairs.
    """
    result = stats.spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def fmt_interval(interval, scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    """``"[0.12, 0.50]"`` (``"[+0.12, +0.50]"`` with ``signed``): an interval (from :func:`confidence_interval`
    or a comparison's ``"ci"``) times ``scale``, or ``"no interval (n < 2)"`` when it is ``None``, so a one-seed
    run prints no fake precision. (A comparison without spread has no ``"ci"`` either; the report prints its
    verdict, ``NO_SPREAD``, rather than calling this.)"""
    if interval is None:
        return NO_INTERVAL
    low, high = (scale * x for x in interval)
    if signed:
        return f"[{fmt_signed(low, digits, bound=True)}, {fmt_signed(high, digits, bound=True)}]"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def fmt_signed(value: float, digits: int = 2, bound: bool = False) -> str:
    """``"+0.42"``, ``"-1.30"``: a difference with its sign. One that rounds to zero reads ``"+0.00"``, never
    ``"-0.00"``, which is what ``f"{-0.004:+.2f}"`` prints for a difference nobody could call negative.

    An interval's ``bound`` that rounds to zero gets one or two more digits, ``"-0.003"``: whether an interval
    includes 0 is what its verdict turns on, and ``"+0.00"`` or ``"-0.00"`` would hide which side it ends."""
    text = f"{value:+.{digits}f}"
    if float(text) != 0:
        return text
    if bound and value != 0:
        for more in (1, 2):
            if float(finer := f"{value:+.{digits + more}f}") != 0:
                return finer
        return text if value < 0 else "+" + text[1:]
    return "+" + text[1:]


def units_needed(a, b, level: float = 0.95, family_size: int = 1, most: int = 1000, paired: bool = False,
                 groups_a=None, groups_b=None) -> int | None:  # fmt: skip
    """How many units a side a comparison like this one would need for a verdict: the smallest ``n`` at which
    Welch's interval of ``mean(b) − mean(a)`` at level ``1 − α/family_size`` (Bonferroni, the level at which
    Holm makes its first call) would exclude 0, if the means and standard deviations stayed as observed.
    ``paired``: ``a[i]`` and ``b[i]`` are one pair (e.g. two teachers of one seed), and the test is the
    paired t-test's, on the differences ``b − a`` with their observed mean and standard deviation: ``n``
    counts pairs.

    ``a`` and ``b`` are the units, or, with ``groups_a`` and ``groups_b`` as :func:`compare` takes them (e.g.
    ``*by_teacher(runs)``), values averaged per group first, paired by group label. A planning estimate, not a
    power analysis: the observed difference is taken as the truth, so at that ``n`` the interval's edge sits
    at 0 on average and a run would call it about half the time (at small ``n`` somewhat more: ``n`` is the
    first count that passes). ``None`` if the difference is 0, a side has fewer than 2 units, (unpaired) a
    side does not vary, or (paired) the differences do not vary (:func:`compare` gives no interval there either), or
    more than ``most`` would be needed.
    """
    if paired:  # by group label (or position): _paired_units refuses sides whose labels differ
        a, b = _paired_units(a, b, groups_a, groups_b)
    else:
        a, b = _units(a, groups_a)[1], _units(b, groups_b)[1]
    if len(a) < 2 or len(b) < 2 or a.mean() == b.mean() or (not paired and not (_varies(a) and _varies(b))):
        return None
    if paired and not _varies(b - a):
        return None
    alpha = (1 - level) / family_size
    # paired: the differences' mean over their standard deviation, so that t = effect · √n
    effect = (b - a).mean() / (b - a).std(ddof=1) if paired else None
    for n in range(2, most + 1):  # the test's p < α exactly where its interval at 1 − α excludes 0
        if paired:
            p = 2 * stats.t.sf(abs(effect) * np.sqrt(n), n - 1)
        else:
            p = stats.ttest_ind_from_stats(b.mean(), b.std(ddof=1), n, a.mean(), a.std(ddof=1), n,
                                           equal_var=False).pvalue  # fmt: skip
        if p < alpha:
            return n
    return None


def student_seeds_shared(runs: Mapping[str, Sequence[Mapping]]) -> bool:
    """Whether a student seed recurs under two teacher seeds in ``runs`` (records with ``teacher_seed`` and
    ``seed``, by condition; records without a teacher seed are left out): how the run was seeded, read from
    the records themselves (:func:`kdcore.experiment.student_seeds`), so that prose about it can be checked
    against a run made with other parameters."""
    seeds_of: dict = {}
    for records in runs.values():
        for r in records:
            if r.get("teacher_seed") is not None:
                seeds_of.setdefault(r["teacher_seed"], set()).add(r["seed"])
    groups = list(seeds_of.values())
    return any(a & b for i, a in enumerate(groups) for b in groups[i + 1 :])


def paired_spread(c: Mapping) -> float:
    """The standard deviation of a paired comparison's differences (its standard error times the square root
    of its pairs), in the comparison's units: how much the pairs disagree, for :func:`paired_power`. ``nan``
    where the comparison has no spread (no interval); a Welch comparison has no pairs to ask about."""
    if not c.get("paired"):
        raise ValueError(f"{c.get('b')} − {c.get('a')} is not a paired comparison: its differences have no spread")
    return math.nan if c["se"] is None else c["se"] * math.sqrt(c["n_a"])


def paired_power(diff: float, sd: float, n: int, level: float = 0.95, family_size: int = 1) -> float:
    """The chance that a paired t-test over ``n`` pairs calls a difference beyond noise in the direction of
    ``diff``, if the pairs' differences were normal with mean ``diff`` and standard deviation ``sd``: the
    test's power (the noncentral t distribution, :data:`scipy.stats.nct`), at the level at which Holm makes
    its first call in a family of ``family_size`` (``1 − α/family_size``, Bonferroni). For planning a run from
    an earlier one's mean and spread; ``nan`` where ``n < 2`` or ``sd`` is not positive."""
    if n < 2 or not sd > 0:
        return float("nan")
    t = stats.t.ppf(1 - (1 - level) / (2 * family_size), n - 1)
    return float(stats.nct.sf(t, n - 1, abs(diff) * math.sqrt(n) / sd))


def pairs_for_power(diff: float, sd: float, power: float = 0.8, level: float = 0.95, family_size: int = 1,
                    most: int = 1000) -> int | None:  # fmt: skip
    """The fewest pairs at which :func:`paired_power` reaches ``power``, or ``None`` beyond ``most`` (or for a
    difference of 0)."""
    return next((n for n in range(2, most + 1) if paired_power(diff, sd, n, level, family_size) >= power), None)


def matches(c: Mapping, keys: Mapping) -> bool:
    """Whether comparison ``c`` has every one of ``keys`` (``a``, ``b``, ``regime``…) at the value given."""
    return all(c.get(k) == v for k, v in keys.items())
