"""Teacher recipes: one path trains or loads every teacher, pruned ones included, through the cache."""

import pytest
import torch

from kdcore import experiment
from kdcore.fit import TrainConfig
from kdcore.objectives import CrossEntropy
from kdcore.params import Params
from kdcore.prune import sparsity_report
from kdcore.recipes import ICC, Distilled, EarlyStopped, LabelSmoothing, Plain, Pruned, Retrained, Tolerant

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


def _same_weights(a, b) -> bool:
    return all(x.equal(y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _without_time(history) -> list:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_early_stopped_teacher_is_its_base_run_at_that_epoch_and_the_base_resumes_from_it(bench, tmp_path, monkeypatch):
    base = Plain("mlp-16", TrainConfig(epochs=3, batch_size=128, lr=0.05))
    _, early = experiment.teacher(bench, EarlyStopped(base, 1))
    full_model, full = experiment.teacher(bench, base)  # resumes after the early stop: trains epochs 2 and 3
    assert len(early["history"]) == 1 and len(full["history"]) == 3 and early["hash"] != full["hash"]
    assert _without_time(early["history"]) == _without_time(full["history"][:1])  # the schedule's lr, not 0.05→0
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path / "fresh"))
    direct_model, direct = experiment.teacher(bench, base)  # one uninterrupted run
    assert not direct["cached"] and _same_weights(full_model, direct_model)
    assert _without_time(direct["history"]) == _without_time(full["history"])


def test_equal_budget_control_retrains_like_its_pruned_teacher_without_pruning(bench):
    imp = Pruned(Plain("mlp-32-32", CONFIG), "magnitude", 0.75, retrain=CONFIG, rate=0.5, scope="all")
    control = Retrained.control(imp)
    assert control.rounds == imp.rounds == 2 and control.epochs() == imp.epochs() == 3
    assert Plain("mlp-16", CONFIG).epochs() == 1 and EarlyStopped(Plain("mlp-16", CONFIG), 1).epochs() == 1
    model, record = experiment.teacher(bench, control)
    assert sparsity_report(model).total["sparsity"] == 0 and len(record["history"]) == 1
    _, first_round = experiment.teacher(bench, control.previous_round())
    assert first_round["cached"]  # made on the way to round 2, like IMP's rounds
    assert control.with_seed(1).base.seed == 1


def test_teacher_assistant_is_distilled_from_its_teacher_and_keyed_by_it(bench):
    big = Plain("mlp-32-32", CONFIG)
    assistant = Distilled("mlp-16", CONFIG, teacher=big, temperature=4.0, w_ce=0.1, w_kd=0.9)
    _, record = experiment.teacher(bench, assistant)
    _, big_record = experiment.teacher(bench, big)
    assert big_record["cached"] and record["key"]["objective"]["teacher"] == big_record["hash"]
    assert {"ce", "kd"} <= set(record["history"][0])  # trained with KD's two terms
    other = assistant.with_seed(1)
    assert other.seed == other.teacher.seed == 1  # a teacher seed moves the assistant and its teacher
    assert experiment.teacher(bench, other)[1]["hash"] != record["hash"]


def test_bad_remedy_recipes_are_refused():
    with pytest.raises(ValueError, match="teacher"):
        Distilled("mlp-16", CONFIG)
    with pytest.raises(ValueError, match="epoch"):
        EarlyStopped(Plain("mlp-16", CONFIG), 2)  # CONFIG has 1 epoch
    with pytest.raises(ValueError, match="rounds"):
        Retrained(Plain("mlp-16", CONFIG), CONFIG, rounds=0)


def test_unaugmented_train_lets_a_model_be_evaluated_on_an_augmented_training_split(tmp_path, monkeypatch):
    from kdcore.fit import evaluate

    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path))
    P = Params(dataset="synthetic-cifar10", data_dir=None, device="cpu", val_fraction=0.2, train_subset=64,
               batch_size=32, augment=True)  # fmt: skip
    augmented = experiment.prepare(P)
    plain = augmented.unaugmented_train()
    assert augmented.train.augments and not plain.augments and len(plain.y) == len(augmented.splits.train)
    assert 0 <= evaluate(augmented.build("mlp-16"), plain).accuracy <= 1
    P.augment = False
    plain_bench = experiment.prepare(P)
    assert plain_bench.unaugmented_train() is plain_bench.train


@pytest.mark.parametrize("seed", [0, 1])
def test_random_pruning_draws_independently_of_the_teachers_initial_weights(bench, seed):
    # seeded with the model's own seed, torch.rand replays the draws that initialised its first layer, and
    # "random" pruning keeps that layer's largest initial weights (rank correlation 1.0)
    from scipy.stats import spearmanr

    from kdcore.models import build_model
    from kdcore.prune import prue_prunable
    from kdcore.seeding import seed_everything

    seed_everything(seed)  # as a teacher of this seed is initialised
    model = build_model("mlp-512-512")
    params = prue_prunable(model)
    scores = experiment.pruning_scores(model, params, "random", bench, seed)
    first = getattr(*params[0]).detach().flatten()
    rho = spearmanr(first.numpy(), scores[0].flatten().numpy()).statistic
    assert abs(rho) < 0.01  # 400k independent pairs: |rho| ~ 0.0016
    again = experiment.pruning_scores(model, params, "random", bench, seed)
    assert all(torch.equal(a, b) for a, b in zip(scores, again))  # and reproducible
    with pytest.raises(ValueError, match="'gradient' is none of"):
        experiment.pruning_scores(model, params, "gradient", bench, seed)  # not silently PrUE


