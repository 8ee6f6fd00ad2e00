"""Every chapter's parameters, one :class:`~kdcore.params.ChapterSpec` each: default, check and help of each
parameter, the other profiles' overrides beside them, and the checks that involve several parameters.

* ``book`` (the defaults): what the published book shows (Fashion-MNIST, MLPs, ≤ 6 min a chapter on 2 CPU
  cores). Chapters share one teacher configuration, so the teacher cache trains it once.
* ``smoke``: seconds, for the tests. ``paper``: CIFAR-100 on a GPU, with the official code's recipe where a
  paper has code (PrUE, ch. 5; prune-then-distill, ch. 6; ch. 3 takes its IMP schedule) and RepDistiller's
  CIFAR-100 KD recipe (resnet32x4 → resnet8x4, 240 epochs) elsewhere. Both list only the values that differ
  from ``book``.

After editing a spec, run ``python scripts/sync_parameters.py``: it regenerates the notebooks' parameters cells.
A chapter's notebook names its spec by its ``from_namespace("<key>", …)`` call: :func:`chapter_key` reads it,
:func:`chapter_notebooks` lists a book's chapters in order, :func:`find_notebooks` resolves names to them.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import params as check
from .data import DATASETS, NUM_CLASSES
from .params import ChapterSpec, Param, ParameterError
from .seeding import STUDENT_SEEDINGS

# --- checks of several parameters at once: values -> None, or the whole message -------------------------


def data_dir_holds_dataset(v: dict) -> str | None:
    if v["dataset"] == "fashion_mnist" and v["data_dir"]:
        from .data import fashion_mnist_dir

        if fashion_mnist_dir(v["data_dir"]) != Path(v["data_dir"]):
            return (
                f"data_dir={v['data_dir']!r} is not allowed: must be a directory holding the Fashion-MNIST IDX "
                "files (train-images-idx3-ubyte[.gz], …)"
            )
    return None


def teacher_file_fits(v: dict) -> str | None:
    if not v.get("teacher_path"):
        return None
    from .checkpoint import load_checkpoint

    saved = load_checkpoint(v["teacher_path"])  # weights_only: a tampered file is refused here
    key = saved.get("key") if isinstance(saved, dict) else None
    classes = key.get("model", {}).get("num_classes") if isinstance(key, dict) else None
    start = f"teacher_path={v['teacher_path']!r} is not allowed: "
    if classes is None:
        return start + "must be a teacher file written by kdcore.teachers (this file has no teacher description)"
    if classes != NUM_CLASSES[v["dataset"]]:
        return start + (
            f"its teacher has {classes} classes but the student, on dataset={v['dataset']!r}, has "
            f"{NUM_CLASSES[v['dataset']]}; must be a teacher file (kdcore.teachers) for a dataset with the same classes"
        )
    return None


def chain_teacher(why: str):
    def check(v: dict) -> str | None:
        if not v["teacher"].startswith(("mlp-", "vgg")):
            return f"teacher={v['teacher']!r} is not allowed: must be an MLP (mlp-W1-W2-…) or a VGG (vgg8…vgg19): {why}"
        return None

    return check


def kr_similar_needs_mlp(v: dict, teacher: str = "teacher") -> str | None:
    if v["kr_unit_order"] == "similar" and not v[teacher].startswith("mlp"):
        return (
            f"kr_unit_order='similar' is not allowed with {teacher}={v[teacher]!r}: must be 'index' unless the "
            "teacher is an MLP (mlp-…), whose hidden units can be reordered"
        )
    return None


def stop_before_the_end(v: dict) -> str | None:
    if v["stop_epoch"] >= v["confident_epochs"]:
        return (
            f"stop_epoch={v['stop_epoch']!r} is not allowed: must be below confident_epochs="
            f"{v['confident_epochs']!r} (the early-stopped teacher is that run stopped early)"
        )
    return None


def tsd_k_at_most_classes(v: dict) -> str | None:
    if v["tsd_k"] > NUM_CLASSES[v["dataset"]]:
        return (
            f"tsd_k={v['tsd_k']!r} is not allowed: must be at most the number of classes "
            f"({NUM_CLASSES[v['dataset']]} for dataset={v['dataset']!r})"
        )
    return None


def ce_weight_per_generation(v: dict) -> str | None:
    if len(v["ce_weights"]) not in (1, v["generations"]):
        return (
            f"ce_weights={v['ce_weights']!r} is not allowed: must be one CE weight or one per generation "
            f"(generations={v['generations']})"
        )
    return None


def sparsity_is_one_of_sparsities(v: dict) -> str | None:
    if v["sparsity"] not in v["sparsities"]:
        return f"sparsity={v['sparsity']!r} is not allowed: must be one of sparsities={v['sparsities']!r}"
    return None


def imp_reaches_every_sparsity(v: dict) -> str | None:
    from .prune import imp_rounds

    if any(imp_rounds(s, v["imp_rate"]) < 1 for s in v["sparsities"]):
        return (
            f"sparsities={v['sparsities']!r} is not allowed: each needs at least one IMP round "
            f"at imp_rate={v['imp_rate']!r}"
        )
    return None


def _etas(v) -> str | None:
    ok = isinstance(v, (list, tuple)) and 1.0 in v and check.list_of(check.number(0, 1, True, False), "")(v) is None
    return None if ok else "a list of η in (0, 1] that includes 1.0 (the strict teacher)"


def _without_teacher(values: dict, *also: str) -> dict:
    return {k: v for k, v in values.items() if k not in ("teacher", *also)}


def _seed_list(v) -> str | None:
    return None if isinstance(v, list) and check.seeds(v) is None else "a non-empty list of distinct seeds ≥ 0"


def _lineage_seeds(v) -> str | None:
    """Lineage seeds as :data:`SEEDS` takes them, each below 1000: generation g of lineage s takes seed
    s + 1000·g (:func:`kdcore.generations.generation_seed`), so lineage 1000 would be lineage 0's student."""
    problem = check.seeds(v)
    if problem:
        return problem
    top = v - 1 if isinstance(v, int) else max(v)  # a count n means seeds 0 … n − 1
    return None if top < 1000 else "seeds below 1000 (generation g adds 1000·g to a seed)"


