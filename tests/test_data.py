import pytest
import torch

from kdcore.augment import random_crop, random_hflip
from kdcore.batches import DeviceBatches
from kdcore.data import load_dataset, synthetic
from kdcore.splits import Split, holdout_split


def test_fashion_mnist_loads_from_debian_files():
    data = load_dataset("fashion_mnist")
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.train_x.dtype == torch.uint8
    assert data.train_y[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert data.num_classes == 10


def test_synthetic_any_shape():
    data = synthetic(64, 32, shape=(3, 32, 32), num_classes=100)
    assert data.train_x.shape == (64, 3, 32, 32) and data.num_classes == 100 and data.in_channels == 3
    assert torch.equal(synthetic(8, 4).train_x, synthetic(8, 4).train_x)


def test_holdout_split_is_fixed_stratified_and_disjoint():
    data = synthetic(1000, 10, num_classes=5)
    a, b = holdout_split(data, 0.2, seed=3), holdout_split(data, 0.2, seed=3)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.y, b.train.y)
    assert len(a.train) + len(a.val) == 1000
    for c in range(5):  # each class keeps its share
        n_c = int((data.train_y == c).sum())
        assert int((a.val.y == c).sum()) == round(n_c * 0.2)
    rows = {tuple(x.flatten()[:16].tolist()) for x in a.train.x}
    assert not any(tuple(x.flatten()[:16].tolist()) in rows for x in a.val.x)
    assert not torch.equal(holdout_split(data, 0.2, seed=4).val.y, a.val.y)
    assert len(holdout_split(data, 0.2, seed=3, train_subset=100).train) == 100


def test_device_batches_cover_every_example_once_per_epoch():
    data = synthetic(103, 10)
    split = holdout_split(data, 0.1).train
    batches = DeviceBatches(split, data.mean, data.std, batch_size=16, shuffle=True, with_index=True)
    seen = torch.cat([index for _, _, index in batches])
    assert sorted(seen.tolist()) == list(range(len(split)))
    assert len(batches) == -(-len(split) // 16)
    first, second = (torch.cat([y for _, y, _ in batches]) for _ in range(2))
    assert not torch.equal(first, second)  # a fresh order each epoch


def test_random_crop_matches_padding_and_slicing():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    g = torch.Generator().manual_seed(0)
    dy, dx = torch.randint(0, 5, (2, 1), generator=g), torch.randint(0, 5, (2, 1), generator=g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(2):
        expected = padded[i, :, dy[i, 0] : dy[i, 0] + 5, dx[i, 0] : dx[i, 0] + 5]
        assert torch.equal(out[i], expected)
    # a border of one value per channel: the crops' border holds it, the image is untouched
    fill = torch.tensor([-1.0, -2.0, -3.0])
    out = random_crop(x, 2, torch.Generator().manual_seed(0), fill=fill)
    padded = torch.nn.functional.pad(x + 10, (2, 2, 2, 2)) - 10  # 10 is no pixel's value: marks the border
    for i in range(2):
        window = padded[i, :, dy[i, 0] : dy[i, 0] + 5, dx[i, 0] : dx[i, 0] + 5]
        border = window == -10
        assert torch.equal(out[i][~border], window[~border])
        assert torch.equal(out[i], torch.where(border, fill.view(3, 1, 1), window))


def test_crops_pad_black_as_torchvision_does_before_normalizing():
    # RandomCrop(padding=4) on raw pixels, then Normalize: the border is black normalized, not 0 (the mean)
    white = Split(torch.full((64, 3, 8, 8), 255, dtype=torch.uint8), torch.zeros(64, dtype=torch.long))
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    batches = DeviceBatches(white, mean, std, 64, shuffle=True, crop_padding=4)
    x, _ = next(iter(batches))
    black = -torch.tensor(mean) / torch.tensor(std)
    white_normalized = (1 - torch.tensor(mean)) / torch.tensor(std)
    for channel in range(3):
        values = x[:, channel].unique()
        assert values.tolist() == pytest.approx(sorted([black[channel].item(), white_normalized[channel].item()]))


def test_random_hflip_flips_about_half():
    x = torch.randn(1000, 1, 2, 3)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    kept = (out == x).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 400 < int(flipped.sum()) < 600
