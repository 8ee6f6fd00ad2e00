"""Importance scores: magnitude, random, SNIP and the general gradient hook, against independent autograd."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from kdcore.models import CifarVGG
from kdcore.prune import (
    gradient_scores,
    magnitude_prune,
    magnitude_scores,
    parameter_names,
    prunable_parameters,
    random_scores,
    snip_scores,
)


def tiny_vgg() -> CifarVGG:
    torch.manual_seed(0)
    return CifarVGG([4, "M", 8], in_channels=3, num_classes=5)


def batches(n: int = 3):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(6, 3, 8, 8, generator=g), torch.randint(5, (6,), generator=g)) for _ in range(n)]


def mask_sensitivity(model, params, data, objective) -> list[torch.Tensor]:
    """SNIP's definition, computed independently: |∂F/∂m| at m = 1 for ``weight = weight · m``."""
    names = parameter_names(model, params)
    masks = {name: torch.ones_like(getattr(m, n), requires_grad=True) for name, (m, n) in zip(names, params)}
    state = dict(model.named_parameters())
    total = 0
    for x, y in data:
        weights = {name: state[name] * masks[name] for name in names}
        total = total + objective(functional_call(model, weights, (x,)), y)
    total.backward()
    return [masks[name].grad.abs() for name in names]


def test_magnitude_and_random_scores():
    model = tiny_vgg()
    params = prunable_parameters(model)
    for score, (m, n) in zip(magnitude_scores(params), params):
        assert torch.equal(score, getattr(m, n).detach().abs())
    a = random_scores(params, torch.Generator().manual_seed(3))
    b = random_scores(params, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) and x.shape == getattr(m, n).shape for x, y, (m, n) in zip(a, b, params))


def test_snip_equals_mask_gradient_in_train_mode_and_leaves_the_model_unchanged():
    model = tiny_vgg().train()
    params = prunable_parameters(model, ("conv",))
    data = batches()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    ours = snip_scores(model, params, data)
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.named_buffers():
        assert torch.equal(v, buffers[k]), k  # train-mode BN statistics restored
    expected = mask_sensitivity(model, params, data, F.cross_entropy)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_gradient_scores_any_objective_eval_mode_and_frozen_weights():
    def true_class_confidence(logits, y):
        return logits.softmax(1).gather(1, y[:, None]).sum()

    model = tiny_vgg().eval()
    model.requires_grad_(False)  # a frozen teacher
    params = prunable_parameters(model)
    data = batches(2)
    ours = gradient_scores(model, params, data, lambda m, x, y: true_class_confidence(m(x), y))
    assert not any(p.requires_grad for p in model.parameters())
    model.requires_grad_(True)
    expected = mask_sensitivity(model, params, data, true_class_confidence)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-8)


def test_gradient_scores_of_masked_weights_are_zero():
    model = tiny_vgg().eval()
    magnitude_prune(model, 0.5)
    params = prunable_parameters(model)
    for score, (m, n) in zip(snip_scores(model, params, batches(1)), params):
        assert bool((score[getattr(m, n + "_mask") == 0] == 0).all())