def _chapter(name: str, params: dict, smoke: dict, paper: dict, *checks, gpu: dict | None = None) -> ChapterSpec:
    return ChapterSpec(name, params, smoke, paper, (data_dir_holds_dataset, teacher_file_fits, *checks), gpu)


COUNT, WEIGHT, FRACTION = check.int_at_least(1), check.number(0), check.number(0, 1)
POSITIVE = check.number(0, low_open=True)
SPARSITIES = check.list_of(FRACTION, "sparsities in [0, 1)")
MILESTONES = check.list_of(check.number(0, 1, True), "fractions of the epochs in (0, 1)", empty=True)

# fmt: off
# The book's shared setup: the same data split and teacher recipe in every chapter (one cached teacher).
BOOK_COMMON = {
    "dataset": Param("fashion_mnist", check.one_of(*DATASETS), ", ".join(DATASETS)),
    "data_dir": Param(None, check.existing_dir, "a directory with the dataset's files (else Debian's, else download)",
                      "str"),
    "device": Param("auto", check.device, "auto, cpu, cuda, cuda:N or mps"),
    "val_fraction": Param(0.1, check.number(0, 1, True), "fraction of train held out for validation"),
    "train_subset": Param(None, check.optional_count, "use only this many training examples (None: all)", "int"),
    "teacher": Param("mlp-512-512", check.architecture, "teacher architecture, e.g. mlp-512-512, resnet32x4"),
    "teacher_epochs": Param(15, COUNT, "epochs of the teacher"),
    "batch_size": Param(256, COUNT, "minibatch size"),
    "lr": Param(0.05, POSITIVE, "learning rate"),
    "weight_decay": Param(5e-4, WEIGHT, "weight decay"),
    "schedule": Param("cosine", check.one_of("cosine", "multistep", "constant"), "cosine, multistep or constant"),
    "milestones": Param([0.5, 0.75], MILESTONES, "multistep: when the learning rate drops, as fractions of the epochs"),
    "augment": Param(False, check.boolean, "random crops and flips of the training images (paper and gpu profiles)"),
    "output_dir": Param("results", check.output_dir, "where the results JSON goes"),
    "widgets": Param(True, check.boolean, "interactive sliders (False: static figures); KDCORE_WIDGETS 0/1 sets it"),
    "allow_cpu": Param(False, check.boolean, "let the paper or gpu profile run without a GPU (slowly: days for paper)"),
    "compile_mode": Param(None, check.one_of(None, "default", "reduce-overhead", "max-autotune"),
                          "torch.compile mode of training runs, e.g. reduce-overhead (CUDA graphs); None: eager",
                          "str"),
}
SEEDS = Param(5, check.seeds, "number of seeds (0, 1, …) or a list of seeds")
# beside every `teacher_seeds`: kdcore.experiment.student_seeds says why seeds of their own are the default
STUDENT_SEEDING = Param(STUDENT_SEEDINGS[0], check.one_of(*STUDENT_SEEDINGS),
                        "per-teacher: each teacher seed's students take seeds of their own; shared: all take `seeds`")
