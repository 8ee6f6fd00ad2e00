"""Metrics on logits: accuracy and the teacher-softness diagnostics used throughout the book.

All functions take logits ``N×C`` (and labels ``N``) and return Python floats or tensors; none of them copy
to the host except the final scalar. :func:`class_sums` and :func:`class_means` (a per-class mean of any
per-example values) serve this module, PrUE's ``μ`` (:mod:`kdcore.prune.prue`) and the ICC teacher's class
relations (:mod:`kdcore.losses.icc`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of correct top-1 predictions."""
    return (logits.argmax(1) == labels).float().mean().item()


def mean_entropy(logits: torch.Tensor) -> float:
    """Mean entropy (nats) of ``softmax(logits)``: higher means softer predictions."""
    log_p = torch.log_softmax(logits.float(), 1)
    return -(log_p.exp() * log_p).sum(1).mean().item()


def mean_max_probability(logits: torch.Tensor) -> float:
    """Mean of the largest softmax probability (the model's confidence)."""
    return torch.softmax(logits.float(), 1).max(1).values.mean().item()


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE with ``bins`` equal-width confidence bins: ``Σ_b (n_b/N) · |acc_b − conf_b|``."""
    probs = torch.softmax(logits.float(), 1)
    confidence, prediction = probs.max(1)
    correct = (prediction == labels).float()
    bin_index = torch.clamp((confidence * bins).long(), max=bins - 1)
    conf_sum = torch.zeros(bins, device=logits.device).scatter_add_(0, bin_index, confidence)
    acc_sum = torch.zeros(bins, device=logits.device).scatter_add_(0, bin_index, correct)
    return ((conf_sum - acc_sum).abs().sum() / len(labels)).item()


def class_sums(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class, the sum of ``values`` (``N`` or ``N×K``) over its examples, and their count: the parts of a
    class mean, for a caller that adds them up over batches or ranks before dividing (:func:`class_means`).
    Counted with ``index_add_``, not ``bincount``, which would wait for the GPU to learn its output's size; added
    in float32 at least (bf16 stops counting at 256)."""
    values = values.to(torch.promote_types(values.dtype, torch.float32))
    sums = values.new_zeros(num_classes, *values.shape[1:]).index_add_(0, labels, values)
    counts = values.new_zeros(num_classes).index_add_(0, labels, values.new_ones(len(labels)))
    return sums, counts


def class_means(values: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per class, the mean of ``values`` (``N`` or ``N×K``) over its examples; 0 for a class without any."""
    sums, counts = class_sums(values, labels, num_classes)
    return sums / counts.clamp(min=1).view(-1, *[1] * (values.dim() - 1))


def true_class_probability(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``p_{y(x)}(x)``: the softmax probability of each example's true class (temperature 1)."""
    return logits.float().softmax(1).gather(1, labels[:, None]).squeeze(1)


def class_mean_prediction(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """``C×C`` matrix whose row ``c`` is the mean softmax vector over examples of true class ``c``.

    Its diagonal is the mean true-class probability; off-diagonal mass shows which classes a model
    confuses, or, for a soft teacher, which "secondary" classes it passes on.
    """
    return class_means(torch.softmax(logits.float(), 1), labels, num_classes or logits.shape[1])


def in_group_share(class_means: torch.Tensor, groups: Sequence[Sequence[int]]) -> float | None:
    """Of the wrong-class mass of a :func:`class_mean_prediction` matrix's rows whose true class is in one of
    ``groups`` (e.g. Fashion-MNIST's tops and its shoes), the share that lands in that class's own group: how
    much of a teacher's soft targets says which classes look alike. ``None`` without groups."""
    if not groups:
        return None
    wrong = class_means - torch.diag(class_means.diagonal())
    inside = sum(wrong[g][:, g].sum() for g in groups)
    return (inside / sum(wrong[g].sum() for g in groups)).item()


def true_class_dispersion(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Within-class dispersion of the true-class probability: ``mean_x |μ_{y(x)} − p_{y(x)}(x)|``.

    ``μ_c`` is the mean of ``p_c`` over the examples of class ``c``. This is PrUE's quantity ``D`` divided
    by ``N``: how much a model's confidence in the right class varies between examples of one class.
    """
    p_true = true_class_probability(logits, labels)
    mu = class_means(p_true, labels, logits.shape[1])
    return (mu[labels] - p_true).abs().mean().item()


def softness_report(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy and every scalar softness diagnostic, in one dict (for tables and results JSON)."""
    return {
        "accuracy": accuracy(logits, labels),
        "entropy": mean_entropy(logits),
        "max_prob": mean_max_probability(logits),
        "ece": expected_calibration_error(logits, labels),
        "dispersion": true_class_dispersion(logits, labels),
    }
