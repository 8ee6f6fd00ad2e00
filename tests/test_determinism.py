"""The same seed on CPU gives bit-identical metrics, across separate processes.

Chapter 1 runs twice through papermill, in two processes at once (different PIDs, hash seeds and memory
layouts), each with its own empty teacher cache so both train the teacher too: teacher, plain and KD
students in two data regimes, two seeds each. Every number of the two results JSONs must be equal, bit for
bit. The data are the synthetic Fashion-MNIST-shaped stand-in, so the test takes seconds. GPU runs are not
bit-reproducible; README.md ("Determinism") says why and what to do about it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdcore.batch import KERNEL_START_TIMEOUT

BOOK = Path(__file__).resolve().parent.parent / "book"


def _start_chapter_1(run_dir: Path) -> subprocess.Popen:
    run_dir.mkdir()
    env = {**os.environ, "KDCORE_PROFILE": "smoke", "KDCORE_THREADS": "1", "KDCORE_CACHE_DIR": str(run_dir / "cache")}
    command = [
        sys.executable, "-m", "papermill", str(BOOK / "01_kd_basics.ipynb"), str(run_dir / "executed.ipynb"),
        "--cwd", str(BOOK), "--no-progress-bar", "--start-timeout", str(KERNEL_START_TIMEOUT),
        "-p", "dataset", "synthetic", "-p", "teacher_epochs", "2", "-p", "student_epochs", "2",
        "-p", "output_dir", str(run_dir / "results"),
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_same_seed_gives_bit_identical_chapter_results_in_separate_processes(tmp_path):
    runs = [_start_chapter_1(tmp_path / f"run{i}") for i in (1, 2)]
    for run in runs:
        output, _ = run.communicate(timeout=600)
        assert run.returncode == 0, output[-3000:]
    first, second = (json.loads((tmp_path / f"run{i}" / "results" / "kd_basics.json").read_text()) for i in (1, 2))

    assert first["results"] == second["results"]  # every accuracy of every seed, bit for bit
    for record in (first, second):
        record["params"].pop("output_dir")
    assert first["params"] == second["params"]

    # the comparison is sensitive: the two seeds of one run differ, and all runs were really trained
    runs = first["results"]["runs"]
    assert len(runs) == 4  # two regimes × (CE, KD)
    assert any(len({r["test_acc"] for r in seeds}) == 2 for seeds in runs.values())
    assert first["results"]["teacher"]["test_acc"] > 0.5  # chance is 0.1
