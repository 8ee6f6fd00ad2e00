"""Training in generations: each model of one architecture learns from the previous one, then teaches.

A *patriarch* (generation 0, trained on the labels, possibly with a tolerant objective such as
:class:`kdcore.losses.tsd.TolerantTeacher`) teaches generation 1; generation ``g`` is a fresh model of the
same architecture, distilled from generation ``g−1``, and becomes the teacher of ``g+1`` (Yang et al. 2018;
the "born-again" networks of Furlanello et al. 2018 do the same with a strict patriarch).

Each generation's loss is ``λ_g · CE(y, s) + (1 − λ_g) · T² · KL(softmax(t/T) ‖ softmax(s/T))``
(:class:`kdcore.losses.KD` with ``w_ce = λ_g``, ``w_kd = 1 − λ_g``). ``λ_g`` may change from generation to
generation: the paper's v1 abstract says later generations are fitted gradually closer to the one-hot labels,
i.e. an increasing ``λ_g``; the values are our choice. ``T = 1`` is our assumption too (our research notes
recall it from the paper, unverified). This generation loss is our reconstruction (chapter 4).

Every student is trained by :func:`kdcore.experiment.train_student`, so it uses the chapter's schedule, and
its teacher's logits are cached once when the batches are not augmented (a KD epoch then costs about a plain
one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from torch import nn

from .experiment import Bench, StudentRun, train_student
from .losses.kd import KD
from .objectives import Objective


@dataclass
class Generation:
    """One trained generation: its number (1…G), its CE weight, its teacher and its run."""

    generation: int
    ce_weight: float
    run: StudentRun
    teacher: nn.Module = field(repr=False)

    @property
    def model(self) -> nn.Module:
        return self.run.model


def ce_weight_schedule(ce_weights: float | Sequence[float], generations: int) -> list[float]:
    """``λ_g`` for ``g = 1…generations``: one value for all, or exactly one value per generation, in [0, 1]."""
    weights = [ce_weights] if isinstance(ce_weights, (int, float)) else list(ce_weights)
    if len(weights) == 1:
        weights = weights * generations
    if len(weights) != generations:
        raise ValueError(f"need one CE weight or {generations} (one per generation), got {len(weights)}")
    if not all(0 <= w <= 1 for w in weights):
        raise ValueError(f"CE weights must be in [0, 1], got {weights}")
    return [float(w) for w in weights]


def generation_seed(seed: int, generation: int) -> int:
    """The seed of generation ``g`` in lineage ``seed``: a different initialization and batch order each
    generation (generation 0, the patriarch, uses ``seed`` itself)."""
    if not 0 <= seed < 1000:  # lineage 1000's patriarch would be lineage 0's first student
        raise ValueError(f"a lineage's seed is in 0 … 999 (generation g adds 1000·g); got {seed}")
    return seed + 1000 * generation


def kd_objective(temperature: float = 1.0) -> Callable[[nn.Module, nn.Module, float], Objective]:
    """The default generation objective: ``KD(student, teacher, T, w_ce=λ, w_kd=1−λ)``."""

    def make(student: nn.Module, teacher: nn.Module, ce_weight: float) -> Objective:
        return KD(student, teacher, temperature, w_ce=ce_weight, w_kd=1 - ce_weight)

    return make


def train_generations(
    bench: Bench,
    arch: str,
    patriarch: nn.Module,
    generations: int,
    seed: int,
    ce_weights: float | Sequence[float] = 0.5,
    temperature: float = 1.0,
    epochs: int | None = None,
    objective: Callable[[nn.Module, nn.Module, float], Objective] | None = None,
) -> list[Generation]:
    """Train generations ``1…generations`` of ``arch``, each distilled from the
    one before, starting from ``patriarch``.

    Args:
        bench: the data (see :func:`kdcore.experiment.prepare`).
        arch: the architecture of every generation (the patriarch's, too).
        patriarch: the trained generation-0 teacher.
        generations: how many students ``G`` to train.
        seed: the lineage's seed (generation ``g`` uses
            :func:`generation_seed`).
        ce_weights: ``λ_g``, one for all generations or one per generation
            (see :func:`ce_weight_schedule`).
        temperature: the KD temperature of the default objective.
        epochs: epochs per generation (default: the chapter's
            ``student_epochs``).
        objective: ``(student, teacher, λ_g) → Objective``, replacing the
            default :func:`kd_objective`.

    Returns:
        one :class:`Generation` per student, in order; ``result[g-1].teacher``
        is ``result[g-2].model`` (the patriarch for ``g = 1``).
    """
    weights = ce_weight_schedule(ce_weights, generations)
    make = objective or kd_objective(temperature)
    lineage, teacher = [], patriarch
    for g, ce_weight in enumerate(weights, start=1):
        objective_of = lambda s, t=teacher, w=ce_weight: make(s, t, w)
        seed_g = generation_seed(seed, g)
        run = train_student(bench, arch, objective_of, seed_g, epochs)
        lineage.append(Generation(g, ce_weight, run, teacher))
        teacher = run.model
    return lineage
