"""The glue every chapter uses: data on the device, training configs, teachers and student runs.

``bench = prepare(P)`` loads the dataset named by the parameters, holds out the validation split and puts
train / val / test batches on the device. ``teacher(bench)`` trains or loads the chapter's teacher through
the cache, and ``train_student(bench, …)`` trains one student for one seed and evaluates it. Chapters call
these in plain loops over seeds, so the experiment reads top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .batches import DeviceBatches
from .data import ImageData, load_dataset
from .fit import History, TrainConfig, evaluate, fit, prepare_model
from .models import build_model
from .objectives import CrossEntropy, Distiller, Objective
from .params import Params
from .seeding import pin_threads, resolve_device, seed_everything
from .splits import Split, Splits, holdout_split
from .teachers import train_or_load

SPLIT_SEED = 0  # the validation split is the same in every chapter and for every experiment seed


@dataclass
class Bench:
    """Everything an experiment trains and evaluates on."""

    params: Params
    device: torch.device
    splits: Splits
    train: DeviceBatches
    val: DeviceBatches
    test: DeviceBatches

    @property
    def data(self) -> ImageData:
        return self.splits.data

    def labelled_subset(self, n: int | None, seed: int = 0) -> DeviceBatches:
        """Training batches over a fixed random subset of ``n`` training examples (a low-data regime).

        ``None`` (or ``n`` ≥ the training set) returns the full training batches.
        """
        if n is None or n >= len(self.splits.train):
            return self.train
        keep = torch.randperm(len(self.splits.train), generator=torch.Generator().manual_seed(seed))[:n]
        keep = keep.sort().values
        subset = Split(self.splits.train.x[keep], self.splits.train.y[keep])
        t = self.train
        return DeviceBatches(
            subset, self.data.mean, self.data.std, t.batch_size, shuffle=True, crop_padding=t.crop_padding,
            hflip=t.hflip, device=self.device, with_index=True, channels_last=self.device.type == "cuda",
        )  # fmt: skip

    def build(self, arch: str) -> nn.Module:
        """A fresh model of ``arch`` for these data, on the device (seed first for a reproducible init)."""
        data = self.data
        return prepare_model(build_model(arch, data.in_channels, data.num_classes, data.image_size), self.device)


def prepare(P: Params) -> Bench:
    """Load ``P.dataset``, split off validation, and put the three splits on ``P.device`` as batches."""
    pin_threads()
    device = resolve_device(P.device)
    data = load_dataset(P.dataset, P.data_dir)
    splits = holdout_split(data, P.val_fraction, seed=SPLIT_SEED, train_subset=P.train_subset)
    on_gpu = device.type == "cuda"
    common = {"device": device, "channels_last": on_gpu and data.image_size > 1}
    train = DeviceBatches(
        splits.train, data.mean, data.std, P.batch_size, shuffle=True,
        crop_padding=4 if P.augment else 0, hflip=P.augment, with_index=True, **common,
    )  # fmt: skip
    eval_batch = max(P.batch_size, 1024)
    val = DeviceBatches(splits.val, data.mean, data.std, eval_batch, **common)
    test = DeviceBatches(splits.test, data.mean, data.std, eval_batch, **common)
    return Bench(P, device, splits, train, val, test)


def train_config(P: Params, epochs: int, seed: int = 0, lr: float | None = None) -> TrainConfig:
    """The chapter's optimizer and schedule for a run of ``epochs`` epochs (milestones are fractions)."""
    return TrainConfig(
        epochs=epochs,
        batch_size=P.batch_size,
        lr=P.lr if lr is None else lr,
        weight_decay=P.weight_decay,
        schedule=P.schedule,
        milestones=tuple(max(1, round(m * epochs)) for m in P.milestones),
        crop_padding=4 if P.augment else 0,
        hflip=P.augment,
        seed=seed,
    )


def teacher(
    bench: Bench,
    arch: str | None = None,
    epochs: int | None = None,
    objective: Callable[[nn.Module], Objective] = CrossEntropy,
    objective_key: dict | None = None,
    seed: int = 0,
) -> tuple[nn.Module, dict]:
    """The chapter's teacher (``P.teacher`` for ``P.teacher_epochs`` by default), trained once and cached."""
    P = bench.params
    arch = arch or P.teacher
    config = train_config(P, epochs or P.teacher_epochs, seed=seed)
    return train_or_load(
        arch, bench.splits, config, bench.train, bench.val,
        objective=objective, objective_key=objective_key, seed=seed, progress=f"teacher {arch}",
    )  # fmt: skip


@dataclass
class StudentRun:
    """One trained model: its final validation and test accuracy, history and the model itself."""

    val_acc: float
    test_acc: float
    history: History = field(repr=False)
    model: nn.Module = field(repr=False)


def train_student(
    bench: Bench,
    arch: str,
    objective: Callable[[nn.Module], Objective],
    seed: int,
    epochs: int | None = None,
    model: nn.Module | None = None,
    restore_best: bool = False,
    train: DeviceBatches | None = None,
) -> StudentRun:
    """Train a fresh ``arch`` (or the given ``model``) with ``objective(model)`` for one seed.

    ``train`` replaces the bench's training batches (e.g. :meth:`Bench.labelled_subset`).

    Test accuracy is measured once, at the end, on the model that training (and, with ``restore_best``,
    selection on validation) produced; nothing is ever selected on test.
    """
    P = bench.params
    seed_everything(seed)
    model = model if model is not None else bench.build(arch)
    config = train_config(P, epochs or P.student_epochs, seed=seed)
    train = train or bench.train
    objective = objective(model)
    if isinstance(objective, Distiller) and not train.augments:
        objective.cache_teacher_logits(train)  # exact without augmentation, and much cheaper on CPU
    history = fit(objective, train, config, bench.val, restore_best=restore_best, progress=False)
    return StudentRun(evaluate(model, bench.val).accuracy, evaluate(model, bench.test).accuracy, history, model)
