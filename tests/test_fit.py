import pytest
import torch

from kdcore.batches import DeviceBatches
from kdcore.checkpoint import UnsafeCheckpointError, load_checkpoint, save_checkpoint
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, evaluate, fit
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
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


def test_same_seed_gives_bit_identical_results():
    runs = []
    for _ in range(2):
        model, train, val = _setup()
        history = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
        runs.append((history.column("loss"), history.column("val_acc"), evaluate(model, val).logits))
    assert runs[0][0] == runs[1][0] and runs[0][1] == runs[1][1]
    assert torch.equal(runs[0][2], runs[1][2])


def test_resume_after_an_interrupted_run_ends_like_an_uninterrupted_one(tmp_path):
    model, train, val = _setup()
    reference = fit(CrossEntropy(model), train, CONFIG, val, progress=False)
    reference_weights = [p.clone() for p in model.parameters()]

    checkpoint = tmp_path / "run.pt"
    _interrupted_run(checkpoint, stop_after=1)
    model, train, val = _setup(seed=123)  # a different init: resuming must overwrite it
    resumed = fit(CrossEntropy(model), train, CONFIG, val, checkpoint=checkpoint, progress=False)
    assert resumed.column("loss") == reference.column("loss")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference_weights))


def _interrupted_run(path, stop_after):
    """Run the reference config but stop (as if killed) right after ``stop_after`` epochs were saved."""
    model, train, val = _setup()

    class Killed(Exception):
        pass

    objective = CrossEntropy(model)
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
