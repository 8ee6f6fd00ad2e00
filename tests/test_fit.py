import pytest
import torch

from kdcore.batches import DeviceBatches
from kdcore.checkpoint import UnsafeCheckpointError, load_checkpoint, save_checkpoint
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, evaluate, fit, make_optimizer, make_scheduler
from kdcore.losses.icc import ICCTeacher
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
from kdcore.prune.masks import attach_mask
from kdcore.seeding import seed_everything
from kdcore.splits import holdout_split


def _setup(seed=0):
    data = synthetic(400, 100, num_classes=4)
    splits = holdout_split(data, 0.25)
    train = DeviceBatches(splits.train, data.mean, data.std, 32, shuffle=True, crop_padding=2, hflip=True)
    val = DeviceBatches(splits.val, data.mean, data.std, 128)
    seed_everything(seed)
    return build_model("mlp-16", 1, 4), train, val


CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.05, schedule="multistep", milestones=(2,), seed=7)


def test_history_has_one_row_per_epoch_and_training_learns():
    model, train, val = _setup()
    history = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
    assert history.column("epoch") == [1, 2, 3]
    assert {"loss", "ce", "train_acc", "val_acc", "lr", "seconds"} <= set(history[0])
    assert history.column("lr") == pytest.approx([0.05, 0.05, 0.005])
    assert history[-1]["val_acc"] > 0.5 and history[-1]["loss"] < history[0]["loss"]


def test_a_config_whose_batch_size_is_not_the_batches_is_refused():
    """fit batches as ``train`` does; a config that says otherwise would key caches and cost plans wrongly (the
    device check once timed three 'batch sizes' that all ran at 64)."""
    model, train, val = _setup()
    with pytest.raises(ValueError, match=r"train batches of 32 but config\.batch_size=64"):
        fit(CrossEntropy(model), train, TrainConfig(epochs=1, batch_size=64), val, progress=False)


def test_same_seed_gives_bit_identical_results():
    runs = []
    for _ in range(2):
        model, train, val = _setup()
        history = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
        runs.append((history.column("loss"), history.column("val_acc"), evaluate(model, val).logits))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert torch.equal(runs[0][2], runs[1][2])


def test_resume_after_an_interrupted_run_ends_like_an_uninterrupted_one(tmp_path, capsys):
    model, train, val = _setup()
    reference = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
    reference_weights = [p.clone() for p in model.parameters()]

    checkpoint = tmp_path / "run.pt"
    _interrupted_run(checkpoint, stop_after=1)
    model, train, val = _setup(seed=123)  # a different init: resuming must overwrite it
    resumed = fit(CrossEntropy(model), train, CONFIG, val, checkpoint=checkpoint, progress="resumed")
    assert resumed.column("loss") == reference.column("loss")
    bar = capsys.readouterr().err  # the bar counts on from the checkpoint: epochs 2 and 3 of 3 read 3/3
    assert "resumed: 100%" in bar and " 3/3 " in bar and " 2/2 " not in bar, bar[-300:]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference_weights))


def test_a_resumed_icc_teacher_continues_its_class_relations_and_ends_like_an_uninterrupted_one(tmp_path):
    # the relations are a buffer of the objective, not of the model: the checkpoint must carry them
    icc_teacher = lambda model: ICCTeacher(model, num_classes=4, beta=1.0, temperature=4.0, momentum=0.9)
    model, train, val = _setup()
    reference = icc_teacher(model)
    history = fit(reference, train, CONFIG, val, progress=False)
    _interrupted_run(tmp_path / "icc.pt", stop_after=2, objective=icc_teacher)
    model, train, val = _setup(seed=123)
    resumed = icc_teacher(model)
    assert fit(resumed, train, CONFIG, val, checkpoint=tmp_path / "icc.pt", progress=False).column(
        "loss"
    ) == history.column("loss")
    assert torch.equal(resumed.relations, reference.relations)
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(), reference.model.parameters()))


def test_restore_best_without_validation_and_an_empty_epoch_are_refused():
    model, train, val = _setup()
    with pytest.raises(ValueError, match="pass val"):
        fit(CrossEntropy(model), train, CONFIG, None, restore_best=True, progress=False)
    data = synthetic(20, 10, num_classes=4)  # 15 training images, batches of 32 without the last
    few = DeviceBatches(holdout_split(data, 0.25).train, data.mean, data.std, 32, drop_last=True)
    with pytest.raises(ValueError, match="no training batches"):
        fit(CrossEntropy(model), few, CONFIG, val, progress=False)


def test_checkpoints_are_written_at_most_every_checkpoint_every_seconds(tmp_path, monkeypatch):
    written = []
    import kdcore.fit as fit_module

    monkeypatch.setattr(fit_module, "save_checkpoint", lambda obj, target: written.append(obj["epoch"]))
    model, train, val = _setup()
    fit(CrossEntropy(model), train, CONFIG, val, checkpoint=tmp_path / "a.pt", progress=False, checkpoint_every=3600)
    assert written == []  # a run shorter than the interval writes none: no fsync per epoch
    fit(CrossEntropy(model), train, CONFIG, val, checkpoint=tmp_path / "b.pt", progress=False, checkpoint_every=0)
    assert written == list(range(1, CONFIG.epochs))  # every epoch but the last (the caller saves the result)
    monkeypatch.delenv("KDCORE_CHECKPOINT_EVERY_S")
    written.clear()
    fit(CrossEntropy(model), train, CONFIG, val, checkpoint=tmp_path / "c.pt", progress=False)
    assert written == []  # the default: every 120 s


