"""The student derived from a pruned teacher (prune-then-distill, Park & No
2022).

Prune-then-distill compresses a network in two steps: prune the teacher
(unstructured, so the surviving weights are scattered), then distil it into a
*dense* student whose layer ``l`` has as many weights as the pruned teacher's
layer ``l`` kept. The layers are chained, so each width follows from the one
before:

* a conv layer with a ``k×k`` kernel (``k² = 9`` for VGG's 3×3 convs)::

      c′_l = round(nnz_l / (k² · c′_{l−1}))

* a linear layer::

      h′_l = round(nnz_l / h′_{l−1})

``nnz_l`` is the number of weights the teacher's masks keep in layer ``l``
(biases and BatchNorm are never pruned and do not enter the rule). The chain
starts from the input: ``c′_0`` is the number of input channels of a conv stack
(3 for CIFAR) and, for an MLP, the flattened input size ``C·H·W`` (784 for
Fashion-MNIST). So the derived layer keeps the teacher layer's non-zeros up to
rounding: ``|k²·c′_{l−1}·c′_l − nnz_l| ≤ k²·c′_{l−1}/2``.

Rounding is Python's :func:`round` (half to even), as in the official
``get_student_plan``. A width that rounds to 0 (a layer pruned almost away) is
clamped to 1, so the student is still a network; the official code would build a
zero-width layer and fail. Nothing bounds ``c′_l`` by the teacher's width: after
a layer that kept few weights (small ``c′_{l−1}``) the next one can come out
*wider* than the teacher's, because the rule preserves parameters per layer, not
widths.

The classifier is not derived: the student's output layer is a dense
``Linear(c′_L, classes)``, whatever the teacher's pruned output layer kept (the
official VGG builds ``Linear(plan[-1], classes)`` too).

The official code's ``get_student_plan`` (``models/base.py``) is shadowed by a
second definition with no argument, so it cannot run as released, and it divides
by ``3·c′_{l−1}`` instead of ``9·c′_{l−1}``; its hard-coded plans
(``vgg19-rwd-st36/59/79``) follow the ``9·c′_{l−1}`` rule, which is the one used
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..models import MLP, VGG_CONFIGS, CifarVGG
from .masks import get_mask
from .report import format_table


def derived_width(nnz: int, fan_in: int, kernel_area: int = 1) -> int:
    """``max(1, round(nnz / (kernel_area · fan_in)))``: the width whose dense
    layer has ``nnz`` weights.

    ``fan_in`` is the *student's* previous width ``c′_{l−1}``; ``kernel_area``
    is ``k_h·k_w`` for a conv (9 for 3×3) and 1 for a linear layer.
    """
    if fan_in < 1 or kernel_area < 1 or nnz < 0:
        raise ValueError(
            f"need nnz >= 0, fan_in >= 1, kernel_area >= 1; got {nnz}, "
            f"{fan_in}, {kernel_area}"
        )
    return max(1, round(nnz / (kernel_area * fan_in)))


@dataclass(frozen=True)
class LayerPlan:
    """One teacher layer and the student layer derived from it."""

    name: str  # the teacher's module name, e.g. "features.0" or "net.1"
    kernel_area: int  # k_h·k_w (1 for linear layers)
    teacher_in: int
    teacher_out: int
    nnz: int  # weights the teacher's mask keeps
    student_in: int  # c′_{l−1}
    # c′_l (the classifier: the number of classes, not derived)
    student_out: int
    # False for the classifier, which is dense Linear(c′_L, classes)
    derived: bool = True

    @property
    def teacher_weights(self) -> int:
        return self.kernel_area * self.teacher_in * self.teacher_out

    @property
    def student_weights(self) -> int:
        return self.kernel_area * self.student_in * self.student_out

    @property
    def clamped(self) -> bool:
        """Whether the rule gave width 0 and the width was clamped to 1."""
        return (
            self.derived
            and round(self.nnz / (self.kernel_area * self.student_in)) < 1
        )


@dataclass(frozen=True)
class StudentPlan:
    """The derived student's architecture: ``widths`` in the teacher's own
    format, and the per-layer plan.

    ``kind`` is ``"mlp"`` (``widths`` = hidden widths) or ``"vgg"`` (``widths``
    = a :class:`CifarVGG` config with ``"M"`` for max-pools). ``in_features`` is
    ``c′_0`` (input channels, or the flattened input size of an MLP). Displays
    as a Markdown table in a notebook.
    """

    kind: str
    widths: list
    teacher_widths: list
    layers: tuple[LayerPlan, ...]
    in_features: int
    num_classes: int

    def rows(self) -> list[dict]:
        """One dict per layer: teacher shape, kept weights, student shape and
        weights."""

        def shape(c_in, c_out, k):
            return f"{c_in}→{c_out}" + (f" ({k}×)" if k > 1 else "")

        return [
            {
                "layer": layer.name
                + ("" if layer.derived else " (not derived)"),
                "teacher": shape(
                    layer.teacher_in, layer.teacher_out, layer.kernel_area
                ),
                "teacher weights": layer.teacher_weights,
                "kept (nnz)": layer.nnz,
                "student": shape(
                    layer.student_in, layer.student_out, layer.kernel_area
                ),
                "student weights": layer.student_weights,
            }
            for layer in self.layers
        ]

    def caption(self) -> str:
        """What the plan's table shows, naming its teacher (``mlp-8-6``):
        the book numbers a table by its caption."""
        teacher = (
            "mlp-" + "-".join(map(str, self.teacher_widths))
            if self.kind == "mlp"
            else "VGG"
        )
        return (
            f"The student derived from the pruned {teacher}, layer by layer:"
            " the teacher's shape, the weights it kept, and the student's"
            " shape with as many weights"
        )

    def to_markdown(self) -> str:
        return format_table(self.rows(), self.caption()).to_markdown()

    def _repr_html_(self) -> str:
        return format_table(self.rows(), self.caption())._repr_html_()


def _hidden_layers(
    model: nn.Module,
) -> tuple[list[tuple[str, nn.Module]], tuple[str, nn.Linear], str]:
    """The teacher's derived layers in order, its classifier, and its kind."""
    if isinstance(model, MLP):
        linears = [
            (name, m)
            for name, m in model.named_modules()
            if isinstance(m, nn.Linear)
        ]
        return linears[:-1], linears[-1], "mlp"
    if isinstance(model, CifarVGG):
        convs = [
            (name, m)
            for name, m in model.named_modules()
            if isinstance(m, nn.Conv2d)
        ]
        if any(m.groups != 1 for _, m in convs):
            raise ValueError(
                "the derivation rule assumes dense (groups=1) convolutions"
            )
        return convs, ("classifier", model.classifier), "vgg"
    raise TypeError(
        "student_plan supports kdcore's MLP and CifarVGG, not "
        f"{type(model).__name__}"
    )


