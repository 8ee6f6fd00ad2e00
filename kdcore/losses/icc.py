"""Inter-class correlation (ICC): an "expressive teacher" (Tan, Liu, Zhang
2021), as WE reconstruct it.

**Reconstruction, not the paper's formulas.** Only the paper's abstract could be
read and no code exists. The abstract says two things: the teacher is trained
with an *inter-class correlation regularization* so that it "captures a more
explicit correlation among classes", and the student *mimics the teacher's
inter-class correlation* as well as its outputs. Everything below is our own
choice of formulas for those two sentences:

* :func:`icc_matrix`: the ``C×C`` Pearson correlation, across the examples of a
  batch, between the classes' softened probabilities. Entry ``(a, b)`` is high
  when the examples that get much of class ``a`` also get much of class ``b``
  (T-shirt and Shirt), negative when they exclude each other (Shirt and
  Sneaker).
* :func:`icc_loss`: the student's ICC matrix against the teacher's, ``‖G_s −
  G_t‖²_F / C²`` (:class:`ICCKD` adds it to Hinton's KD).
* :func:`class_consistency_loss`: the teacher-side regularizer. The teacher
  keeps an explicit ``C×C`` matrix of class relations ``R`` (row ``c``: how
  examples of class ``c`` spread their *non-target* probability over the other
  classes, a running class mean of its own outputs), and each example is pulled
  towards its class's row: ``T² · KL(R[y] ‖ q̃(x))``, with ``q̃`` the non-target
  distribution. The teacher's secondary probabilities then express
  class-to-class relations rather than example-specific noise, which is what its
  ICC (and a student matching it) sees. (:class:`ICCTeacher` is ``CE + β ·``
  this.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import distributed
from ..metrics import class_sums
from ..objectives import Objective
from .kd import KD

CONSTANT_COLUMN_EPS = 1e-6


def correlation_matrix(
    responses: torch.Tensor, eps: float = CONSTANT_COLUMN_EPS
) -> torch.Tensor:
    """Pearson correlation between the columns of a ``B×C`` matrix, over its
    ``B`` rows: a ``C×C`` matrix.

    Each column is centred over the rows and scaled to unit Euclidean norm; the
    result is the matrix of their dot products, so it is symmetric, in ``[−1,
    1]``, with a unit diagonal, and does not depend on the order of the rows. A
    column whose centred norm is at most ``eps`` is constant over the rows and
    has no correlation: its row and column of the result are 0 (diagonal
    included), and no gradient flows through it (a division by its tiny norm
    would otherwise blow the gradient up).
    """
    centered = responses.float() - responses.float().mean(0, keepdim=True)
    norm = centered.norm(dim=0, keepdim=True)
    defined = norm > eps
    unit = (
        centered * defined / torch.where(defined, norm, torch.ones_like(norm))
    )  # no 0/0, even in backward
    # in fp32 even under fit's bf16 autocast, which would round the product
    with torch.autocast(unit.device.type, enabled=False):
        return unit.T @ unit


def icc_matrix(
    logits: torch.Tensor,
    temperature: float,
    eps: float = CONSTANT_COLUMN_EPS,
) -> torch.Tensor:
    """**Reconstructed.** The inter-class correlation of a batch:
    :func:`correlation_matrix` of ``softmax(logits / T)``.

    ``G[a, b]`` is the Pearson correlation, across the ``B`` examples, between
    the probability of class ``a`` and that of class ``b``. A temperature ``T >
    1`` lets the secondary probabilities (which carry the similarity between
    classes) move the correlations; at ``T = 1`` a confident model's ICC mostly
    says "one class at a time". Our reconstruction; the paper's definition is
    not available.
    """
    return correlation_matrix(
        torch.softmax(logits.float() / temperature, dim=1), eps
    )


def icc_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """**Reconstructed.** ICC matching: ``‖G_s − G_t‖²_F / C²`` on the same
    batch, at temperature ``T``.

    The mean squared difference of the two ``C×C`` correlation matrices (0 iff
    they are equal, at most 4). The teacher's matrix is a constant (detached),
    so only the student gets gradients.
    """
    g_student = icc_matrix(student_logits, temperature)
    g_teacher = icc_matrix(teacher_logits.detach(), temperature)
    return (g_student - g_teacher).pow(2).mean()


def nontarget_log_probs(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``log q̃(x)``: the log of ``softmax(z / T)`` renormalized over the
    classes other than the label.

    The label's entry is set to 0 (not −∞), so that ``0 · log q̃`` terms stay 0
    in sums.
    """
    is_target = F.one_hot(labels, logits.shape[1]).bool()
    log_q = torch.log_softmax(
        (logits.float() / temperature).masked_fill(is_target, float("-inf")),
        dim=1,
    )
    return log_q.masked_fill(is_target, 0.0)


