"""Chapter 2 ("Pruning a teacher"): its parameters validate in every profile and bad values are refused.

The notebook itself runs under nbval at the smoke profile; these tests cover what the smoke run cannot:
the book and paper profiles' values, and the checks on the chapter's own parameters.
"""

import pytest

from kdcore import prune
from kdcore.chapters import CHAPTERS
from kdcore.data import NUM_CLASSES
from kdcore.models import build_model
from kdcore.params import ParameterError, resolve


@pytest.mark.parametrize("profile", ["smoke", "book", "paper"])
def test_every_profile_validates_and_its_teacher_supports_structured_pruning(profile):
    P = resolve("pruning", profile)
    assert P.seeds and all(0 <= s < 1 for s in P.sparsities)
    # IMP runs to the largest target; every comparison point is one of its rounds
    rounds = {t: prune.imp_rounds(t, P.imp_rate) for t in P.imp_targets}
    assert all(1 <= n <= prune.imp_rounds(max(P.imp_targets), P.imp_rate) for n in rounds.values())
    # the chapter's structured section needs a chain model (MLP or CIFAR VGG) as the teacher
    image_size = 28 if P.dataset == "fashion_mnist" else 32
    channels = 1 if P.dataset == "fashion_mnist" else 3
    layers, head = prune.unit_layers(build_model(P.teacher, channels, NUM_CLASSES[P.dataset], image_size))
    assert layers and head.out_features == NUM_CLASSES[P.dataset]


def test_book_profile_compares_imp_and_one_shot_at_two_distinct_sparsities():
    book = {name: p.default for name, p in CHAPTERS["pruning"].params.items()}
    rounds = [prune.imp_rounds(t, book["imp_rate"]) for t in book["imp_targets"]]
    assert rounds == [3, 5]  # 87.5 % and 96.875 % at 50 % per round


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("imp_rate", 1.0),
        ("imp_rate", 0),
        ("imp_targets", [0.5, 1.0]),
        ("imp_targets", []),
        ("retrain_epochs", 0),
        ("unit_fractions", [1.0]),
        ("exclude_output", "yes"),
        ("sparsities", [0.5, -0.1]),
    ],
)
def test_bad_chapter_values_are_refused_by_name(name, value):
    with pytest.raises(ParameterError, match=name):
        resolve("pruning", "smoke", **{name: value})
