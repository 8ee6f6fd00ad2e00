"""Batched data augmentation that runs on the device: no per-sample PIL transforms in the hot path."""

from __future__ import annotations

import torch


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """Pad a batch ``B×C×H×W`` by ``padding`` with ``fill`` (one value per channel; default 0) and take one
    random ``H×W`` crop per image.

    torchvision's ``RandomCrop(H, padding)`` pads raw pixels with black, before ``Normalize``; on normalized
    images the same border is black normalized, ``(0 − mean) / std``, which :class:`DeviceBatches` passes as
    ``fill`` (0 would be the dataset's mean colour). One gather for the whole batch.
    """
    if padding == 0:
        return x
    b, c, h, w = x.shape
    fill = x.new_zeros(c) if fill is None else fill.to(x)
    padded = fill.view(1, c, 1, 1).expand(b, c, h + 2 * padding, w + 2 * padding).clone()
    padded[..., padding : padding + h, padding : padding + w] = x
    dy = torch.randint(0, 2 * padding + 1, (b, 1), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b, 1), device=x.device, generator=generator)
    rows = (dy + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (dx + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image of a batch left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
