"""The device check (scripts/gpu_check.py) runs end to end at tiny size on CPU, so the rare GPU window is spent
measuring, not debugging. Its own pytest step is skipped here: CI runs those tests anyway."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_tiny_on_cpu_writes_every_step(tmp_path):
    command = [sys.executable, "scripts/gpu_check.py", "--out", str(tmp_path), "--tiny", "--chapters", "01_kd_basics",
               "--skip", "tests"]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["environment"]["device"] == "cpu"
    assert [r["exit"] for r in report["kd_throughput"]] == [0]  # no compile variant on CPU
    assert json.loads((tmp_path / "kd_throughput.json").read_text())["ratio_c_a"] > 0
    assert report["teacher_training"]["exit"] == 0
    teachers = json.loads((tmp_path / "teacher_training.json").read_text())["teachers"]
    assert [t["arch"] for t in teachers] == ["resnet8", "vgg8"] and all(t["images_per_s"] > 0 for t in teachers)
    assert report["chapter_kd_step"]["images_per_s"]["64"] > 0
    assert report["gpu_profile"]["teacher"]["epoch_seconds"] > 0 and report["gpu_profile"]["student"]["arch"]
    (chapter,) = report["chapters"]
    assert chapter["ok"] and chapter["parameters"]["profile"] == "paper"
    assert chapter["parameters"]["student_epochs"] == 1 and chapter["parameters"]["dataset"] == "synthetic-cifar100"
    results = json.loads((tmp_path / "chapters" / "kd_basics.json").read_text())
    assert results["params"]["augment"] is True  # the paper recipe, at tiny size
