"""Images per second of teacher training with :func:`kdcore.fit.fit`, and the recipe time it implies.

A teacher is trained once and cached, but at the paper profile it is most of a chapter's cost: resnet32x4
for RepDistiller's 240 epochs at batch 64, VGG-19 for prune-then-distill's 200 epochs at batch 128. This
times whole epochs of ``fit`` (cross-entropy, SGD, device-resident batches with crop and flip, bf16
autocast and channels_last on CUDA) on CIFAR-100-shaped synthetic images, after one untimed warm-up epoch,
and projects each recipe's wall time. Usage::

    python benchmarks/teacher_training.py                        # GPU: both paper teachers, 50k images
    python benchmarks/teacher_training.py --device cpu --quick   # seconds on CPU (CI keeps it working)

With ``--plan benchmarks/plan/paper.json`` (``scripts/cost_table.py plan``) it times instead every architecture
of the plan: training with ``fit`` at each batch size the plan trains (or scores) it at, and forward-only
inference with ``kdcore.fit.evaluate`` at each batch size the plan evaluates it or runs it as a teacher at.
Each timing runs whole epochs over ``--num-train`` images (default 8192) after a warm-up of three batches,
until ``--min-seconds`` (default 1) have been timed. The JSON it writes is what ``scripts/cost_table.py table
--throughputs`` reads: ``{"device", "measured" (date), "train": {arch: {batch: images/s}}, "forward": …}``.
A student derived from a pruned teacher (``vgg19-derived-79``) is timed with prune-then-distill's published
widths for it, since its own widths depend on the trained teacher.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from kd_throughput import augmented_batches

from kdcore.batches import DeviceBatches
from kdcore.checkpoint import write_json
from kdcore.cost import first_examples
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, evaluate, fit, prepare_model
from kdcore.models import CifarVGG, build_model
from kdcore.objectives import CrossEntropy
from kdcore.seeding import resolve_device
from kdcore.splits import Split

# (arch, batch size, recipe epochs): the paper profile's teachers (kdcore/chapters.py)
RECIPES = [("resnet32x4", 64, 240), ("vgg19", 128, 200)]
# The official derived students of prune-then-distill (models/cifar_vgg.py of ososos888/prune-then-distill,
# vgg19-rwd-st36/59/79), from a VGG-19 trained and pruned by IMP to 36 / 59 / 79 % sparsity: the stand-ins
# for kdcore's vgg19-derived-NN students (tests/test_student_plan.py checks kdcore's rule reproduces them).
DERIVED_STAND_INS = {
    "vgg19-derived-36": [53, 61, "M", 128, 121, "M", 258, 241, 258, 236, "M", 485, 410, 406, 374, "M",
                         340, 358, 390, 399],
    "vgg19-derived-59": [44, 56, "M", 116, 112, "M", 238, 227, 240, 209, "M", 408, 348, 339, 246, "M",
                         196, 214, 367, 272],
    "vgg19-derived-79": [40, 49, "M", 111, 97, "M", 225, 187, 224, 170, "M", 356, 233, 220, 99, "M",
                         111, 84, 297, 122],
}  # fmt: skip


def teacher_throughput(arch: str, batch_size: int, data, device, epochs: int, compile: bool) -> float:
    """Images/s of ``fit`` training ``arch`` from scratch over ``epochs`` timed epochs (one warm-up first)."""
    train = augmented_batches(data, batch_size, device, drop_last=True)
    torch.manual_seed(0)
    model = prepare_model(build_model(arch, 3, data.num_classes, data.image_size), device)
    config = TrainConfig(epochs=1 + epochs, batch_size=batch_size, lr=0.05, crop_padding=4, hflip=True)
    history = fit(CrossEntropy(model), train, config, progress=False, compile=compile)
    return train.num_examples * epochs / sum(row["seconds"] for row in history[1:])


def plan_batch_sizes(plan: dict) -> tuple[dict[str, set[int]], dict[str, set[int]]]:
    """Per architecture in a cost plan, the batch sizes it trains (or is scored) at and those it runs forward
    at: evaluations, validation, and as a distillation teacher (its students' batch, or the cached-logits
    pass's 1024)."""
    train, forward = defaultdict(set), defaultdict(set)
    for chapter in plan["chapters"].values():
        for row in chapter["rows"]:
            if row["kind"] in ("train", "gradient"):
                train[row["arch"]].add(row["batch_size"])
            if row["kind"] == "evaluate":
                forward[row["arch"]].add(row["batch_size"])
            if row["kind"] == "train" and row["val_examples"]:
                forward[row["arch"]].add(row["val_batch_size"])
            if row["kind"] == "train" and row["teacher"]:
                forward[row["teacher"]].add(1024 if row["teacher_logits"] == "cached" else row["batch_size"])
    return train, forward


def build_for_timing(arch: str, data) -> torch.nn.Module:
    """``build_model(arch)``, or a derived student's stand-in (:data:`DERIVED_STAND_INS`)."""
    if arch in DERIVED_STAND_INS:
        return CifarVGG(DERIVED_STAND_INS[arch], data.train_x.shape[1], data.num_classes)
    if re.search(r"-derived-\d+$", arch):
        raise ValueError(f"no stand-in for the derived student {arch!r}: add its widths to DERIVED_STAND_INS")
    return build_model(arch, data.train_x.shape[1], data.num_classes, data.image_size)


def timed_training(arch: str, batch_size: int, data, device, min_seconds: float) -> float:
    """Images/s of ``fit`` (cross-entropy, SGD, crop and flip) training ``arch`` at ``batch_size``: whole epochs
    over ``data`` until ``min_seconds`` are timed, after a warm-up of three batches (cuDNN autotuning)."""
    whole = len(data.train_y) >= batch_size  # whole batches (one shape), unless --quick has fewer images
    train = augmented_batches(data, batch_size, device, drop_last=whole)
    torch.manual_seed(0)
    objective = CrossEntropy(prepare_model(build_for_timing(arch, data), device))
    config = TrainConfig(epochs=1, batch_size=batch_size, lr=0.05, crop_padding=4, hflip=True)
    fit(objective, first_examples(train, 3 * batch_size), config, progress=False)
    images, seconds = 0, 0.0
    while seconds <= min_seconds:
        seconds += fit(objective, train, config, progress=False)[0]["seconds"]
        images += train.num_examples
    return images / seconds


def timed_forward(arch: str, batch_size: int, data, device, min_seconds: float) -> float:
    """Images/s of ``evaluate`` (bf16 autocast and channels_last on CUDA) running ``arch`` at ``batch_size``,
    whole passes over ``data`` until ``min_seconds`` are timed, after a warm-up pass over three batches."""
    n = len(data.train_y) - len(data.train_y) % batch_size or len(data.train_y)  # whole batches: one shape
    split = Split(data.train_x[:n], data.train_y[:n])
    batches = DeviceBatches(split, data.mean, data.std, batch_size, device=device, channels_last=device.type == "cuda")
    torch.manual_seed(0)
    model = prepare_model(build_for_timing(arch, data), device).eval()
    evaluate(model, first_examples(batches, 3 * batch_size))
    images, seconds = 0, 0.0
    while seconds <= min_seconds:
        started = time.perf_counter()
        evaluate(model, batches)  # ends with .item(): the device has finished
        seconds += time.perf_counter() - started
        images += n
    return images / seconds


def time_plan(plan: dict, data, device, min_seconds: float) -> dict:
    """Images/s of every (architecture, batch size) the plan trains and runs forward."""
    started = time.perf_counter()
    train, forward = plan_batch_sizes(plan)
    result = {"train": {}, "forward": {}}
    for what, needs, timer in (("train", train, timed_training), ("forward", forward, timed_forward)):
        for arch in sorted(needs):
            for batch_size in sorted(needs[arch]):
                rate = timer(arch, batch_size, data, device, min_seconds)
                result[what].setdefault(arch, {})[str(batch_size)] = rate
                print(f"{what:>7} {arch:>17} batch {batch_size:>4}: {rate:10.1f} images/s", flush=True)
    result["seconds"] = time.perf_counter() - started  # the whole plan's timing: the device budget is 90 s
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny data: a CPU smoke test")
    parser.add_argument("--num-train", type=int, default=50_000, help="synthetic training images")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per teacher")
    parser.add_argument("--compile", action="store_true", help="torch.compile the objective")
    parser.add_argument("--archs", nargs="+", default=[arch for arch, _, _ in RECIPES], help="teachers to time")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--plan", help="time every architecture of this cost plan (scripts/cost_table.py plan)")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="--plan: timed seconds per measurement")
    given = sys.argv[1:] if argv is None else argv
    if "--plan" in given:
        parser.set_defaults(num_train=8192)
    if "--quick" in given:  # defaults only: explicit options still win
        parser.set_defaults(num_train=256, archs=["resnet8", "vgg8"], min_seconds=0.0)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    plan = json.loads(Path(args.plan).read_text()) if args.plan else {}
    shape = plan.get("images", {"shape": (3, 32, 32), "classes": 100})  # CIFAR-100 unless the plan says else
    data = synthetic(args.num_train, 16, tuple(shape["shape"]), shape["classes"])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name} | torch {torch.__version__} | {args.num_train} images of {tuple(data.train_x.shape[1:])} "
          f"| compile: {args.compile}")  # fmt: skip
    if args.plan:
        rates = time_plan(plan, data, device, args.min_seconds)
        result = {"device": name, "torch": torch.__version__, "measured": time.strftime("%Y-%m-%d"),
                  "args": vars(args), **rates}  # fmt: skip
        if args.json:
            write_json(result, args.json)
        return result
    rows = []
    recipes = {arch: (batch, epochs) for arch, batch, epochs in RECIPES}
    for i, arch in enumerate(args.archs):  # a small stand-in takes the recipe of the teacher in its place
        batch_size, recipe_epochs = recipes.get(arch, RECIPES[i % len(RECIPES)][1:])
        rate = teacher_throughput(arch, batch_size, data, device, args.epochs, args.compile)
        recipe_minutes = 50_000 * recipe_epochs / rate / 60
        rows.append({"arch": arch, "batch_size": batch_size, "images_per_s": rate, "recipe_epochs": recipe_epochs,
                     "recipe_minutes": recipe_minutes})  # fmt: skip
        print(f"{arch:>11} batch {batch_size:>4}: {rate:10.1f} images/s | {recipe_epochs}-epoch CIFAR recipe "
              f"(50k images): {recipe_minutes:.1f} min", flush=True)  # fmt: skip
    result = {"device": name, "torch": torch.__version__, "args": vars(args), "teachers": rows}
    if args.json:
        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
