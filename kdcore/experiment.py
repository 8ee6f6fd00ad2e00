"""The glue every chapter uses: data on the device, training configs, teachers and student runs.

``bench = prepare(P)`` loads the dataset named by the parameters, holds out the validation split and puts
train / val / test batches on the device. ``teacher(bench)`` trains or loads the chapter's teacher through
the cache, and ``train_student(bench, …)`` trains one student for one seed and evaluates it. Chapters call
these in plain loops over seeds, so the experiment reads top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import cost
from .batches import DeviceBatches
from .data import ImageData, load_dataset
from .fit import History, TrainConfig, evaluate, fit, prepare_model
from .models import build_model
from .objectives import CrossEntropy, Distiller, Objective
from .params import ParameterError, Params
from .prune import (
    magnitude_scores,
    prue_prunable,
    prue_scores,
    prunable_parameters,
    prune_global,
    random_scores,
    snip_scores,
)
from .recipes import CRITERIA, Distilled, EarlyStopped, Plain, Pruned, Recipe, Retrained
from .seeding import STUDENT_SEEDINGS, derived_seed, pin_threads, resolve_device, seed_everything
from .splits import Split, Splits, holdout_split
from .teachers import cached_run, derive_or_load, describe, train_or_load

SPLIT_SEED = 0  # the validation split is the same in every chapter and for every experiment seed
RANDOM_SCORES = "random-scores"  # the seed stream random pruning draws from, named in its cache key too


@dataclass
class Bench:
    """Everything an experiment trains and evaluates on."""

    params: Params
    device: torch.device
    splits: Splits
    train: DeviceBatches
    val: DeviceBatches
    test: DeviceBatches
    resume_runs: bool = False  # cache finished student runs and resume killed ones (the paper profile)
    # torch.compile mode of every training run (fit's ``compile``; P.compile_mode): "reduce-overhead" (CUDA
    # graphs) ran the chapters' KD step 3.75x faster at batch 64 on an H200 (benchmarks/README.md)
    compile: bool | str = False

    @property
    def data(self) -> ImageData:
        return self.splits.data

    def labelled_subset(self, n: int | None) -> DeviceBatches:
        """Training batches over a fixed random subset of ``n`` training examples (a low-data regime): the
        same ``n`` examples in every chapter and run, whatever the seed (a cached student run knows its
        training data by the split and ``n`` alone).

        ``None`` (or ``n`` ≥ the training set) returns the full training batches.
        """
        if n is None or n >= len(self.splits.train):
            return self.train
        keep = torch.randperm(len(self.splits.train), generator=torch.Generator().manual_seed(0))[:n]
        keep = keep.sort().values
        subset = Split(self.splits.train.x[keep], self.splits.train.y[keep])
        t = self.train
        return self.batches(subset, t.batch_size, shuffle=True, crop_padding=t.crop_padding, hflip=t.hflip,
                            with_index=True)  # fmt: skip

    def unaugmented_train(self) -> DeviceBatches:
        """The training split as unaugmented batches, to evaluate a model on its own training data
        (:func:`kdcore.fit.evaluate` refuses random crops and flips); without augmentation, ``self.train``."""
        if not self.train.augments:
            return self.train
        return self.batches(self.splits.train, self.val.batch_size)

    def batches(self, split: Split, batch_size: int, **options) -> DeviceBatches:
        """Batches of ``split`` as the bench's own are made: its data's normalization, on its device, in its
        memory layout (channels_last for images on CUDA); ``options``: :class:`DeviceBatches`' others."""
        return DeviceBatches(split, self.data.mean, self.data.std, batch_size, device=self.device,
                             channels_last=self.train.channels_last, **options)  # fmt: skip

    def build(self, arch: str) -> nn.Module:
        """A fresh model of ``arch`` for these data, on the device (seed first for a reproducible init)."""
        data = self.data
        return prepare_model(build_model(arch, data.in_channels, data.num_classes, data.image_size), self.device)


