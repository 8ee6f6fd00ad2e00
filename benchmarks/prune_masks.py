"""Masks as buffers (kdcore) vs ``torch.nn.utils.prune``: the cost of a masked training step and of a mask.

Two measurements on the same model and device, printed as ratios:

1. One SGD step (momentum 0.9, weight decay 5e-4) of a model pruned to ``--amount``:
   * kdcore: the plain dense forward, then ``enforce_masks`` (one fused multiply) after ``optimizer.step``;
   * ``torch.nn.utils.prune``: a forward pre-hook recomputes ``weight = weight_orig * weight_mask`` for
     every pruned tensor before each forward (and autograd goes through that product);
   * the same step on the unpruned model, the reference. Goal: kdcore's masked step ≤ 1.05× dense.
2. The time to prune by global magnitude, mask computed and applied, on the dense model and on a model
   already pruned once (the next IMP round): ``kdcore.prune.magnitude_prune`` vs
   ``torch.nn.utils.prune.global_unstructured(L1Unstructured)``. Goal: kdcore faster.

Steps of the three variants are interleaved and each time is a median, so a machine whose load changes
during the run biases all variants alike. Both pruners must produce identical masks; the script checks it.

    python benchmarks/prune_masks.py --device cpu             # vgg19, CIFAR-100 shapes, ~20M weights
    python benchmarks/prune_masks.py --device cuda --batch-size 128
    python benchmarks/prune_masks.py --quick                  # tiny CI-sized run (numbers meaningless)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from kdcore.fit import prepare_model
from kdcore.models import build_model
from kdcore.prune import enforce_masks, get_mask, magnitude_prune, masked_parameters, prunable_parameters


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device) -> float:
    sync(device)
    started = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - started


def torch_prune_global(model: nn.Module, amount: float) -> None:
    torch_prune.global_unstructured(prunable_parameters(model), torch_prune.L1Unstructured, amount=amount)


def make_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, after_step=None):
    """One training step as :func:`kdcore.fit.fit` takes it (bf16 autocast on CUDA)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda")

    def step():
        with autocast:
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()

    return step


def bench_steps(dense: nn.Module, x, y, amount: float, steps: int, device) -> dict[str, float]:
    ours, theirs = copy.deepcopy(dense), copy.deepcopy(dense)
    magnitude_prune(ours, amount)
    torch_prune_global(theirs, amount)
    pairs = masked_parameters(ours)
    variants = {
        "dense": make_step(dense, x, y),
        "kdcore": make_step(ours, x, y, after_step=lambda: enforce_masks(pairs)),
        "torch": make_step(theirs, x, y),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for i in range(steps + 2):  # the first two rounds warm up
        for name, step in variants.items():
            t = timed(step, device)
            if i >= 2:
                times[name].append(t)
    assert all(bool((p[m == 0] == 0).all()) for p, m in pairs), "kdcore masks did not hold"
    return {name: statistics.median(ts) for name, ts in times.items()}


def same_masks(a: nn.Module, b: nn.Module) -> bool:
    pairs = zip(prunable_parameters(a), prunable_parameters(b))
    return all(torch.equal(get_mask(m1, n1), getattr(m2, n2 + "_mask")) for (m1, n1), (m2, n2) in pairs)


def bench_masks(dense: nn.Module, amount: float, repeats: int, device) -> tuple[dict[str, float], bool]:
    """Median seconds to prune ``amount`` by global magnitude, on the dense model ("first") and on a copy
    already pruned by ``amount`` ("next"), each repeat on fresh copies (copying is not timed)."""
    times: dict[str, list[float]] = {"kdcore first": [], "torch first": [], "kdcore next": [], "torch next": []}
    identical = True
    for _ in range(repeats):
        ours, theirs = copy.deepcopy(dense), copy.deepcopy(dense)
        for round_ in ("first", "next"):
            times[f"kdcore {round_}"].append(timed(partial(magnitude_prune, ours, amount), device))
            times[f"torch {round_}"].append(timed(partial(torch_prune_global, theirs, amount), device))
        identical &= same_masks(ours, theirs)
    return {name: statistics.median(ts) for name, ts in times.items()}, identical


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--amount", type=float, default=0.8, help="sparsity of the masked training step")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--repeats", type=int, default=3, help="timed pruning calls per pruner")
    parser.add_argument("--quick", action="store_true", help="tiny model and few repeats: checks it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.model, args.batch_size, args.steps, args.repeats = "mlp-64", 8, 2, 1
    device = torch.device(args.device)
    shape, classes = ((1, 8, 8), 10) if args.quick else ((3, 32, 32), 100)

    torch.manual_seed(0)
    dense = prepare_model(build_model(args.model, shape[0], classes, shape[1]), device).train()
    x = torch.randn(args.batch_size, *shape, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(classes, (args.batch_size,), device=device)
    weights = sum(getattr(m, n).numel() for m, n in prunable_parameters(dense))
    print(
        f"model {args.model}, {weights:,} prunable weights (conv + linear), device {device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )

    masks, identical = bench_masks(dense, 0.2, args.repeats, device)
    step = bench_steps(dense, x, y, args.amount, args.steps, device)

    print(f"\n1. training step, batch {args.batch_size}, sparsity {args.amount} (median of {args.steps})")
    for name, label in [("dense", "dense"), ("kdcore", "kdcore masks"), ("torch", "torch.nn.utils.prune")]:
        print(f"   {label:<22} {1e3 * step[name]:9.2f} ms")
    print(f"ratio kdcore masked step / dense step:           {step['kdcore'] / step['dense']:.3f}  (goal <= 1.05)")
    print(f"ratio torch.prune masked step / dense step:      {step['torch'] / step['dense']:.3f}")
    print(f"ratio kdcore masked step / torch.prune step:     {step['kdcore'] / step['torch']:.3f}")

    print(f"\n2. global magnitude pruning of 20 % of the remaining weights (median of {args.repeats})")
    for name, seconds in masks.items():
        print(f"   {name:<22} {1e3 * seconds:9.2f} ms")
    print(f"   identical masks: {identical}")
    print(
        f"ratio kdcore / torch mask time, dense model:     {masks['kdcore first'] / masks['torch first']:.3f}"
        "  (goal < 1)"
    )
    print(f"ratio kdcore / torch mask time, next round:      {masks['kdcore next'] / masks['torch next']:.3f}")


if __name__ == "__main__":
    main()
