import torch

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.fit import TrainConfig
from kdcore.splits import Split, holdout_split
from kdcore.teachers import load_teacher, train_or_load


def test_teacher_is_trained_once_then_loaded_from_the_cache():
    data = synthetic(300, 50, num_classes=3)
    splits = holdout_split(data, 0.2)
    train = DeviceBatches(splits.train, data.mean, data.std, 64, shuffle=True)
    config = TrainConfig(epochs=2, batch_size=64, lr=0.05)
    first, record = train_or_load("mlp-8", splits, config, train, progress=False)
    assert not record["cached"] and len(record["history"]) == 2
    second, again = train_or_load("mlp-8", splits, config, train, progress=False)
    assert again["cached"] and again["hash"] == record["hash"]
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters()))
    _, other = train_or_load("mlp-8", splits, TrainConfig(epochs=1, batch_size=64, lr=0.05), train, progress=False)
    assert other["hash"] != record["hash"] and not other["cached"]
    loaded, key = load_teacher(record["path"])
    assert key["model"]["num_classes"] == 3
    assert all(torch.equal(a, b) for a, b in zip(first.parameters(), loaded.parameters()))


def test_two_datasets_of_one_name_never_share_a_cached_teacher():
    # a name alone says which images only for the real datasets' files; two synthetic draws both called
    # "synthetic" once shared a key, and the second got the first one's teacher, at chance on its data
    config = TrainConfig(epochs=1, batch_size=64, lr=0.05)
    hashes = []
    for seed in (0, 1):
        data = synthetic(300, 50, num_classes=3, seed=seed)
        splits = holdout_split(data, 0.2)
        assert splits.key["content"] == data.fingerprint()
        train = DeviceBatches(splits.train, data.mean, data.std, 64)
        _, record = train_or_load("mlp-8", splits, config, train, progress=False)
        assert not record["cached"]
        hashes.append(record["hash"])
    assert hashes[0] != hashes[1]
    again = holdout_split(synthetic(300, 50, num_classes=3, seed=1), 0.2)  # the same images: the same key
    assert again.key == splits.key
    assert "content" not in holdout_split(synthetic(name="fashion_mnist"), 0.2).key  # its files: the name says


def test_a_config_with_crops_keys_how_they_pad_one_without_keeps_its_key():
    # crops pad black now; a teacher trained on the older mean-colour crops must not be reused
    assert TrainConfig(crop_padding=4).to_dict()["crop_fill"] == "black"
    assert "crop_fill" not in TrainConfig().to_dict()  # the book profile's keys (no crops) are unchanged


def test_an_objectives_key_holds_its_list_and_none_settings_not_its_run_state():
    # describe() once kept numbers and strings only: two methods differing in layers=(1,) and (2, 3) shared a
    # cached student run
    from kdcore.losses import KD
    from kdcore.models import MLP
    from kdcore.teachers import describe

    class LayerKD(KD):
        def __init__(self, student, teacher, layers, gate=None):
            super().__init__(student, teacher)
            self.layers, self.gate = layers, gate

    torch.manual_seed(0)
    student, teacher = MLP(1, 3, (8,)), MLP(1, 3, (16,))
    keys = [describe(LayerKD(student, teacher, *settings)) for settings in [((1,),), ((2, 3),), ((1,), 0.5)]]
    assert keys[0]["layers"] == [1] and keys[0]["gate"] is None  # as JSON writes it
    assert keys[0] != keys[1] and keys[0] != keys[2]
    data = synthetic(64, 16, num_classes=3)
    objective = LayerKD(student, teacher, (1,))
    objective.cache_teacher_logits(DeviceBatches(Split(data.train_x, data.train_y), data.mean, data.std, 32))
    assert describe(objective.eval()) == keys[0]  # caching, or the mode, does not change what it is