def test_compile_mode_reaches_every_training_run_and_no_cache_key(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path))
    modes = []
    monkeypatch.setattr(torch, "compile", lambda step, mode=None: modes.append(mode) or step)  # records, runs eager
    P = Params(dataset="synthetic", data_dir=None, device="cpu", val_fraction=0.2, train_subset=None,
               batch_size=128, augment=False, compile_mode="reduce-overhead")  # fmt: skip
    bench = experiment.prepare(P)
    assert bench.compile == "reduce-overhead"
    pruned = Pruned(Plain("mlp-16", CONFIG), "magnitude", 0.5, retrain=CONFIG)
    _, record = experiment.teacher(bench, pruned)  # the teacher, then its retraining after pruning
    experiment.teacher(bench, Retrained(Plain("mlp-16", CONFIG), retrain=CONFIG))
    experiment.train_student(bench, "mlp-16", CrossEntropy, seed=0, config=CONFIG)
    assert modes == ["reduce-overhead"] * 4
    eager = experiment.prepare(Params(**{**vars(P), "compile_mode": None}))
    assert eager.compile is False
    _, again = experiment.teacher(eager, pruned)  # a speed trick: the same cache entries
    assert again["cached"] and again["hash"] == record["hash"] and modes == ["reduce-overhead"] * 4


def test_across_teacher_seeds_trains_each_recipe_from_each_seed_and_reuses_the_chapters_runs(bench):
    recipes = {"plain": Plain("mlp-16", CONFIG), "smoothed": LabelSmoothing("mlp-16", CONFIG, epsilon=0.2)}
    # the chapter's own students of the seed-0 teacher, student seeds 0 and 1
    done = {"plain": [{"teacher_seed": 0, "seed": s, "test_acc": 0.5} for s in (0, 1)]}
    taught = []

    def students(teacher, seed, student_seeds):
        taught.append((seed, student_seeds, next(teacher.parameters()).detach().clone()))
        return [{"teacher_seed": seed, "seed": s, "test_acc": 0.1 * seed} for s in student_seeds]

    found = experiment.across_teacher_seeds(bench, recipes, [0, 1], students, done, seeds=[0, 1])
    # smoothed@0, plain@1, smoothed@1 (plain@0 is reused); teacher seed 1's students take seeds of their own
    assert [(seed, s) for seed, s, _ in taught] == [(0, [0, 1]), (1, [2, 3]), (1, [2, 3])]
    assert found["runs"]["plain"] == [
        *done["plain"],
        *({"teacher_seed": 1, "seed": s, "test_acc": 0.1} for s in (2, 3)),
    ]
    assert [r["teacher_seed"] for r in found["runs"]["smoothed"]] == [0, 0, 1, 1]
    assert all(len(accs) == 2 and all(0 <= a <= 1 for a in accs) for accs in found["teacher_test_acc"].values())
    assert not taught[1][2].equal(taught[2][2])  # plain@1 and smoothed@1: two teachers, not one loaded twice
    with pytest.raises(ValueError, match="teacher_seed=0"):
        experiment.across_teacher_seeds(bench, recipes, [0], students, {"plain": [{"teacher_seed": 3}]}, seeds=[0])
    # shared seeds: every teacher's students take seeds 0 and 1
    taught.clear()
    experiment.across_teacher_seeds(bench, recipes, [0, 1], students, done, seeds=[0, 1], seeding="shared")
    assert [s for _, s, _ in taught] == [[0, 1]] * 3
    # a teacher seed listed second is not the recipe's own students' seeds: they are trained, not reused
    taught.clear()
    experiment.across_teacher_seeds(bench, {"plain": recipes["plain"]}, [1, 0], students, done, seeds=[0, 1])
    assert [(seed, s) for seed, s, _ in taught] == [(1, [0, 1]), (0, [2, 3])]


def test_student_seeds_are_each_teachers_own_or_shared_and_the_same_for_every_method():
    """The book's two designs: each teacher's students take seeds of their own (no seed under two teachers, and
    the no-teacher runs' seeds 0 … n−1 are then exactly theirs), or every teacher's take the same seeds."""
    from kdcore.experiment import student_seeds

    assert [student_seeds([0, 1], i, "shared") for i in range(3)] == [[0, 1]] * 3
    own = [student_seeds([0, 1], i) for i in range(3)]
    assert own == [[0, 1], [2, 3], [4, 5]]
    assert sorted(s for seeds in own for s in seeds) == list(range(3 * 2))
    # a list of seeds moves up past its largest, so two teachers never share one
    assert student_seeds([0, 2], 1) == [3, 5]
    assert student_seeds([3, 7], 2, "per-teacher") == [19, 23]
    with pytest.raises(ValueError, match="seeding"):
        student_seeds([0, 1], 1, "per_teacher")


def test_a_labelled_subset_is_one_fixed_subset_batched_like_the_training_split(tmp_path, monkeypatch):
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path))
    P = Params(dataset="synthetic", data_dir=None, device="cpu", val_fraction=0.2, train_subset=None,
               batch_size=32, augment=True)  # fmt: skip
    bench = experiment.prepare(P)
    few, again = bench.labelled_subset(100), bench.labelled_subset(100)
    assert len(few.y) == 100 and torch.equal(few.x, again.x) and torch.equal(few.y, again.y)  # fixed
    # drawn from the training split: every image is one of its images
    train = {tuple(x.flatten().tolist()) for x in bench.train.x}
    assert all(tuple(x.flatten().tolist()) in train for x in few.x)
    # batched as the training split is: the same batch size and augmentation, with indices (cached logits)
    assert (few.batch_size, few.crop_padding, few.hflip) == (32, 4, True) and few.with_index
    assert bench.labelled_subset(None) is bench.train and bench.labelled_subset(10**6) is bench.train
