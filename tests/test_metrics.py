import math

import torch

from kdcore import metrics


def test_accuracy_entropy_and_max_probability_by_hand():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # probabilities (1/2, 1/2) and (3/4, 1/4)
    three = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    assert math.isclose(metrics.accuracy(three, torch.tensor([0, 1, 1])), 2 / 3, rel_tol=1e-6)
    h1, h2 = math.log(2), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert math.isclose(metrics.mean_entropy(logits), (h1 + h2) / 2, rel_tol=1e-6)
    assert math.isclose(metrics.mean_max_probability(logits), (0.5 + 0.75) / 2, rel_tol=1e-6)


def test_expected_calibration_error_by_hand():
    # confidences 0.9 (correct), 0.9 (wrong), 0.6 (correct): bins {0.9: acc 1/2, conf 0.9}, {0.6: acc 1, conf 0.6}
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 1])
    ece = metrics.expected_calibration_error(probs.log(), labels, bins=10)
    assert math.isclose(ece, (2 / 3) * abs(0.5 - 0.9) + (1 / 3) * abs(1.0 - 0.6), rel_tol=1e-5)


def test_class_mean_prediction_rows_are_class_averages():
    probs = torch.tensor([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    matrix = metrics.class_mean_prediction(probs.log(), torch.tensor([0, 0, 1]))
    assert torch.allclose(matrix, torch.tensor([[0.7, 0.3], [0.3, 0.7]]), atol=1e-6)


def test_in_group_share_counts_the_wrong_class_mass_that_stays_among_look_alikes():
    means = torch.tensor([[0.6, 0.3, 0.1, 0.0],  # class 0: of 0.4 wrong, 0.3 stays in group {0, 1}
                          [0.2, 0.7, 0.0, 0.1],  # class 1: of 0.3 wrong, 0.2 stays
                          [0.1, 0.1, 0.5, 0.3],  # class 2: in no group, not counted
                          [0.0, 0.5, 0.0, 0.5]])  # fmt: skip
    assert math.isclose(metrics.in_group_share(means, [[0, 1]]), 0.5 / 0.7, rel_tol=1e-6)
    # with class 3 as a group of one, none of its wrong mass can stay inside: 0.5 / 1.2
    assert math.isclose(metrics.in_group_share(means, [[0, 1], [3]]), 0.5 / 1.2, rel_tol=1e-6)
    assert metrics.in_group_share(means, []) is None


def test_true_class_dispersion_is_mean_absolute_deviation_within_class():
    probs = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.4, 0.6]])
    labels = torch.tensor([0, 0, 1, 1])
    # class 0: p_y = 0.9, 0.5 (mean 0.7, deviations 0.2, 0.2); class 1: 0.8, 0.6 (mean 0.7, deviations 0.1, 0.1)
    assert math.isclose(metrics.true_class_dispersion(probs.log(), labels), 0.15, rel_tol=1e-5)
    report = metrics.softness_report(probs.log(), labels)
    assert set(report) == {"accuracy", "entropy", "max_prob", "ece", "dispersion"}


def test_class_means_of_values_and_rows_with_an_absent_class():
    from kdcore.metrics import class_means, class_sums

    labels = torch.tensor([0, 0, 2])
    values = torch.tensor([1.0, 3.0, 5.0])
    sums, counts = class_sums(values, labels, 3)
    assert sums.tolist() == [4.0, 0.0, 5.0] and counts.tolist() == [2.0, 0.0, 1.0]
    assert class_means(values, labels, 3).tolist() == [2.0, 0.0, 5.0]  # an absent class: 0, not nan
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    assert class_means(rows, labels, 3).tolist() == [[0.5, 0.5], [0.0, 0.0], [2.0, 2.0]]


def test_class_means_of_half_precision_values_add_up_in_float32():
    from kdcore.metrics import class_means

    values = torch.full((600,), 0.3, dtype=torch.bfloat16)  # bf16 counts stop at 256: a mean of 0.5 once
    mean = class_means(values, torch.zeros(600, dtype=torch.long), 1)
    assert mean.dtype == torch.float32 and abs(mean.item() - 0.3) < 1e-3
