"""At the paper profile every student run is checkpointed and cached: a re-run after a kill redoes nothing."""

import inspect

import pytest
import torch

from kdcore import experiment
from kdcore.fit import TrainConfig
from kdcore.losses import ICCKD, KD, KR, ICCTeacher, TolerantTeacher
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
from kdcore.params import resolve
from kdcore.teachers import describe

CONFIG = TrainConfig(epochs=2, batch_size=64, lr=0.05, crop_padding=4, hflip=True)  # the paper profile's batches


@pytest.fixture
def bench():
    return experiment.prepare(resolve("kd_basics", "paper", dataset="synthetic", device="cpu", allow_cpu=True))


def test_paper_profile_refuses_the_cpu_unless_allowed():
    from kdcore.params import ParameterError

    with pytest.raises(ParameterError, match=r"device='cpu' is not allowed at the paper profile.*allow_cpu=True"):
        experiment.prepare(resolve("kd_basics", "paper", dataset="synthetic", device="cpu"))


def test_paper_profile_caches_finished_student_runs(bench, tmp_path):
    assert bench.resume_runs and not experiment.prepare(resolve("kd_basics", "smoke")).resume_runs
    first = experiment.train_student(bench, "mlp-16", CrossEntropy, seed=0, config=CONFIG)
    runs = list((tmp_path / "cache" / "runs").glob("*.pt"))
    assert len(runs) == 1 and not list((tmp_path / "cache" / "runs").glob("*.partial.pt"))
    again = experiment.train_student(bench, "mlp-16", CrossEntropy, seed=0, config=CONFIG)
    assert again.history == first.history and again.test_acc == first.test_acc
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))


def test_another_teacher_or_seed_is_another_run(bench, tmp_path):
    teachers = [bench.build("mlp-8") for _ in range(2)]  # two different random teachers
    for teacher in teachers:
        experiment.train_student(bench, "mlp-16", lambda s, t=teacher: KD(s, t), seed=0, config=CONFIG)
    experiment.train_student(bench, "mlp-16", lambda s: KD(s, teachers[0], temperature=2.0), seed=0, config=CONFIG)
    experiment.train_student(bench, "mlp-16", lambda s: KD(s, teachers[0]), seed=1, config=CONFIG)
    narrower = bench.build("mlp-12")  # e.g. a student derived from a pruned teacher, passed as `model`
    experiment.train_student(bench, "mlp-16", lambda s: KD(s, teachers[0]), seed=1, config=CONFIG, model=narrower)
    assert len(list((tmp_path / "cache" / "runs").glob("*.pt"))) == 5


# a valid other value for each string setting of kdcore's objectives
OTHER_CHOICE = {"prob": "logit", "gt": "argmax", "topk": "soft", "similar": "index", "chain": "depth"}


@pytest.mark.parametrize("objective_class", [CrossEntropy, KD, ICCKD, KR, TolerantTeacher, ICCTeacher])
def test_every_setting_of_an_objective_is_in_its_student_cache_key(objective_class):
    """A student run is cached under ``describe(objective)``: an objective built with any one setting changed
    must get another key, or a rerun with that setting would reload a run made without it (KR's ρ once did)."""
    teacher = build_model("mlp-64-64")
    required = {"teacher": teacher, "eta": 0.5, "num_classes": 10}
    settings = list(inspect.signature(objective_class).parameters.values())[1:]  # after the model

    def key(**changed):
        given = {p.name: required[p.name] for p in settings if p.default is p.empty}
        return describe(objective_class(build_model("mlp-32-32"), **given, **changed))

    base, changed = key(), 0
    for p in settings:
        if p.default is p.empty:
            continue
        value = p.default
        other = (
            OTHER_CHOICE[value] if isinstance(value, str) else value + 1 if isinstance(value, int) else value / 2 or 0.1
        )
        assert key(**{p.name: other}) != base, (
            f"{objective_class.__name__}: {p.name}={other!r} keeps the key of {value!r}"
        )
        changed += 1
    assert changed, f"{objective_class.__name__} has no setting to change"
