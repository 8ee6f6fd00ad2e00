"""The pruning benchmark still runs and prints its ratios (``--quick``: tiny model, no timing checked)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_prune_masks_benchmark_quick():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = ROOT / "benchmarks" / "prune_masks.py"
    run = subprocess.run(
        [sys.executable, str(script), "--quick", "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    ratios = re.findall(r"^ratio (.+?):\s+([0-9.]+)", run.stdout, flags=re.MULTILINE)
    assert [name for name, _ in ratios] == [
        "kdcore masked step / dense step",
        "torch.prune masked step / dense step",
        "kdcore masked step / torch.prune step",
        "kdcore / torch mask time, dense model",
        "kdcore / torch mask time, next round",
    ]
    assert all(float(value) > 0 for _, value in ratios)
    assert "identical masks: True" in run.stdout
