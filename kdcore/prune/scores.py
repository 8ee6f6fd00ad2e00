"""Importance scores: one tensor per prunable weight, same shape, higher = more
worth keeping.

Thresholding (:mod:`kdcore.prune.thresholds`) only ever compares scores of
weights that are still alive, so the score of an already-masked entry does not
matter: it stays pruned whatever its score.

Gradient scores follow SNIP's "connection sensitivity": the derivative of an
objective with respect to a multiplicative mask ``m`` on the weight, at ``m =
1``. Since ``∂F/∂m = w · ∂F/∂w`` there, we compute ``|w · ∂F/∂w|`` directly and
need no mask reparameterization. For a weight that is still alive this is also
exactly what ``torch.nn.utils.prune``-based code gets by making ``weight_mask``
require grad.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .prunable import Prunable

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _weights(params: Prunable) -> list[torch.Tensor]:
    return [getattr(module, name) for module, name in params]


@torch.no_grad()
def magnitude_scores(params: Prunable) -> list[torch.Tensor]:
    """``|w|``: magnitude pruning (``L1Unstructured`` in
    ``torch.nn.utils.prune``)."""
    return [w.abs() for w in _weights(params)]


@torch.no_grad()
def random_scores(
    params: Prunable, generator: torch.Generator | None = None
) -> list[torch.Tensor]:
    """Uniform random scores: random pruning, the baseline every score has to
    beat. ``generator`` must live on the weights' device."""
    return [
        torch.rand(w.shape, device=w.device, generator=generator)
        for w in _weights(params)
    ]


def gradient_scores(
    model: nn.Module,
    params: Prunable,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    objective_fn: Objective,
) -> list[torch.Tensor]:
    """``|w · ∂F/∂w|`` with the gradient of ``F`` summed over ``batches``: the
    hook for SNIP-like scores.

    ``objective_fn(model, x, y)`` returns a scalar ``F`` for one batch; any
    differentiable function of the model's outputs works (cross-entropy for
    SNIP, a dispersion of the softmax outputs for PrUE). As in the official SNIP
    and PrUE code, the gradients of all batches are accumulated first and the
    absolute value is taken at the end.

    The caller sets ``model.train()`` or ``model.eval()`` beforehand; that
    choice decides whether BatchNorm uses batch or running statistics. The model
    is left as it was: the running statistics that a train-mode pass updates are
    restored, ``.grad`` fields are untouched (``torch.autograd.grad``), and
    weights frozen with ``requires_grad=False`` (a cached teacher) are scored
    all the same.

    Example, an objective in PrUE's shape (``mu``: per-class mean true-class
    probability, computed beforehand without gradients)::

        def dispersion(model, x, y):
            p_true = model(x).softmax(1).gather(1, y[:, None]).squeeze(1)
            return (mu[y] - p_true).abs().sum()

        scores = gradient_scores(model.eval(), prunable_parameters(model,
        ("conv",)), batches, dispersion)
    """
    weights = _weights(params)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    frozen = [not w.requires_grad for w in weights]
    for w in weights:
        w.requires_grad_(True)
    try:
        totals = [torch.zeros_like(w) for w in weights]
        for x, y in batches:
            grads = torch.autograd.grad(objective_fn(model, x, y), weights)
            torch._foreach_add_(totals, grads)
        with torch.no_grad():
            return [(w * total).abs() for w, total in zip(weights, totals)]
    finally:
        for w, was_frozen in zip(weights, frozen):
            w.requires_grad_(not was_frozen)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


def cross_entropy_objective(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy of one batch: SNIP's objective."""
    return F.cross_entropy(model(x), y)


def snip_scores(
    model: nn.Module,
    params: Prunable,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> list[torch.Tensor]:
    """SNIP (Lee et al., 2019): ``|w · ∂L_CE/∂w|``, summed over ``batches``.

    PrUE's official baseline runs it with BatchNorm in train mode
    (``model.train()``) over the whole training set; the SNIP paper uses one
    batch. Both are a choice of ``batches`` and of the model's mode.
    """
    return gradient_scores(model, params, batches, cross_entropy_objective)
