"""Chapter 9's confirming run (book/results/confirm/): it ran what its registration says, and the chapter tests
what was registered, as registered.

The registration (REGISTRATION.md, committed before the run) fixes the run (the chapter at the book profile,
nothing changed but new teacher seeds), two hypotheses and their test (the chapter's paired t-test over
teacher means, Holm over the two alone). A later change to the chapter's profile, or to what the chapter
reads as registered, would quietly turn the confirmation into something else: these tests fail instead.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kdcore.params import resolve
from kdcore.record import quoted_run

ROOT = Path(__file__).resolve().parent.parent
CONFIRM = ROOT / "book" / "results" / "confirm"
# as REGISTRATION.md states them: H1, then H2, each (regime, a, b) for b − a
REGISTERED = [
    ("unfriendly", "KD, over-confident teacher", "PrUE"),
    ("low-label", "control: retrained 1 round", "PrUE"),
]
EXPLORED = {0, 1, 2, 3, 4}  # the teacher seeds of the book's run and of the exploratory run that chose H1, H2
# the registration and the two runs' records, as committed: none of them may change (a new run is a new file)
SHA256 = {
    "REGISTRATION.md": "a68d30a053c7d7f9e3ae5ec46844943b0df050b8c03a235332e61ac13abd4661",
    "comparison.json": "0288fd8337fd3d12cee409a07922a3cf530b9b749338e61eff03abcd99f6971d",
    "exploratory.json": "227539b992bdbffb5f188c4fc7fd32c36723835e3cad3c2f6c270ad37321199a",
}


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((CONFIRM / "comparison.json").read_text())


def test_the_confirming_run_is_the_chapter_at_the_book_profile_with_new_teacher_seeds_only(record):
    assert (CONFIRM / "REGISTRATION.md").is_file()
    # the book profile at the registered commit: `student_seeding` came later, with the design of then
    # ("shared") as its default at first; the book has since given each teacher's students seeds of their own
    profile = {**resolve("comparison", "book").as_dict(), "student_seeding": "shared"}
    # a parameter added after the run (absent from its record) ran at its default then
    ran = {**profile, **record["params"]}
    changed = {k for k in ran if profile.get(k) != ran[k]}
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


def test_the_registration_and_the_records_are_as_committed_and_name_what_the_chapter_tests():
    for name, digest in SHA256.items():
        assert hashlib.sha256((CONFIRM / name).read_bytes()).hexdigest() == digest, f"{name} changed"
    text = (CONFIRM / "REGISTRATION.md").read_text()
    for i, (regime, a, b) in enumerate(REGISTERED, 1):
        named = "KD from the over-confident teacher" if a.startswith("KD,") else a
        assert f"**H{i}:** {b} − {named}, {regime} regime" in text
    assert "Holm's correction over these two only, at α = 0.05" in text


def test_the_registered_decision_rule_is_the_one_the_chapter_applies(record):
    chapter = json.loads((ROOT / "book" / "results" / "comparison.json").read_text())["results"]
    for c in chapter["confirming_run"]["registered"]:
        assert c["ci_level"] == pytest.approx(0.975) and c["correction"] == "holm"
        assert (c["verdict"] == "higher") == (c["p_adjusted"] < 0.05 and c["diff"] > 0)


def test_the_exploratory_run_made_the_two_calls_the_registration_starts_from():
    explored = quoted_run(CONFIRM / "exploratory.json")
    assert explored["params"]["teacher_seeds"] == sorted(EXPLORED)
    for regime, a, b in REGISTERED:
        (c,) = [c for c in explored["comparisons"] if (c["regime"], c["a"], c["b"]) == (regime, a, b)]
        assert c["verdict"] == "higher" and c["family_size"] == 18, c


def test_the_registration_was_committed_before_the_confirming_run():
    """Where the history is there (a clone, not an archive), the commit that added REGISTRATION.md is an
    ancestor of the one that added the confirming run's record, and not the same commit."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("no git history here")
    added = []
    for name in ("REGISTRATION.md", "comparison.json"):
        out = subprocess.run([git, "log", "--diff-filter=A", "--format=%H", "--", f"book/results/confirm/{name}"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        if not out:
            pytest.skip("a shallow history without the commits that added the files")
        added.append(out[-1])  # the first commit that added it
    registration, run = added
    assert registration != run
    ancestor = subprocess.run([git, "merge-base", "--is-ancestor", registration, run], cwd=ROOT)
    assert ancestor.returncode == 0
