"""The training loop, used by every chapter for teachers, students and pruned models alike.

``fit(objective, train, config, val=...)`` trains ``objective.model`` with SGD or AdamW and returns a per-epoch
:class:`History`. The loss is pluggable: an :class:`~kdcore.objectives.Objective` maps a batch to
``(logits, {name: loss})`` and the loop sums the terms, so distillation reuses this loop unchanged.

Speed notes (each matters on a GPU, and none changes the CPU path's numbers):

* data come as device tensors from :class:`~kdcore.batches.DeviceBatches`: no worker processes;
* loss and accuracy accumulate on the device: no host sync inside an epoch;
* bf16 autocast and channels_last on CUDA; optional ``torch.compile``;
* a distillation teacher from :func:`prepare_teacher` has bf16 weights on CUDA: no casts in its forward;
* masks are enforced by one fused multiply after each step, never by forward hooks.

Multi-GPU: launch the script with ``torchrun --nproc_per_node=N script.py`` and call
:func:`kdcore.distributed.init_from_env` first (it returns the device to build data and models on). ``fit``
then shards the training batches (``batch_size`` stays the global batch), averages gradients with
``DistributedDataParallel`` and sums the metrics over ranks, and every rank returns the same, global, history.
It is not quite the training one process would run: each rank's BatchNorm layers normalize with statistics of
its own shard (no SyncBatchNorm), and a loss computed over the whole batch (ICC matching's correlation,
:class:`~kdcore.losses.ICCKD`) sees one shard per rank. Validation runs on the whole split on every rank;
rank 0 writes the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from . import cost
from . import distributed as dist
from .batches import DeviceBatches
from .checkpoint import load_checkpoint, save_checkpoint
from .objectives import Distiller, Objective
from .prune.masks import enforce_masks, masked_parameters


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, schedule and augmentation. Frozen: a teacher cache keys on its ``to_dict()``.

    ``optimizer`` is ``"sgd"`` (with ``momentum`` and ``nesterov``) or ``"adamw"`` (``momentum`` and
    ``nesterov`` are ignored; its ``weight_decay`` is decoupled, so good values are larger than SGD's).
    """

    epochs: int = 10  # a short run: chapters take theirs from their profile (kdcore.chapters)
    batch_size: int = 256  # the book profile's; the papers' recipes use 64–512
    optimizer: str = "sgd"  # "sgd" or "adamw"
    lr: float = 0.1  # SGD's usual rate for CIFAR-style networks at batch 128–256
    momentum: float = 0.9  # the CIFAR papers' (and RepDistiller's) momentum
    nesterov: bool = False  # prune-then-distill's official recipe turns it on
    weight_decay: float = 5e-4  # the CIFAR ResNets' usual L2 on every weight
    schedule: str = "cosine"  # "cosine", "multistep" or "constant"
    milestones: tuple[int, ...] = ()  # epochs at which "multistep" multiplies the lr by gamma
    gamma: float = 0.1  # RepDistiller's ×0.1 steps; prune-then-distill's uses 0.2
    crop_padding: int = 0  # random crop with this padding (0 = off)
    hflip: bool = False  # random horizontal flip (CIFAR yes; digits would not want it)
    seed: int = 0  # batch order, augmentation and dropout

    def to_dict(self) -> dict:
        """The fields, and with crops, how they pad: since crops pad black (they padded the mean colour), a
        teacher, run or checkpoint trained on the older crops keys differently and is not reused. Runs
        without crops keep their keys."""
        return dataclasses.asdict(self) | ({"crop_fill": "black"} if self.crop_padding else {})


class History(list):
    """One dict per epoch: ``epoch``, ``loss``, one entry per loss term, ``train_acc``, ``val_acc``, ``lr``,
    ``seconds``."""

    def column(self, key: str) -> list:
        return [row[key] for row in self]


@dataclass
class Evaluation:
    """Result of :func:`evaluate`: accuracy, mean CE loss, and the logits and labels (on the device)."""

    accuracy: float
    loss: float
    logits: torch.Tensor = field(repr=False)
    labels: torch.Tensor = field(repr=False)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: nn.Module, device: torch.device | str) -> nn.Module:
    """Move a model to ``device``; on CUDA also use channels_last (faster convolutions with bf16)."""
    device = torch.device(device)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return model


