"""Inter-class correlation (our reconstruction of Tan, Liu, Zhang 2021): matrix, matching loss, regularizer."""

import math

import pytest
import torch
from torch import nn

from kdcore.losses.icc import (
    ICCKD,
    ICCTeacher,
    class_consistency_loss,
    class_relations,
    correlation_matrix,
    icc_loss,
    icc_matrix,
    nontarget_log_probs,
    uniform_class_relations,
)
from kdcore.losses.kd import KD, kd_loss


def random_logits(b=32, c=10, seed=0):
    return torch.randn(b, c, generator=torch.Generator().manual_seed(seed)) * 3


def test_icc_matrix_is_symmetric_bounded_with_unit_diagonal():
    g = icc_matrix(random_logits(), temperature=4.0)
    assert g.shape == (10, 10)
    torch.testing.assert_close(g, g.T)
    torch.testing.assert_close(g.diagonal(), torch.ones(10))
    assert g.abs().max() <= 1 + 1e-5


def test_icc_matrix_does_not_depend_on_batch_order():
    z = random_logits()
    perm = torch.randperm(len(z), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(icc_matrix(z[perm], 4.0), icc_matrix(z, 4.0))


def test_icc_matrix_hand_checked_three_examples_three_classes():
    # probabilities p (logits log p): column 0 = (.5,.1,.3) centred ∝ (1,−1,0); column 1 = (.4,.2,.3) ∝ (1,−1,0);
    # column 2 = (.1,.7,.4) ∝ (−1,1,0). So classes 0 and 1 correlate +1, and each with class 2 at −1.
    p = torch.tensor([[0.5, 0.4, 0.1], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    expected = torch.tensor([[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    torch.testing.assert_close(icc_matrix(p.log(), temperature=1.0), expected, atol=1e-5, rtol=0)


def test_correlation_matrix_hand_checked_value():
    # column 0 = (1, 2, 3) centred (−1, 0, 1); column 1 = (1, 3, 2) centred (−1, 1, 0): r = 1 / (√2·√2) = 0.5
    x = torch.tensor([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0]])
    torch.testing.assert_close(correlation_matrix(x), torch.tensor([[1.0, 0.5], [0.5, 1.0]]))


def test_two_classes_are_perfectly_anticorrelated():
    # with two classes p_1 = 1 − p_0, so their correlation is −1 whatever the (non-constant) logits
    g = icc_matrix(torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), temperature=2.0)
    torch.testing.assert_close(g, torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), atol=1e-5, rtol=0)


def test_constant_class_has_zero_row_and_column_and_no_nan_gradient():
    p = torch.tensor([[0.5, 0.3, 0.2], [0.3, 0.5, 0.2], [0.6, 0.2, 0.2]], requires_grad=True)
    g = correlation_matrix(p)
    torch.testing.assert_close(g[2], torch.zeros(3))
    torch.testing.assert_close(g[:, 2], torch.zeros(3))
    assert g[0, 0].item() == pytest.approx(1.0) and g[0, 1].item() == pytest.approx(-1.0)  # p0 + p1 = 0.8
    (g * torch.arange(9.0).view(3, 3)).sum().backward()
    assert torch.isfinite(p.grad).all()
    assert p.grad[:, 2].abs().max() == 0


def test_icc_loss_zero_for_identical_positive_otherwise():
    z = random_logits()
    assert icc_loss(z, z.clone(), 4.0).item() == pytest.approx(0.0, abs=1e-10)
    other = random_logits(seed=5)
    loss = icc_loss(other, z, 4.0)
    assert loss.item() > 1e-3
    expected = (icc_matrix(other, 4.0) - icc_matrix(z, 4.0)).pow(2).sum() / 100  # ‖·‖²_F / C²
    torch.testing.assert_close(loss, expected)


def test_icc_loss_gradients_flow_to_the_student_only():
    student = random_logits(seed=1).requires_grad_()
    teacher = random_logits(seed=2).requires_grad_()
    icc_loss(student, teacher, 4.0).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_nontarget_log_probs_is_the_renormalized_distribution():
    z = torch.tensor([[2.0, 1.0, 0.0]])
    log_q = nontarget_log_probs(z, torch.tensor([0]), temperature=1.0)
    # over classes 1, 2: softmax(1, 0) = (e/(e+1), 1/(e+1)); the label's entry is 0
    e = math.e
    torch.testing.assert_close(log_q, torch.tensor([[0.0, math.log(e / (e + 1)), math.log(1 / (e + 1))]]))


def test_class_relations_are_class_means_of_nontarget_distributions_and_ema():
    z = torch.log(torch.tensor([[0.5, 0.4, 0.1], [0.6, 0.1, 0.3], [0.2, 0.2, 0.6]]))
    y = torch.tensor([0, 0, 2])
    r = class_relations(z, y, temperature=1.0)
    # class 0: non-target (.4,.1)/.5 = (.8,.2) and (.1,.3)/.4 = (.25,.75) -> mean (.525, .475)
    torch.testing.assert_close(r[0], torch.tensor([0.0, 0.525, 0.475]))
    torch.testing.assert_close(r[2], torch.tensor([0.5, 0.5, 0.0]))
    prev = uniform_class_relations(3)
    ema = class_relations(z, y, 1.0, previous=prev, momentum=0.75)
    torch.testing.assert_close(ema[0], 0.75 * prev[0] + 0.25 * r[0])
    torch.testing.assert_close(ema[1], prev[1])  # class 1 absent from the batch: unchanged


def test_class_consistency_loss_zero_at_class_means_positive_otherwise():
    z = random_logits(b=64, c=5)
    y = torch.arange(64) % 5
    relations = class_relations(z, y, temperature=2.0)
    consistent = torch.log(relations[y].clamp(min=1e-12)) * 2.0  # non-target distribution = class row at T=2
    assert class_consistency_loss(consistent, y, relations, 2.0).item() == pytest.approx(0.0, abs=1e-5)
    assert class_consistency_loss(z, y, relations, 2.0).item() > 1e-3


def test_icc_teacher_updates_relations_in_training_only():
    torch.manual_seed(0)
    model = nn.Linear(6, 4)
    objective = ICCTeacher(model, num_classes=4, beta=0.5, temperature=2.0, momentum=0.5)
    x, y = torch.randn(16, 6), torch.arange(16) % 4
    objective.eval()
    _, losses = objective(x, y)
    torch.testing.assert_close(objective.relations, uniform_class_relations(4))
    objective.train()
    _, losses = objective(x, y)
    assert set(losses) == {"ce", "icc_reg"}
    assert not torch.allclose(objective.relations, uniform_class_relations(4))
    torch.testing.assert_close(objective.relations.sum(1), torch.ones(4))
    sum(losses.values()).backward()
    assert model.weight.grad.abs().sum() > 0


def test_iccdistiller_uses_cached_teacher_logits_and_trains_student_only():
    torch.manual_seed(0)
    student, teacher = nn.Linear(6, 4), nn.Linear(6, 4)
    objective = ICCKD(student, teacher, temperature=4.0, w_ce=0.1, w_kd=0.9, gamma=2.0)
    x, y, index = torch.randn(16, 6), torch.arange(16) % 4, torch.arange(16)
    _, direct = objective(x, y, index)
    objective.cached_logits = teacher(x).detach() + 0.0
    _, cached = objective(x, y, index)
    torch.testing.assert_close(cached["icc"], direct["icc"])
    objective.cached_logits = torch.zeros(16, 4)  # a different cache must change the terms that use it
    _, zeroed = objective(x, y, index)
    assert zeroed["icc"].item() != pytest.approx(direct["icc"].item())
    sum(direct.values()).backward()
    assert student.weight.grad.abs().sum() > 0
    assert teacher.weight.grad is None


class CountingTeacher(nn.Module):
    """Wraps a teacher and counts its forward passes."""

    def __init__(self, teacher):
        super().__init__()
        self.teacher, self.calls = teacher, 0

    def forward(self, x):
        self.calls += 1
        return self.teacher(x)


def test_icckd_reuses_kd_terms_and_runs_the_teacher_once_per_batch():
    torch.manual_seed(0)
    student, teacher = nn.Linear(6, 4), CountingTeacher(nn.Linear(6, 4))
    x, y = torch.randn(16, 6), torch.arange(16) % 4
    icc_objective = ICCKD(student, teacher, temperature=3.0, w_ce=0.2, w_kd=0.8, gamma=2.0)
    logits, losses = icc_objective(x, y)
    assert icc_objective.teacher.calls == 1  # the distiller's frozen copy of the teacher
    _, kd_losses = KD(student, teacher, temperature=3.0, w_ce=0.2, w_kd=0.8)(x, y)
    assert set(losses) == {"ce", "kd", "icc"}
    assert torch.equal(losses["ce"], kd_losses["ce"]) and torch.equal(losses["kd"], kd_losses["kd"])
    # and the same numbers as the formulas written out, as ICCKD computed them before it reused KD
    teacher_logits = teacher(x).float()
    torch.testing.assert_close(losses["kd"], 0.8 * kd_loss(logits, teacher_logits, 3.0), rtol=0, atol=0)
    torch.testing.assert_close(losses["icc"], 2.0 * icc_loss(logits, teacher_logits, 3.0), rtol=0, atol=0)


def test_the_correlation_stays_fp32_under_bf16_autocast():
    """fit runs objectives under bf16 autocast on CUDA; a correlation matrix rounded to bf16 is off by ~1e-3."""
    responses = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = correlation_matrix(responses)
    assert under.dtype == torch.float32
    assert torch.equal(under, correlation_matrix(responses))