@torch.no_grad()
def student_plan(model: nn.Module) -> StudentPlan:
    """The derived student of a (masked) :class:`~kdcore.models.MLP` or
    :class:`~kdcore.models.CifarVGG`.

    Non-zeros are counted from the masks (see :func:`kdcore.prune.get_mask`), in
    one host transfer; a layer without a mask counts as dense, so an unpruned
    teacher gives back its own widths.
    """
    hidden, (out_name, classifier), kind = _hidden_layers(model)
    layers = [m for _, m in hidden] + [classifier]
    kept = torch.stack(
        [get_mask(m, "weight").count_nonzero() for m in layers]
    ).tolist()
    fan_in = layers[0].in_channels if kind == "vgg" else layers[0].in_features
    in_features, plan = fan_in, []
    for (name, layer), nnz in zip(hidden, kept):
        area = (
            layer.kernel_size[0] * layer.kernel_size[1] if kind == "vgg" else 1
        )
        if kind == "vgg":
            teacher_in, teacher_out = layer.in_channels, layer.out_channels
        else:
            teacher_in, teacher_out = layer.in_features, layer.out_features
        width = derived_width(nnz, fan_in, area)
        plan.append(
            LayerPlan(name, area, teacher_in, teacher_out, nnz, fan_in, width)
        )
        fan_in = width
    classes = classifier.out_features
    plan.append(
        LayerPlan(
            out_name,
            1,
            classifier.in_features,
            classes,
            kept[-1],
            fan_in,
            classes,
            derived=False,
        )
    )

    derived = iter(layer.student_out for layer in plan[:-1])
    if kind == "vgg":
        teacher_widths = list(model.config)
        widths = [
            item if item == "M" else next(derived) for item in teacher_widths
        ]
    else:
        teacher_widths, widths = list(model.widths), list(derived)
    return StudentPlan(
        kind, widths, teacher_widths, tuple(plan), in_features, classes
    )


def build_derived_student(
    model_or_plan: nn.Module | StudentPlan,
    in_channels: int | None = None,
    image_size: int | None = None,
) -> nn.Module:
    """A freshly initialized dense student with the derived widths (an
    :class:`MLP` or a :class:`CifarVGG`).

    Its first layer takes ``c′_0`` inputs (the teacher's), its output layer is
    ``Linear(c′_L, classes)``. An MLP only knows its flattened input size, so by
    default the student MLP is built with ``in_channels = C·H·W`` and
    ``image_size = 1``: the same layers, as its ``Flatten`` accepts any image
    shape; pass ``in_channels`` and ``image_size`` to record the image shape
    instead. Built on the CPU.
    """
    plan = (
        model_or_plan
        if isinstance(model_or_plan, StudentPlan)
        else student_plan(model_or_plan)
    )
    if plan.kind == "vgg":
        if in_channels not in (None, plan.in_features):
            raise ValueError(
                f"the teacher takes {plan.in_features} input channels, not "
                f"{in_channels}"
            )
        student = CifarVGG(plan.widths, plan.in_features, plan.num_classes)
    else:
        if in_channels is None and image_size is None:
            in_channels, image_size = plan.in_features, 1
        if (
            in_channels is None
            or image_size is None
            or in_channels * image_size**2 != plan.in_features
        ):
            raise ValueError(
                "in_channels·image_size² must equal the teacher's "
                f"{plan.in_features} inputs; "
                f"got in_channels={in_channels}, image_size={image_size}"
            )
        student = MLP(
            in_channels, plan.num_classes, tuple(plan.widths), image_size
        )
    # a name for the cost ledger (kdcore.cost), like build_model's
    student.arch = derived_name(plan)
    return student


def derived_name(plan: StudentPlan) -> str:
    """``vgg19-derived-79``: the teacher's architecture and the share of its
    planned weights that were pruned, in percent. It names the student by what
    it comes from: its widths depend on the teacher's trained weights."""
    kept = sum(layer.nnz for layer in plan.layers) / sum(
        layer.teacher_weights for layer in plan.layers
    )
    teacher = next(
        (
            name
            for name, config in VGG_CONFIGS.items()
            if config == plan.teacher_widths
        ),
        None,
    )
    if teacher is None:
        teacher = (
            plan.kind + "".join(f"-{w}" for w in plan.teacher_widths)
            if plan.kind == "mlp"
            else "vgg"
        )
    return f"{teacher}-derived-{round(100 * (1 - kept))}"