TEACHER_PATH = Param(None, check.existing_file, "a teacher file from kdcore's cache to use instead of training one",
                     "str")
STUDENT = Param("mlp-32", check.architecture, "student architecture, e.g. mlp-32, resnet8x4")
STUDENT_LABELS = Param(5000, check.optional_count,
                       "labelled examples the students train on (all where a profile says None)", "int")  # fmt: skip
LOW_DATA = Param(5000, COUNT, "training-set size of the low-data regime (the teacher still sees all of train)")
SPARSITY = Param(0.79, FRACTION, "sparsity of every pruned teacher (one-shot magnitude, PrUE, IMP)")
IMP_RATE = Param(0.2, check.number(0, 1, True), "fraction of the remaining weights each IMP round removes")
RETRAIN_EPOCHS = Param(2, COUNT, "retraining epochs after each pruning step (IMP: every round)")
TSD_K = Param(3, check.int_at_least(2), "K: the primary class plus K−1 secondary classes of the TSD term")
KR_ORDER = Param("similar", check.one_of("similar", "index"), "similar (merge similar units; MLP teachers) or index")
# Chapter 1's student and KD settings. Chapters 7 and 9 build on chapter 1's result with both, chapter 8 uses
# its KD settings; one copy keeps them in step.
KD_STUDENT = {"student": STUDENT, "student_epochs": Param(15, COUNT, "epochs of each student")}
KD_SETTINGS = {"temperature": Param(4.0, POSITIVE, "KD temperature T"),
               "w_ce": Param(0.1, WEIGHT, "weight of the cross-entropy term"),
               "w_kd": Param(0.9, WEIGHT, "weight of the KD term")}
T, W_CE, W_KD = KD_SETTINGS.values()
# Chapter 2's unfriendly regime: an over-confident teacher and its two remedies, one recipe each
# (kdcore.experiment.unfriendly_teachers); chapter 9 starts every teacher-side method from that teacher.
UNFRIENDLY = {
    "teacher_seeds": Param([0, 1, 2], _seed_list, "the teachers' seeds: every teacher recipe is trained from each"),
    "student_seeding": STUDENT_SEEDING,
    "confident_teacher": Param("mlp-512-512", check.architecture, "the over-confident teacher's architecture"),
    "confident_epochs": Param(30, COUNT, "epochs of the over-confident teacher"),
    "confident_weight_decay": Param(0.0, WEIGHT, "weight decay of the over-confident teacher (0: none)"),
    "stop_epoch": Param(15, COUNT, "the early-stopped teacher: the over-confident run stopped after this epoch"),
    "assistant": Param("mlp-128", check.architecture, "the teacher assistant, distilled from the over-confident one"),
}
SMOKE_UNFRIENDLY = {"teacher_seeds": [0, 1], "confident_teacher": "mlp-64", "confident_epochs": 2, "stop_epoch": 1,
                    "assistant": "mlp-48"}
# CIFAR-100: RepDistiller's resnet32x4 (240 epochs, wd 5e-4) already fits its training set, the paper-scale
# over-confident teacher; stopped before its first lr drop (epoch 150); a wrn-40-2 assistant (2.2 M weights,
# between resnet8x4's 1.2 M and resnet32x4's 7.4 M)
PAPER_UNFRIENDLY = {"confident_teacher": "resnet32x4", "confident_epochs": 240, "confident_weight_decay": 5e-4,
                    "stop_epoch": 150, "assistant": "wrn-40-2"}
# "ordinary": no fix but a reference, KD from a teacher trained like chapter 1's (what a friendlier teacher should
# reach); the other eight are the book's teacher-side methods
COMPARED = ("ordinary", "tolerant", "magnitude", "prue", "imp", "icc", "kr", "early-stopped", "assistant")
# The methods' own book settings that the head-to-head chapter (9) reuses.
ICC_TEACHER = {"icc_beta": Param(1.0, WEIGHT, "teacher: weight β of the class-consistency (ICC) regularizer"),
               "icc_momentum": Param(0.9, FRACTION, "teacher: moving-average momentum of its class relations")}
