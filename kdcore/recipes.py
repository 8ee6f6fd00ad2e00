"""Teacher recipes: what defines a teacher, as small frozen dataclasses.

A recipe knows two things: the objective that trains the teacher, and a key that names it in the teacher
cache. :func:`kdcore.experiment.teacher` turns any recipe into a trained (or cached) model, so every teacher
of the book, pruned ones included, is trained or loaded through one path::

    dense = Plain("mlp-512-512", config)                        # cross-entropy
    smooth = LabelSmoothing("mlp-512-512", config, epsilon=0.2)  # a softer teacher by construction
    pruned = Pruned(dense, "prue", sparsity=0.9, retrain=short)  # one-shot PrUE, then retraining
    imp = Pruned(dense, "magnitude", 0.79, retrain=short, rate=0.2)  # IMP: 7 rounds of 20 %
    control = Retrained.control(imp)                             # the same 7 retrainings, nothing pruned
    early = EarlyStopped(dense, epoch=5)                         # the dense run, stopped after 5 epochs
    assistant = Distilled("mlp-128", config, teacher=dense, temperature=4, w_ce=0.1, w_kd=0.9)

Two recipes here are our reconstructions of papers whose full text we could not read (:class:`Tolerant`
and :class:`ICC`), as is the book's third, KR, a student loss in :mod:`kdcore.losses.kr`; their docstrings
say so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from .fit import TrainConfig
from .objectives import CrossEntropy, Objective


@dataclass(frozen=True)
class Plain:
    """A teacher trained from scratch with cross-entropy: ``arch`` with ``train`` from seed ``seed``."""

    arch: str
    train: TrainConfig
    seed: int = 0

    kind: ClassVar[str] = "plain"

    def objective(self, model: nn.Module, num_classes: int) -> Objective:
        return CrossEntropy(model)

    def objective_key(self) -> dict:
        """What the cache key says about the objective (everything that changes the trained weights)."""
        extra = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _TRAINING}
        return {"name": "cross_entropy"} if self.kind == "plain" else {"name": self.kind, **extra}

    def epochs(self) -> int:
        """Every epoch this teacher trained (every recipe has this; pruned ones count their retraining)."""
        return self.train.epochs

    def with_seed(self, seed: int):
        """The same recipe from another seed (teacher seeds for a verdict about a method)."""
        return dataclasses.replace(self, seed=seed, train=dataclasses.replace(self.train, seed=seed))


_TRAINING = {"arch", "train", "seed"}


@dataclass(frozen=True)
class LabelSmoothing(Plain):
    """Cross-entropy against labels smoothed by ``epsilon`` (Müller et al. 2019): softer by construction."""

    epsilon: float = 0.1
    kind: ClassVar[str] = "label_smoothing"

    def objective(self, model, num_classes):
        return CrossEntropy(model, label_smoothing=self.epsilon)


@dataclass(frozen=True)
class Tolerant(Plain):
    """**Our reconstruction** of a tolerant teacher (Yang et al. 2018): ``η·CE + (1 − η)·TSD``."""

    eta: float = 0.45
    k: int = 3
    space: str = "prob"
    primary: str = "gt"
    kind: ClassVar[str] = "tolerant_tsd"

    def objective(self, model, num_classes):
        from .losses import TolerantTeacher

        return TolerantTeacher(model, self.eta, self.k, self.space, self.primary)


@dataclass(frozen=True)
class ICC(Plain):
    """**Our reconstruction** of the ICC-regularized teacher (Tan et al. 2021): ``CE + β·class consistency``."""

    beta: float = 1.0
    temperature: float = 4.0
    momentum: float = 0.9
    kind: ClassVar[str] = "icc_teacher_reconstructed"

    def objective(self, model, num_classes):
        from .losses import ICCTeacher

        return ICCTeacher(model, num_classes, self.beta, self.temperature, self.momentum)


CRITERIA = ("magnitude", "random", "snip", "prue")


class FromBase:
    """A recipe made from another one, ``base`` (pruned, stopped early, retrained): the base's architecture and
    seed are its own, and :meth:`with_seed` moves the base to the new seed.

    A retraining's own config (``retrain``) keeps its seed: the teachers of seeds 0, 1, 2 are pruned from three
    different bases, then retrained with one batch order. The bases' differences carry each teacher's luck;
    a chapter that wants the retraining's varied too passes a ``retrain`` config per seed.
    """

    base: Plain

    @property
    def arch(self) -> str:
        return self.base.arch

    @property
    def seed(self) -> int:
        return self.base.seed

    def with_seed(self, seed: int):
        return dataclasses.replace(self, base=self.base.with_seed(seed))


@dataclass(frozen=True)
class Pruned(FromBase):
    """``base`` pruned to ``sparsity`` by ``criterion``, then retrained with ``retrain`` (masks fixed).

    * ``rate=None``: one shot. The weights are scored once (``magnitude`` = ``|w|``, ``random``, ``snip`` or
      ``prue``; the last two on the training split), the lowest scores are pruned globally, and the model is
      retrained once.
    * ``rate=r``: iterative magnitude pruning (prune-then-distill's IMP): each round prunes ``r`` of the
      remaining weights and retrains with the whole ``retrain`` schedule (learning-rate rewinding), for the
      number of rounds whose sparsity is closest to ``sparsity`` (:func:`kdcore.prune.imp_rounds`). Each
      round is cached on its own, so a longer IMP run starts from the shorter one's last round.

    ``scope``: ``"prue"`` prunes PrUE's set (conv weights, or an MLP's hidden linear weights);
    ``"all"`` every conv and linear weight, the output layer included (prune-then-distill).
    """

    base: Plain
    criterion: str
    sparsity: float
    retrain: TrainConfig
    rate: float | None = None
    scope: str = "prue"

    def __post_init__(self):
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")
        if self.rate is not None and self.criterion != "magnitude":
            raise ValueError("iterative pruning (rate=…) is magnitude pruning: set criterion='magnitude'")
        if self.scope not in ("prue", "all"):
            raise ValueError(f"scope must be 'prue' or 'all', got {self.scope!r}")

    @property
    def rounds(self) -> int:
        """IMP rounds (1 for one shot)."""
        from .prune import imp_rounds

        return 1 if self.rate is None else imp_rounds(self.sparsity, self.rate)

    def previous_round(self) -> Pruned | None:
        """IMP's recipe one round shorter (``None`` for one shot or the first round)."""
        if self.rounds <= 1:
            return None
        return dataclasses.replace(self, sparsity=1 - (1 - self.rate) ** (self.rounds - 1))

    def epochs(self) -> int:
        """Every epoch this teacher trained, base included: what an equal-budget control must match."""
        return self.base.train.epochs + self.rounds * self.retrain.epochs


