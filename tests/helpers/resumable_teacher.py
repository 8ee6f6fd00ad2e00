"""Train (or resume, or load) a small teacher through the cache, as a chapter does; used by the kill test.

    python tests/helpers/resumable_teacher.py OUT.json      (KDCORE_CACHE_DIR says where the cache is)

It prints ``resume <epoch>`` (the epoch of the partial checkpoint it starts from, 0 for none) and one
``step <n>`` line per optimizer step, then writes the final history (without timings) and a SHA-256 of the
weights to OUT.json. Run twice with the same cache, it continues where a killed run stopped.

``KDCORE_TEST_DEVICE`` (default ``cpu``) puts the data and model there: the device check runs the kill test
on CUDA too, where a resume used to crash on the generator state.

For the test only: ``KDCORE_TEST_HANG_AT=<epoch>:<step>`` makes the process stop (sleep) inside that step
of that epoch, so the test can SIGKILL it at a known point in the middle of an epoch. Sleeping changes no
number.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

import torch

from kdcore.batches import DeviceBatches
from kdcore.checkpoint import load_checkpoint
from kdcore.data import synthetic
from kdcore.fit import TrainConfig
from kdcore.objectives import CrossEntropy
from kdcore.splits import holdout_split
from kdcore.teachers import cache_dir, train_or_load

EPOCHS, BATCH = 4, 32


class ReportingCrossEntropy(CrossEntropy):
    """Cross-entropy that reports each step (and can hang in one for the test); the loss is unchanged."""

    def __init__(self, model, steps_per_epoch: int, first_epoch: int, hang_at: tuple[int, int] | None):
        super().__init__(model)
        self.steps_per_epoch, self.step, self.first_epoch, self.hang_at = steps_per_epoch, 0, first_epoch, hang_at

    def forward(self, x, y, index=None):
        if self.training:
            self.step += 1
            epoch = self.first_epoch + (self.step - 1) // self.steps_per_epoch + 1
            step_in_epoch = (self.step - 1) % self.steps_per_epoch + 1
            print(f"step {epoch}:{step_in_epoch}", flush=True)
            if self.hang_at == (epoch, step_in_epoch):
                print("hanging", flush=True)
                time.sleep(600)
        return super().forward(x, y, index)


def main(out: str) -> None:
    torch.set_num_threads(1)
    data = synthetic(3000, 100, num_classes=10)
    splits = holdout_split(data, 0.2)
    device = torch.device(os.environ.get("KDCORE_TEST_DEVICE", "cpu"))
    train = DeviceBatches(
        splits.train, data.mean, data.std, BATCH, shuffle=True, crop_padding=2, hflip=True, device=device
    )
    val = DeviceBatches(splits.val, data.mean, data.std, 256, device=device)
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.05, schedule="multistep", milestones=(3,), seed=5)

    partials = list((cache_dir() / "teachers").glob("*.partial.pt"))
    first_epoch = load_checkpoint(partials[0])["epoch"] if partials else 0
    print(f"resume {first_epoch}", flush=True)
    hang = os.environ.get("KDCORE_TEST_HANG_AT")
    hang_at = tuple(int(v) for v in hang.split(":")) if hang else None

    def objective(model):
        return ReportingCrossEntropy(model, len(train), first_epoch, hang_at)

    # the same key as plain cross-entropy: the reporting wrapper computes exactly that loss
    model, record = train_or_load(
        "mlp-32", splits, config, train, val, objective=objective, objective_key={"name": "cross_entropy"},
        seed=3, progress=False,
    )  # fmt: skip
    weights = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        weights.update(name.encode() + tensor.cpu().contiguous().numpy().tobytes())
    history = [{k: v for k, v in row.items() if k != "seconds"} for row in record["history"]]
    result = {"history": history, "weights_sha256": weights.hexdigest(), "cached": record["cached"]}
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1])