KR_PRIOR = {"kr_beta": Param(0.3, WEIGHT, "β, the weight of the prior (a weight-decay-like rate toward the teacher)"),
            "kr_recode": Param("topk", check.one_of("topk", "soft", "none"),
                               "recoding of the prior gradient: topk, soft, none"),
            "kr_rho": Param(0.1, check.number(0, 1, high_open=False), "topk: fraction ρ of the prior gradient kept"),
            "kr_matching": Param("chain", check.one_of("chain", "depth"),
                                 "two MLPs of different depths: chain (from the input) or depth (relative depth)")}

SMOKE_COMMON = {"teacher": "mlp-64", "teacher_epochs": 1, "train_subset": 3000, "seeds": 2,
                "output_dir": "results/smoke"}  # never overwrite the book's committed results
# RepDistiller's CIFAR-100 recipe (240 epochs, batch 64, lr 0.05, ×0.1 at 150/180/210, wd 5e-4).
PAPER_COMMON = {"dataset": "cifar100", "teacher": "resnet32x4", "teacher_epochs": 240, "batch_size": 64, "lr": 0.05,
                "weight_decay": 5e-4, "schedule": "multistep", "milestones": [0.625, 0.75, 0.875], "augment": True,
                "seeds": 3, "widgets": False, "output_dir": "results/paper"}

# The `gpu` profile: the book's Fashion-MNIST with what the papers' claims are about (CIFAR-style ResNets with
# BatchNorm, crop-and-flip augmentation), on one GPU with kdcore's fast path, in minutes. Sized from the first
# H200 run (scripts/gpu_check.py, 2026-11-26; book/gpu_measurements.md). 15,000 training images: an epoch is
# 30 steps of 512. The teachers are resnet8x4 (1.2 M weights, 15x resnet8's), not resnet56: at lr 0.2
# resnet56 did not start learning within 120 steps (14 % training accuracy on the CPU, fp32; on the H200 a
# 6-epoch resnet56 teacher reached 61 % test accuracy), while resnet8x4 reached 76 % in 90 steps
# (benchmarks/first_steps.py); and on CIFAR shapes resnet8x4 trained 2.6x faster than resnet32x4 at batch 64
# (H200), where resnet56 was the slowest network of the gpu plan (23k images/s). gpu_check.py times every
# network of the plan before it runs the chapters and scales their epochs by one recorded factor if they do
# not fit the time it has.
GPU_COMMON = {"teacher": "resnet8x4", "teacher_epochs": 18, "train_subset": 15000, "batch_size": 512, "lr": 0.2,
              "weight_decay": 5e-4, "schedule": "cosine", "augment": True, "seeds": 3, "widgets": False,
              "output_dir": "results/gpu"}
# The over-confident regime at CNN scale: resnet8x4 trained 96 epochs without weight decay (chapter 1's teacher:
# 18), the shortest of 24/48/96/192 that passed chapter 2's rule on the validation split (ECE 3.2 % against 1.0 %,
# top prob 0.956; benchmarks/confident_teacher.py, H200, 2026-11-27), stopped halfway for the early-stopped
# teacher; a resnet20 assistant (0.27 M weights, between resnet8's 0.08 M and resnet8x4's 1.2 M). One student
# per teacher: the intervals are over the 3 teachers, and student runs are much of the cost (chapter 9 trains
# 33 per regime).
GPU_UNFRIENDLY = {"confident_teacher": "resnet8x4", "confident_epochs": 96, "confident_weight_decay": 0.0,
                  "stop_epoch": 48, "assistant": "resnet20", "seeds": 1, "student": "resnet8", "student_epochs": 12}

