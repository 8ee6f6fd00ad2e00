"""Summaries over seeds and the results JSON every chapter writes."""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from .checkpoint import write_json


def mean_std(values) -> dict:
    """``{"mean", "std", "n", "values"}`` with the sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std, "n": len(values), "values": values}


def confidence_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean (normal approximation for more than 30 values)."""
    s = mean_std(values)
    if s["n"] < 2:
        return (s["mean"], s["mean"])
    t = _t_quantile(level, s["n"] - 1)
    half = t * s["std"] / math.sqrt(s["n"])
    return (s["mean"] - half, s["mean"] + half)


def _t_quantile(level: float, dof: int) -> float:
    # two-sided Student-t quantiles for 95 %, so kdcore needs no scipy; other levels use the normal one
    table95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
               10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip
    if abs(level - 0.95) < 1e-9 and dof <= 30:
        return table95[max(k for k in table95 if k <= dof)]  # conservative: the next smaller dof
    return statistics.NormalDist().inv_cdf(0.5 + level / 2)


def fmt(values, scale: float = 100.0, digits: int = 2) -> str:
    """``"87.12 ± 0.21"``: mean ± std of ``values`` times ``scale`` (percent by default)."""
    s = mean_std(values)
    return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"


def environment() -> dict:
    """Where a result was produced: versions, device and thread count."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
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


def compare(a, b, level: float = 0.95) -> dict:
    """Difference of means ``mean(b) − mean(a)`` with a Welch confidence interval, and a plain verdict.

    ``verdict`` is ``"within noise"`` when the interval contains 0, else ``"higher"`` or ``"lower"`` (for b).
    With few seeds the interval is wide: that is the honest answer, not a failure.
    """
    sa, sb = mean_std(a), mean_std(b)
    diff = sb["mean"] - sa["mean"]
    if sa["n"] < 2 or sb["n"] < 2:
        return {"diff": diff, "ci": (diff, diff), "verdict": "within noise"}
    va, vb = sa["std"] ** 2 / sa["n"], sb["std"] ** 2 / sb["n"]
    se = math.sqrt(va + vb)
    if se == 0:
        low = high = diff
    else:  # Welch–Satterthwaite degrees of freedom
        dof = (va + vb) ** 2 / (va**2 / (sa["n"] - 1) + vb**2 / (sb["n"] - 1))
        half = _t_quantile(level, max(1, math.floor(dof))) * se
        low, high = diff - half, diff + half
    verdict = "within noise" if low <= 0 <= high else ("higher" if diff > 0 else "lower")
    return {"diff": diff, "ci": (low, high), "verdict": verdict}
