"""A training run killed with SIGKILL in the middle of an epoch resumes and ends exactly as if never killed.

Real processes, real signals: ``tests/helpers/resumable_teacher.py`` trains a teacher through the cache, as a
chapter does (``kdcore.teachers.train_or_load``, which checkpoints every epoch). We SIGKILL it inside epoch 2,
re-run the same command, SIGKILL that one inside epoch 4, and re-run it again to completion. Each re-run
must start from the last completed epoch (so a kill loses at most the epoch in progress), and the final
history and weights must be bit-identical (CPU, same seed) to those of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from kdcore.checkpoint import load_checkpoint

SCRIPT = Path(__file__).parent / "helpers" / "resumable_teacher.py"
EPOCHS, STEPS_PER_EPOCH = 4, 75  # as in the script: 2400 training examples, batches of 32


def _start(out: Path, cache: Path, hang_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "KDCORE_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    env.pop("KDCORE_TEST_HANG_AT", None)
    if hang_at:
        env["KDCORE_TEST_HANG_AT"] = hang_at
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_when_hanging(process: subprocess.Popen) -> list[str]:
    """Read the progress lines until the process hangs inside its step, then SIGKILL it."""
    lines = []
    for line in process.stdout:
        lines.append(line.strip())
        if line.strip() == "hanging":
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    return lines


def _finish(process: subprocess.Popen) -> list[str]:
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    return stdout.splitlines()


def _steps(lines: list[str]) -> list[str]:
    return [line.removeprefix("step ") for line in lines if line.startswith("step ")]


def test_a_run_killed_mid_epoch_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    reference = _start(tmp_path / "reference.json", tmp_path / "reference-cache")  # runs alongside

    cache = tmp_path / "cache"
    partial = lambda: next((cache / "teachers").glob("*.partial.pt"))

    first = _kill_when_hanging(_start(tmp_path / "killed.json", cache, hang_at="2:30"))
    assert first[0] == "resume 0" and _steps(first)[-1] == "2:30"
    assert load_checkpoint(partial())["epoch"] == 1  # only the epoch in progress was lost

    second = _kill_when_hanging(_start(tmp_path / "killed.json", cache, hang_at="4:10"))
    assert second[0] == "resume 1"
    assert _steps(second)[0] == "2:1"  # starts again at the first step of the lost epoch
    assert load_checkpoint(partial())["epoch"] == 3

    third = _finish(_start(tmp_path / "resumed.json", cache))
    assert third[0] == "resume 3"
    assert _steps(third) == [f"4:{step}" for step in range(1, STEPS_PER_EPOCH + 1)]  # only the lost epoch
    assert not list((cache / "teachers").glob("*.partial.pt"))  # the finished teacher replaced it
    assert len(list((cache / "teachers").glob("*.pt"))) == 1

    _finish(reference)
    expected = json.loads((tmp_path / "reference.json").read_text())
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert len(expected["history"]) == EPOCHS
    assert resumed["history"] == expected["history"]  # every epoch's loss and accuracies, bit for bit
    assert resumed["weights_sha256"] == expected["weights_sha256"]

    again = _finish(_start(tmp_path / "again.json", cache))  # the same command once more: loads, no training
    assert again == ["resume 0"]
    assert json.loads((tmp_path / "again.json").read_text())["weights_sha256"] == expected["weights_sha256"]
