"""Does every objective the chapters train with run under ``torch.compile``, and does compiling pay for it?

CUDA graphs (``fit(..., compile="reduce-overhead")``) made the chapters' KD step 3.75 × faster at batch 64 on
an H200 (benchmarks/README.md), but only KD had run compiled on a GPU, and compiling costs time at the start
of a run. For each objective the chapters use (cross-entropy, KD, the tolerant teacher's TSD, the ICC teacher
and its student, KR) this times four runs of :func:`kdcore.fit.fit` on CIFAR-100-shaped synthetic data, one
after the other in one process, as a chapter trains its students:

1. eager;
2. compiled, from the same seed (the same initial student, the same batches);
3. compiled again, a fresh student of the same architecture (a chapter's next seed): does it compile anew?
4. eager, that next seed: the compiled code reused for another student must still compute its loss.

For each run it records the warm epochs' images/s, how much longer the first epoch took than a warm one
(compiling and capturing graphs), the graphs Dynamo compiled and its graph breaks during the run, the first
epoch's mean loss (eager and compiled runs of one seed start from the same student and batches: their losses
should agree to rounding, bf16's on CUDA), and an error instead, if the run failed. Usage::

    python benchmarks/compile_objectives.py --device cuda --json out.json   # GPU: resnet32x4 → resnet8x4
    python benchmarks/compile_objectives.py --quick                         # seconds on CPU (CI keeps it working)
"""

from __future__ import annotations

import argparse
import sys
import traceback

import torch
from kd_throughput import NUM_CLASSES, add_pair_arguments, augmented_batches, benchmark_device

from kdcore.checkpoint import write_json
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, fit, prepare_model
from kdcore.losses import ICCKD, KD, KR, ICCTeacher, TolerantTeacher
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
from kdcore.seeding import seed_everything

# name -> objective(student, teacher): each as its chapter builds it (defaults, or the chapter's settings)
OBJECTIVES = {
    "cross-entropy": lambda s, t: CrossEntropy(s),  # every teacher, every baseline student
    "kd": lambda s, t: KD(s, t),  # chapters 1-3, 5, 6, 9
    "tolerant (tsd)": lambda s, t: TolerantTeacher(s, eta=0.45, k=5),  # chapter 4's generations
    "icc teacher": lambda s, t: ICCTeacher(s, NUM_CLASSES),  # chapter 7's teacher
    "icc kd": lambda s, t: ICCKD(s, t),  # chapter 7's student
    "kr": lambda s, t: KR(s, t, unit_order="index"),  # chapter 8 (CNN teachers: units by index)
}


def dynamo_counts() -> tuple[int, int]:
    """Graphs Dynamo has compiled and graph breaks it has taken, so far in this process."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"], sum(counters["graph_break"].values())


def one_run(make, data, args, device, teacher, compile_: str | bool, seed: int) -> dict:
    """One ``fit`` of a fresh student with ``make(student, teacher)``: images/s, warm-up cost, loss, counts."""
    train = augmented_batches(data, args.batch, device, with_index=True)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=0.05, schedule="constant", seed=seed,
                         crop_padding=4, hflip=True)  # fmt: skip
    seed_everything(seed)
    student = prepare_model(build_model(args.student, 3, NUM_CLASSES, data.image_size), device)
    graphs, breaks = dynamo_counts()
    try:
        history = fit(make(student, teacher), train, config, progress=False, compile=compile_)
    except Exception as error:  # a failure is the finding: record it and go on
        return {"error": f"{type(error).__name__}: {error}"[:500], "trace": traceback.format_exc()[-1500:]}
    first, *warm = (row["seconds"] for row in history)
    warm_seconds = sum(warm) / len(warm)
    graphs_after, breaks_after = dynamo_counts()
    return {
        "images_per_s": train.num_examples / warm_seconds,
        "first_epoch_extra_s": first - warm_seconds,
        "first_epoch_loss": history[0]["loss"],
        "graphs_compiled": graphs_after - graphs,
        "graph_breaks": breaks_after - breaks,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_pair_arguments(parser, num_train=10_000)
    parser.add_argument("--batch", type=int, default=64, help="the paper recipes' batch size")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the first is the warm-up)")
    parser.add_argument("--compile", default="reduce-overhead", metavar="MODE", help="torch.compile mode")
    parser.add_argument("--only", nargs="*", default=None, help="objectives to run (default: all)")
    parser.add_argument("--json", help="also write the results to this file (after every objective)")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # defaults only: explicit options still win
        parser.set_defaults(teacher="resnet8", student="resnet8", num_train=256, image_size=16, batch=64,
                            epochs=2, compile="default")  # fmt: skip
    args = parser.parse_args(argv)

    device, name = benchmark_device(args.device)
    data = synthetic(args.num_train, 16, (3, args.image_size, args.image_size), NUM_CLASSES)
    seed_everything(0)
    teacher = prepare_model(build_model(args.teacher, 3, NUM_CLASSES, data.image_size), device).eval()
    print(f"device: {name} | torch {torch.__version__} | {args.teacher} -> {args.student} | batch {args.batch} | "
          f"{args.num_train} images x {args.epochs} epochs a run | compile: {args.compile}", flush=True)  # fmt: skip
    result = {"device": name, "torch": torch.__version__, "args": vars(args), "objectives": {}}
    for objective, make in OBJECTIVES.items():
        if args.only and objective not in args.only:
            continue
        runs = {
            "eager": one_run(make, data, args, device, teacher, False, seed=0),
            "compiled": one_run(make, data, args, device, teacher, args.compile, seed=0),
            "compiled, next seed": one_run(make, data, args, device, teacher, args.compile, seed=1),
            "eager, next seed": one_run(make, data, args, device, teacher, False, seed=1),
        }
        result["objectives"][objective] = runs
        print(f"{objective}:", flush=True)
        for label, run in runs.items():
            if "error" in run:
                print(f"  {label:20s} FAILED {run['error'][:200]}", flush=True)
                continue
            print(f"  {label:20s} {run['images_per_s']:9.1f} images/s | first epoch "
                  f"+{run['first_epoch_extra_s']:5.1f} s | loss {run['first_epoch_loss']:.4f} | "
                  f"graphs {run['graphs_compiled']}, breaks {run['graph_breaks']}", flush=True)  # fmt: skip
        if args.json:  # a run cut short keeps what it measured
            write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