def uniform_class_relations(num_classes: int, device=None) -> torch.Tensor:
    """The starting class relations: every class spreads its non-target mass
    uniformly (zero diagonal)."""
    eye = torch.eye(num_classes, device=device)
    return (1 - eye) / (num_classes - 1)


@torch.no_grad()
def class_relations(
    logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    previous: torch.Tensor | None = None,
    momentum: float = 0.0,
) -> torch.Tensor:
    """**Reconstructed.** The teacher's explicit class relations ``R`` (``C×C``,
    rows sum to 1, zero diagonal).

    Row ``c`` is the mean non-target distribution ``q̃(x)`` over the examples of
    class ``c``. With ``previous`` and ``momentum``, it is an exponential moving
    average: ``R_c ← m·R_c + (1−m)·mean`` for the classes present in the batch
    (the others keep their row). Under torchrun the class sums are summed over
    ranks, so every rank holds the relations of the global batch. No host sync.
    """
    c = logits.shape[1]
    q = nontarget_log_probs(logits, labels, temperature).exp() * (
        1 - F.one_hot(labels, c)
    )
    sums, counts = class_sums(q, labels, c)
    # summed over ranks in one call: sums and counts side by side
    both = distributed.all_reduce_sum(torch.cat([sums, counts[:, None]], 1))
    sums, counts = both[:, :c], both[:, c]
    means = sums / counts.clamp(min=1)[:, None]
    if previous is None:
        return means
    present = counts[:, None] > 0
    return torch.where(
        present, momentum * previous + (1 - momentum) * means, previous
    )


def class_consistency_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    relations: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """**Reconstructed** teacher-side ICC regularizer: ``T² · mean_x KL(R[y] ‖
    q̃(x))``.

    ``R`` is the (detached) class-relations matrix of :func:`class_relations`;
    ``q̃(x)`` the non-target distribution at temperature ``T``. It is 0 when
    every example of a class spreads its non-target mass exactly like its class
    does: the teacher's secondary probabilities then express relations between
    *classes* (explicit, shared by all examples of a class) rather than
    example-specific noise. It leaves the target probability to the
    cross-entropy; ``T²`` as in KD.
    """
    target = relations.detach()[labels]
    log_q = nontarget_log_probs(logits, labels, temperature)
    kl = (torch.xlogy(target, target) - target * log_q).sum(1).mean()
    return kl * temperature**2


class ICCTeacher(Objective):
    """**Reconstructed** ICC-regularized teacher: ``CE(y, z) + β ·
    class_consistency_loss(z, y, R, T)``.

    ``R`` (buffer ``relations``) starts uniform and is updated from every
    training batch, before the loss, as a moving average with ``momentum``
    (``momentum=0``: this batch's class means only; keep it > 0 when a batch
    holds few examples per class, as with 100 or 200 classes). A fit checkpoint
    keeps it, so a resumed run continues it.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        beta: float = 1.0,
        temperature: float = 4.0,
        momentum: float = 0.9,
    ):
        super().__init__(model)
        self.beta, self.temperature, self.momentum = beta, temperature, momentum
        device = next(model.parameters()).device
        self.register_buffer(
            "relations", uniform_class_relations(num_classes, device)
        )

    def forward(self, x, y, index=None):
        logits = self.model(x)
        if self.training:
            self.relations.copy_(
                class_relations(
                    logits, y, self.temperature, self.relations, self.momentum
                )
            )
        return logits, {
            "ce": F.cross_entropy(logits, y),
            "icc_reg": self.beta
            * class_consistency_loss(
                logits, y, self.relations, self.temperature
            ),
        }


class ICCKD(KD):
    """**Reconstructed** student objective: ``w_ce · CE + w_kd · kd_loss(s, t,
    T) + γ · icc_loss(s, t, T)``.

    Hinton's KD plus matching the teacher's inter-class correlation on each
    batch: :class:`~kdcore.losses.KD` with one more term, so the CE and KD terms
    are KD's own and the teacher runs once per batch. The teacher's logits come
    from :meth:`~kdcore.objectives.Distiller.teacher_logits`, so cached
    per-example logits (no augmentation) give the teacher's batch ICC by index
    lookup, without a teacher forward pass. Under torchrun each rank correlates
    its own shard of the batch, so the ICC term is not the one-process term.
    """

    def __init__(
        self,
        student,
        teacher,
        temperature: float = 4.0,
        w_ce: float = 0.1,  # KD's defaults (kdcore.losses.KD)
        w_kd: float = 0.9,
        gamma: float = 1.0,
    ):
        super().__init__(student, teacher, temperature, w_ce, w_kd)
        self.gamma = gamma

    def terms(self, logits, teacher_logits, y):
        return {
            **super().terms(logits, teacher_logits, y),
            "icc": self.gamma
            * icc_loss(logits, teacher_logits, self.temperature),
        }