def device_for(P: Params) -> torch.device:
    """``P.device`` resolved (``auto``: CUDA where it works); at the paper and gpu profiles the CPU is refused
    unless ``P.allow_cpu``, before hours go into a run that would take days."""
    device = resolve_device(P.device)
    profile = getattr(P, "profile", None)
    if profile in ("paper", "gpu") and device.type == "cpu" and not getattr(P, "allow_cpu", False):
        raise ParameterError(
            f"device={P.device!r} is not allowed at the {profile} profile: it resolved to the CPU, where a "
            f"{profile}-profile chapter takes hours to days (torch.cuda.is_available() is "
            f"{torch.cuda.is_available()}). If this machine has an NVIDIA GPU, its driver may be too old for this "
            f"torch build (CUDA {torch.version.cuda}: needs driver R580 or newer for CUDA 13; see nvidia-smi). "
            "Pass allow_cpu=True (papermill and kdcore-batch: -p allow_cpu True) to run on the CPU anyway."
        )
    return device


def prepare(P: Params) -> Bench:
    """Load ``P.dataset``, split off validation, and put the three splits on ``P.device`` as batches."""
    pin_threads()
    device = device_for(P)
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
    # At the paper profile a student trains for hours: each is checkpointed and, once done, cached, so a
    # re-run after a crash or pre-emption redoes nothing. Book runs take seconds and always train afresh.
    resume = getattr(P, "profile", None) == "paper"
    compile_mode = getattr(P, "compile_mode", None) or False  # eager unless a chapter's parameter asks
    return Bench(P, device, splits, train, val, test, resume_runs=resume, compile=compile_mode)


def train_config(
    P: Params, epochs: int, seed: int = 0, lr: float | None = None, weight_decay: float | None = None
) -> TrainConfig:
    """The chapter's optimizer and schedule for a run of ``epochs`` epochs (milestones are fractions)."""
    return TrainConfig(
        epochs=epochs,
        batch_size=P.batch_size,
        lr=P.lr if lr is None else lr,
        weight_decay=P.weight_decay if weight_decay is None else weight_decay,
        schedule=P.schedule,
        milestones=tuple(max(1, round(m * epochs)) for m in P.milestones),
        crop_padding=4 if P.augment else 0,
        hflip=P.augment,
        seed=seed,
    )


def default_teacher(P: Params, seed: int = 0) -> Plain:
    """The chapter's plain teacher recipe: ``P.teacher`` trained for ``P.teacher_epochs`` with the chapter's
    optimizer and schedule. Chapters share this recipe, so the teacher cache trains it once for the book."""
    return Plain(P.teacher, train_config(P, P.teacher_epochs, seed=seed), seed)


def unfriendly_teachers(P: Params, seed: int = 0) -> dict[str, Recipe]:
    """The over-confident teacher of the capacity-gap chapter and its two
    remedies (the head-to-head chapter reuses all three, so the cache trains
    each once):

    * ``"over-confident"``: ``P.confident_teacher`` trained for
      ``P.confident_epochs`` epochs with weight decay
      ``P.confident_weight_decay`` (otherwise the chapter's optimizer and
      schedule);
    * ``"early-stopped"``: that same run, stopped after ``P.stop_epoch`` epochs
      (Cho & Hariharan 2019);
    * ``"assistant"``: ``P.assistant`` distilled from it like a student
      (``P.student_epochs``, ``P.temperature``, ``P.w_ce``, ``P.w_kd``), to
      teach the student in its place (Mirzadeh et al. 2020).
    """
    wd = P.confident_weight_decay
    config = train_config(P, P.confident_epochs, seed=seed, weight_decay=wd)
    confident = Plain(P.confident_teacher, config, seed)
    assistant = Distilled(
        P.assistant,
        train_config(P, P.student_epochs, seed=seed),
        seed,
        teacher=confident,
        temperature=P.temperature,
        w_ce=P.w_ce,
        w_kd=P.w_kd,
    )
    return {
        "over-confident": confident,
        "early-stopped": EarlyStopped(confident, P.stop_epoch),
        "assistant": assistant,
    }


def teacher(bench: Bench, recipe: Recipe | None = None) -> tuple[nn.Module, dict]:
    """Any teacher recipe (:mod:`kdcore.recipes`), trained once and cached; pruned ones included.

    Returns ``(model, record)``: the model in eval mode on the bench's device, and a record with the cache
    ``key``, ``hash``, ``path``, training ``history`` and whether it was ``cached``. A pruned (or retrained)
    recipe first gets its base (or its previous round) through this same function, so every round is cached;
    a distilled recipe first gets its teacher; an early-stopped one shares its base's run.
    """
    recipe = recipe or default_teacher(bench.params)
    if isinstance(recipe, Pruned):
        return pruned_teacher(bench, recipe)
    if isinstance(recipe, Retrained):
        return retrained_teacher(bench, recipe)
    if isinstance(recipe, EarlyStopped):
        return trained_teacher(bench, recipe.base, stop_after=recipe.epoch)
    return trained_teacher(bench, recipe)


