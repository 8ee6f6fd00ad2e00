"""benchmarks/confident_teacher.py: chapter 2's teacher-alone rule at the `gpu` profile, prepared on CPU so a
lent GPU session only runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from confident_teacher import pick


def test_the_rule_picks_the_shortest_run_with_twice_the_ece_and_a_top_prob_of_095():
    reference = {"ece": 0.01}
    runs = [{"epochs": 24, "ece": 0.03, "max_prob": 0.93},  # ECE enough, not confident enough
            {"epochs": 96, "ece": 0.025, "max_prob": 0.97},
            {"epochs": 48, "ece": 0.021, "max_prob": 0.951},
            {"epochs": 192, "ece": 0.019, "max_prob": 0.99}]  # fmt: skip
    assert pick(reference, runs) == 48
    assert pick({"ece": 0.02}, runs) is None


def test_it_runs_at_tiny_size_on_cpu(tmp_path):
    out = tmp_path / "out.json"
    command = [sys.executable, "benchmarks/confident_teacher.py", "--tiny", "--device", "cpu", "--epochs", "3", "2",
               "--json", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KDCORE_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert [r["epochs"] for r in result["runs"]] == result["planned_epochs"] == [2, 3]  # shortest first
    assert result["rule"]["split"] == "validation"
    assert all(0 <= r["ece"] <= 1 and 0 < r["max_prob"] <= 1 for r in [result["reference"], *result["runs"]])
    assert result["pick"] == pick(result["reference"], result["runs"])
    assert "the rule" in done.stdout
