"""Masks as buffers, without forward hooks.

A pruned parameter ``weight`` of a module gets a buffer ``weight_mask`` (same
shape, 0/1, same dtype). The parameter itself holds the masked values, so the
forward pass is the plain dense one: no ``weight_orig * mask`` recomputed before
every forward as ``torch.nn.utils.prune`` does. To keep masked weights at
exactly zero through training, :func:`kdcore.fit.fit` calls
:func:`enforce_masks` after every optimizer step (one fused multiply over all
masked tensors), which also undoes whatever momentum or weight decay did to
them.
"""

from __future__ import annotations

import torch
from torch import nn

MASK_SUFFIX = "_mask"


def attach_mask(module: nn.Module, name: str, mask: torch.Tensor) -> None:
    """Register (or replace) ``<name>_mask`` on ``module`` and zero the masked
    entries of ``<name>``."""
    param = getattr(module, name)
    if mask.shape != param.shape:
        raise ValueError(
            f"mask shape {tuple(mask.shape)} != {name} shape "
            f"{tuple(param.shape)}"
        )
    buffer = name + MASK_SUFFIX
    # same dtype, device and memory layout as the parameter
    if buffer not in module._buffers:
        module.register_buffer(
            buffer, torch.empty_like(param, requires_grad=False)
        )
    with torch.no_grad():
        module._buffers[buffer].copy_(mask)
        param.mul_(getattr(module, buffer))


def masked_parameters(
    model: nn.Module,
) -> list[tuple[nn.Parameter, torch.Tensor]]:
    """All ``(parameter, mask)`` pairs of a model, in module order."""
    pairs = []
    for module in model.modules():
        for buffer_name, mask in module.named_buffers(recurse=False):
            if buffer_name.endswith(MASK_SUFFIX):
                param = getattr(module, buffer_name[: -len(MASK_SUFFIX)], None)
                if isinstance(param, nn.Parameter):
                    pairs.append((param, mask))
    return pairs


@torch.no_grad()
def enforce_masks(pairs: list[tuple[nn.Parameter, torch.Tensor]]) -> None:
    """Multiply every masked parameter by its mask, in one fused call."""
    if pairs:
        torch._foreach_mul_([p for p, _ in pairs], [m for _, m in pairs])


def get_mask(module: nn.Module, name: str) -> torch.Tensor:
    """The mask of ``module.<name>``, or all ones (nothing pruned yet) if it has
    none."""
    mask = getattr(module, name + MASK_SUFFIX, None)
    return mask if mask is not None else torch.ones_like(getattr(module, name))


def remove_masks(model: nn.Module) -> None:
    """Make pruning permanent: zero the masked weights one last time and drop
    every ``*_mask`` buffer.

    The model computes the same function afterwards; it is simply no longer kept
    sparse by :func:`enforce_masks`, so further training fills the zeros in
    again.
    """
    enforce_masks(masked_parameters(model))
    for module in model.modules():
        for buffer_name in [
            b for b in module._buffers if b.endswith(MASK_SUFFIX)
        ]:
            del module._buffers[buffer_name]
