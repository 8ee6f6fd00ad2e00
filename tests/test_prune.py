"""Unstructured pruning: prunable sets, exact thresholds, masked training, reports, save and load."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune as torch_prune

from kdcore.batches import DeviceBatches
from kdcore.fit import TrainConfig, fit
from kdcore.models import MLP, CifarVGG
from kdcore.objectives import CrossEntropy
from kdcore.prune import (
    enforce_masks,
    format_table,
    get_mask,
    global_masks,
    layerwise_masks,
    load_pruned,
    load_pruned_state_dict,
    magnitude_prune,
    magnitude_scores,
    masked_parameters,
    prunable_parameters,
    prune_global,
    prune_layerwise,
    prune_lowest,
    remove_masks,
    save_pruned,
    sparsity,
    sparsity_report,
)
from kdcore.splits import Split


def tiny_vgg(seed: int = 0) -> CifarVGG:
    torch.manual_seed(seed)
    return CifarVGG([4, "M", 8, 8], in_channels=3, num_classes=5)


def tiny_mlp(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(1, 10, (32, 16), image_size=8)


def kept(params) -> int:
    return int(sum(get_mask(m, n).sum() for m, n in params))


# --- prunable sets ---------------------------------------------------------------------------------------


def test_prunable_kinds_and_output_layer():
    model = tiny_vgg()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [m for m, _ in prunable_parameters(model, ("conv",))] == convs
    assert [m for m, _ in prunable_parameters(model, ("conv", "linear"))] == [*convs, model.classifier]
    assert [m for m, _ in prunable_parameters(model, ("conv", "linear"), exclude_output=True)] == convs
    assert {n for _, n in prunable_parameters(model)} == {"weight"}
    with pytest.raises(ValueError, match="unknown kinds"):
        prunable_parameters(model, ("bn",))


def test_biases_and_batchnorm_are_never_pruned():
    model = tiny_vgg()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
                m.bias.uniform_(-1e-3, 1e-3)  # tiny values that magnitude pruning would pick if it could
    before = {k: v.clone() for k, v in model.state_dict().items()}
    magnitude_prune(model, 0.9)
    pruned = {"features.0.weight", "features.4.weight", "features.7.weight", "classifier.weight"}
    assert {k for k in model.state_dict() if k.endswith("_mask")} == {k + "_mask" for k in pruned}
    for key, value in before.items():
        if key not in pruned:  # biases, BN parameters and BN statistics
            assert torch.equal(model.state_dict()[key], value), key


def test_exclude_output_keeps_the_classifier_dense():
    model = tiny_mlp()
    magnitude_prune(model, 0.5, exclude_output=True)
    assert not hasattr(model.net[-1], "weight_mask")
    assert bool((model.net[-1].weight != 0).all())


# --- thresholds -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.25, 0.5, 0.79, 1.0])
def test_global_and_layerwise_remove_exactly_round_amount(amount):
    g = torch.Generator().manual_seed(0)
    scores = [torch.rand(7, 13, generator=g), torch.rand(50, generator=g), torch.rand(3, 3, 3, generator=g)]
    masks = [torch.ones_like(s) for s in scores]
    total = sum(s.numel() for s in scores)
    new = global_masks(scores, masks, amount)
    assert sum(int(m.sum()) for m in new) == total - round(amount * total)
    for m, s in zip(layerwise_masks(scores, masks, amount), scores):
        assert int(m.sum()) == s.numel() - round(amount * s.numel())


def test_global_threshold_removes_the_lowest_scores():
    g = torch.Generator().manual_seed(1)
    scores = [torch.randn(20, 10, generator=g).abs(), torch.randn(30, generator=g).abs()]
    masks = global_masks(scores, [torch.ones_like(s) for s in scores], 0.3)
    removed = torch.cat([s[~m] for s, m in zip(scores, masks)])
    survived = torch.cat([s[m] for s, m in zip(scores, masks)])
    assert removed.max() < survived.min()


def test_ties_all_equal_scores_exact_and_deterministic():
    scores = [torch.ones(10, 10), torch.ones(37)]
    masks = global_masks(scores, [torch.ones_like(s) for s in scores], 0.3)
    flat = torch.cat([m.flatten() for m in masks])
    k = round(0.3 * 137)
    assert int((~flat).sum()) == k
    assert not flat[:k].any() and flat[k:].all()  # ties: lowest flat index first
    for m in layerwise_masks(scores, [torch.ones_like(s) for s in scores], 0.5):
        assert int((~m).sum()) == round(0.5 * m.numel())


def test_ties_at_the_threshold_among_distinct_scores():
    scores = torch.tensor([3.0, 1.0, 2.0, 2.0, 2.0, 5.0, 2.0, 0.5])
    keep = prune_lowest(scores, torch.ones(8), 0.5)  # remove 4: 0.5, 1.0 and the first two 2.0s
    assert keep.tolist() == [True, False, False, False, True, True, True, False]


def test_a_nan_score_is_refused_not_silently_kept():
    scores = torch.tensor([0.5, float("nan"), 0.1, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        prune_lowest(scores, torch.ones(4), 1.0)  # would remove none of the 4
    # a dead weight's score does not matter: it is never selected again
    keep = prune_lowest(scores, torch.tensor([1, 0, 1, 1]), 1.0)
    assert not keep.any()
    # and infinite scores are ranked, not lost
    keep = prune_lowest(torch.tensor([float("inf"), 1.0, float("-inf"), 2.0]), torch.ones(4), 0.5)
    assert keep.tolist() == [True, False, False, True]


def test_matches_torch_global_unstructured():
    ours, theirs = tiny_vgg(), tiny_vgg()
    magnitude_prune(ours, 0.6)
    torch_prune.global_unstructured(prunable_parameters(theirs), torch_prune.L1Unstructured, amount=0.6)
    for (m1, n1), (m2, n2) in zip(prunable_parameters(ours), prunable_parameters(theirs)):
        assert torch.equal(get_mask(m1, n1), getattr(m2, n2 + "_mask"))


def test_pruning_the_remaining_keeps_zeros_and_compounds():
    model = tiny_mlp()
    params = prunable_parameters(model)
    total = kept(params)
    magnitude_prune(model, 0.2)
    first = [get_mask(m, n).clone() for m, n in params]
    alive = total - round(0.2 * total)
    assert kept(params) == alive
    magnitude_prune(model, 0.2)
    assert kept(params) == alive - round(0.2 * alive)
    assert sparsity(params) == pytest.approx(0.36, abs=1 / total)
    for (m, n), old in zip(params, first):
        assert not (get_mask(m, n).bool() & ~old.bool()).any()  # nothing revived


def test_remaining_semantics_with_scores_that_favour_dead_weights():
    # Dead weights get the highest scores; they must neither be revived nor count toward `amount`.
    scores, alive = torch.arange(10.0), torch.tensor([1.0] * 6 + [0.0] * 4)
    keep = prune_lowest(scores, alive, 0.5)
    assert keep.tolist() == [False] * 3 + [True] * 3 + [False] * 4


def test_layerwise_prunes_each_layer_by_amount():
    model = tiny_vgg()
    params = prunable_parameters(model)
    prune_layerwise(params, magnitude_scores(params), 0.5)
    for m, n in params:
        mask = get_mask(m, n)
        assert int(mask.sum()) == mask.numel() - round(0.5 * mask.numel())
    with pytest.raises(ValueError, match="scope"):
        magnitude_prune(model, 0.5, scope="channel")
    with pytest.raises(ValueError, match="amount"):
        prune_global(params, magnitude_scores(params), 1.5)


def test_thresholds_never_copy_scores_to_the_host(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("host copy of a score tensor")

    for name in ("cpu", "numpy", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    scores = [torch.rand(100, 10), torch.rand(33)]
    global_masks(scores, [torch.ones_like(s) for s in scores], 0.5)
    layerwise_masks(scores, [torch.ones_like(s) for s in scores], 0.5)


# --- masked training --------------------------------------------------------------------------------------


def synthetic_batches(n: int = 320, batch_size: int = 32) -> DeviceBatches:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(10, (n,), generator=g)
    x = (torch.rand(n, 1, 8, 8, generator=g) * 128 + 12 * y.view(-1, 1, 1, 1)).to(torch.uint8)
    return DeviceBatches(Split(x, y), (0.5,), (0.25,), batch_size=batch_size, shuffle=True)


def dead_weights(model) -> torch.Tensor:
    return torch.cat([p[mask == 0] for p, mask in masked_parameters(model)])


def test_masked_weights_stay_zero_through_fit_with_momentum_and_weight_decay():
    model = tiny_mlp()
    magnitude_prune(model, 0.7)
    before = torch.cat([p.detach().flatten().clone() for p, _ in masked_parameters(model)])
    config = TrainConfig(epochs=10, batch_size=32, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="constant")
    fit(CrossEntropy(model), synthetic_batches(), config, progress=False)  # 10 epochs × 10 batches
    assert bool((dead_weights(model) == 0).all())
    after = torch.cat([p.detach().flatten() for p, _ in masked_parameters(model)])
    assert not torch.equal(before, after)  # the alive weights did train


@pytest.mark.parametrize("enforce", [True, False])
def test_gradients_and_momentum_would_revive_weights_without_enforce_masks(enforce):
    model = tiny_mlp()
    magnitude_prune(model, 0.7)
    pairs = masked_parameters(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    batches = synthetic_batches()
    for x, y in [batch for _ in range(10) for batch in batches]:  # 100 steps
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if enforce:
            enforce_masks(pairs)
    assert bool((dead_weights(model) == 0).all()) == enforce


# --- reports ----------------------------------------------------------------------------------------------


def test_sparsity_report_counts():
    model = tiny_mlp()
    magnitude_prune(model, 0.5, exclude_output=True)
    report = sparsity_report(model)
    shapes = [(32, 64), (16, 32), (10, 16)]
    assert [r["params"] for r in report] == [a * b for a, b in shapes]
    assert report[-1]["sparsity"] == 0.0  # the output layer
    prunable = 64 * 32 + 32 * 16
    assert report.total["params"] == prunable + 160
    assert report.total["kept"] == prunable - round(0.5 * prunable) + 160
    everything = sum(p.numel() for p in model.parameters())
    assert report.model == {
        "layer": "model",
        "shape": "",
        "params": everything,
        "kept": everything - round(0.5 * prunable),
        "sparsity": pytest.approx(round(0.5 * prunable) / everything),
    }
    table = report.to_markdown()
    assert table.splitlines()[0] == "| layer | shape | params | kept | sparsity |"
    assert "| net.1.weight | 32×64 | 2,048 |" in table and str(report) == table
    assert "<td>net.1.weight</td><td>32×64</td><td>2,048</td>" in report._repr_html_()
    assert format_table([]).rows == []


# --- save, load, remove -----------------------------------------------------------------------------------


def test_save_and_load_into_a_fresh_model(tmp_path):
    model = tiny_vgg()
    magnitude_prune(model, 0.8, kinds=("conv",))
    model.eval()
    path = save_pruned(model, tmp_path / "pruned.pt")
    fresh = tiny_vgg(seed=1).eval()
    assert not masked_parameters(fresh)
    load_pruned(fresh, path)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(fresh(x), model(x))
    assert sparsity(prunable_parameters(fresh, ("conv",))) == sparsity(prunable_parameters(model, ("conv",)))
    assert len(masked_parameters(fresh)) == 3
    load_pruned_state_dict(fresh, model.state_dict())  # into an already pruned model: masks are replaced


def test_remove_masks_makes_pruning_permanent():
    model = tiny_mlp()
    magnitude_prune(model, 0.5)
    x = torch.randn(3, 1, 8, 8)
    expected = model(x)
    remove_masks(model)
    assert not masked_parameters(model)
    assert not any(k.endswith("_mask") for k in model.state_dict())
    assert torch.equal(model(x), expected)
