"""From scores to masks: remove exactly the requested number of the
lowest-scoring alive weights.

Conventions (the same as ``torch.nn.utils.prune``):

* ``amount`` is a fraction of the weights that are **still alive**. Pruning 0.2
  twice leaves ``0.8 · 0.8 = 0.64`` of the weights: the new mask is the old mask
  AND "not among the lowest scores of the alive weights", so existing zeros stay
  zero.
* The count removed is ``k = round(amount · alive)``, with Python's ``round``
  (halves to even).

Exactness: ties at the threshold are broken by position, lowest flat index first
(layer order, then row-major inside a layer), so exactly ``k`` weights go even
when all scores are equal, and the mask is the same on every device. Everything
runs on the scores' device with ``torch.topk`` (a selection, not a full sort);
only counts travel to the host (``topk`` needs ``k`` as a Python integer).
"""

from __future__ import annotations

import torch


def prune_lowest(
    scores: torch.Tensor, alive: torch.Tensor, amount: float
) -> torch.Tensor:
    """Boolean mask: ``alive`` minus its ``round(amount · alive.sum())``
    lowest-scoring entries."""
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be a fraction in [0, 1], got {amount}")
    alive = alive.bool()
    k = round(amount * int(alive.count_nonzero()))
    if k == 0:
        return alive.clone()
    # NaN is neither below nor equal to any threshold: fewer than k would go
    if (scores.isnan() & alive).any():
        raise ValueError("an alive weight scores NaN (a diverged model?)")
    # dead entries are never selected again
    key = scores.masked_fill(~alive, float("inf"))
    # the k-th lowest score
    threshold = key.flatten().topk(k, largest=False, sorted=False).values.max()
    below = key < threshold
    tied = (key == threshold) & alive
    # Of the scores equal to the threshold, remove only the first `k - below`
    # (lowest flat index first).
    ties_to_remove = k - int(below.count_nonzero())
    if ties_to_remove < int(tied.count_nonzero()):
        tied &= tied.flatten().cumsum(0).view_as(tied) <= ties_to_remove
    return alive & ~below & ~tied


def global_masks(
    scores: list[torch.Tensor], masks: list[torch.Tensor], amount: float
) -> list[torch.Tensor]:
    """One threshold for all layers: remove ``amount`` of the alive weights
    where their scores are lowest across the whole network. Layers may end up
    with very different sparsities; that is the point."""
    alive = torch.cat([m.flatten().bool() for m in masks])
    flat = prune_lowest(torch.cat([s.flatten() for s in scores]), alive, amount)
    return [
        part.view_as(s)
        for part, s in zip(flat.split([s.numel() for s in scores]), scores)
    ]


def layerwise_masks(
    scores: list[torch.Tensor], masks: list[torch.Tensor], amount: float
) -> list[torch.Tensor]:
    """One threshold per layer: remove ``amount`` of each layer's alive
    weights."""
    return [prune_lowest(s, m, amount) for s, m in zip(scores, masks)]