CHAPTERS: dict[str, ChapterSpec] = {spec.name: spec for spec in (
    _chapter("kd_basics",
        {**BOOK_COMMON, "seeds": SEEDS, **KD_STUDENT, "low_data": LOW_DATA, **KD_SETTINGS,
         "teacher_path": TEACHER_PATH},
        {**SMOKE_COMMON, "student_epochs": 1, "low_data": 500},
        {**PAPER_COMMON, "student": "resnet8x4", "student_epochs": 240, "low_data": 10000},
        gpu={**GPU_COMMON, "student": "resnet8", "student_epochs": 12}),
    # a fixed small student (chapter 1's, with its KD settings) on all labels; teachers of growing capacity and
    # training, the over-confident one's two classic remedies; `teacher` is chapter 1's (shown, not distilled)
    _chapter("capacity_gap", {
        **BOOK_COMMON, "seeds": SEEDS.but(default=2, help="student seeds per teacher (0, 1, …) or a list of seeds"),
        **KD_STUDENT, "student_labels": STUDENT_LABELS.but(default=None), **KD_SETTINGS,
        "small_teacher": Param("mlp-64", check.architecture, "the small teacher (trained like `teacher`)"),
        **UNFRIENDLY},
        {**SMOKE_COMMON, **SMOKE_UNFRIENDLY, "student_epochs": 1, "small_teacher": "mlp-16"},
        {**PAPER_COMMON, **PAPER_UNFRIENDLY, "seeds": 2, "student": "resnet8x4", "student_epochs": 240,
         "small_teacher": "resnet8x4"},
        stop_before_the_end,
        gpu={**GPU_COMMON, **GPU_UNFRIENDLY, "small_teacher": "resnet14"}),
    _chapter("pruning", {
        **BOOK_COMMON,
        "seeds": SEEDS.but(default=3, help="number of seeds (0, 1, …) or a list, for the retraining comparisons"),
        "sparsities": Param([0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99], SPARSITIES,
                            "sparsities of the one-shot sweep without retraining (IMP's rounds are added)"),
        "exclude_output": Param(False, check.boolean, "keep the output layer dense (default: prune it too)"),
        "imp_rate": IMP_RATE.but(default=0.5),
        "imp_targets": Param([0.875, 0.97], check.list_of(FRACTION, "target sparsities in [0, 1)"),
                             "target sparsities at which IMP and one-shot pruning are compared"),
        "retrain_epochs": RETRAIN_EPOCHS.but(default=1, help="retraining epochs per IMP round (one-shot: rounds ×)"),
        "unit_fractions": Param([0.25, 0.5, 0.75, 0.9], check.list_of(FRACTION, "fractions of units in [0, 1)"),
                                "fractions of hidden units (or channels) removed by structured pruning")},
        {**SMOKE_COMMON, "sparsities": [0.0, 0.5, 0.9], "imp_targets": [0.5, 0.75], "unit_fractions": [0.5]},
        # prune-then-distill's IMP schedule (its VGG-19 layout, 20 % a round, compared at 4 and 7 rounds, 130
        # retraining epochs a round), trained and retrained with RepDistiller's CIFAR-100 recipe (PAPER_COMMON:
        # lr 0.05, batch 64, ×0.1 at 62.5/75/87.5 % of the epochs), not prune-then-distill's own (lr 0.1, ×0.1 at
        # retraining epochs 39 and 84, wd 2e-4; chapter 6's paper profile has that one)
        {**PAPER_COMMON, "teacher": "vgg19",
         "sparsities": [0.0, 0.2, 0.36, 0.49, 0.59, 0.67, 0.74, 0.79, 0.83, 0.87, 0.9, 0.95, 0.98],
         "imp_rate": 0.2, "imp_targets": [0.59, 0.79], "retrain_epochs": 130, "unit_fractions": [0.25, 0.5, 0.75]},
        chain_teacher("structured pruning removes whole units of a chain of layers")),
    _chapter("prue", {
        **BOOK_COMMON, "seeds": SEEDS,
        "sparsities": Param([0.9, 0.98], SPARSITIES, "fractions of the prunable weights removed"),
        "retrain_epochs": RETRAIN_EPOCHS.but(default=3, help="epochs of retraining each pruned teacher, masks fixed"),
        "label_smoothing": Param(0.2, FRACTION, "ε of the label-smoothing teacher (the PrUE code's contrast)"),
        "teacher_seeds": UNFRIENDLY["teacher_seeds"].but(
            help="seeds of the dense, label-smoothing and sparsest PrUE teachers compared as recipes"),
        "student_seeding": STUDENT_SEEDING,
        "student": STUDENT,
        "student_epochs": KD_STUDENT["student_epochs"].but(default=40),
        "student_labels": STUDENT_LABELS.but(default=1000),
        "temperature": T, "w_ce": W_CE.but(default=0.9), "w_kd": W_KD.but(default=0.1)},
        {**SMOKE_COMMON, "sparsities": [0.5], "retrain_epochs": 1, "student_epochs": 1, "student_labels": 500,
         "teacher_seeds": [0, 1]},
        # the official code's CIFAR setting: resnet20 → resnet8, SGD lr 0.1, batch 512, ×0.1 at epochs 81 and 122
        # of 164 (the code's `epochs = 2` is a debug leftover), conv weights only, full retraining
        {**PAPER_COMMON, "teacher": "resnet20", "teacher_epochs": 164, "batch_size": 512, "lr": 0.1,
         "milestones": [0.494, 0.744], "sparsities": [0.5, 0.8], "retrain_epochs": 164, "student": "resnet8",
         "student_epochs": 164, "student_labels": None}),
    _chapter("icc", {
        **BOOK_COMMON, "seeds": SEEDS,
        "full_data_seeds": Param(3, check.int_at_least(0), "how many seeds also run the full-data regime (0: none)"),
        **KD_STUDENT, "low_data": LOW_DATA, **KD_SETTINGS, **ICC_TEACHER,
        "teacher_seeds": UNFRIENDLY["teacher_seeds"].but(
            help="seeds of the plain and ICC teachers whose low-label KD students compare the recipes"),
        "student_seeding": STUDENT_SEEDING,
        "icc_gamma": Param(1.0, WEIGHT, "student: weight γ of ICC matching in the main comparison"),
        "icc_gammas": Param([1.0, 3.0, 10.0], check.list_of(WEIGHT, "ICC matching weights ≥ 0", empty=True),
                            "the γ values of the sensitivity sweep (low-data regime, plain teacher); [] skips it")},
        {**SMOKE_COMMON, "full_data_seeds": 2, "student_epochs": 1, "low_data": 500, "icc_gammas": [3.0],
         "teacher_seeds": [0, 1]},
        # CIFAR-100, RepDistiller's resnet32x4 → resnet8x4; 100 classes in batches of 64: keep the momentum
        {**PAPER_COMMON, "full_data_seeds": 3, "student": "resnet8x4", "student_epochs": 240, "low_data": 10000,
         "icc_momentum": 0.99,
         "icc_gammas": []}),  # the γ sweep costs len(icc_gammas) × seeds student runs: skipped here
    _chapter("prune_then_distill", {
        **BOOK_COMMON, "seeds": SEEDS,
        "teacher": BOOK_COMMON["teacher"].but(help="teacher architecture: an MLP (mlp-W1-W2-…) or a VGG (vgg8…vgg19)"),
        "gamma": Param(0.1, check.number(0, 1, True, False),
                       "multistep: factor of each lr drop, teachers and students (retraining: 0.1)"),
        "nesterov": Param(False, check.boolean, "Nesterov momentum in every SGD run, retraining included"),
        "sparsities": Param([0.36, 0.59, 0.79], SPARSITIES, "the pruned teachers' sparsities (nominal, as IMP allows)"),
        "sparsity": SPARSITY.but(help="the pruned teacher the derived student comes from (one of sparsities)"),
        "teacher_seeds": UNFRIENDLY["teacher_seeds"].but(
            help="seeds of the dense and the `sparsity` pruned teachers whose fixed students compare the recipes"),
        "student_seeding": STUDENT_SEEDING,
        "imp_rate": IMP_RATE,
        "retrain_epochs": RETRAIN_EPOCHS.but(help="epochs of retraining after each IMP round (schedule restarted)"),
        "retrain_lr": Param(0.05, POSITIVE, "learning rate the retraining restarts from (learning-rate rewinding)"),
        "retrain_weight_decay": Param(5e-4, WEIGHT, "weight decay of the retraining"),
        "retrain_milestones": Param([0.5, 0.75], MILESTONES, "multistep: as fractions of retrain_epochs"),
        "student": STUDENT.but(help="the fixed small student, e.g. mlp-32, vgg11"),
        "student_epochs": KD_STUDENT["student_epochs"], "student_labels": STUDENT_LABELS,
        "temperature": T.but(default=10.0),
        "w_ce": W_CE.but(default=0.05, help="weight of the cross-entropy term (1 − α in the paper)"),
        "w_kd": W_KD.but(default=0.95, help="weight of the KD term (α in the paper)")},
        {**SMOKE_COMMON, "sparsities": [0.2, 0.36], "sparsity": 0.36, "retrain_epochs": 1, "student_epochs": 1,
         "student_labels": 500, "teacher_seeds": [0, 1]},
        # the official CIFAR-100 setting: VGG-19 teacher (200 epochs, lr 0.1, ×0.2 at 60/120/160, batch 128),
        # IMP 20 % a round with 130-epoch retraining (lr 0.1, ×0.1 at 39 and 84, wd 2e-4), KD α = 0.95, T = 10
        # for 200 epochs (×0.2 at 60/120/160) into VGG-11 and into the student derived from the 79 % teacher
        # (vgg19-rwd-st79); SGD with Nesterov momentum throughout
        {**PAPER_COMMON, "teacher": "vgg19", "teacher_epochs": 200, "batch_size": 128, "lr": 0.1,
         "milestones": [0.3, 0.6, 0.8], "gamma": 0.2, "nesterov": True, "sparsities": [0.36, 0.59, 0.79],
         "sparsity": 0.79, "imp_rate": 0.2,
         "retrain_epochs": 130, "retrain_lr": 0.1, "retrain_weight_decay": 2e-4, "retrain_milestones": [0.3, 0.646],
         "student": "vgg11", "student_epochs": 200, "student_labels": None, "temperature": 10.0, "w_ce": 0.05,
         "w_kd": 0.95},
        chain_teacher("the student is derived from the pruned teacher's layer widths (kdcore.prune.student_plan)"),
        sparsity_is_one_of_sparsities, imp_reaches_every_sparsity),
    _chapter("kr", {
        **BOOK_COMMON, "seeds": SEEDS,
        "teacher_seeds": UNFRIENDLY["teacher_seeds"].but(
            help="seeds of the teachers whose main students compare KD+KR with KD as recipes"),
        "student_seeding": STUDENT_SEEDING,
        "student": STUDENT.but(default="mlp-128-128", help="the main student, e.g. mlp-128-128, resnet8x4"),
        "low_capacity_student": Param("mlp-32-32", check.architecture, "a smaller student, e.g. mlp-32-32, resnet32"),
        "student_epochs": KD_STUDENT["student_epochs"].but(default=6),
        **KD_SETTINGS, **KR_PRIOR,
        "kr_tau": Param(1.0, WEIGHT, "soft: threshold λ, τ times the mean |g| of each layer's prior gradient"),
        "kr_unit_order": KR_ORDER},
        {**SMOKE_COMMON, "student": "mlp-32-32", "low_capacity_student": "mlp-8-8", "student_epochs": 1,
         "teacher_seeds": [0, 1]},
        # RepDistiller's resnet32x4 → resnet8x4 (different depths: relative-depth matching within 3×3 convs, 1×1
        # shortcuts, fc) and, as the low-capacity student, resnet32 (same depth, a quarter of the width);
        # ResNets' residual channels cannot be reordered unit by unit, so the teacher's units pool in stored order
        {**PAPER_COMMON, "student": "resnet8x4", "low_capacity_student": "resnet32", "student_epochs": 240,
         "kr_unit_order": "index"},
        kr_similar_needs_mlp),
    # one architecture for the patriarch and every generation (`network`): the shared teacher is not used
    _chapter("tolerant", {
        **_without_teacher(BOOK_COMMON),
        "seeds": SEEDS.but(default=3, check=_lineage_seeds,
                           help="number of lineages (seeds 0, 1, …) or a list of seeds below 1000"),
        "network": Param("mlp-128-128", check.architecture, "the architecture of the patriarch and every generation"),
        "teacher_epochs": BOOK_COMMON["teacher_epochs"].but(default=6, help="epochs of the patriarch (generation 0)"),
        "student_epochs": Param(6, COUNT, "epochs of every later generation"),
        "generations": Param(3, COUNT, "number of students G after the patriarch"),
        "etas": Param([1.0, 0.55, 0.45], _etas, "CE weights η of the patriarchs; 1.0 is the strict teacher"),
        "tsd_k": TSD_K,
        "tsd_space": Param("prob", check.one_of("prob", "logit"), "prob or logit: the scores whose gap TSD narrows"),
        "tsd_primary": Param("gt", check.one_of("gt", "argmax"), "gt (the true class) or argmax (the top class)"),
        "ce_weights": Param([0.2, 0.5, 0.8],
                            check.list_of(check.number(0, 1, high_open=False), "CE weights in [0, 1]"),
                            "λ_g, the CE weight of generation g (one value, or one per generation); KD gets 1 − λ_g"),
        "temperature": T.but(default=1.0, help="KD temperature T of the generations")},
        {**_without_teacher(SMOKE_COMMON), "network": "mlp-32", "teacher_epochs": 1, "student_epochs": 1,
         "generations": 2, "ce_weights": [0.5]},
        # CIFAR-100, a CIFAR ResNet in every generation; K = 5 for 100 classes is our choice (the research
        # notes recall ResNets, DenseNets and K = 5 from the paper, unverified); with probabilities and K = 5
        # the TSD term acts only for eta < 5/9
        {**_without_teacher(PAPER_COMMON), "network": "resnet20", "teacher_epochs": 240, "student_epochs": 240,
         "etas": [1.0, 0.5, 0.45], "tsd_k": 5},
        ce_weight_per_generation, tsd_k_at_most_classes),
    # one protocol for every teacher-side method; each method's values come from its chapter's book profile
    # two regimes: all labels under chapter 2's over-confident teacher (the base every teacher-side method starts
    # from or is trained like), and `student_labels` labels under the same teachers
    _chapter("comparison", {
        **BOOK_COMMON,  # `teacher` and `teacher_epochs`: the ordinary teacher, chapter 1's recipe
        "teacher": BOOK_COMMON["teacher"].but(help="the ordinary teacher's architecture (chapter 1's recipe)"),
        "teacher_epochs": BOOK_COMMON["teacher_epochs"].but(help="epochs of the ordinary teacher"),
        "seeds": SEEDS.but(default=2, help="student seeds per teacher (0, 1, …) or a list of seeds"), **KD_STUDENT,
        "student_labels": STUDENT_LABELS.but(help="labelled examples of the low-label regime (the other has all)"),
        **KD_SETTINGS, **UNFRIENDLY,
        # the book profile leaves out the two teachers trained from scratch (tolerant, ICC) and one-shot
        # magnitude pruning, for time (10 min); the other profiles run every method
        "methods": Param(["ordinary", "prue", "imp", "kr", "early-stopped", "assistant"],
                         check.list_of(check.one_of(*COMPARED), "method names"),
                         "teachers beside dense KD and no teacher: " + ", ".join(COMPARED)),
        "tolerant_eta": Param(0.45, check.number(0, 1, True, False), "η of the tolerant teacher (chapter 4)"),
        "tsd_k": TSD_K, "sparsity": SPARSITY, "imp_rate": IMP_RATE, "retrain_epochs": RETRAIN_EPOCHS,
        **ICC_TEACHER, **KR_PRIOR, "kr_unit_order": KR_ORDER},
        {**SMOKE_COMMON, **SMOKE_UNFRIENDLY, "student_epochs": 1,
         "student_labels": 500, "sparsity": 0.36, "retrain_epochs": 1, "methods": list(COMPARED)},
        # CIFAR-100, resnet8x4 students; prune-then-distill's retraining length (130 epochs a round) on this
        # profile's RepDistiller schedule; K = 5 for 100
        # classes; ICC momentum for few examples per class in a batch; ResNet units pool in stored order. No
        # ordinary teacher: at this scale chapter 1's recipe is the over-confident teacher's (RepDistiller's)
        {**PAPER_COMMON, **PAPER_UNFRIENDLY, "seeds": 2, "student": "resnet8x4",
         "student_epochs": 240, "student_labels": 10000, "tsd_k": 5, "retrain_epochs": 130, "icc_momentum": 0.99,
         "kr_unit_order": "index", "methods": [m for m in COMPARED if m != "ordinary"]},
        lambda v: kr_similar_needs_mlp(v, "confident_teacher"), tsd_k_at_most_classes, stop_before_the_end,
        # every method on chapter 2's CNN-scale teachers (their runs are shared); ResNet units pool in order
        gpu={**GPU_COMMON, **GPU_UNFRIENDLY, "student_labels": 5000,
             "retrain_epochs": 2, "kr_unit_order": "index", "methods": list(COMPARED)}),
)}
# fmt: on


