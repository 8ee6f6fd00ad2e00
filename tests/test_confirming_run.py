"""Chapter 9's confirming run (book/results/confirm/): it ran what its registration says, and the chapter tests
what was registered, as registered.

The registration (REGISTRATION.md, committed before the run) fixes the run (the chapter at the book profile,
nothing changed but new teacher seeds), two hypotheses and their test (the chapter's paired t-test over
teacher means, Holm over the two alone). A later change to the chapter's profile, or to what the chapter
reads as registered, would quietly turn the confirmation into something else: these tests fail instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdcore.params import resolve
from kdcore.results import quoted_run

ROOT = Path(__file__).resolve().parent.parent
CONFIRM = ROOT / "book" / "results" / "confirm"
# as REGISTRATION.md states them: H1, then H2, each (regime, a, b) for b − a
REGISTERED = [
    ("unfriendly", "KD, over-confident teacher", "PrUE"),
    ("low-label", "control: retrained 1 round", "PrUE"),
]
EXPLORED = {0, 1, 2, 3, 4}  # the teacher seeds of the book's run and of the exploratory run that chose H1, H2


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((CONFIRM / "comparison.json").read_text())


def test_the_confirming_run_is_the_chapter_at_the_book_profile_with_new_teacher_seeds_only(record):
    assert (CONFIRM / "REGISTRATION.md").is_file()
    profile = resolve("comparison", "book").as_dict()
    changed = {k for k in profile.keys() | record["params"].keys() if profile.get(k) != record["params"].get(k)}
    assert changed <= {"teacher_seeds", "widgets"}, changed  # widgets: progress bars, not the experiment
    seeds = record["params"]["teacher_seeds"]
    assert seeds == [5, 6, 7, 8, 9] and not set(seeds) & EXPLORED


def test_the_chapter_tests_the_registered_hypotheses_as_their_own_family_of_two(record):
    chapter = json.loads((ROOT / "book" / "results" / "comparison.json").read_text())["results"]
    shown = chapter["confirming_run"]["registered"]
    assert [(c["regime"], c["a"], c["b"]) for c in shown] == REGISTERED
    assert all(c["family_size"] == 2 and c["test"] == "paired t over teacher means" for c in shown)
    assert all(c["n_a"] == c["n_b"] == len(record["params"]["teacher_seeds"]) for c in shown)
    # what the chapter shows is what the run's own student runs give, computed again here
    again = quoted_run(CONFIRM / "comparison.json", registered=REGISTERED)["registered"]
    assert [(c["diff"], c["p_adjusted"], c["verdict"]) for c in again] == [
        (c["diff"], c["p_adjusted"], c["verdict"]) for c in shown
    ]
