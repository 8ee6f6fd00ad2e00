"""The results JSON every chapter writes, and other runs' records quoted beside it.

* :func:`write_chapter_results` (:func:`write_results`): a chapter's parameters, results, run time and
  :func:`environment` (the device, versions, threads and the source commit), written atomically;
* :func:`quoted_run`: another run's record (chapter 9 at CNN scale, a confirming run) to quote beside this
  one, its family made again from its student runs with this book's tests (:func:`retest`,
  :func:`compare_family`), so a quote uses the same protocol as the page that quotes it.

The statistics themselves are in :mod:`kdcore.results`.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import scipy
import torch

from .checkpoint import write_json
from .results import SEED_BLOCKS, WELCH_OVER_GROUPS, by_teacher, compare_by_seed, compare_runs, holm, matches


def source_commit(module: str | os.PathLike = __file__) -> dict | None:
    """The git commit of the checkout kdcore runs from (``module``: one of its files), and whether kdcore's own
    files differ from it (a run with edited library code is not that commit's); ``None`` where kdcore is
    installed, not checked out."""
    module = Path(module).resolve()
    git = ["git", "-C", str(module.parent)]
    try:
        # kdcore must be tracked where it lies: a pip-installed copy inside some other repository is not ours
        subprocess.run([*git, "ls-files", "--error-unmatch", module.name], capture_output=True, check=True)
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, check=True, text=True)
        changed = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, check=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit.stdout.strip(), "kdcore_modified": bool(changed.stdout.strip())}


def environment() -> dict:
    """Where a result was produced: the device by name, versions and thread count, and the source commit
    (:func:`source_commit`); the one record of it that the results JSON, ``scripts/execute_chapters.py`` and
    ``scripts/gpu_check.py`` all write."""
    cuda = torch.cuda.is_available()
    return {
        "source": source_commit(),
        "device": torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def write_results(path: str | os.PathLike, chapter: str, params: dict, results: dict, started: float) -> Path:
    """Write a chapter's results JSON atomically: parameters, results, environment and run time."""
    record = {
        "chapter": chapter,
        "params": params,
        "results": results,
        "environment": environment(),
        "seconds": round(time.time() - started, 1),
    }
    return write_json(record, path)


STATISTICS = (
    "diff",
    "ci",
    "level",
    "p",
    "test",
    "n_a",
    "n_b",
    "se",
    "df",
    "verdict",
    "paired",
    "p_adjusted",
    "ci_level",
    "ci_note",
    "correction",
    "family_size",
    "unit",
    "unit_a",
    "unit_b",
)  # what compare, holm and compare_runs add to a comparison: retest keeps every other key, so keep this complete


def retest(results: Mapping, like: Sequence[Mapping] = (), level: float = 0.95) -> dict:
    """``results`` (a chapter's record: a GPU run from an older commit) with its comparisons of test accuracy
    made again from its student runs, with the tests that ``like`` (the same chapter's comparisons, from a
    current run) used: paired where that one is, over teacher means where that one is; and beside them,
    ``comparisons_ignoring_pairs``, the family with Welch's test. Each is one Holm family, as the chapter's.

    A comparison is matched by every key that names it (``a``, ``b``, ``regime``, ``key``…: all but what
    :func:`kdcore.results.compare` computes, :data:`STATISTICS`), and its runs found as ``runs[regime][label]``
    or ``runs[label]``. One that ``like`` lacks is made as :func:`compare_family` makes chapter 9's: over
    teacher means, paired where both sides count the same units. Sides whose seeds do not match stay Welch's.
    One whose runs the record lacks is kept as it was. For chapters that compare test accuracy (1, 2 and 9,
    the CNN-scale copies): a comparison of another ``measure`` raises ``ValueError``."""
    runs = results.get("runs", {})
    other = {c.get("measure") for c in results["comparisons"]} - {None, "test acc"}
    if other:  # retest recomputes test accuracy alone: a row of another measure would quietly change meaning
        raise ValueError(f"retest compares test accuracy; these comparisons measure {sorted(other)}")

    def side(c: Mapping, label: str | None):
        regime = c.get("regime")
        found = runs[regime] if regime is not None and isinstance(runs.get(regime), dict) else runs
        return found.get(label)

    def again(c: Mapping, paired: bool) -> dict:
        names = {k: v for k, v in c.items() if k not in STATISTICS and k != "units_needed"}
        current = next((x for x in like if matches(x, names)), None)
        runs_a, runs_b = side(c, c.get("a")), side(c, c.get("b"))
        if runs_a is None or runs_b is None:
            return dict(c)
        current = current or {"test": WELCH_OVER_GROUPS, "paired": True}  # compare_family's rule
        pair, labels = paired and current.get("paired", False), {"label_a": c["a"], "label_b": c["b"]}
        if "teacher means" in current["test"]:
            (kind_a, units_a), (kind_b, units_b) = _pairing_units(runs_a), _pairing_units(runs_b)
            pair = pair and not (kind_a == kind_b and units_a != units_b)  # other teachers: nothing to pair
            blocks = current.get("unit") == SEED_BLOCKS  # a family made with compare_seed_blocks
            made = compare_runs(runs_a, runs_b, level, paired=pair, seed_blocks=blocks, **labels)
        else:  # a run a unit; paired by seed only where the two sides ran the same seeds
            pair = pair and sorted(r["seed"] for r in runs_a) == sorted(r["seed"] for r in runs_b)
            made = compare_by_seed(runs_a, runs_b, level, paired=pair, **labels)
        kept = {k: v for k, v in c.items() if k not in STATISTICS}
        if made.get("paired") and "units_needed" in kept:
            kept["units_needed"] = None  # a planning estimate for Welch's test, as the chapters give it
        return kept | made

    return {**results} | {
        name: holm([again(c, paired) for c in results["comparisons"]], level)
        for name, paired in (("comparisons", True), ("comparisons_ignoring_pairs", False))
    }


def _pairing_units(runs: Sequence[Mapping]) -> tuple[str, list]:
    """What :func:`kdcore.results.compare_runs` would pair ``runs`` by: their teacher seeds
    (:func:`kdcore.results.by_teacher`'s groups), or the student seeds of runs without a teacher."""
    _, teachers = by_teacher(runs)
    if teachers is None:
        return "seeds", sorted(r["seed"] for r in runs)
    return "teachers", sorted(set(teachers), key=str)


def compare_family(runs: Mapping, asked: Sequence[tuple[str, str, str]], paired: bool = True,
                   seed_blocks: bool = False) -> list[dict]:  # fmt: skip
    """Holm's family of :func:`compare_runs` over ``asked``, each ``(regime, a, b)`` comparing the student runs
    ``runs[regime][a]`` and ``runs[regime][b]`` (chapter 9's layout), the regime kept in each dict. With
    ``paired``, teachers pair by teacher seed (teacher *s* of every method derives from, or starts like, the
    same base teacher *s*); runs without teachers against teachers stay Welch's, or with ``seed_blocks`` pair
    by seed block where they ran the teachers' student seeds (:func:`kdcore.results.compare_seed_blocks`)."""
    return holm([
        {**compare_runs(runs[regime][a], runs[regime][b], label_a=a, label_b=b, paired=paired,
                        seed_blocks=seed_blocks), "regime": regime}
        for regime, a, b in asked
    ])  # fmt: skip


def quoted_run(path: str | os.PathLike, registered: Sequence[tuple[str, str, str]] = ()) -> dict | None:
    """Another run's record to quote beside this one (chapter 9 at CNN scale: ``results/gpu/comparison.json``):
    its ``environment``, ``params``, ``teachers``, ``protocol`` and ``comparisons``, or ``None`` where the file
    is not there. A chapter copies it into its own results, so that the cells that show it read only
    ``results``.

    Where the record keeps its student runs, its family is recomputed from them with this book's tests
    (:func:`retest`, as :func:`compare_family` makes chapter 9's), so a quote uses the same protocol as the
    page that quotes it: ``comparisons`` paired where the design pairs, and ``comparisons_ignoring_pairs``
    with Welch's test. A record without runs keeps the comparisons it was written with.

    ``registered``: a confirming run's hypotheses, each ``(regime, a, b)`` as :func:`compare_family` takes
    them, fixed before the run: ``"registered"`` is their own family (Holm over them alone, paired as the
    design pairs), computed from the record's student runs, and ``"registered_runs"`` their sides' runs. The
    whole family above is then exploratory.
    A record that quotes its own confirming run (chapter 9's ``"confirming_run"``) passes it on as it is, so
    a chapter that quotes chapter 9 can quote its confirmation too."""
    path = Path(path)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    results = record["results"]
    quoted = {
        "environment": record["environment"],
        "params": record["params"],
        "teachers": results.get("teachers", {}),
        "protocol": results.get("protocol", {}),
        "comparisons": [_current_units(c) for c in results["comparisons"]],
    }
    if results.get("runs"):
        again = retest({"runs": results["runs"], "comparisons": quoted["comparisons"]})
        quoted |= {name: again[name] for name in ("comparisons", "comparisons_ignoring_pairs")}
    if results.get("confirming_run"):
        quoted["confirming_run"] = results["confirming_run"]
    if registered:
        if not results.get("runs"):
            raise ValueError(f"{path} keeps no student runs to test the registered comparisons on")
        quoted["registered"] = compare_family(results["runs"], registered, paired=True)
        # the student runs of the registered sides, for a closer look (e.g. by student seed)
        sides = quoted["registered_runs"] = {}
        for regime, a, b in registered:
            sides.setdefault(regime, {}).update({name: results["runs"][regime][name] for name in (a, b)})
    return quoted


def _current_units(c: dict) -> dict:
    """A comparison as :func:`compare_runs` words it now: records from before ``unit_a``/``unit_b`` said
    ``"unit": "units (no-teacher runs, teachers)"`` for sides that count different things."""
    both = re.fullmatch(r"units \((.+), (.+)\)", str(c.get("unit", "")))
    if not both:
        return c
    return {k: v for k, v in c.items() if k != "unit"} | {"unit_a": both.group(1), "unit_b": both.group(2)}


def write_chapter_results(chapter: str, P, results: dict, started: float) -> Path:
    """:func:`write_results` for a chapter's run: ``P.output_dir/<chapter>.json`` (the name ``kdcore-batch``
    and the book's tests look for), with the resolved parameters ``P`` (:func:`kdcore.params.resolve`)."""
    return write_results(Path(P.output_dir) / f"{chapter}.json", chapter, P.as_dict(), results, started)
