"""Train / validation / test splits. Validation is held out from train; test is for final reporting only."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import FIXED_FILES, ImageData


@dataclass
class Split:
    """One split: uint8 images and int64 labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Splits:
    """The three splits of an experiment, plus what models need to know about the data."""

    train: Split
    val: Split
    test: Split
    data: ImageData
    key: dict  # what identifies this split (dataset, val_fraction, seed, train_subset, content): part of cache keys


def holdout_split(data: ImageData, val_fraction: float = 0.1, seed: int = 0, train_subset: int | None = None) -> Splits:
    """Hold out a stratified ``val_fraction`` of train as validation, with a fixed ``seed``.

    The same ``(data, val_fraction, seed)`` always gives the same split, whatever the experiment's own seed,
    so every chapter and every seed sees the same validation images. ``train_subset`` keeps a fixed random
    (not stratified) subset of that many training images after the split, drawn with the split's ``seed`` (a
    low-data regime); the validation set is unchanged.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    g = torch.Generator().manual_seed(seed)
    val_idx, train_idx = [], []
    for c in range(data.num_classes):  # stratified: every class keeps its share in validation
        idx = torch.nonzero(data.train_y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = max(1, round(len(idx) * val_fraction)) if len(idx) > 1 else 0  # tiny classes keep one
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    val_idx = torch.cat(val_idx).sort().values
    train_idx = torch.cat(train_idx)
    train_idx = train_idx[torch.randperm(len(train_idx), generator=g)]
    if train_subset is not None:
        train_idx = train_idx[:train_subset]
    train_idx = train_idx.sort().values
    key = {"dataset": data.name, "val_fraction": val_fraction, "seed": seed, "train_subset": train_subset}
    if data.name not in FIXED_FILES:  # a name alone does not say which images: a cached teacher must not cross
        key["content"] = data.fingerprint()
    return Splits(
        train=Split(data.train_x[train_idx], data.train_y[train_idx]),
        val=Split(data.train_x[val_idx], data.train_y[val_idx]),
        test=Split(data.test_x, data.test_y),
        data=data,
        key=key,
    )
