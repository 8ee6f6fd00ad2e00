"""Batches from tensors that live on the device.

A :class:`DeviceBatches` normalizes a whole split once and keeps it on the device. Each epoch draws one
random permutation and slices it into batches, and augmentation (crop with padding, horizontal flip) runs
batched on the device. This replaces a ``DataLoader`` with CPU transforms, which is what makes small-model
training on a GPU fast (as in airbench) and keeps CPU runs free of worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .augment import random_crop, random_hflip
from .splits import Split


def normalize(x_uint8: torch.Tensor, mean, std, dtype=torch.float32) -> torch.Tensor:
    """uint8 ``N×C×H×W`` images to normalized floats (``(x/255 - mean) / std`` per channel)."""
    mean = torch.tensor(mean, device=x_uint8.device).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x_uint8.device).view(1, -1, 1, 1)
    return ((x_uint8.float() / 255 - mean) / std).to(dtype)


class DeviceBatches:
    """Iterate over ``(x, y)`` batches of a split held on ``device``.

    Args:
        split: the images (uint8) and labels.
        mean, std: per-channel normalization.
        batch_size: images per batch.
        shuffle: a fresh random order every epoch (training) or the stored order (evaluation).
        crop_padding: random crop with this padding, black (0 = off). Only when ``shuffle``.
        hflip: random horizontal flips. Only when ``shuffle``.
        seed: seeds this object's own generator, so batch order and augmentation are reproducible and
            independent of the global RNG. Its state is part of a training checkpoint.
        rank, world_size: under DistributedDataParallel, ``batch_size`` is the global batch and each rank
            yields every ``world_size``-th image of it (``batch_size / world_size`` images). All ranks draw
            the same permutation and the same augmentation for the whole global batch (same seed), so the
            union of the ranks' batches at each step is exactly the single-process batch, and the shards
            are disjoint and of equal size (the last ``len(split) % world_size`` images of each
            permutation are skipped). :func:`kdcore.fit.fit` sets these under torchrun.
        drop_last: drop a final partial batch (keeps shapes static for ``torch.compile``).
        with_index: also yield each batch's example indices, ``(x, y, index)``, so an objective can look up
            per-example data such as cached teacher logits.
    """

    def __init__(
        self,
        split: Split,
        mean,
        std,
        batch_size: int = 256,
        shuffle: bool = False,
        crop_padding: int = 0,
        hflip: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        with_index: bool = False,
    ):
        self.device = torch.device(device)
        x = normalize(split.x.to(self.device), mean, std, dtype)
        # a crop's border is black, as torchvision pads raw pixels before normalizing: one value per channel
        black = torch.zeros_like(split.x[:1, :, :1, :1], device=self.device)
        self.black = normalize(black, mean, std, dtype).flatten()
        self.x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        self.y = split.y.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.crop_padding = crop_padding if shuffle else 0
        self.hflip = hflip and shuffle
        self.channels_last = channels_last
        self.drop_last = drop_last
        self.with_index = with_index
        self.shard(rank, world_size)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def shard(self, rank: int, world_size: int) -> None:
        """Make this the ``rank``-th of ``world_size`` shards (see the class docstring)."""
        if not 0 <= rank < world_size or self.batch_size % world_size:
            raise ValueError(
                f"need 0 <= rank < world_size and batch_size divisible by world_size; "
                f"got rank={rank}, world_size={world_size}, batch_size={self.batch_size}"
            )
        self.rank, self.world_size = rank, world_size

    def _num_used(self) -> int:
        n = len(self.y) - len(self.y) % self.world_size
        return n - n % self.batch_size if self.drop_last else n

    def __len__(self) -> int:
        return -(-self._num_used() // self.batch_size)

    @property
    def num_examples(self) -> int:
        """Images this rank yields per epoch."""
        return self._num_used() // self.world_size

    @property
    def augments(self) -> bool:
        """Whether batches are randomly augmented (then per-example outputs cannot be cached)."""
        return bool(self.crop_padding or self.hflip)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, device=self.device, generator=self.generator)
        else:
            order = torch.arange(n, device=self.device)
        order = order[: self._num_used()]
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x = self.x[idx]
            if self.crop_padding:
                x = random_crop(x, self.crop_padding, self.generator, fill=self.black)
            if self.hflip:
                x = random_hflip(x, self.generator)
            if self.world_size > 1:  # every rank augments the global batch and keeps its slice: lockstep RNG
                x, idx = x[self.rank :: self.world_size], idx[self.rank :: self.world_size]
            if self.channels_last:  # the gather in random_crop returns NCHW; convolutions want NHWC
                x = x.contiguous(memory_format=torch.channels_last)
            yield (x, self.y[idx], idx) if self.with_index else (x, self.y[idx])

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        # Generator.set_state takes a CPU byte tensor, also for a CUDA generator; a checkpoint loaded with
        # map_location="cuda" holds it on the GPU, which used to crash every resume on CUDA
        self.generator.set_state(state["generator"].cpu())