def _interrupted_run(path, stop_after, objective=CrossEntropy):
    """Run the reference config but stop (as if killed) right after ``stop_after`` epochs were saved."""
    model, train, val = _setup()

    class Killed(Exception):
        pass

    objective = objective(model)
    original_save = save_checkpoint

    def save_then_maybe_die(obj, target):
        original_save(obj, target)
        if obj["epoch"] == stop_after:
            raise Killed

    import kdcore.fit as fit_module

    fit_module.save_checkpoint = save_then_maybe_die
    try:
        fit(objective, train, CONFIG, val, checkpoint=path, progress=False)
    except Killed:
        pass
    finally:
        fit_module.save_checkpoint = original_save


@pytest.mark.parametrize("compile, mode", [(True, None), ("reduce-overhead", "reduce-overhead")])
def test_compile_passes_its_mode_to_torch_compile_and_trains_the_same(compile, mode, monkeypatch):
    """``compile=True`` is torch.compile's default mode, a string its ``mode`` (CUDA graphs:
    ``"reduce-overhead"``). Compiling takes minutes on a CPU, so torch.compile is replaced by a recorder that
    returns the objective as it is: the run must then be the uncompiled one."""
    model, train, val = _setup()
    plain = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
    calls = []

    def recording_compile(fn, mode=None):
        calls.append(mode)
        return fn

    monkeypatch.setattr(torch, "compile", recording_compile)
    model, train, val = _setup()
    compiled = fit(CrossEntropy(model), train, CONFIG, val, progress=False, compile=compile)
    assert calls == [mode]
    assert compiled.column("loss") == plain.column("loss")


def test_restore_best_selects_on_validation(tmp_path):
    model, train, val = _setup()
    history = fit(CrossEntropy(model), train, CONFIG, val, restore_best=True, progress=False)
    assert evaluate(model, val).accuracy == max(history.column("val_acc"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch notes the foreign pickle first
def test_tampered_checkpoint_is_refused(tmp_path):
    import pickle

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": object()}, f)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_checkpoint(path)


class LookupClassifier(torch.nn.Module):
    """A perfect classifier of one split: finds each input among the split's images, returns its one-hot label."""

    def __init__(self, batches, num_classes):
        super().__init__()
        self.images, self.labels, self.num_classes = batches.x.flatten(1), batches.y, num_classes

    def forward(self, x):
        position = (x.flatten(1)[:, None] == self.images[None]).all(-1).float().argmax(1)
        return torch.nn.functional.one_hot(self.labels[position], self.num_classes).float()


def test_evaluate_scores_a_perfect_classifier_1_on_shuffled_batches():
    data = synthetic(300, 10, num_classes=4)
    batches = DeviceBatches(holdout_split(data, 0.25).train, data.mean, data.std, 32, shuffle=True, drop_last=True)
    generator_state = batches.generator.get_state()
    result = evaluate(LookupClassifier(batches, 4), batches)
    assert result.accuracy == 1.0
    assert torch.equal(result.labels, batches.y)  # every example once, in the stored order, despite drop_last
    assert torch.equal(batches.generator.get_state(), generator_state)  # training's batch order is untouched


def test_evaluate_refuses_augmented_batches():
    _, train, _ = _setup()  # random crops and flips
    with pytest.raises(ValueError, match="augmented"):
        evaluate(build_model("mlp-16", 1, 4), train)


def test_make_optimizer_builds_sgd_with_nesterov_and_adamw():
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer(params, TrainConfig(lr=0.2, momentum=0.8, nesterov=True, weight_decay=1e-3))
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults | {"lr": 0.2, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-3} == sgd.defaults
    adamw = make_optimizer(params, TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=0.05, nesterov=True))
    assert isinstance(adamw, torch.optim.AdamW)
    assert (adamw.defaults["lr"], adamw.defaults["weight_decay"]) == (1e-3, 0.05)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(params, TrainConfig(optimizer="adam"))


def test_multistep_schedule_multiplies_by_gamma():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = make_scheduler(optimizer, TrainConfig(schedule="multistep", milestones=(1, 3), gamma=0.5))
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [1.0, 0.5, 0.5, 0.25]


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_masked_weights_stay_exactly_zero_through_training(optimizer):
    model, train, val = _setup()
    layer = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    mask = (torch.rand(layer.weight.shape, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    attach_mask(layer, "weight", mask)
    before = layer.weight.detach().clone()
    # a large decoupled weight decay and lr: AdamW's moments would move the masked weights if not re-masked
    config = TrainConfig(epochs=2, batch_size=32, optimizer=optimizer, lr=0.01, weight_decay=0.5, seed=3)
    fit(CrossEntropy(model), train, config, val, progress=False)
    assert torch.all(layer.weight[mask == 0] == 0)
    assert not torch.equal(layer.weight[mask == 1], before[mask == 1])  # the kept weights did train