def prepare_teacher(
    teacher: nn.Module,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    channels_last: bool | None = None,
) -> nn.Module:
    """A frozen copy of ``teacher`` for distillation: eval mode, no gradients, on ``device``.

    On CUDA the copy also gets channels_last and bf16 weights, with BatchNorm kept in fp32 (as in airbench):
    under fit's bf16 autocast its forward then runs without casting weights at every step. Call it only in
    bf16 autocast (``fit`` and ``evaluate`` use it on CUDA). On CPU the copy computes exactly what the
    original does; ``dtype`` and ``channels_last`` override the defaults (the tests use them on CPU). The
    original keeps its fp32 weights (for its own evaluation and the teacher cache). With augmented batches
    the teacher sees every view the student sees; only unaugmented batches let a distiller compute its
    logits once (:meth:`kdcore.objectives.Distiller.cache_teacher_logits`, from this copy).
    """
    device = torch.device(device)
    on_gpu = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if on_gpu else None)
    teacher = copy.deepcopy(teacher).eval().requires_grad_(False).to(device)
    if on_gpu if channels_last is None else channels_last:
        teacher.to(memory_format=torch.channels_last)
    if dtype is not None:
        for module in teacher.modules():  # leaf layers only: BatchNorm keeps its exact fp32 statistics
            if not isinstance(module, nn.modules.batchnorm._BatchNorm) and next(module.children(), None) is None:
                module.to(dtype)
    return teacher


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` in which every BatchNorm that directly follows a convolution or a linear layer
    is folded into that layer's weight and bias: the same function, one elementwise pass over the activations
    fewer per layer (``torch.fx.experimental.optimization.fuse``, which traces the forward to find the pairs).

    For a teacher that only runs forward (eval statistics), e.g. ``KD(student, fold_batchnorm(teacher))``.
    Outputs match the original's to float rounding, and pruned weights stay zero (folding scales each output
    channel). A BatchNorm before its layer (a pre-activation block, as in wrn) stays a BatchNorm, and a model
    torch.fx cannot trace comes back as an unfolded frozen copy: folding is a speed trick, never a change.
    """
    from torch.fx.experimental.optimization import fuse

    frozen = copy.deepcopy(model).eval().requires_grad_(False)
    try:
        return fuse(frozen, inplace=True).requires_grad_(False)
    except Exception:  # torch.fx cannot trace it (data-dependent control flow): keep the layers as they are
        return frozen


@torch.no_grad()
def evaluate(model: nn.Module, batches: DeviceBatches) -> Evaluation:
    """Accuracy, mean cross-entropy and logits of ``model`` (in eval mode) over every example of ``batches``.

    The split is read in its stored order, in chunks of ``batches.batch_size``, whatever the batches'
    ``shuffle``, ``drop_last`` or sharding: every example is scored exactly once, each chunk's labels are
    sliced with its inputs, the returned ``logits`` and ``labels`` are aligned with ``batches.y``, and the
    batches' generator is not touched (evaluating training batches mid-run does not change the training).

    Under a cost ledger (:mod:`kdcore.cost`) the call is recorded (and, when planning, nearly skipped).

    Raises:
        ValueError: for augmented batches (random crops or flips). An accuracy on random views is not an
            evaluation of the split; build unaugmented batches of the same split to evaluate it.
    """
    if batches.augments:
        raise ValueError(
            "evaluate refuses augmented batches (random crops or flips): build unaugmented batches of the split"
        )
    ledger = cost.active()
    return _evaluate(model, batches) if ledger is None else ledger.evaluate(model, batches, _evaluate)


@torch.no_grad()
def _evaluate(model: nn.Module, batches: DeviceBatches) -> Evaluation:
    """:func:`evaluate` without the check and the ledger (``fit``'s validation is part of its ledger row)."""
    was_training = model.training
    model.eval()
    logits = []
    with _autocast(batches.device):
        for x in batches.x.split(batches.batch_size):
            logits.append(model(x).float())
    model.train(was_training)
    logits, labels = torch.cat(logits), batches.y
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return Evaluation(accuracy, loss, logits, labels)


OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names: SGD (momentum, Nesterov) or AdamW (decoupled weight decay).

    Masks stay enforced with either: :func:`fit` multiplies masked weights by their mask after every step,
    which also cancels what momentum, moment estimates or weight decay did to them in that step.
    """
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,  # torch refuses Nesterov without momentum
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: use one of {', '.join(map(repr, OPTIMIZERS))}")


def make_scheduler(optimizer, config: TrainConfig):
    """Per-epoch learning-rate schedule."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), config.gamma)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)
    raise ValueError(f"unknown schedule {config.schedule!r}: use 'cosine', 'multistep' or 'constant'")


def fit(
    objective: Objective,
    train: DeviceBatches,
    config: TrainConfig,
    val: DeviceBatches | None = None,
    *,
    checkpoint: str | Path | None = None,
    restore_best: bool = False,
    progress: bool | str = True,
    compile: bool | str = False,
    checkpoint_every: float | None = None,
    stop_after: int | None = None,
) -> History:
    """Train ``objective.model`` on ``train`` for ``config.epochs`` epochs; return the per-epoch history.

    Args:
        objective: the loss (see :mod:`kdcore.objectives`); its model must already be on ``train.device``.
        train: training batches; ``fit`` re-seeds their generator with ``config.seed``, so batch order and
            augmentation depend only on the seed.
        val: validation batches, evaluated after every epoch (never the test split).
        checkpoint: a file written atomically at the end of an epoch, at most every ``checkpoint_every``
            seconds. If it exists when ``fit`` starts and was written for the same config, training resumes
            after its last epoch, with the optimizer, schedule, RNG states and the objective's own buffers
            (e.g. the ICC teacher's class relations) restored, and ends exactly as an uninterrupted run would
            on CPU.
        checkpoint_every: seconds between checkpoints (default: ``KDCORE_CHECKPOINT_EVERY_S``, else 120).
            A checkpoint costs a full state dict written and fsynced (50–370 ms on this book's CPU, a large
            share of a fast GPU epoch), so short runs write none and long ones lose at most a few minutes.
            0 writes one after every epoch.
        stop_after: end after this many epochs of the schedule: an early-stopped run, whose learning rate
            follows the schedule of ``config.epochs`` up to the stop. With ``checkpoint``, the state at the
            stop is always written, so a later call for the whole schedule resumes from it (an early-stopped
            teacher and its full run share their first epochs; see :class:`kdcore.recipes.EarlyStopped`).
        restore_best: at the end, load the weights of the epoch with the best validation accuracy (model
            selection on validation, never on test).
        progress: show a tqdm bar over epochs (a string is used as its description).
        compile: run the objective through ``torch.compile``; a string is its ``mode``, e.g.
            ``"reduce-overhead"`` (CUDA graphs: one launch replays a step's kernels, for small networks whose
            steps are bound by the CPU launching them; benchmarks/README.md, "Where a step's time goes at batch 64").

    Under a cost ledger (:mod:`kdcore.cost`) the call is recorded, validation included (when planning, only
    one batch of its last epoch trains). Under torchrun (see the module docstring) ``train`` is sharded
    across ranks here, unless it already is.
    """
    if restore_best and val is None:  # every epoch would score nan, and the first would be kept
        raise ValueError("restore_best selects on validation: pass val")
    if len(train) == 0:  # drop_last with fewer examples than a batch: nothing would train
        raise ValueError(f"no training batches: {train.num_examples} examples, batches of {train.batch_size}")
    if train.batch_size != config.batch_size:  # the batches decide; a config that says otherwise would mislabel
        raise ValueError(  # the run (its cache key, the cost ledger): the device check's KD step once did
            f"train batches of {train.batch_size} but config.batch_size={config.batch_size}: make them agree "
            "(DeviceBatches(..., batch_size=config.batch_size))"
        )
    if isinstance(objective, Distiller):
        objective.check_cache(train)
    device = train.device
    model = objective.model
    params = list(objective.trainable_parameters())
    optimizer = make_optimizer(params, config)
    scheduler = make_scheduler(optimizer, config)
    masks = masked_parameters(model)
    history, best, start_epoch = History(), None, 0
    if dist.is_distributed() and train.world_size == 1:
        train.shard(dist.rank(), dist.world_size())
    if device.type == "cuda":
        # autotune convolutions for the fixed batch shapes, unless the user asked for deterministic kernels
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()

    train.generator.manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout and other global-RNG users
    if checkpoint_every is None:
        checkpoint_every = float(os.environ.get("KDCORE_CHECKPOINT_EVERY_S", "120"))
    last_checkpoint = time.monotonic()
    end = config.epochs if stop_after is None else min(stop_after, config.epochs)
    if checkpoint is not None and Path(checkpoint).exists():
        # on CPU: load_state_dict copies onto the model's device, and RNG states must be CPU tensors anyway
        state = load_checkpoint(checkpoint, map_location="cpu")
        if state.get("config") == config.to_dict() and state["epoch"] <= end:  # (not past an early stop)
            _restore(state, objective, optimizer, scheduler, train)
            history, best, start_epoch = History(state["history"]), state["best"], state["epoch"]
        else:
            warnings.warn(
                f"{checkpoint} was written for another config (or past the stop); starting from scratch", stacklevel=2
            )
    if (ledger := cost.active()) is not None:  # counts this run (planning: one batch of its last epoch)
        train, val, start_epoch = ledger.fit(objective, train, config, val, start_epoch, end, checkpoint)
    step = objective
    if dist.is_distributed():  # gradients averaged over ranks in backward; buffers synced once an epoch
        step = dist.wrap(objective)
    if compile:
        step = torch.compile(step, mode=compile if isinstance(compile, str) else None)

    description = progress if isinstance(progress, str) else None
    show = bool(progress) and dist.is_main()
    # leave=True: a finished bar stays, as the record of what trained and how long (with leave=False a
    # notebook hides it, and the saved page shows an empty gap where it was); a resumed run counts on from
    # its checkpoint (epochs 16 to 30 of 30 read 30/30, not 15/15)
    bar = tqdm(range(start_epoch, end), desc=description, disable=not show, leave=True, initial=start_epoch, total=end)
    for epoch in bar:
        started = time.perf_counter()
        row = {"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"]}
        row |= _train_epoch(step, objective, optimizer, train, masks)
        scheduler.step()
        dist.broadcast_buffers(model)
        row["val_acc"] = _evaluate(model, val).accuracy if val is not None else float("nan")
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        if restore_best and (best is None or row["val_acc"] > best["val_acc"]):
            best = {"val_acc": row["val_acc"], "epoch": row["epoch"], "model": _copy_state(model)}
        bar.set_postfix(loss=f"{row['loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
        due = time.monotonic() - last_checkpoint >= checkpoint_every or epoch + 1 == end  # the early stop
        due = due and epoch + 1 < config.epochs
        if checkpoint is not None and due and dist.is_main():
            last_checkpoint = time.monotonic()
            state = _state(objective, optimizer, scheduler, train)
            save_checkpoint(state | {"epoch": epoch + 1, "config": config.to_dict(), "history": list(history),
                                     "best": best}, checkpoint)  # fmt: skip
        dist.barrier()  # no rank runs ahead of (or exits before) rank 0's checkpoint
    bar.close()
    if restore_best and best is not None:
        model.load_state_dict(best["model"])
    return history


def _train_epoch(step, objective: Objective, optimizer, train: DeviceBatches, masks) -> dict:
    """One epoch of ``fit``: every batch stepped, masks kept; the epoch's mean of every loss term and its
    training accuracy over all ranks, summed on the device and read back in one host sync."""
    device = train.device
    objective.train()
    totals: dict[str, torch.Tensor] = {}
    correct = torch.zeros((), device=device)
    for batch in train:
        y = batch[1]
        with _autocast(device):
            logits, losses = step(*batch)  # (x, y) or (x, y, index)
            loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        enforce_masks(masks)
        n = len(y)
        for name, value in (("loss", loss), *losses.items()):
            totals[name] = totals.get(name, 0) + value.detach().float() * n
        correct += (logits.argmax(1) == y).sum()
    count = torch.tensor(float(train.num_examples), device=device)
    sums = dist.all_reduce_sum(torch.stack([*totals.values(), correct, count]))  # global sums
    *means, train_acc, _ = (sums / sums[-1]).tolist()  # the one host sync of the epoch
    return dict(zip(totals, means)) | {"train_acc": train_acc}


def _state(objective: Objective, optimizer, scheduler, train: DeviceBatches) -> dict:
    """What a checkpoint holds besides the epoch, config, history and best epoch (``fit`` adds those):
    everything a resumed run must continue from to end as an uninterrupted one would (see :func:`_restore`)."""
    device = train.device
    return {
        "model": objective.model.state_dict(),
        # state kept beside the model (ICCTeacher's moving class relations), not in its state dict
        "objective_buffers": dict(objective.named_buffers(recurse=False)),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "batches": train.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
    }


def _restore(state: dict, objective: Objective, optimizer, scheduler, train: DeviceBatches) -> None:
    """Load a checkpoint's :func:`_state` back: weights, optimizer, schedule, batch order, RNGs, buffers."""
    objective.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    train.load_state_dict(state["batches"])
    torch.set_rng_state(state["rng"].cpu())
    if train.device.type == "cuda" and state.get("cuda_rng") is not None:  # dropout on the GPU draws here
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), train.device)
    for name, value in state.get("objective_buffers", {}).items():
        objective.get_buffer(name).copy_(value)


def _copy_state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