def trained_teacher(bench: Bench, recipe: Plain, stop_after: int | None = None) -> tuple[nn.Module, dict]:
    """:func:`teacher` for a trained recipe (distilled ones from their own teacher), stopped early or not."""
    classes, key, big = bench.data.num_classes, recipe.objective_key(), None
    if isinstance(recipe, Distilled):  # its teacher first (trained or loaded), named in the key by its hash
        big, big_record = teacher(bench, recipe.teacher)
        key = {**key, "teacher": big_record["hash"]}

    def objective(model: nn.Module) -> Objective:
        if big is None:
            return recipe.objective(model, classes)
        kd = recipe.objective(model, classes, big)
        if not bench.train.augments:
            kd.cache_teacher_logits(bench.train)  # exact without augmentation, as for students
        return kd

    return train_or_load(
        recipe.arch, bench.splits, recipe.train, bench.train, bench.val, objective=objective,
        objective_key=key, seed=recipe.seed, progress=f"teacher {recipe.arch}", stop_after=stop_after,
        compile=bench.compile,
    )  # fmt: skip


def retrained_teacher(bench: Bench, recipe: Retrained) -> tuple[nn.Module, dict]:
    """:func:`teacher` for an equal-budget control: its start retrained as a pruned teacher is, nothing pruned."""
    start, start_record = teacher(bench, recipe.previous_round() or recipe.base)
    key = {"from": start_record["hash"], "criterion": "none", "retrain": recipe.retrain.to_dict()}

    def retrain(model: nn.Module, partial: Path) -> list:
        return fit(
            CrossEntropy(model), bench.train, recipe.retrain, bench.val, checkpoint=partial, progress=False,
            compile=bench.compile,
        )  # fmt: skip

    return derive_or_load(start, key, retrain, f"{recipe.arch}-retrained-{recipe.rounds}")


def pruned_teacher(bench: Bench, recipe: Pruned) -> tuple[nn.Module, dict]:
    """:func:`teacher` for a pruning recipe: its start (the base, or IMP's
    previous round) from the cache, pruned by the recipe's criterion and
    retrained with its masks fixed, cached in turn."""
    start, start_record = teacher(bench, recipe.previous_round() or recipe.base)
    # the fraction this step prunes: all of it at once, or (IMP) `rate` of the
    # weights still alive; the masks in place keep the pruned ones at 0
    step = recipe.sparsity if recipe.rate is None else recipe.rate
    key = {
        "from": start_record["hash"],
        "criterion": recipe.criterion,
        "step": step,
        "scope": recipe.scope,
        "retrain": recipe.retrain.to_dict(),
    }
    if recipe.criterion == "random":  # the stream its scores are drawn from
        key["scores_seed"] = derived_seed(recipe.seed, RANDOM_SCORES)

    def prune_and_retrain(model: nn.Module, partial: Path) -> list:
        if recipe.scope == "prue":
            params = prue_prunable(model)
        else:
            params = prunable_parameters(model)
        criterion = recipe.criterion
        scores = pruning_scores(model, params, criterion, bench, recipe.seed)
        prune_global(params, scores, step)
        # a killed retraining resumes from `partial`: the pruning above is
        # redone, then fit restores the weights and masks (buffers) it saved
        return fit(
            CrossEntropy(model),
            bench.train,
            recipe.retrain,
            bench.val,
            checkpoint=partial,
            progress=False,
            compile=bench.compile,
        )

    name = f"{recipe.arch}-{recipe.criterion}-{round(100 * recipe.sparsity)}"
    return derive_or_load(start, key, prune_and_retrain, name)


