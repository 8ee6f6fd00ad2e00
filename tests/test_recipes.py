"""Teacher recipes: one path trains or loads every teacher, pruned ones included, through the cache."""

import pytest

from kdcore import experiment
from kdcore.fit import TrainConfig
from kdcore.params import Params
from kdcore.prune import sparsity_report
from kdcore.recipes import ICC, LabelSmoothing, Plain, Pruned, Tolerant

CONFIG = TrainConfig(epochs=1, batch_size=128, lr=0.05)


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path))
    P = Params(dataset="synthetic", data_dir=None, device="cpu", val_fraction=0.2, train_subset=None,
               batch_size=128, augment=False)  # fmt: skip
    return experiment.prepare(P)


def test_objective_keys_name_everything_that_changes_the_teacher():
    assert Plain("mlp-16", CONFIG).objective_key() == {"name": "cross_entropy"}
    assert LabelSmoothing("mlp-16", CONFIG, epsilon=0.2).objective_key() == {"name": "label_smoothing", "epsilon": 0.2}
    assert Tolerant("mlp-16", CONFIG, eta=0.5).objective_key()["eta"] == 0.5
    assert ICC("mlp-16", CONFIG).objective_key()["name"] == "icc_teacher_reconstructed"
    other_seed = Plain("mlp-16", CONFIG).with_seed(3)
    assert other_seed.seed == 3 and other_seed.train.seed == 3  # initialization and batch order both move


def test_plain_teacher_is_trained_once_then_loaded(bench):
    recipe = Plain("mlp-16", CONFIG)
    _, first = experiment.teacher(bench, recipe)
    _, second = experiment.teacher(bench, recipe)
    assert not first["cached"] and second["cached"] and first["hash"] == second["hash"]
    _, other = experiment.teacher(bench, recipe.with_seed(1))
    assert other["hash"] != first["hash"]


@pytest.mark.parametrize("criterion", ["magnitude", "random", "snip", "prue"])
def test_one_shot_pruned_teacher_has_its_sparsity_and_is_cached(bench, criterion):
    recipe = Pruned(Plain("mlp-32-32", CONFIG), criterion, 0.5, retrain=CONFIG)
    model, record = experiment.teacher(bench, recipe)
    assert sparsity_report(model).total["sparsity"] == pytest.approx(0.5, abs=0.01)
    again, cached = experiment.teacher(bench, recipe)
    assert cached["cached"] and not record["cached"] and len(cached["history"]) == 1
    assert all(a.equal(b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_imp_caches_every_round_and_counts_its_epochs(bench):
    imp = Pruned(Plain("mlp-32-32", CONFIG), "magnitude", 0.75, retrain=CONFIG, rate=0.5, scope="all")
    assert imp.rounds == 2 and imp.previous_round().rounds == 1 and imp.epochs() == 3
    model, _ = experiment.teacher(bench, imp)
    assert sparsity_report(model).total["sparsity"] == pytest.approx(0.75, abs=0.01)
    _, first_round = experiment.teacher(bench, imp.previous_round())
    assert first_round["cached"]  # made on the way to round 2


def test_bad_recipes_are_refused():
    with pytest.raises(ValueError, match="criterion"):
        Pruned(Plain("mlp-16", CONFIG), "largest", 0.5, retrain=CONFIG)
    with pytest.raises(ValueError, match="magnitude"):
        Pruned(Plain("mlp-16", CONFIG), "prue", 0.5, retrain=CONFIG, rate=0.2)
