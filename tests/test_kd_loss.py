import math

import torch
import torch.nn.functional as F

from kdcore.losses import KD, kd_from, kd_loss
from kdcore.models import MLP


def test_kd_loss_matches_hand_computed_value():
    # two classes, one example: p_t = softmax([2, 0]/2) = softmax([1, 0]); p_s = softmax([0, 0]/2) = (1/2, 1/2)
    s, t, temperature = torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 2.0
    e = math.e
    p1, p2 = e / (e + 1), 1 / (e + 1)
    kl = p1 * math.log(p1 / 0.5) + p2 * math.log(p2 / 0.5)
    assert math.isclose(kd_loss(s, t, temperature).item(), temperature**2 * kl, rel_tol=1e-6)


def test_kd_loss_is_batch_mean_and_zero_for_identical_logits():
    t = torch.randn(8, 5)
    assert kd_loss(t, t, 3.0).item() < 1e-6
    s = torch.randn(8, 5)
    per_example = [kd_loss(s[i : i + 1], t[i : i + 1], 3.0) for i in range(8)]
    assert torch.allclose(kd_loss(s, t, 3.0), torch.stack(per_example).mean(), atol=1e-6)


def test_kd_objective_weights_terms_and_keeps_teacher_frozen_in_eval_mode():
    torch.manual_seed(0)
    student, teacher = MLP(1, 3, (4,), 2), torch.nn.Sequential(MLP(1, 3, (4,), 2), torch.nn.Dropout(0.5))
    objective = KD(student, teacher, temperature=4.0, w_ce=0.3, w_kd=0.7)
    objective.train()
    frozen = objective.teacher  # a frozen copy: the caller's teacher is left as it was
    assert student.training and not frozen.training and teacher.training
    x, y = torch.randn(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    logits, losses = objective(x, y)
    assert torch.allclose(losses["ce"], 0.3 * F.cross_entropy(logits, y))
    assert torch.allclose(losses["kd"], 0.7 * kd_loss(logits, teacher.eval()(x), 4.0))  # dropout off
    sum(losses.values()).backward()
    assert all(p.grad is None for p in [*teacher.parameters(), *frozen.parameters()])
    assert all(p.grad is not None for p in student.parameters())


def test_kd_from_builds_the_kd_objective_of_a_student():
    teacher, student = MLP(1, 3, (4,), 2), MLP(1, 3, (2,), 2)
    objective = kd_from(teacher, temperature=2.0, w_ce=0.1, w_kd=0.9)(student)
    assert isinstance(objective, KD) and objective.student is student
    assert all(torch.equal(a, b) for a, b in zip(objective.teacher.parameters(), teacher.parameters(), strict=True))
    assert (objective.temperature, objective.w_ce, objective.w_kd) == (2.0, 0.1, 0.9)


def test_logits_cached_for_one_split_are_refused_for_another():
    # the cache's indices point into the batches it was made from: another split's indices would look up
    # other images' logits (val accuracy 0.17 against 0.99 once, with no error), and augmented views one view's
    import pytest

    from kdcore.batches import DeviceBatches
    from kdcore.data import synthetic
    from kdcore.fit import TrainConfig, fit
    from kdcore.splits import Split

    data = synthetic(96, 16, num_classes=3)
    split, other = Split(data.train_x[:64], data.train_y[:64]), Split(data.train_x[64:], data.train_y[64:])
    batches = lambda s, **kw: DeviceBatches(s, data.mean, data.std, 32, with_index=True, **kw)
    config = TrainConfig(epochs=1, batch_size=32)
    kd = KD(MLP(1, 3, (8,)), MLP(1, 3, (16,)))
    kd.cache_teacher_logits(batches(split))
    fit(kd, batches(split), config, progress=False)  # batches built again over the same images: fine
    for wrong in (batches(other), batches(split, shuffle=True, hflip=True)):
        with pytest.raises(ValueError, match="cached for other batches"):
            fit(kd, wrong, config, progress=False)
    # batches without indices never look the cache up: the teacher runs on them, nothing to refuse
    fit(kd, DeviceBatches(other, data.mean, data.std, 32), config, progress=False)
