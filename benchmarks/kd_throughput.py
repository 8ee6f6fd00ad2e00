"""Images per second of a full KD training step: the standard KD pipeline against kdcore's fast path.

All three run in one process, on the same device, with the same models, loss (kdcore's ``KD``:
``0.1·CE + 0.9·T²·KL``, ``T = 4``), optimizer (SGD, momentum 0.9, weight decay 5e-4) and data
(CIFAR-100-shaped synthetic images):

(a) the RepDistiller / mdistiller pipeline: a torchvision ``DataLoader`` over uint8 HWC images with
    per-sample PIL ``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``, ``ToTensor`` and ``Normalize`` in
    worker processes; fp32; batch 64; ``loss.item()`` every step (RepDistiller's ``AverageMeter``). We give
    it ``pin_memory`` and ``cudnn.benchmark`` (RepDistiller sets the latter too);
(b) kdcore through :func:`kdcore.fit.fit` at batch 64: data resident on the device with batched crop and flip
    (:class:`~kdcore.batches.DeviceBatches`), bf16 autocast, channels_last, a bf16 teacher from
    :func:`~kdcore.fit.prepare_teacher` that sees every augmented batch, metrics accumulated on the device;
(c) the same at the fastest batch size of a sweep (which includes (b)'s).

Each measurement times whole epochs after ``--warmup-epochs`` untimed ones. It prints images/s, the ratios
(b)/(a) and (c)/(a), and the time the 240-epoch CIFAR recipe (50k images × 240 epochs) would take at
each speed. Usage::

    python benchmarks/kd_throughput.py                       # GPU: resnet32x4 → resnet8x4, 50k images
    python benchmarks/kd_throughput.py --compile             # (b) and (c) through torch.compile
    python benchmarks/kd_throughput.py --fold-bn             # (b) and (c) with the teacher's BatchNorms folded
    python benchmarks/kd_throughput.py --device cpu --quick  # seconds on CPU (CI keeps it working)
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from kdcore.batches import DeviceBatches
from kdcore.checkpoint import write_json
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, fit, fold_batchnorm, make_optimizer, prepare_model, prepare_teacher
from kdcore.losses.kd import KD
from kdcore.models import build_model
from kdcore.seeding import resolve_device
from kdcore.splits import Split

NUM_CLASSES = 100
LR = 0.05  # RepDistiller's student learning rate


class PILImages(Dataset):
    """RepDistiller's CIFAR dataset: uint8 HWC arrays, a PIL image per sample, torchvision transforms."""

    def __init__(self, images_hwc: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images_hwc, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def build(arch: str, image_size: int) -> torch.nn.Module:
    return build_model(arch, 3, NUM_CLASSES, image_size)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def baseline_throughput(data, args, device: torch.device) -> float:
    """(a): images/s of the DataLoader + per-sample-transform pipeline, fp32, ``--baseline-batch``."""
    size = data.image_size
    transform = transforms.Compose([
        transforms.RandomCrop(size, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(data.mean, data.std),
    ])  # fmt: skip
    images = data.train_x.permute(0, 2, 3, 1).numpy()  # HWC, as torchvision's CIFAR stores them
    dataset = PILImages(images if images.shape[-1] > 1 else images[..., 0], data.train_y.numpy(), transform)
    loader = DataLoader(
        dataset, args.baseline_batch, shuffle=True, num_workers=args.num_workers,
        pin_memory=device.type == "cuda",
    )  # fmt: skip
    torch.manual_seed(0)
    # built on the CPU, then moved: the teacher stays an fp32 copy (a Distiller on CUDA makes a bf16 one)
    objective = KD(build(args.student, size), build(args.teacher, size)).to(device)
    optimizer = make_optimizer(objective.trainable_parameters(), TrainConfig(lr=LR))
    seconds = 0.0
    for epoch in range(args.warmup_epochs + args.epochs):
        sync(device)
        started = time.perf_counter()
        objective.train()
        loss_sum = 0.0
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            _, losses = objective(x, y)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(y)  # the per-step host sync of the standard loop
        sync(device)
        if epoch >= args.warmup_epochs:
            seconds += time.perf_counter() - started
    return len(dataset) * args.epochs / seconds


def augmented_batches(data, batch_size: int, device: torch.device, **options) -> DeviceBatches:
    """``data``'s training images as the CIFAR recipes feed them: shuffled, random 4-pixel-padded crops and
    flips, resident on ``device``, channels-last on CUDA. ``options`` go to DeviceBatches (``drop_last``,
    ``dtype``, ``with_index``)."""
    return DeviceBatches(
        Split(data.train_x, data.train_y), data.mean, data.std, batch_size, shuffle=True, crop_padding=4,
        hflip=True, device=device, channels_last=device.type == "cuda", **options,
    )  # fmt: skip


def kdcore_throughput(data, args, device: torch.device, batch_size: int, fp32: bool = False) -> float:
    """(b), (c): images/s of ``fit`` on device-resident batches at ``batch_size``. ``fp32``: the batches and
    the teacher in fp32 (step_profile.py pairs it with fit's autocast switched off)."""
    on_gpu = device.type == "cuda"
    train = augmented_batches(
        data, batch_size, device,
        dtype=torch.bfloat16 if on_gpu and not fp32 else torch.float32,  # what autocast feeds the convolutions
        drop_last=True,  # static shapes for torch.compile
    )  # fmt: skip
    if args.compile:
        torch._dynamo.reset()  # a fresh compile for each batch size, no dynamic-shape kernels
    torch.manual_seed(0)
    student = prepare_model(build(args.student, data.image_size), device)
    teacher = build(args.teacher, data.image_size)
    if args.fold_bn:  # the teacher's BatchNorms folded into its convolutions: fewer passes, the same function
        teacher = fold_batchnorm(teacher)
    teacher = prepare_teacher(teacher, device, dtype=torch.float32 if fp32 else None)
    config = TrainConfig(
        epochs=args.warmup_epochs + args.epochs, batch_size=batch_size, lr=LR, schedule="constant",
        crop_padding=4, hflip=True,
    )  # fmt: skip
    objective = KD(student, teacher)
    if fp32:  # on CUDA a Distiller runs a bf16 copy of its teacher (kdcore.objectives._frozen): keep it fp32
        objective.teacher = teacher
    history = fit(objective, train, config, progress=False, compile=args.compile)
    seconds = sum(row["seconds"] for row in history[args.warmup_epochs :])
    return train.num_examples * args.epochs / seconds


def add_pair_arguments(parser: argparse.ArgumentParser, num_train: int) -> None:
    """The options every KD benchmark shares: the device, a CPU smoke mode, the pair and the synthetic data."""
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cpu, ...")
    parser.add_argument("--quick", action="store_true", help="tiny models and data: a CPU smoke test")
    parser.add_argument("--teacher", default="resnet32x4")
    parser.add_argument("--student", default="resnet8x4")
    parser.add_argument("--num-train", type=int, default=num_train, help="synthetic training images")
    parser.add_argument("--image-size", type=int, default=32)


def benchmark_device(name: str) -> tuple[torch.device, str]:
    """The device to time on, with cuDNN's autotuner on for CUDA's fixed shapes, and how to name it."""
    device = resolve_device(name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        return device, torch.cuda.get_device_name(device)
    return device, f"cpu ({torch.get_num_threads()} threads)"


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_pair_arguments(parser, num_train=50_000)
    parser.add_argument("--baseline-batch", type=int, default=64, help="batch of (a) and (b)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--num-workers", type=int, default=8, help="DataLoader workers of (a) (RepDistiller: 8)")
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs per measurement")
    parser.add_argument("--compile", nargs="?", const=True, default=False, metavar="MODE",
                        help="torch.compile the KD objective in (b), (c); MODE: e.g. reduce-overhead")  # fmt: skip
    fold = "(b), (c): the teacher's BatchNorms folded into its layers (kdcore.fit.fold_batchnorm)"
    parser.add_argument("--fold-bn", action="store_true", help=fold)
    parser.add_argument("--recipe-epochs", type=int, default=240)
    parser.add_argument("--recipe-images", type=int, default=50_000)
    parser.add_argument("--json", help="also write the results to this file")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # defaults only: explicit options still win
        parser.set_defaults(
            teacher="resnet8", student="resnet8", num_train=256, image_size=16, batch_sizes=[128, 256],
            num_workers=1, warmup_epochs=0,
        )  # fmt: skip
    args = parser.parse_args(argv)

    device, name = benchmark_device(args.device)
    data = synthetic(args.num_train, 16, (3, args.image_size, args.image_size), NUM_CLASSES)
    print(f"device: {name} | torch {torch.__version__} | {args.teacher} -> {args.student}")
    print(
        f"data: {args.num_train} synthetic 3x{args.image_size}x{args.image_size} images, {NUM_CLASSES} classes"
        f" | {args.warmup_epochs} warm-up + {args.epochs} timed epoch(s) each | compile: {args.compile}"
        f" | fold BN: {args.fold_bn}"
    )

    a = baseline_throughput(data, args, device)
    print(f"(a) standard: DataLoader({args.num_workers} workers) + PIL transforms, fp32, "
          f"batch {args.baseline_batch}: {a:10.1f} images/s", flush=True)  # fmt: skip
    b = kdcore_throughput(data, args, device, args.baseline_batch)
    print(f"(b) kdcore fit, batch {args.baseline_batch}: {b:10.1f} images/s", flush=True)
    sweep = {args.baseline_batch: b}
    for batch_size in args.batch_sizes:
        if batch_size > args.num_train or batch_size in sweep:
            continue
        try:
            sweep[batch_size] = kdcore_throughput(data, args, device, batch_size)
        except torch.OutOfMemoryError:
            print(f"    kdcore fit, batch {batch_size}: out of memory")
            break
        print(f"    kdcore fit, batch {batch_size}: {sweep[batch_size]:10.1f} images/s", flush=True)
    best = max(sweep, key=sweep.get)
    c = sweep[best]
    print(f"(c) kdcore fit, best batch {best}: {c:10.1f} images/s")
    print(f"ratio (b)/(a): {b / a:.2f}")
    print(f"ratio (c)/(a): {c / a:.2f}")
    images = args.recipe_images * args.recipe_epochs
    print(
        f"projected {args.recipe_epochs}-epoch recipe ({args.recipe_images} images x {args.recipe_epochs} epochs):"
        f" (a) {duration(images / a)}, (b) {duration(images / b)}, (c) {duration(images / c)}"
    )
    result = {
        "device": name, "torch": torch.__version__, "args": vars(args),
        "images_per_s": {"a": a, "b": b, "c": c, "sweep": sweep}, "best_batch": best,
        "ratio_b_a": b / a, "ratio_c_a": c / a,
    }  # fmt: skip
    if args.json:
        write_json(result, args.json)
    return result


if __name__ == "__main__":
    main()
