"""The KD throughput benchmark keeps running (on CPU, tiny): it prints its ratios. No timing is asserted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "kd_throughput.py"


@pytest.mark.parametrize("flags", [[], ["--fold-bn"]], ids=["as-trained", "fold-bn"])
def test_kd_throughput_quick_prints_the_ratios(tmp_path, flags):
    out = tmp_path / "result.json"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--json", str(out), *flags]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout
    for label in ("(a) standard", "(b) kdcore fit, batch 64", "(c) kdcore fit, best batch"):
        assert re.search(re.escape(label) + r".*: +\d+\.\d images/s", text), (label, text)
    ratios = {m[0]: float(m[1]) for m in re.findall(r"^ratio \((b|c)\)/\(a\): (\d+\.\d+)$", text, re.M)}
    assert set(ratios) == {"b", "c"} and all(r > 0 for r in ratios.values())
    assert re.search(r"^projected 240-epoch recipe .*\(a\) .*\(b\) .*\(c\) ", text, re.M)
    saved = json.loads(out.read_text())
    assert abs(saved["ratio_b_a"] - ratios["b"]) <= 0.005 + 1e-9  # printed with two decimals
    assert saved["best_batch"] in (64, 128, 256)
    assert saved["args"]["fold_bn"] == bool(flags) and f"fold BN: {bool(flags)}" in text


def test_step_profile_quick_writes_the_three_pipelines_tables_and_a_summary(tmp_path):
    command = [sys.executable, str(SCRIPT.parent / "step_profile.py"), "--device", "cpu", "--quick", "--out",
               str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for name in ("a", "b", "b_fp32"):  # the CPU has no device kernels: only the wall time per step and the CPU table
        assert summary[name]["steps"] == 4 and summary[name]["wall_ms_per_step"] > 0
        assert summary[name]["kernels_per_step"] == 0
        assert "aten::" in (tmp_path / f"{name}.txt").read_text()  # the operators, by self CPU time
    assert re.search(r"^\(b\) [\d.]+ ms/step wall", result.stdout, re.M)
    assert re.search(r"^\(b_fp32\) [\d.]+ ms/step wall", result.stdout, re.M)


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")  # torch.autocast built on a CPU machine
def test_without_autocast_switches_off_fits_bf16_autocast_and_restores_it():
    import contextlib

    import torch

    import kdcore.fit

    sys.path.insert(0, str(SCRIPT.parent))
    from step_profile import without_autocast

    cuda = torch.device("cuda")  # only the context manager is built, so no GPU is needed
    assert isinstance(kdcore.fit._autocast(cuda), torch.autocast)
    with without_autocast():
        assert isinstance(kdcore.fit._autocast(cuda), contextlib.nullcontext)
    assert isinstance(kdcore.fit._autocast(cuda), torch.autocast)


@pytest.mark.slow
def test_compile_objectives_quick_compiles_every_objective_to_the_eager_loss(tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, str(SCRIPT.parent / "compile_objectives.py"), "--device", "cpu", "--quick", "--json",
               str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    objectives = json.loads(out.read_text())["objectives"]
    assert set(objectives) == {"cross-entropy", "kd", "tolerant (tsd)", "icc teacher", "icc kd", "kr"}
    for name, runs in objectives.items():
        failed = {label: run["error"] for label, run in runs.items() if "error" in run}
        assert not failed, (name, failed)
        loss = {label: run["first_epoch_loss"] for label, run in runs.items()}
        # compiled code computes the eager loss, for the student it was compiled for and for the next seed's
        assert loss["compiled"] == pytest.approx(loss["eager"], rel=1e-4), name
        assert loss["compiled, next seed"] == pytest.approx(loss["eager, next seed"], rel=1e-4), name
        assert runs["compiled"]["graphs_compiled"] >= 1 and runs["eager"]["graphs_compiled"] == 0, name
