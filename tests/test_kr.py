import copy

import pytest
import torch
import torch.nn.functional as F

from kdcore.batches import DeviceBatches
from kdcore.fit import TrainConfig, fit
from kdcore.losses import KR
from kdcore.losses.kr import (
    aggregate,
    make_recoder,
    match_layers,
    order_units,
    prior_loss,
    recode_gradient,
    relative_depth_index,
    rescale_std,
    soft_threshold,
    standardize,
    top_fraction,
)
from kdcore.models import MLP, build_model
from kdcore.splits import Split


def test_aggregate_hand_checked_block_means():
    w = torch.arange(16.0).view(4, 4)
    assert aggregate(w, (2, 2)).tolist() == [[2.5, 4.5], [10.5, 12.5]]
    # adaptive windows overlap when sizes do not divide: 3 -> 2 averages (0, 1) and (1, 2)
    assert aggregate(torch.tensor([0.0, 1.0, 2.0]), (2,)).tolist() == [0.5, 1.5]
    assert aggregate(w, (4, 4)) is w  # nothing to pool


def test_aggregate_shapes_for_mlp_and_conv_weights_and_kernel_axes_kept():
    assert aggregate(torch.randn(512, 784), (128, 784)).shape == (128, 784)
    assert aggregate(torch.randn(10, 512), (10, 32)).shape == (10, 32)
    conv = torch.randn(64, 32, 3, 3)
    pooled = aggregate(conv, (16, 8, 3, 3))
    assert pooled.shape == (16, 8, 3, 3)
    # separable pooling over (out, in) equals adaptive_avg_pool2d with the kernel axes as channels
    reference = F.adaptive_avg_pool2d(conv.permute(2, 3, 0, 1), (16, 8)).permute(2, 3, 0, 1)
    assert torch.allclose(pooled, reference, atol=1e-6)
    with pytest.raises(ValueError, match="ranks differ"):
        aggregate(conv, (16, 8))


