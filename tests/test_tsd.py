import math

import pytest
import torch
import torch.nn.functional as F

from kdcore.losses import TolerantTeacher, top_score_difference
from kdcore.models import MLP

# Two examples given by their probabilities (logits = log p, so softmax recovers p exactly up to rounding).
PROBS = torch.tensor([[0.60, 0.20, 0.10, 0.05, 0.05], [0.10, 0.60, 0.20, 0.05, 0.05]])
LABELS = torch.tensor([0, 0])  # the first example is right, the second wrong (its argmax is class 1)


def test_tsd_in_probability_space_matches_hand_computed_values():
    logits = PROBS.log()
    # k=3, primary = true class: 0.60 − (0.20 + 0.10)/2 = 0.45 and 0.10 − (0.60 + 0.20)/2 = −0.30
    assert math.isclose(top_score_difference(logits, LABELS, k=3).item(), (0.45 - 0.30) / 2, abs_tol=1e-6)
    # primary = argmax: both examples give 0.60 − (0.20 + 0.10)/2 = 0.45
    assert math.isclose(top_score_difference(logits, LABELS, k=3, primary="argmax").item(), 0.45, abs_tol=1e-6)
    # k=2: 0.60 − 0.20 = 0.40 and 0.10 − 0.60 = −0.50
    assert math.isclose(top_score_difference(logits, LABELS, k=2).item(), (0.40 - 0.50) / 2, abs_tol=1e-6)


def test_tsd_in_logit_space_matches_hand_computed_values():
    logits = torch.tensor([[3.0, 1.0, 0.0, -1.0, 2.0]])
    # true class 0: 3 − (2 + 1)/2 = 1.5; true class 2 (not the argmax): 0 − (3 + 2)/2 = −2.5
    assert top_score_difference(logits, torch.tensor([0]), k=3, space="logit").item() == pytest.approx(1.5)
    assert top_score_difference(logits, torch.tensor([2]), k=3, space="logit").item() == pytest.approx(-2.5)
    # argmax, k=4: 3 − (2 + 1 + 0)/3 = 2
    assert top_score_difference(logits, None, k=4, space="logit", primary="argmax").item() == pytest.approx(2.0)


@pytest.mark.parametrize("space", ["prob", "logit"])
@pytest.mark.parametrize("primary", ["gt", "argmax"])
def test_a_gradient_step_on_tsd_lowers_the_primary_and_raises_the_secondaries(space, primary):
    logits = torch.tensor([[4.0, 2.0, 1.5, 0.0, -1.0, -2.0]], requires_grad=True)
    before = logits.softmax(1).detach()
    top_score_difference(logits, torch.tensor([0]), k=3, space=space, primary=primary).backward()
    with torch.no_grad():
        after = (logits - 0.1 * logits.grad).softmax(1)
    assert after[0, 0] < before[0, 0]  # the primary loses confidence
    assert (after[0, 1:3] > before[0, 1:3]).all()  # both secondaries (classes 1 and 2) gain
    assert after[0, 1:3].sum() - before[0, 1:3].sum() > after[0, 3:].sum() - before[0, 3:].sum()


def test_tolerant_teacher_weights_its_terms_and_is_cross_entropy_at_eta_one():
    torch.manual_seed(0)
    model = MLP(1, 5, (8,), 2)
    x, y = torch.randn(7, 1, 2, 2), torch.tensor([0, 1, 2, 3, 4, 0, 1])
    logits, losses = TolerantTeacher(model, eta=0.7, k=3)(x, y)
    assert torch.allclose(losses["ce"], 0.7 * F.cross_entropy(logits, y))
    assert torch.allclose(losses["tsd"], 0.3 * top_score_difference(logits, y, k=3))
    _, strict = TolerantTeacher(model, eta=1.0)(x, y)
    sum(strict.values()).backward()
    tolerant_grad = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    assert all(torch.allclose(a, p.grad) for a, p in zip(tolerant_grad, model.parameters()))


def test_training_with_a_small_eta_softens_the_model():
    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 2, 2), torch.randint(0, 5, (64,))
    entropies = {}
    for eta in (1.0, 0.4):
        torch.manual_seed(1)
        objective = TolerantTeacher(MLP(1, 5, (32,), 2), eta=eta, k=3)
        optimizer = torch.optim.SGD(objective.parameters(), lr=0.5)
        for _ in range(200):
            optimizer.zero_grad()
            sum(objective(x, y)[1].values()).backward()
            optimizer.step()
        p = objective.model(x).softmax(1)
        entropies[eta] = -(p * p.log()).sum(1).mean().item()
    assert entropies[0.4] > entropies[1.0] + 0.3


def test_tsd_rejects_bad_options():
    logits = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="space"):
        top_score_difference(logits, LABELS, space="probs")
    with pytest.raises(ValueError, match="primary"):
        top_score_difference(logits, LABELS, primary="true")
    with pytest.raises(ValueError, match="k must be"):
        top_score_difference(logits, LABELS, k=5)
    with pytest.raises(ValueError, match="labels"):
        top_score_difference(logits, None)


@pytest.mark.parametrize("option", [{"space": "probs"}, {"primary": "true"}, {"k": 1}])
def test_a_tolerant_teacher_refuses_a_bad_option_when_built_not_at_its_first_batch(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        TolerantTeacher(torch.nn.Linear(4, 4), eta=0.5, **option)
