"""Iterative magnitude pruning (IMP) with learning-rate or weight rewinding.

Each round removes ``rate`` of the remaining weights by global magnitude and
retrains, so after ``n`` rounds the sparsity is ``1 − (1 − rate)ⁿ``.
Prune-then-distill's official code picks ``n`` as the round count whose sparsity
is closest to the target (0.79 at rate 0.2 → 7 rounds → 79.03 %) and retrains
with **learning-rate rewinding** as that code implements it: the weights are
kept and a retraining schedule starts again from its initial learning rate
(Renda et al., 2020, replay the original schedule's last epochs instead).
**Weight rewinding** (Frankle et al., the lottery-ticket line) also resets the
surviving weights to an early checkpoint before retraining.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from .masks import MASK_SUFFIX, enforce_masks, masked_parameters
from .prunable import Prunable, prunable_parameters
from .report import sparsity
from .scores import magnitude_scores
from .unstructured import prune_global


def imp_rounds(target: float, rate: float = 0.2) -> int:
    """The ``n`` that minimizes ``|target − (1 − (1 − rate)ⁿ)|`` (ties: the
    smaller ``n``)."""
    if not (0 <= target < 1 and 0 < rate < 1):
        raise ValueError(
            f"need 0 <= target < 1 and 0 < rate < 1, got target={target}, "
            f"rate={rate}"
        )
    # real n with exactly the target sparsity
    exact = math.log(1 - target) / math.log(1 - rate)
    return min(
        (math.floor(exact), math.ceil(exact)),
        key=lambda n: abs(target - (1 - (1 - rate) ** n)),
    )


def imp_schedule(target: float, rate: float = 0.2) -> list[float]:
    """Nominal sparsity after each round: ``[0.2, 0.36, 0.488, …]`` for rate
    0.2."""
    return [1 - (1 - rate) ** n for n in range(1, imp_rounds(target, rate) + 1)]


def rewind_weights(model: nn.Module, state: dict) -> None:
    """Load ``state`` (a state dict saved before pruning) into ``model`` but
    keep its masks, then zero the pruned weights again: the surviving weights
    restart from their early values."""
    state = {
        key: value
        for key, value in state.items()
        if not key.endswith(MASK_SUFFIX)
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not key.endswith(MASK_SUFFIX) for key in missing):
        raise KeyError(
            f"rewind state does not match the model: missing {missing}, "
            f"unexpected {unexpected}"
        )
    enforce_masks(masked_parameters(model))


def iterative_magnitude_pruning(
    model: nn.Module,
    train_fn: Callable[[nn.Module], Any],
    target: float,
    rate: float = 0.2,
    rewind: str = "lr",
    rewind_state: dict | None = None,
    params: Prunable | None = None,
) -> list[dict]:
    """Prune ``rate`` of the remaining weights by global magnitude, retrain with
    ``train_fn(model)``, and repeat for :func:`imp_rounds` rounds.

    The plain loop, in memory, for a model of your own (and the only place
    weight rewinding is). The chapters' IMP is the recipe
    ``recipes.Pruned(..., rate=…)``: the same rounds, each cached and resumable.

    Args:
        train_fn: retrains the masked model in place, typically a wrapper of
            :func:`kdcore.fit.fit` (which keeps masked weights at zero). A fresh
            ``fit`` call restarts the learning-rate schedule: that is
            learning-rate rewinding. Whatever it returns goes into the round's
            record.
        rewind: ``"lr"`` keeps the trained weights; ``"weights"`` first resets
            the surviving weights to ``rewind_state`` (e.g. ``{k: v.clone() for
            k, v in model.state_dict().items()}`` taken early in the dense
            training).
        params: the prunable set; default: every conv and linear weight, output
            layer included (as in prune-then-distill).

    Returns:
        one record per round: ``{"round", "sparsity", "result"}``, ``sparsity``
            measured from the masks.
    """
    if rewind not in ("lr", "weights"):
        raise ValueError(f"rewind must be 'lr' or 'weights', got {rewind!r}")
    if rewind == "weights" and rewind_state is None:
        raise ValueError(
            "weight rewinding needs rewind_state (a state dict from early "
            "training)"
        )
    params = prunable_parameters(model) if params is None else params
    records = []
    for round_ in range(1, imp_rounds(target, rate) + 1):
        prune_global(params, magnitude_scores(params), rate)
        if rewind == "weights":
            rewind_weights(model, rewind_state)
        records.append(
            {
                "round": round_,
                "sparsity": sparsity(params),
                "result": train_fn(model),
            }
        )
    return records
