import torch

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.fit import TrainConfig
from kdcore.splits import holdout_split
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


def test_a_config_with_crops_keys_how_they_pad_one_without_keeps_its_key():
    # crops pad black now; a teacher trained on the older mean-colour crops must not be reused
    assert TrainConfig(crop_padding=4).to_dict()["crop_fill"] == "black"
    assert "crop_fill" not in TrainConfig().to_dict()  # the book profile's keys (no crops) are unchanged
