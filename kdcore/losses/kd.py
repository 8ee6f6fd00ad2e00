"""Hinton's knowledge distillation (Hinton, Vinyals, Dean 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..objectives import Distiller


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """``T² · KL(softmax(z_t/T) ‖ softmax(z_s/T))``, averaged over the batch.

    Its gradient in the student's logits ``z_s`` is ``T · (p_s − p_t)``. For
    large ``T`` (logits centred) the unscaled KL's gradient approaches
    ``(z_s − z_t) / (C T²)`` for ``C`` classes, so the ``T²`` makes the KD
    term's scale independent of ``T`` in that limit only; at small ``T`` the
    weights of the CE and KD terms still interact with ``T``.
    """
    T = temperature
    log_p_student = F.log_softmax(student_logits.float() / T, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / T, dim=1)
    kl = F.kl_div(
        log_p_student, log_p_teacher, reduction="batchmean", log_target=True
    )
    return kl * (T * T)


class KD(Distiller):
    """``w_ce · CE(y, z_s) + w_kd · kd_loss(z_s, z_t, T)``.

    The defaults are the book's (RepDistiller's ``-r 0.1 -a 0.9``); papers
    disagree on the convention, so chapters pass their own: PrUE uses
    ``w_ce=0.9, w_kd=0.1, T=4``; prune-then-distill ``w_ce=0.05, w_kd=0.95,
    T=10``.

    ``forward`` runs the student and gets the teacher's logits once per batch,
    then asks :meth:`terms` for the losses. A method that adds a term to KD
    overrides :meth:`terms` (calling ``super().terms``), not ``forward``, so the
    teacher still runs once per batch and the CE and KD terms stay these.
    """

    def __init__(
        self,
        student,
        teacher,
        temperature: float = 4.0,  # softens both sides; the KD term is × T²
        w_ce: float = 0.1,  # weight of CE on the labels
        w_kd: float = 0.9,  # weight of the KD term: the teacher does most
    ):
        super().__init__(student, teacher)
        self.temperature, self.w_ce, self.w_kd = temperature, w_ce, w_kd

    def forward(self, x, y, index=None):
        logits = self.student(x)
        return logits, self.terms(logits, self.teacher_logits(x, index), y)

    def terms(
        self,
        logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        y: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """The weighted loss terms of one batch, from the student's and the
        teacher's logits."""
        return {
            "ce": self.w_ce * F.cross_entropy(logits, y),
            "kd": self.w_kd * kd_loss(logits, teacher_logits, self.temperature),
        }


def kd_from(
    teacher, temperature: float = 4.0, w_ce: float = 0.1, w_kd: float = 0.9
):
    """The student objective of KD from ``teacher``, as
    :func:`kdcore.experiment.train_student` takes it: ``student -> KD(student,
    teacher, temperature, w_ce, w_kd)``."""

    def objective(student) -> KD:
        return KD(student, teacher, temperature, w_ce, w_kd)

    return objective
