"""Saving and loading pruned models.

Masks are buffers, so ``model.state_dict()`` already contains them
(``features.0.weight_mask``). A fresh model of the same architecture has no mask
buffers yet, and ``load_state_dict`` would reject those keys:
:func:`load_pruned_state_dict` attaches them first. Files go through
:mod:`kdcore.checkpoint` (atomic writes, ``weights_only=True`` loads).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_checkpoint, save_checkpoint
from .masks import MASK_SUFFIX, attach_mask


def load_pruned_state_dict(
    model: nn.Module, state_dict: dict[str, torch.Tensor], strict: bool = True
):
    """Attach the masks found in ``state_dict`` to ``model`` (pruned or not),
    then load it all.

    Returns what ``model.load_state_dict`` returns.
    """
    for key, mask in state_dict.items():
        if key.endswith(MASK_SUFFIX):
            module_name, _, buffer_name = key.rpartition(".")
            attach_mask(
                model.get_submodule(module_name),
                buffer_name[: -len(MASK_SUFFIX)],
                mask,
            )
    return model.load_state_dict(state_dict, strict=strict)


def save_pruned(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save ``model.state_dict()``, masks included, atomically."""
    return save_checkpoint(model.state_dict(), path)


def load_pruned(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a file written by :func:`save_pruned` into ``model`` (a fresh one is
    fine), on its device."""
    device = next(model.parameters()).device
    load_pruned_state_dict(model, load_checkpoint(path, map_location=device))
    return model
