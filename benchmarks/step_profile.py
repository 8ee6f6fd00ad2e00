"""Where a KD step's time goes at batch 64: (a) against (b) of ``kd_throughput.py`` under ``torch.profiler``.

On the H200, (b) (kdcore: device-resident batches, bf16 autocast, a bf16 teacher) was no faster than (a) (a
DataLoader, fp32) at batch 64: 0.84× to 1.26× in three runs, while at batch 2048 it was 9×. At batch 64
these small networks are launch-bound, so the question is what each step launches: autocast adds a cast
kernel before many operators, and the optimizer, the masks and the loss bookkeeping add their own. This
script profiles ``--steps`` steps of each, after one unprofiled run that warms cuDNN's autotuner, and writes
per pipeline the operator table (sorted by self device time on a GPU, self CPU time on a CPU) and a summary:
device kernels per step, device time per step, wall time per step. A third pipeline, (b) in fp32, is (b)
with fit's bf16 autocast switched off and its batches and teacher in fp32: the hypothesis tested directly.
(In its first run, H200 2026-11-27, the teacher was still the Distiller's bf16 copy; fixed since in
``kd_throughput.kdcore_throughput``. Results and reading: benchmarks/README.md.)

    python benchmarks/step_profile.py --device cuda --steps 40 --out DIR    # a minute on a GPU
    python benchmarks/step_profile.py --device cpu --quick --out DIR         # seconds (CI keeps it working)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kd_throughput import NUM_CLASSES, baseline_throughput, benchmark_device, kdcore_throughput

from kdcore.data import synthetic


def profiled(run, device: torch.device, steps: int) -> tuple[dict, str]:
    """``run()`` once to warm up, then once under the profiler: a per-step summary and the operator table."""
    run()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        run()
    wall = time.perf_counter() - started
    kernels = [e for e in prof.events() if e.device_type == DeviceType.CUDA]
    summary = {"steps": steps, "wall_ms_per_step": 1e3 * wall / steps,
               "kernels_per_step": len(kernels) / steps,
               "device_ms_per_step": sum(e.self_device_time_total for e in kernels) / 1e3 / steps}  # fmt: skip
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return summary, prof.key_averages().table(sort_by=sort, row_limit=25)


@contextlib.contextmanager
def without_autocast():
    """kdcore's ``fit`` without its bf16 autocast on CUDA (for this measurement only: the library keeps it)."""
    import kdcore.fit

    saved = kdcore.fit._autocast
    kdcore.fit._autocast = lambda device: contextlib.nullcontext()
    try:
        yield
    finally:
        kdcore.fit._autocast = saved


def fp32_kdcore_throughput(data, args, device: torch.device, batch_size: int) -> float:
    """(b) in fp32: no autocast, fp32 batches and teacher."""
    with without_autocast():
        return kdcore_throughput(data, args, device, batch_size, fp32=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=40, help="steps of batch --batch profiled per pipeline")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--num-workers", type=int, default=8, help="DataLoader workers of (a)")
    parser.add_argument("--quick", action="store_true", help="resnet8 on 16x16 images, 4 steps: a CPU smoke test")
    parser.add_argument("--out", required=True, help="folder for a.txt, b.txt, b_fp32.txt and summary.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.teacher = args.student = "resnet8"
        args.steps, args.num_workers = 4, 1
    device, _ = benchmark_device(args.device)
    image_size = 16 if args.quick else 32
    data = synthetic(args.batch * args.steps, 16, (3, image_size, image_size), NUM_CLASSES)
    # one epoch of exactly --steps steps, nothing untimed inside the profiled run (the warm-up run is outside)
    run_args = SimpleNamespace(baseline_batch=args.batch, num_workers=args.num_workers, warmup_epochs=0, epochs=1,
                               teacher=args.teacher, student=args.student, compile=False, fold_bn=False)  # fmt: skip
    pipelines = {"a": lambda: baseline_throughput(data, run_args, device),
                 "b": lambda: kdcore_throughput(data, run_args, device, args.batch),
                 "b_fp32": lambda: fp32_kdcore_throughput(data, run_args, device, args.batch)}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "torch": torch.__version__, "args": vars(args)}  # fmt: skip
    for name, run in pipelines.items():
        summary[name], table = profiled(run, device, args.steps)
        (out / f"{name}.txt").write_text(table + "\n")
        s = summary[name]
        print(f"({name}) {s['wall_ms_per_step']:.2f} ms/step wall, {s['kernels_per_step']:.0f} kernels/step, "
              f"{s['device_ms_per_step']:.2f} ms/step on the device", flush=True)  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


if __name__ == "__main__":
    main()