def pruning_scores(
    model: nn.Module,
    params,
    criterion: str,
    bench: Bench,
    seed: int = 0,
) -> list[torch.Tensor]:
    """The scores a criterion prunes by (lowest first); ``snip`` and ``prue``
    score on the training split, ``random`` draws from ``seed``'s own stream.
    """
    if criterion not in CRITERIA:  # a typo would otherwise be scored as PrUE
        raise ValueError(f"criterion {criterion!r} is none of {CRITERIA}")
    if criterion == "magnitude":
        return magnitude_scores(params)
    if criterion == "random":
        # a stream of its own: the model's seed itself would replay the draws
        # of its initial weights, and "random" would keep the largest of them
        generator = torch.Generator(bench.device)
        generator.manual_seed(derived_seed(seed, RANDOM_SCORES))
        return random_scores(params, generator)
    # unshuffled batches over the training split, as PrUE's code scores on train
    batches = bench.batches(bench.splits.train, 512)
    if criterion == "snip":  # the code's SNIP: the model in train mode
        return snip_scores(model.train(), params, cost.scoring(model, batches))
    # PrUE: one pass for the mean teacher output μ, then one for the dispersion
    scoring = cost.scoring(model, batches, forward_passes=1)
    return prue_scores(model.eval(), params, scoring)


RUN_KEYS = ("seed", "teacher_seed", "val_acc", "test_acc", "val_curve")  # what StudentRun.record writes itself


@dataclass
class StudentRun:
    """One trained model: its validation and test accuracy (of the model training ended with, or with
    ``restore_best`` the best epoch's on validation, so ``val_acc`` is then the highest of its curve), its
    history and the model itself."""

    val_acc: float
    test_acc: float
    history: History = field(repr=False)
    model: nn.Module = field(repr=False)
    seed: int = 0

    def record(self, teacher_seed: int | None = None, **extra) -> dict:
        """What a results JSON keeps of this run: the seed, validation and test accuracy, and the validation
        curve, enough to redraw every table and figure, with ``extra`` measures (kept as given, ``None`` too).
        ``teacher_seed=None`` (the default) leaves the key out: a run without a teacher has no teacher seed
        (its absence makes it its own unit in :func:`kdcore.results.compare_runs`), not a made-up one."""
        if clash := sorted(extra.keys() & set(RUN_KEYS)):  # the run's own values: an extra would overwrite them
            raise ValueError(f"record() sets {clash} itself")
        teacher = {} if teacher_seed is None else {"teacher_seed": teacher_seed}
        return {"seed": self.seed, **teacher, **extra, "val_acc": self.val_acc, "test_acc": self.test_acc,
                "val_curve": self.history.column("val_acc")}  # fmt: skip


def train_student(
    bench: Bench,
    arch: str,
    objective: Callable[[nn.Module], Objective],
    seed: int,
    epochs: int | None = None,
    model: nn.Module | None = None,
    restore_best: bool = False,
    train: DeviceBatches | None = None,
    config: TrainConfig | None = None,
) -> StudentRun:
    """Train a fresh ``arch`` (or the given ``model``) with ``objective(model)`` for one seed.

    ``train`` replaces the bench's training batches (e.g. :meth:`Bench.labelled_subset`); ``config`` replaces
    the chapter's training config (:func:`train_config` with ``epochs`` or ``P.student_epochs``).

    Test accuracy is measured once, at the end, on the model that training (and, with ``restore_best``,
    selection on validation) produced; nothing is ever selected on test.
    """
    P = bench.params
    seed_everything(seed)
    model = model if model is not None else bench.build(arch)
    if config is None:
        config = train_config(P, P.student_epochs if epochs is None else epochs, seed=seed)
    # "is None", not "or": an empty subset (len 0) is falsy and would silently become the whole train split
    train = bench.train if train is None else train
    objective = objective(model)

    def train_it(checkpoint: Path | None = None) -> History:
        if isinstance(objective, Distiller) and not train.augments:
            objective.cache_teacher_logits(train)  # exact without augmentation, and much cheaper on CPU
        return fit(objective, train, config, bench.val, restore_best=restore_best, checkpoint=checkpoint,
                   progress=False, compile=bench.compile)  # fmt: skip

    if bench.resume_runs:  # the training data: the split, and the full train split or labelled_subset(n)
        key = {"arch": arch, "shapes": [list(p.shape) for p in model.state_dict().values()], "seed": seed,
               "split": bench.splits.key, "train_examples": train.num_examples,
               "train": config.to_dict(), "objective": describe(objective), "restore_best": restore_best}  # fmt: skip
        history, _ = cached_run(model, key, train_it, name=arch)
    else:
        history = train_it()
    return StudentRun(evaluate(model, bench.val).accuracy, evaluate(model, bench.test).accuracy, history, model, seed)


