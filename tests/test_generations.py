import pytest
import torch

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.experiment import Bench
from kdcore.generations import ce_weight_schedule, generation_seed, kd_objective, train_generations
from kdcore.losses import KD
from kdcore.params import Params
from kdcore.splits import holdout_split


def small_bench() -> Bench:
    data = synthetic(240, 60, num_classes=4)
    splits = holdout_split(data, 0.2)
    P = Params(batch_size=64, lr=0.05, weight_decay=5e-4, schedule="cosine", milestones=[0.5], augment=False,
               student_epochs=2)  # fmt: skip
    train = DeviceBatches(splits.train, data.mean, data.std, 64, shuffle=True, with_index=True)
    val = DeviceBatches(splits.val, data.mean, data.std, 256)
    test = DeviceBatches(splits.test, data.mean, data.std, 256)
    return Bench(P, torch.device("cpu"), splits, train, val, test)


def test_each_generation_is_distilled_from_the_previous_one():
    bench = small_bench()
    torch.manual_seed(0)
    patriarch = bench.build("mlp-8").eval()
    objectives = []

    def recording(student, teacher, ce_weight):
        objectives.append(kd_objective(temperature=2.0)(student, teacher, ce_weight))
        return objectives[-1]

    lineage = train_generations(bench, "mlp-8", patriarch, 3, seed=5, ce_weights=[0.2, 0.5, 0.8], objective=recording)
    assert [g.generation for g in lineage] == [1, 2, 3] and [g.ce_weight for g in lineage] == [0.2, 0.5, 0.8]
    teachers = [patriarch] + [g.model for g in lineage[:-1]]
    for g, objective, teacher in zip(lineage, objectives, teachers):
        assert g.teacher is teacher and objective.student is g.model
        # the distiller runs a frozen copy of that teacher (the same weights), leaving the original as it was
        pairs = zip(objective.teacher.state_dict().values(), teacher.state_dict().values(), strict=True)
        assert objective.teacher is not teacher and all(torch.equal(a, b) for a, b in pairs)
        assert isinstance(objective, KD) and objective.w_ce == g.ce_weight and objective.w_kd == 1 - g.ce_weight
        # the cached soft targets are the previous generation's logits on the training images
        with torch.no_grad():
            assert torch.allclose(objective.cached_logits, teacher(bench.train.x))
    # fresh initializations: every generation's weights differ from its teacher's
    for g in lineage:
        assert not torch.equal(g.model.net[1].weight, g.teacher.net[1].weight)
    assert all(g.model is not other.model for g in lineage for other in lineage if other is not g)


def test_generations_are_reproducible_and_use_their_own_seeds():
    bench = small_bench()
    torch.manual_seed(0)
    patriarch = bench.build("mlp-8").eval()
    first = train_generations(bench, "mlp-8", patriarch, 2, seed=1, ce_weights=0.5, temperature=4.0, epochs=1)
    again = train_generations(bench, "mlp-8", patriarch, 2, seed=1, ce_weights=0.5, temperature=4.0, epochs=1)
    for a, b in zip(first, again):
        assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
        assert len(a.run.history) == 1
    assert len({generation_seed(1, g) for g in range(4)} | {generation_seed(2, g) for g in range(4)}) == 8
    with pytest.raises(ValueError, match="0 … 999"):
        generation_seed(1000, 0)  # would be lineage 0's generation 1


def test_ce_weight_schedule():
    assert ce_weight_schedule(0.3, 3) == [0.3, 0.3, 0.3]
    assert ce_weight_schedule([0.4], 2) == [0.4, 0.4]
    assert ce_weight_schedule([0.2, 0.5, 0.8], 3) == [0.2, 0.5, 0.8]
    with pytest.raises(ValueError, match="one per generation"):
        ce_weight_schedule([0.2, 0.5], 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ce_weight_schedule([1.5], 2)
