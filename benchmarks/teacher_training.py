"""Images per second of teacher training with :func:`kdcore.fit.fit`, and the recipe time it implies.

A teacher is trained once and cached, but at the paper profile it is most of a chapter's cost: resnet32x4
for RepDistiller's 240 epochs at batch 64, VGG-19 for prune-then-distill's 200 epochs at batch 128. This
times whole epochs of ``fit`` (cross-entropy, SGD, device-resident batches with crop and flip, bf16
autocast and channels_last on CUDA) on CIFAR-100-shaped synthetic images, after one untimed warm-up epoch,
and projects each recipe's wall time. Usage::

    python benchmarks/teacher_training.py                        # GPU: both paper teachers, 50k images
    python benchmarks/teacher_training.py --device cpu --quick   # seconds on CPU (CI keeps it working)
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, fit, prepare_model
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
from kdcore.seeding import resolve_device
from kdcore.splits import Split

# (arch, batch size, recipe epochs): the paper profile's teachers (kdcore/chapters.py)
RECIPES = [("resnet32x4", 64, 240), ("vgg19", 128, 200)]


def teacher_throughput(arch: str, batch_size: int, data, device, epochs: int, compile: bool) -> float:
    """Images/s of ``fit`` training ``arch`` from scratch over ``epochs`` timed epochs (one warm-up first)."""
    on_gpu = device.type == "cuda"
    train = DeviceBatches(
        Split(data.train_x, data.train_y), data.mean, data.std, batch_size, shuffle=True, crop_padding=4,
        hflip=True, device=device, channels_last=on_gpu, drop_last=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = prepare_model(build_model(arch, 3, data.num_classes, data.image_size), device)
    config = TrainConfig(epochs=1 + epochs, batch_size=batch_size, lr=0.05, crop_padding=4, hflip=True)
    history = fit(CrossEntropy(model), train, config, progress=False, compile=compile)
    return train.num_examples * epochs / sum(row["seconds"] for row in history[1:])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny data: a CPU smoke test")
    parser.add_argument("--num-train", type=int, default=50_000, help="synthetic training images")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per teacher")
    parser.add_argument("--compile", action="store_true", help="torch.compile the objective")
    parser.add_argument("--archs", nargs="+", default=[arch for arch, _, _ in RECIPES], help="teachers to time")
    parser.add_argument("--json", help="also write the results to this file")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # defaults only: explicit options still win
        parser.set_defaults(num_train=256, archs=["resnet8", "vgg8"])
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    data = synthetic(args.num_train, 16, (3, 32, 32), 100)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name} | torch {torch.__version__} | {args.num_train} images | compile: {args.compile}")
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
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
