"""fit under torchrun computes the single-process training: sharding, gradient averaging, global metrics.

The two-process test runs this file as a torchrun script (gloo backend, CPU): each rank trains and saves its
weights and history; the test compares them with a single-process run on the same data.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, fit, prepare_teacher
from kdcore.losses.kd import KD
from kdcore.models import build_model
from kdcore.splits import Split

WORLD_SIZE = 2


def _split(n: int, shape=(1, 28, 28)) -> tuple[Split, Split, tuple, tuple]:
    data = synthetic(num_train=n, num_test=40, shape=shape)
    return Split(data.train_x, data.train_y), Split(data.test_x, data.test_y), data.mean, data.std


@pytest.mark.parametrize("with_index", [False, True])
def test_shards_interleave_into_the_single_process_batch(with_index):
    split, _, mean, std = _split(36, shape=(3, 8, 8))
    kwargs = dict(batch_size=8, shuffle=True, crop_padding=2, hflip=True, seed=4, with_index=with_index)
    single = list(DeviceBatches(split, mean, std, **kwargs))
    shards = [list(DeviceBatches(split, mean, std, rank=r, world_size=2, **kwargs)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(single) == 5
    for whole, part0, part1 in zip(single, *shards):
        assert len(part0[1]) == len(part1[1]) == len(whole[1]) // 2  # equal shards, the last one too
        for full, a, b in zip(whole, part0, part1):
            assert torch.equal(full[0::2], a) and torch.equal(full[1::2], b)  # same images, same augmentation


def test_shards_are_disjoint_and_equal_when_the_split_is_odd():
    split, _, mean, std = _split(37, shape=(1, 4, 4))
    shards = [DeviceBatches(split, mean, std, 6, shuffle=True, rank=r, world_size=2, with_index=True) for r in (0, 1)]
    seen = [torch.cat([index for _, _, index in shard]) for shard in shards]
    assert len(seen[0]) == len(seen[1]) == shards[0].num_examples == 18
    assert len(set(seen[0].tolist()) | set(seen[1].tolist())) == 36


def test_batch_size_must_split_evenly():
    split, _, mean, std = _split(8, shape=(1, 4, 4))
    with pytest.raises(ValueError, match="divisible"):
        DeviceBatches(split, mean, std, 5, rank=0, world_size=2)


def _train(device: torch.device, checkpoint: Path | None = None):
    """The run both sides perform: KD of a LeNet-5 (no BatchNorm) from an MLP teacher, 2 epochs."""
    train_split, val_split, mean, std = _split(64)
    train = DeviceBatches(train_split, mean, std, 16, shuffle=True, crop_padding=2, hflip=True, device=device)
    val = DeviceBatches(val_split, mean, std, 32, device=device)
    torch.manual_seed(0)
    teacher = build_model("mlp-32", 1, 10, 28)
    student = build_model("lenet5", 1, 10, 28)
    objective = KD(student.to(device), prepare_teacher(teacher, device))
    config = TrainConfig(epochs=2, batch_size=16, lr=0.1, schedule="constant", seed=1)
    history = fit(objective, train, config, val, checkpoint=checkpoint, progress=False)
    return student.state_dict(), history, train


def test_two_processes_match_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD_SIZE}"]
    result = subprocess.run([*command, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]

    weights, history, train = _train(torch.device("cpu"))
    assert train.world_size == 1
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    for rank in ranks:
        assert rank["world_size"] == WORLD_SIZE  # fit sharded the batches itself
        for name, value in weights.items():
            torch.testing.assert_close(rank["weights"][name], value, rtol=1e-4, atol=1e-6)
        for row, rank_row in zip(history, rank["history"], strict=True):
            for key in ("loss", "ce", "kd", "train_acc", "val_acc", "lr"):
                assert rank_row[key] == pytest.approx(row[key], rel=1e-4, abs=1e-6), key
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in r["history"]] for r in ranks]
    assert untimed[0] == untimed[1]  # every rank returns the same, global, history
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # written by rank 0
    assert saved["epoch"] == 1  # the last epoch writes none: the caller saves the finished model
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in saved["history"]] == untimed[0][:1]


def _worker(out: Path) -> None:
    from kdcore import distributed

    torch.set_num_threads(1)
    device = distributed.init_from_env()
    assert distributed.is_distributed() and distributed.world_size() == WORLD_SIZE
    weights, history, train = _train(device, checkpoint=out / "checkpoint.pt")
    result = {"weights": weights, "history": list(history), "world_size": train.world_size}
    torch.save(result, out / f"rank{distributed.rank()}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
