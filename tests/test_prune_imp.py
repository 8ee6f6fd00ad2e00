"""Iterative magnitude pruning: round count, per-round sparsity, learning-rate and weight rewinding."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from kdcore.models import MLP
from kdcore.prune import (
    enforce_masks,
    get_mask,
    imp_rounds,
    imp_schedule,
    iterative_magnitude_pruning,
    masked_parameters,
    prunable_parameters,
)


def test_imp_rounds_and_schedule():
    assert imp_rounds(0.79, 0.2) == 7
    assert imp_schedule(0.79, 0.2)[-1] == pytest.approx(0.7903, abs=5e-5)
    assert imp_schedule(0.79, 0.2)[:3] == pytest.approx([0.2, 0.36, 0.488])
    assert imp_rounds(0.8, 0.2) == 7  # prune-then-distill's default target
    assert imp_rounds(0.6, 0.2) == 4  # its Tiny-ImageNet setting: 59.0 %
    assert imp_rounds(0.5, 0.5) == 1
    assert imp_rounds(0.0) == 0
    with pytest.raises(ValueError):
        imp_rounds(1.0)


def tiny_mlp() -> MLP:
    torch.manual_seed(0)
    return MLP(1, 4, (16,), image_size=4)


def sgd_steps(model, steps: int = 5) -> float:
    """A tiny train_fn: a few SGD steps on fixed random data, keeping the masks; returns the last loss."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 1, 4, 4, generator=g), torch.randint(4, (32,), generator=g)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    pairs = masked_parameters(model)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        enforce_masks(pairs)
    return loss.item()


def test_iterative_magnitude_pruning_lr_rewinding():
    model = tiny_mlp()
    params = prunable_parameters(model)
    total = sum(getattr(m, n).numel() for m, n in params)
    masks_seen = []

    def train_fn(model):
        masks_seen.append([get_mask(m, n).clone() for m, n in params])
        return {"loss": sgd_steps(model)}

    records = iterative_magnitude_pruning(model, train_fn, target=0.79, rate=0.2)
    assert [r["round"] for r in records] == list(range(1, 8))
    alive, expected = total, []
    for _ in range(7):  # the exact integer version of 1 - 0.8^n
        alive -= round(0.2 * alive)
        expected.append(1 - alive / total)
    assert [r["sparsity"] for r in records] == pytest.approx(expected)
    assert [r["sparsity"] for r in records] == pytest.approx(imp_schedule(0.79), abs=2 / total)
    assert all(isinstance(r["result"]["loss"], float) for r in records)
    for earlier, later in itertools.pairwise(masks_seen):  # masks only ever shrink
        assert all(not (b.bool() & ~a.bool()).any() for a, b in zip(earlier, later))


def test_iterative_magnitude_pruning_weight_rewinding():
    model = tiny_mlp()
    early = {k: v.clone() for k, v in model.state_dict().items()}
    sgd_steps(model, 20)  # "dense training" after the rewind point
    starts = []

    def train_fn(model):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        sgd_steps(model)

    iterative_magnitude_pruning(model, train_fn, target=0.36, rewind="weights", rewind_state=early)
    assert len(starts) == 2
    for state in starts:  # each retraining starts from the early weights, masked
        for key, value in early.items():
            mask = state.get(key + "_mask", torch.ones_like(value))
            assert torch.equal(state[key], value * mask), key
    with pytest.raises(ValueError, match="rewind_state"):
        iterative_magnitude_pruning(model, train_fn, 0.5, rewind="weights")
