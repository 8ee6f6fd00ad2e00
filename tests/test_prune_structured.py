"""Structured pruning: L1 channel/unit masks and the compactor to a smaller dense model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdcore.models import MLP, CifarVGG, build_model
from kdcore.prune import (
    alive_units,
    compact,
    magnitude_prune,
    masked_parameters,
    prune_units,
    unit_l1_norms,
    unit_layers,
)


def trained_looking_vgg() -> CifarVGG:
    """A small VGG whose BatchNorms have non-trivial affine parameters and running statistics."""
    torch.manual_seed(0)
    model = CifarVGG([8, "M", 16, 12], in_channels=3, num_classes=5)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(3):
            model(torch.randn(16, 3, 8, 8))
    return model


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_compacted_vgg_gives_the_masked_outputs(mode):
    model = trained_looking_vgg()
    prune_units(model, 0.5)
    small = compact(model)
    assert small.config == [4, "M", 8, 6]
    assert [m.weight.shape for m in small.features if isinstance(m, nn.Conv2d)] == [
        (4, 3, 3, 3),
        (8, 4, 3, 3),
        (6, 8, 3, 3),
    ]
    assert small.classifier.weight.shape == (5, 6) and not masked_parameters(small)
    x = torch.randn(8, 3, 8, 8)
    model.train(mode == "train")
    small.train(mode == "train")
    with torch.no_grad():
        torch.testing.assert_close(small(x), model(x), rtol=0, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters()) / 2


def test_masking_conv_only_would_leave_the_batchnorm_shift():
    # Why the convention masks BN too: with only the conv filter masked, the channel outputs ReLU(β − γμ/σ).
    model = trained_looking_vgg().eval()
    layer, norm = unit_layers(model)[0][0]
    with torch.no_grad():
        layer.weight[0] = 0
        layer.bias[0] = 0
        norm.bias[0] = 2.0
        out = model.features[:3](torch.randn(2, 3, 8, 8))
    assert out[:, 0].abs().max() > 0
    assert bool(alive_units(layer, norm)[0])  # so the compactor keeps such a channel


def test_prune_units_ranks_by_l1_norm_per_layer():
    model = trained_looking_vgg()
    norms = [unit_l1_norms(layer) for layer, _ in unit_layers(model)[0]]
    prune_units(model, 0.25)
    for (layer, norm), n in zip(unit_layers(model)[0], norms):
        alive = alive_units(layer, norm)
        assert int((~alive).sum()) == round(0.25 * len(n))
        assert n[~alive].max() < n[alive].min()
        assert torch.equal(norm.weight_mask, alive.float()) and torch.equal(layer.bias_mask, alive.float())
    prune_units(model, 1.0)  # never an empty layer
    assert [int(alive_units(layer, norm).sum()) for layer, norm in unit_layers(model)[0]] == [1, 1, 1]


def test_compacted_mlp_and_carried_unstructured_masks():
    torch.manual_seed(0)
    model = MLP(1, 10, (32, 16), image_size=8)
    prune_units(model, 0.5)
    magnitude_prune(model, 0.3, exclude_output=True)  # unstructured pruning on top
    small = compact(model)
    assert small.widths == (16, 8)
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(small(x), model(x), rtol=0, atol=1e-5)
    units = [alive_units(layer, None) for layer, _ in unit_layers(model)[0]]
    assert torch.equal(small.net[1].weight_mask, model.net[1].weight_mask[units[0]])
    assert torch.equal(small.net[3].weight_mask, model.net[3].weight_mask[units[1]][:, units[0]])
    assert not hasattr(small.net[1], "bias_mask")  # all ones after slicing: dropped


def test_unsupported_architecture():
    with pytest.raises(TypeError, match="CifarVGG and MLP"):
        prune_units(build_model("lenet5"), 0.5)
