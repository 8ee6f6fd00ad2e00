"""PrUE scoring (kdcore.prune.prue) against independent computations on tiny models."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from kdcore.models import MLP, CifarVGG
from kdcore.prune import (
    class_mean_confidence,
    get_mask,
    output_layer,
    parameter_names,
    prue_dispersion,
    prue_prunable,
    prue_prune,
    prue_scores,
    sparsity,
)


def tiny_vgg() -> CifarVGG:
    torch.manual_seed(0)
    model = CifarVGG([4, "M", 8], in_channels=3, num_classes=5)
    with torch.no_grad():  # running statistics that differ from any batch's, so eval and train mode differ
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def batches(n: int = 3, size: int = 8, classes: int = 5):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 8, 8, generator=g), torch.randint(classes, (size,), generator=g)) for _ in range(n)]


def independent_prue_scores(model, params, data) -> list[torch.Tensor]:
    """|∂D/∂m| at m = 1, with explicit masks (weight · m) that require grad, one example at a time for μ."""
    names = parameter_names(model, params)
    state = dict(model.named_parameters())
    with torch.no_grad():
        per_class: dict[int, list[float]] = {}
        for x, y in data:
            for xi, yi in zip(x, y):
                per_class.setdefault(int(yi), []).append(model(xi[None]).softmax(1)[0, yi].item())
    mu = {c: sum(v) / len(v) for c, v in per_class.items()}
    masks = {name: torch.ones_like(state[name], requires_grad=True) for name in names}
    weights = {name: state[name].detach() * masks[name] for name in names}
    total = torch.zeros(())
    for x, y in data:
        p = functional_call(model, weights, (x,)).softmax(1)
        for i, yi in enumerate(y.tolist()):
            total = total + (mu[yi] - p[i, yi]).abs()
    grads = torch.autograd.grad(total, [masks[name] for name in names])
    return [g.abs() for g in grads]


def test_prue_scores_equal_the_mask_gradient_of_an_independent_dispersion():
    model = tiny_vgg().eval()
    params = prue_prunable(model)
    assert [type(m) for m, _ in params] == [nn.Conv2d, nn.Conv2d]  # conv only: the classifier stays dense
    data = batches()
    ours = prue_scores(model, params, data)
    expected = independent_prue_scores(model, params, data)
    for a, b in zip(ours, expected):
        assert a.shape == b.shape and b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_prue_scores_equal_weight_times_weight_gradient_of_d():
    model = tiny_vgg().eval()
    params = prue_prunable(model)
    data = batches()
    mu = class_mean_confidence(model, data)
    weights = [getattr(m, n) for m, n in params]
    d = sum(prue_dispersion(model, x, y, mu) for x, y in data)
    grads = torch.autograd.grad(d, weights)
    for score, w, g in zip(prue_scores(model, params, data), weights, grads):
        torch.testing.assert_close(score, (w * g).abs().detach(), rtol=1e-5, atol=1e-8)


def test_class_mean_confidence_and_dispersion_by_hand():
    model = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    # p_0(x_0) = 1/3; p_0(x_1) = e²/(e²+2); p_1(x_2) = e/(e+2)
    e = torch.e
    p = torch.tensor([1 / 3, e**2 / (e**2 + 2), e / (e + 2)])
    mu = class_mean_confidence(model, [(x[:2], y[:2]), (x[2:], y[2:])])
    torch.testing.assert_close(mu, torch.tensor([(p[0] + p[1]) / 2, p[2], 0.0]))
    d = prue_dispersion(model, x, y, mu)
    torch.testing.assert_close(d, (p[1] - p[0]).abs())  # class 1 has one example: no spread


def test_eval_mode_is_used_and_the_model_is_left_unchanged():
    model = tiny_vgg().train()
    params = prue_prunable(model)
    data = batches()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ours = prue_scores(model, params, data)
    assert model.training  # mode restored
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k  # weights and BatchNorm running statistics untouched
    assert all(p.grad is None for p in model.parameters())
    in_eval = independent_prue_scores(model.eval(), params, data)
    in_train = independent_prue_scores(model.train(), params, data)
    for a, b in zip(ours, in_eval):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    assert not all(torch.allclose(a, b, rtol=1e-3) for a, b in zip(ours, in_train))  # the mode matters here


@pytest.mark.parametrize("amount", [0.3, 0.75])
def test_prue_prune_keeps_the_top_scores_globally_at_the_requested_sparsity(amount):
    model = tiny_vgg().eval()
    data = batches()
    params = prue_prunable(model)
    scores = prue_scores(model, params, data)
    pruned = prue_prune(model, data, amount)
    assert [id(m) for m, _ in pruned] == [id(m) for m, _ in params]
    total = sum(s.numel() for s in scores)
    kept_masks = [get_mask(m, n).bool() for m, n in params]
    assert sum(int(k.sum()) for k in kept_masks) == total - round(amount * total)
    assert sparsity(params) == pytest.approx(round(amount * total) / total)
    kept = torch.cat([s[k] for s, k in zip(scores, kept_masks)])
    removed = torch.cat([s[~k] for s, k in zip(scores, kept_masks)])
    assert kept.min() >= removed.max()  # one global threshold, not per layer
    assert not hasattr(output_layer(model), "weight_mask")  # the classifier is never pruned
    for (m, n), k in zip(params, kept_masks):
        assert torch.all(getattr(m, n)[~k] == 0)


def test_mlp_prunable_set_excludes_the_output_layer_and_index_batches_work():
    torch.manual_seed(0)
    model = MLP(1, 4, widths=(6, 5), image_size=3)
    params = prue_prunable(model)
    assert [m.weight.shape for m, _ in params] == [torch.Size([6, 9]), torch.Size([5, 6])]
    g = torch.Generator().manual_seed(2)
    data = [(torch.randn(7, 1, 3, 3, generator=g), torch.randint(4, (7,), generator=g)) for _ in range(2)]
    with_index = [(x, y, torch.arange(len(y))) for x, y in data]
    for a, b in zip(prue_scores(model, params, with_index), independent_prue_scores(model, params, data)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    prue_prune(model, data, 0.5)
    prue_prune(model, data, 0.5)  # a fraction of the still-alive weights: 0.5 · 0.5 left
    assert sum(int(get_mask(m, n).sum()) for m, n in params) == 21  # 84 → 42 → 21