@dataclass(frozen=True)
class Distilled(Plain):
    """``arch`` trained by KD from the teacher of another recipe: ``w_ce·CE + w_kd·T²·KL`` (kdcore.losses.KD).

    A teacher assistant (Mirzadeh et al. 2020) is one: a network of intermediate size, distilled from the
    big teacher, then used as the teacher of the small student. The cache key holds the teacher's own cache
    hash, so another teacher (or another seed of it) is another entry; :meth:`with_seed` moves both seeds.
    """

    teacher: Recipe | None = None
    temperature: float = 4.0
    w_ce: float = 0.1  # KD's defaults (kdcore.losses.KD)
    w_kd: float = 0.9
    kind: ClassVar[str] = "distilled"

    def __post_init__(self):
        if self.teacher is None:
            raise ValueError("Distilled needs the recipe of the teacher it learns from: teacher=...")

    def objective(self, model, num_classes, teacher_model=None):
        from .losses import KD

        if teacher_model is None:
            raise ValueError("a Distilled recipe trains against its teacher's model: kdcore.experiment.teacher")
        return KD(model, teacher_model, self.temperature, self.w_ce, self.w_kd)

    def objective_key(self) -> dict:
        """The KD settings; :func:`kdcore.experiment.teacher` adds the teacher's cache hash."""
        return {"name": self.kind, "temperature": self.temperature, "w_ce": self.w_ce, "w_kd": self.w_kd}

    def with_seed(self, seed: int) -> Distilled:
        return dataclasses.replace(super().with_seed(seed), teacher=self.teacher.with_seed(seed))


@dataclass(frozen=True)
class EarlyStopped(FromBase):
    """``base``'s own training run, stopped after ``epoch`` epochs (Cho & Hariharan 2019).

    The learning rate follows ``base``'s whole schedule up to the stop, so this is the base teacher as it
    was at that epoch, not a shorter schedule run to its end. The two share their first ``epoch`` epochs:
    asked for first, the early-stopped teacher leaves its state where the whole run resumes from
    (:func:`kdcore.teachers.train_or_load`), and the numbers are those of one uninterrupted run.
    """

    base: Plain
    epoch: int

    def __post_init__(self):
        if isinstance(self.base, Distilled) or not isinstance(self.base, Plain):
            raise ValueError("EarlyStopped stops a teacher trained from scratch (Plain and its variants)")
        if not 1 <= self.epoch <= self.base.train.epochs:
            raise ValueError(f"epoch must be in 1…{self.base.train.epochs} (the base's epochs), got {self.epoch}")

    def epochs(self) -> int:
        return self.epoch


@dataclass(frozen=True)
class Retrained(FromBase):
    """``base`` retrained ``rounds`` times with ``retrain`` (the schedule restarted each round), nothing pruned.

    The equal-budget control of a pruned teacher (:meth:`control`): the same base, the same retraining and
    the same number of epochs, so a difference between the two students is the pruning's, not the extra
    training's. Each round is cached, like IMP's.
    """

    base: Plain
    retrain: TrainConfig
    rounds: int = 1

    def __post_init__(self):
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")

    @classmethod
    def control(cls, pruned: Pruned) -> Retrained:
        """The control of ``pruned``: its base and retraining rounds without the pruning (equal epochs)."""
        return cls(pruned.base, pruned.retrain, pruned.rounds)

    def previous_round(self) -> Retrained | None:
        return None if self.rounds <= 1 else dataclasses.replace(self, rounds=self.rounds - 1)

    def epochs(self) -> int:
        """Every epoch this teacher trained, base included (equal to its pruned recipe's ``epochs()``)."""
        return self.base.train.epochs + self.rounds * self.retrain.epochs


Recipe = Plain | Pruned | EarlyStopped | Retrained