# --- the chapters' notebooks ---------------------------------------------------------------------------


def chapter_key(notebook: Path) -> str:
    """The key a chapter passes to ``from_namespace`` (its spec in ``kdcore.chapters.CHAPTERS``)."""
    found = re.search(r"from_namespace\(\s*\\?[\"'](\w+)\\?[\"']", notebook.read_text())
    if not found:
        raise ParameterError(f'{notebook}: no from_namespace("<chapter>", …) call; is it a chapter notebook?')
    return found.group(1)


def chapter_notebooks(book_dir: Path) -> list[Path]:
    """The chapters in book order: ``NN_name.ipynb``, never a leftover ``NN_name.executing.ipynb``."""
    return sorted(p for p in Path(book_dir).glob("[0-9][0-9]_*.ipynb") if re.fullmatch(r"\d\d_\w+\.ipynb", p.name))


def find_notebooks(names: list[str], book_dir: Path) -> dict[Path, str]:
    """Notebook paths (or chapter keys, or ``all``) → {notebook: chapter key}."""
    chapters = {nb: chapter_key(nb) for nb in chapter_notebooks(book_dir)}
    found = {}
    for name in names:
        if name == "all":
            found.update(chapters)
        elif Path(name).suffix == ".ipynb":
            path = Path(name).resolve()
            if not path.is_file():
                raise ParameterError(f"{name}: no such notebook")
            found[path] = chapter_key(path)
        else:
            matches = [nb for nb, key in chapters.items() if key == name]
            if not matches:
                known = ", ".join(sorted(chapters.values()))
                raise ParameterError(f"{name!r}: no chapter with that key in {book_dir}; known: {known}")
            found[matches[0].resolve()] = name
    return found
