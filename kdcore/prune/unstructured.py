"""Unstructured pruning, functional and hook-free: the ``torch.nn.utils.prune``
API without its hooks.

``prune_global(params, scores, amount)`` and ``prune_layerwise(...)`` turn
scores into masks and attach them as ``<name>_mask`` buffers
(:func:`~kdcore.prune.masks.attach_mask`), zeroing the pruned weights. The
forward pass stays the plain dense one; :func:`kdcore.fit.fit` keeps the zeros
through training.
"""

from __future__ import annotations

import torch
from torch import nn

from .masks import attach_mask, get_mask
from .prunable import Prunable, prunable_parameters
from .scores import magnitude_scores
from .thresholds import global_masks, layerwise_masks


def current_masks(params: Prunable) -> list[torch.Tensor]:
    """The masks of ``params`` as they are now (all ones for a weight not pruned
    yet)."""
    return [get_mask(module, name) for module, name in params]


def _attach(params: Prunable, masks: list[torch.Tensor]) -> None:
    for (module, name), mask in zip(params, masks):
        attach_mask(module, name, mask)


def prune_global(
    params: Prunable, scores: list[torch.Tensor], amount: float
) -> None:
    """Remove the ``amount`` fraction of the still-alive weights of ``params``
    with the lowest ``scores``, ranked across all layers together (``scores`` is
    aligned with ``params``)."""
    _attach(params, global_masks(scores, current_masks(params), amount))


def prune_layerwise(
    params: Prunable, scores: list[torch.Tensor], amount: float
) -> None:
    """Remove the ``amount`` fraction of each layer's still-alive weights with
    the lowest ``scores``."""
    _attach(params, layerwise_masks(scores, current_masks(params), amount))


def magnitude_prune(
    model: nn.Module,
    amount: float,
    scope: str = "global",
    kinds: tuple[str, ...] = ("conv", "linear"),
    exclude_output: bool = False,
) -> Prunable:
    """Magnitude pruning of ``model`` in one call; returns the pruned ``(module,
    "weight")`` pairs.

    Args:
        amount: fraction of the still-alive prunable weights to remove.
        scope: ``"global"`` (one threshold for the network) or ``"layer"`` (the
            same fraction per layer).
        kinds, exclude_output: the prunable set, see
            :func:`~kdcore.prune.prunable.prunable_parameters`.
    """
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    params = prunable_parameters(model, kinds, exclude_output)
    prune = prune_global if scope == "global" else prune_layerwise
    prune(params, magnitude_scores(params), amount)
    return params
