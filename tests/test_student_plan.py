"""The student derived from a pruned teacher: widths from hand-built masks, rounding, clamping, builders,
and the official prune-then-distill VGG-19 plans."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdcore.models import MLP, CifarVGG, build_model
from kdcore.prune import (
    attach_mask,
    build_derived_student,
    derived_width,
    magnitude_prune,
    sparsity_report,
    student_plan,
)


def keep_first(module: nn.Module, nnz: int) -> None:
    """Mask ``module.weight`` so that exactly ``nnz`` weights (the first ones, flattened) survive."""
    mask = torch.zeros(module.weight.numel())
    mask[:nnz] = 1
    attach_mask(module, "weight", mask.view_as(module.weight))


def keep_random(module: nn.Module, nnz: int, generator: torch.Generator) -> None:
    mask = torch.zeros(module.weight.numel())
    mask[torch.randperm(mask.numel(), generator=generator)[:nnz]] = 1
    attach_mask(module, "weight", mask.view_as(module.weight))


def test_derived_width_rounds_half_to_even_and_clamps():
    assert derived_width(12, 4) == 3
    assert derived_width(20, 3) == 7  # 6.67
    assert derived_width(50, 3, 9) == 2  # 1.85
    assert derived_width(100, 2, 9) == 6  # 5.56
    assert derived_width(10, 4) == 2  # 2.5 → 2 (half to even, as Python's and numpy's round)
    assert derived_width(14, 4) == 4  # 3.5 → 4
    assert derived_width(1, 4) == 1  # 0.25 → 0, clamped to 1
    assert derived_width(0, 4, 9) == 1
    with pytest.raises(ValueError):
        derived_width(5, 0)
    with pytest.raises(ValueError):
        derived_width(-1, 3)


def test_mlp_plan_from_hand_built_masks():
    torch.manual_seed(0)
    teacher = MLP(1, 3, (8, 6), image_size=2)  # 4 inputs → 8 → 6 → 3
    first, second, output = (m for m in teacher.modules() if isinstance(m, nn.Linear))
    keep_first(first, 12)  # h′_1 = round(12 / 4) = 3
    keep_first(second, 20)  # h′_2 = round(20 / 3) = 7: wider than the teacher's 6
    keep_first(output, 5)
    plan = student_plan(teacher)
    assert plan.kind == "mlp"
    assert plan.widths == [3, 7] and plan.teacher_widths == [8, 6]
    assert plan.in_features == 4 and plan.num_classes == 3
    assert [layer.nnz for layer in plan.layers] == [12, 20, 5]
    assert [(layer.student_in, layer.student_out) for layer in plan.layers] == [(4, 3), (3, 7), (7, 3)]
    assert [layer.student_weights for layer in plan.layers] == [12, 21, 21]
    assert [layer.derived for layer in plan.layers] == [True, True, False]
    assert plan.layers[-1].teacher_weights == 18

    student = build_derived_student(teacher)
    shapes = [tuple(m.weight.shape) for m in student.modules() if isinstance(m, nn.Linear)]
    assert shapes == [(3, 4), (7, 3), (3, 7)]  # classifier: in = last hidden width, out = classes
    assert not any(name.endswith("_mask") for name, _ in student.named_buffers())  # a dense student
    assert student(torch.randn(5, 1, 2, 2)).shape == (5, 3)
    with_shape = build_derived_student(plan, in_channels=1, image_size=2)
    assert with_shape(torch.randn(5, 1, 2, 2)).shape == (5, 3)
    with pytest.raises(ValueError):
        build_derived_student(plan, in_channels=1, image_size=3)


def test_vgg_plan_from_hand_built_masks():
    torch.manual_seed(0)
    teacher = CifarVGG([4, "M", 6], in_channels=3, num_classes=5)
    conv1, conv2 = (m for m in teacher.modules() if isinstance(m, nn.Conv2d))
    keep_first(conv1, 50)  # c′_1 = round(50 / (9·3)) = 2   (c′_0 = 3 input channels)
    keep_first(conv2, 100)  # c′_2 = round(100 / (9·2)) = 6
    keep_first(teacher.classifier, 7)
    plan = student_plan(teacher)
    assert plan.kind == "vgg"
    assert plan.widths == [2, "M", 6] and plan.teacher_widths == [4, "M", 6]
    assert [layer.kernel_area for layer in plan.layers] == [9, 9, 1]
    assert [layer.student_weights for layer in plan.layers] == [54, 108, 30]
    assert [r["layer"] for r in plan.rows()] == ["features.0", "features.4", "classifier (not derived)"]
    assert "| features.0 | 3→4 (9×) | 108 | 50 | 3→2 (9×) | 54 |" in plan.to_markdown()
    assert "<caption>The student derived from the pruned VGG, layer by layer" in plan._repr_html_()  # numbered
    assert student_plan(build_model("mlp-64-32", 1, 10, 28)).caption().startswith("The student derived from the "
                                                                                   "pruned mlp-64-32,")  # fmt: skip

    student = build_derived_student(teacher)
    assert isinstance(student, CifarVGG) and student.config == [2, "M", 6]
    assert tuple(student.classifier.weight.shape) == (5, 6)
    assert student(torch.randn(2, 3, 8, 8)).shape == (2, 5)


def test_unpruned_teacher_gives_back_its_own_widths():
    assert student_plan(build_model("mlp-64-32", 1, 10, 28)).widths == [64, 32]
    plan = student_plan(build_model("vgg11", 3, 100, 32))
    assert plan.widths == [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512]
    assert all(layer.student_weights == layer.teacher_weights for layer in plan.layers)


def test_uniform_keep_ratio_makes_widths_alternate():
    """With the same fraction r kept in every layer, c′_1 = r·c_1, then c′_2 = c_2, c′_3 = r·c_3, …:
    the rule keeps parameter counts, not the shape of the network."""
    torch.manual_seed(0)
    teacher = MLP(1, 10, (40, 40, 40, 40), image_size=5)  # 25 inputs
    for layer in [m for m in teacher.modules() if isinstance(m, nn.Linear)]:
        keep_first(layer, layer.weight.numel() // 4)
    assert student_plan(teacher).widths == [10, 40, 10, 40]


def test_fully_pruned_layer_is_clamped_to_width_one():
    torch.manual_seed(0)
    teacher = MLP(1, 3, (8, 6), image_size=2)
    first, second, _ = (m for m in teacher.modules() if isinstance(m, nn.Linear))
    keep_first(first, 0)
    keep_first(second, 1)  # round(1 / 1) = 1: not clamped
    plan = student_plan(teacher)
    assert plan.widths == [1, 1]
    assert [layer.clamped for layer in plan.layers] == [True, False, False]
    assert build_derived_student(plan)(torch.randn(2, 1, 2, 2)).shape == (2, 3)


@pytest.mark.parametrize(
    "make_teacher",
    [lambda: MLP(3, 10, (48, 32, 24), image_size=4), lambda: CifarVGG([16, "M", 24, 32, "M", 20], 3, 10)],
    ids=["mlp", "vgg"],
)
def test_derived_weights_match_teacher_nonzeros_up_to_rounding(make_teacher):
    """|k²·c′_{l−1}·c′_l − nnz_l| ≤ k²·c′_{l−1}/2 for every derived layer, at random masks and densities."""
    generator = torch.Generator().manual_seed(0)
    for trial in range(8):
        teacher = make_teacher()
        layers = [m for m in teacher.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        for layer in layers:
            density = torch.empty(()).uniform_(0.02, 1.0, generator=generator).item()
            keep_random(layer, round(density * layer.weight.numel()), generator)
        plan = student_plan(teacher)
        nnz = [int(m.weight_mask.sum()) for m in layers]
        assert [layer.nnz for layer in plan.layers] == nnz
        for layer in plan.layers[:-1]:
            unit = layer.kernel_area * layer.student_in  # weights added by one more output channel
            if layer.clamped:
                assert layer.nnz < unit / 2 + 1e-9 and layer.student_out == 1
            else:
                assert abs(layer.student_weights - layer.nnz) <= unit / 2, (trial, layer)
        for before, after in zip(plan.layers, plan.layers[1:]):  # the chain uses the student's widths
            assert after.student_in == before.student_out


def test_counts_come_from_kdcore_pruning_masks():
    torch.manual_seed(0)
    teacher = build_model("mlp-64-32", 1, 10, 8)
    magnitude_prune(teacher, 0.7)
    plan = student_plan(teacher)
    assert [layer.nnz for layer in plan.layers] == [row["kept"] for row in sparsity_report(teacher)]
    assert plan.widths[0] == round(plan.layers[0].nnz / 64)


# The official hard-coded plans (models/cifar_vgg.py of ososos888/prune-then-distill), derived from a VGG-19
# pruned by IMP with learning-rate rewinding to 36 / 59 / 79 % sparsity.
OFFICIAL_VGG19_PLANS = {
    "st36": [53, 61, "M", 128, 121, "M", 258, 241, 258, 236, "M", 485, 410, 406, 374, "M", 340, 358, 390, 399],
    "st59": [44, 56, "M", 116, 112, "M", 238, 227, 240, 209, "M", 408, 348, 339, 246, "M", 196, 214, 367, 272],
    "st79": [40, 49, "M", 111, 97, "M", 225, 187, 224, 170, "M", 356, 233, 220, 99, "M", 111, 84, 297, 122],
}


@pytest.fixture(scope="module")
def vgg19():
    return build_model("vgg19", 3, 100, 32)  # its masks are replaced by each test that uses it


@pytest.mark.parametrize("name", sorted(OFFICIAL_VGG19_PLANS))
def test_official_vgg19_plans_are_reproduced(name, vgg19):
    """Give each VGG-19 conv any nnz that the official width rounds from (9·c′_{l−1}·c′_l plus an offset of
    less than half a channel, either way): student_plan must return the official plan exactly."""
    official = OFFICIAL_VGG19_PLANS[name]
    widths = [w for w in official if w != "M"]
    teacher = vgg19
    convs = [m for m in teacher.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(widths) == 16
    generator = torch.Generator().manual_seed(len(name))
    fan_in = 3
    for conv, width in zip(convs, widths):
        unit = 9 * fan_in
        offset = torch.randint(-(unit // 2) + 1, unit // 2, (), generator=generator).item()
        keep_first(conv, 9 * fan_in * width + offset)
        fan_in = width
    plan = student_plan(teacher)
    assert plan.widths == official
    conv_fraction = sum(layer.student_weights for layer in plan.layers[:-1]) / sum(
        layer.teacher_weights for layer in plan.layers[:-1]
    )
    expected = {"st36": 0.64, "st59": 0.41, "st79": 0.21}[name]  # ≈ 1 − 0.8ⁿ, as the plans are meant to be
    assert conv_fraction == pytest.approx(expected, abs=0.01)


def test_only_mlp_and_vgg_are_supported():
    with pytest.raises(TypeError):
        student_plan(build_model("resnet8", 3, 10, 32))