def student_seeds(seeds: Sequence[int], teacher_index: int, seeding: str = "per-teacher") -> list[int]:
    """The student seeds of the ``teacher_index``-th teacher seed. ``"per-teacher"`` (the book's design):
    ``seeds`` moved up by ``teacher_index · (max(seeds) + 1)``, so no two teachers' students share a seed (seeds
    0 … n−1 give teacher ``i`` the seeds ``i·n`` … ``i·n + n − 1``, and the first teacher ``seeds`` itself).
    ``"shared"``: ``seeds`` for every teacher. Either way every method's students of one teacher seed use the
    same ones, so methods still pair by teacher seed.

    Why it matters: with shared seeds each student initialisation and data order recurs under every teacher,
    so how a method fares with one of them is common to all teachers, and a test over teacher means takes it
    as fixed (chapter 9's confirming run, which shared them, found PrUE's lead on one of its two seeds only).
    Seeds of their own per teacher let the spread of the teacher means include it.

    The offset counts the teacher's place in the list, not its seed: within a run no seed recurs, but a run
    on teacher seeds 5 … 9 gives its students the seeds that teacher seeds 0 … 4 gave theirs in another run
    (new teachers, the same student starts). With ``seeds`` 0 … n−1, the no-teacher runs of chapters 2 and 9
    (seeds 0 … teachers·n − 1) take the seeds of all the blocks, which pairs them with the teachers' students
    block by block (:func:`kdcore.results.compare_seed_blocks`); other seeds, or shared ones, make no blocks."""
    if seeding not in STUDENT_SEEDINGS:
        raise ValueError(f"seeding must be one of {STUDENT_SEEDINGS}, not {seeding!r}")
    offset = teacher_index * (max(seeds) + 1) if seeding == "per-teacher" else 0
    return [offset + seed for seed in seeds]


def across_teacher_seeds(
    bench: Bench,
    recipes: Mapping[str, Recipe],
    teacher_seeds: Sequence[int],
    students: Callable[[nn.Module, int, list[int]], list[dict]],
    done: Mapping[str, list[dict]] | None = None,
    *,
    seeds: Sequence[int],
    seeding: str = "per-teacher",
) -> dict:
    """Every recipe from every teacher seed, and the students each teacher taught: what a verdict about a
    teacher *recipe* needs (one teacher per recipe only says how those two teachers taught).

    ``students(teacher, teacher_seed, student_seeds)`` trains the students of one teacher, one per student
    seed, and returns their records, each with ``teacher_seed=teacher_seed``, so that
    :func:`kdcore.results.compare_runs` averages them per teacher. The student seeds of the ``i``-th teacher
    seed are :func:`student_seeds` ``(seeds, i, seeding)``: every recipe's teachers of one seed teach the same
    ones, so recipes pair by teacher seed. ``done[name]`` holds records the chapter already has for
    ``recipes[name]`` at the recipe's own seed: they are reused where their student seeds are those.

    Returns ``{"runs": {name: records}, "teacher_test_acc": {name: [test accuracy, one per teacher seed]}}``.
    """
    done = done or {}
    found = {"runs": {name: [] for name in recipes}, "teacher_test_acc": {name: [] for name in recipes}}
    for index, seed in enumerate(teacher_seeds):
        taught_by = student_seeds(seeds, index, seeding)
        for name, recipe in recipes.items():
            model = teacher(bench, recipe.with_seed(seed))[0]
            found["teacher_test_acc"][name].append(evaluate(model, bench.test).accuracy)
            if seed == recipe.seed and name in done:
                if any(r.get("teacher_seed") != seed for r in done[name]):
                    raise ValueError(f"done[{name!r}]: every record needs teacher_seed={seed}, its recipe's seed")
                if {r.get("seed") for r in done[name]} == set(taught_by):
                    found["runs"][name] += done[name]
                    continue
            found["runs"][name] += students(model, seed, taught_by)
    return found
