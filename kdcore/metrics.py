"""Metrics on logits: accuracy and the teacher-softness diagnostics used throughout the book.

All functions take logits ``N×C`` (and labels ``N``) and return Python floats or tensors; none of them copy
to the host except the final scalar.
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


def class_mean_prediction(logits: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """``C×C`` matrix whose row ``c`` is the mean softmax vector over examples of true class ``c``.

    Its diagonal is the mean true-class probability; off-diagonal mass shows which classes a model
    confuses, or, for a soft teacher, which "secondary" classes it passes on.
    """
    c = num_classes or logits.shape[1]
    probs = torch.softmax(logits.float(), 1)
    sums = torch.zeros(c, logits.shape[1], device=logits.device).index_add_(0, labels, probs)
    counts = torch.bincount(labels, minlength=c).clamp(min=1).unsqueeze(1)
    return sums / counts


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
    p_true = torch.softmax(logits.float(), 1).gather(1, labels.unsqueeze(1)).squeeze(1)
    c = logits.shape[1]
    mu = torch.zeros(c, device=logits.device).index_add_(0, labels, p_true)
    mu = mu / torch.bincount(labels, minlength=c).clamp(min=1)
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