def test_kr_priors_have_the_student_shapes_for_mlps_and_resnets():
    torch.manual_seed(0)
    pairs = [
        (build_model("mlp-32-32"), build_model("mlp-512-512"), "similar"),
        (build_model("resnet8x4", 3, 100, 32), build_model("resnet32x4", 3, 100, 32), "index"),
    ]
    for student, teacher, order in pairs:
        objective = KR(student, teacher, unit_order=order)
        layers = objective.student_layers
        assert len(layers) == sum(1 for m in student.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
        for layer, prior in zip(layers, objective.priors()):
            assert prior.shape == layer.weight.shape
            assert prior.std().item() == pytest.approx(1.0, rel=1e-4)


def test_layer_matching_by_relative_depth_within_kind_and_kernel():
    assert [relative_depth_index(i, 3, 3) for i in range(3)] == [0, 1, 2]
    assert [relative_depth_index(i, 7, 31) for i in range(7)] == [0, 5, 10, 15, 20, 25, 30]
    assert relative_depth_index(0, 1, 4) == 3
    student, teacher = build_model("mlp-32-32"), build_model("mlp-512-512")
    s_linears = [m for m in student.modules() if isinstance(m, torch.nn.Linear)]
    t_linears = [m for m in teacher.modules() if isinstance(m, torch.nn.Linear)]
    assert match_layers(student, teacher) == list(zip(s_linears, t_linears))
    with torch.device("meta"):
        student = build_model("mlp-32-32-32")
    s_linears = [m for m in student.modules() if isinstance(m, torch.nn.Linear)]
    assert match_layers(student, teacher) == list(zip(s_linears[:2], t_linears[:2]))
    with torch.device("meta"):
        student, teacher = build_model("resnet8x4", 3, 100, 32), build_model("resnet32x4", 3, 100, 32)
    pairs = match_layers(student, teacher)
    assert len(pairs) == 11  # 7 3×3 convs, 3 shortcuts, fc
    assert all(s.weight.shape[2:] == t.weight.shape[2:] for s, t in pairs)
    assert all(type(s) is type(t) for s, t in pairs)
    s_names = {id(m): n for n, m in student.named_modules()}
    t_names = {id(m): n for n, m in teacher.named_modules()}
    named = {s_names[id(s)]: t_names[id(t)] for s, t in pairs}
    assert named["stages.1.0.conv1"] == "stages.1.2.conv1"  # relative depth 3/6 of the 3×3 convs: 15 of 30
    assert all(s.split(".")[:2] == t.split(".")[:2] for s, t in named.items())  # every pair in the same stage


def test_a_shallower_mlp_gets_a_prior_only_where_its_units_have_one_teacher_counterpart():
    """mlp-32 against mlp-512-512: relative depth would pool the student's
    output layer from the teacher's, whose inputs are the teacher's *second*
    hidden units, while the student's hidden units are pooled from the first.
    Matching from the input leaves the output layer without a prior."""
    student, teacher = build_model("mlp-32"), build_model("mlp-512-512")
    s_linears = [m for m in student.modules() if isinstance(m, torch.nn.Linear)]
    t_linears = [m for m in teacher.modules() if isinstance(m, torch.nn.Linear)]
    assert match_layers(student, teacher) == [(s_linears[0], t_linears[0])]
    objective = KR(student, teacher)
    assert objective.student_layers == [s_linears[0]]
    # the prior's gradient reaches the hidden layer and nothing else
    objective.prior().backward()
    assert s_linears[0].weight.grad.abs().sum() > 0
    assert s_linears[1].weight.grad is None
    with pytest.raises(ValueError, match="counterpart"):
        KR(build_model("mlp"), teacher)  # no hidden layer: nothing matches
    # relative depth, kept to show what the mismatch costs: the output layer takes the teacher's
    assert match_layers(student, teacher, "depth") == [(s_linears[0], t_linears[0]), (s_linears[1], t_linears[2])]
    assert KR(student, teacher, matching="depth").student_layers == s_linears
    with pytest.raises(ValueError, match="matching"):
        match_layers(student, teacher, "nearest")


def test_top_fraction_keeps_exactly_the_requested_fraction_of_largest_magnitudes():
    g = torch.randn(40, 25, generator=torch.Generator().manual_seed(0))
    for rho in (0.01, 0.1, 0.25, 1 / 3, 0.9):
        kept = top_fraction(g, rho)
        k = round(rho * g.numel())
        assert int(kept.count_nonzero()) == k
        nonzero = kept != 0
        assert torch.equal(kept[nonzero], g[nonzero])  # kept entries are unchanged
        assert g[nonzero].abs().min() >= g[~nonzero].abs().max()
    assert int(top_fraction(g, 0.0).count_nonzero()) == 0
    assert torch.equal(top_fraction(g, 1.0), g)
    with pytest.raises(ValueError):
        top_fraction(g, 1.5)


def test_top_fraction_breaks_ties_by_flat_position():
    assert top_fraction(torch.ones(10), 0.3).tolist() == [1.0] * 3 + [0.0] * 7
    g = torch.tensor([[3.0, -1.0, 1.0], [1.0, -1.0, 0.5]])  # k = 3: the 3, then two of the four tied 1s
    assert top_fraction(g, 0.5).tolist() == [[3.0, -1.0, 1.0], [0.0, 0.0, 0.0]]


def test_soft_threshold_hand_checked():
    g = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    assert torch.allclose(soft_threshold(g, 0.5), torch.tensor([-1.5, 0.0, 0.0, 0.0, 1.0]))
    shrunk = soft_threshold(torch.tensor([-0.3, -0.1, 0.2]), torch.tensor(0.4))  # λ as a tensor, as KR passes it
    assert torch.equal(shrunk, torch.zeros(3)) and not torch.signbit(shrunk).any()  # no "-0.0000" on the page
    # the objective's rule: λ = τ · mean|g| = 0.86 for τ = 1
    assert torch.allclose(make_recoder("soft", tau=1.0)(g), torch.tensor([-1.14, 0.0, 0.0, 0.0, 0.64]))
    with pytest.raises(ValueError):
        make_recoder("hard")


def test_recode_gradient_recodes_only_its_own_path():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    a, b = torch.tensor([0.1, -5.0, 2.0, 0.3]), torch.tensor([1.0, 1.0, 1.0, 1.0])
    out = recode_gradient(w, lambda grad: top_fraction(grad, 0.5))
    assert torch.equal(out, w)
    ((out * a).sum() + (w * b).sum()).backward()
    assert torch.allclose(w.grad, torch.tensor([1.0, -4.0, 3.0, 1.0]))  # top-2 of a, plus all of b


def test_order_units_keeps_the_function_and_permutes_units():
    torch.manual_seed(0)
    mlp = MLP(1, 10, (16, 8), 4)
    ordered = order_units(mlp)
    x = torch.randn(5, 1, 4, 4)
    assert torch.allclose(ordered(x), mlp(x), atol=1e-5)
    first, first_ordered = mlp.net[1].weight, ordered.net[1].weight
    assert not torch.equal(first, first_ordered)
    assert torch.equal(first.sort(0).values, first_ordered.sort(0).values)  # same rows, another order
    with pytest.raises(ValueError, match="MLP"):
        order_units(build_model("resnet8", 3, 10, 32))


def test_order_units_moves_a_pruned_teachers_masks_with_their_weights():
    from kdcore.prune import magnitude_prune, sparsity_report
    from kdcore.prune.masks import enforce_masks, masked_parameters

    torch.manual_seed(0)
    mlp = MLP(1, 10, (16, 8), 4)
    magnitude_prune(mlp, 0.5)
    ordered = order_units(mlp)
    enforce_masks(masked_parameters(ordered))  # zeroes what the masks say: nothing, if they moved too
    x = torch.randn(5, 1, 4, 4)
    assert torch.allclose(ordered(x), mlp(x), atol=1e-5)
    assert sparsity_report(ordered) == sparsity_report(mlp)
    for parameter, mask in masked_parameters(ordered):
        assert torch.equal(parameter == 0, mask == 0)  # in this network, zero exactly where pruned


def test_standardize_and_rescale_std_give_a_flat_tensor_no_pattern():
    flat = torch.full((2, 2), 0.5)
    assert torch.equal(standardize(flat), torch.zeros(2, 2))
    assert torch.equal(rescale_std(flat, torch.randn(2, 2)), torch.zeros(2, 2))
    target, like = torch.randn(3, 4), torch.randn(3, 4)
    assert rescale_std(target, like).std().item() == pytest.approx(like.std().item(), rel=1e-6)


def test_kr_terms_and_prior_value_by_hand():
    torch.manual_seed(0)
    student, teacher = MLP(1, 3, (4,), 2), MLP(1, 3, (8,), 2)
    objective = KR(student, teacher, beta=0.5, recode="none", unit_order="index", w_ce=1.0, w_kd=0.0)
    x, y = torch.randn(6, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2])
    _, losses = objective(x, y)
    assert set(losses) == {"ce", "kr"}
    s_layers = [student.net[1], student.net[3]]
    t_layers = [teacher.net[1], teacher.net[3]]
    targets = [rescale_std(aggregate(t.weight, s.weight.shape), s.weight) for s, t in zip(s_layers, t_layers)]
    by_hand = 0.5 * sum(0.5 * ((s.weight - t) ** 2).sum() for s, t in zip(s_layers, targets))
    assert losses["kr"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert losses["kr"].item() == pytest.approx(0.5 * prior_loss([s.weight for s in s_layers], targets).item())
    # KR alone needs no teacher logits; KD+KR adds the KD term
    objective.cache_teacher_logits(None)
    assert objective.cached_logits is None
    assert set(KR(student, teacher, w_kd=0.5, unit_order="index")(x, y)[1]) == {"ce", "kd", "kr"}


def _one_step(student, teacher, recode, beta, x, y):
    train = DeviceBatches(Split(x, y), (0.5,), (0.25,), batch_size=len(y), shuffle=True)
    config = TrainConfig(epochs=1, batch_size=len(y), lr=0.1, momentum=0.0, weight_decay=0.0, schedule="constant")
    objective = KR(student, teacher, beta=beta, recode=recode, rho=0.25, unit_order="index")
    fit(objective, train, config, progress=False)
    return [layer.weight.detach().clone() for layer in objective.student_layers]


def test_recoded_prior_gradient_reaches_the_student_in_one_fit_step():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randint(0, 256, (32, 1, 4, 4), generator=g, dtype=torch.uint8), torch.randint(3, (32,), generator=g)
    torch.manual_seed(0)
    teacher, start = MLP(1, 3, (24,), 4), MLP(1, 3, (6,), 4)
    beta, lr = 2.0, 0.1
    # the prior's gradient at the start, β (W − Ŵ), computed independently of the objective
    probe = KR(start, teacher, beta=beta, recode="none", unit_order="index")
    weights = [layer.weight for layer in probe.student_layers]
    targets = [a * w.detach().std() for a, w in zip(probe.priors(), weights)]
    prior_grads = [beta * (w.detach() - t) for w, t in zip(weights, targets)]

    after = {recode: _one_step(copy.deepcopy(start), teacher, recode, beta, x, y) for recode in ("none", "topk")}
    for none_w, topk_w, grad in zip(after["none"], after["topk"], prior_grads):
        # same start, same batch, same CE gradient: the updates differ by lr · (g − recoded g)
        expected = lr * (grad - top_fraction(grad, 0.25))
        assert torch.allclose(topk_w - none_w, expected, atol=1e-6)
        assert int(expected.count_nonzero()) == grad.numel() - round(0.25 * grad.numel())


def test_a_student_cache_key_tells_kr_objectives_apart_by_their_rules_and_priors():
    """Student runs are cached by ``describe(objective)``: two KR objectives that would train differently
    must not share a key, while objectives without buffers of their own keep the keys they had."""
    from kdcore.losses import KD
    from kdcore.teachers import config_hash, describe

    teacher = build_model("mlp-512-512")

    def key(**settings):
        torch.manual_seed(0)
        return config_hash(describe(KR(build_model("mlp-32-32"), teacher, **settings)))

    base = key()
    assert key() == base  # the same objective, the same key
    for other in ({"rho": 0.2}, {"recode": "soft"}, {"tau": 2.0}, {"unit_order": "index"}, {"matching": "depth"}):
        assert key(**other) != base, other
    objective = KR(build_model("mlp-32-32"), teacher)
    before = describe(objective)
    with torch.no_grad():  # a prior built by another rule
        objective.prior_1.mul_(-1)
    assert describe(objective)["buffers"] != before["buffers"]
    assert "buffers" not in describe(KD(build_model("mlp-32-32"), teacher))
