"""PrUE (Wang et al. 2022): prune the teacher weights that shape the spread of
its true-class confidence.

The official code (github.com/wangshaopu/prue, ``pruner.py::prue``) scores a
trained teacher in eval mode:

1. without gradients, the per-class mean true-class probability ``μ_c = mean_{x:
   y(x)=c} p_c(x)``;
2. the dispersion ``D = Σ_x |μ_{y(x)} − p_{y(x)}(x)|`` summed over the prune
   set, ``μ`` held constant;
3. the score of a weight ``|∂D/∂m|`` for a multiplicative mask ``m`` at ``m =
   1``, i.e. ``|w · ∂D/∂w|`` (the gradients of all batches are summed before the
   absolute value is taken);
4. the highest scores are kept, ranked globally over the prunable weights; then
   the sparse teacher is retrained with its masks fixed.

The code prunes conv weights only (the classifier, biases and BatchNorm stay
dense). For a model without convolutions (the book's MLPs) :func:`prue_prunable`
returns the linear weights except the output layer, the same rule: everything
but the classifier. ``D`` is an L1 deviation because the code computes it so
(its variable is called ``all_std``); whether the paper writes a variance
instead could not be checked.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..metrics import class_means, true_class_probability
from .prunable import Prunable, prunable_parameters
from .scores import gradient_scores
from .unstructured import prune_global

# (x, y) or (x, y, index); iterated twice, so not a generator
Batches = Iterable[tuple[torch.Tensor, ...]]


@torch.no_grad()
def class_mean_confidence(model: nn.Module, batches: Batches) -> torch.Tensor:
    """``μ``: per class, the mean true-class probability of ``model`` over the
    examples of that class.

    Runs ``model`` as it is (the caller picks the mode). A class absent from
    ``batches`` gets ``μ = 0``; it never enters ``D``.
    """
    p_true, labels, num_classes = [], [], None
    for x, y, *_ in batches:
        logits = model(x)
        p_true.append(true_class_probability(logits, y))
        labels.append(y)
        num_classes = logits.shape[1]
    if num_classes is None:
        raise ValueError("batches is empty")
    return class_means(torch.cat(p_true), torch.cat(labels), num_classes)


def prue_dispersion(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, mu: torch.Tensor
) -> torch.Tensor:
    """PrUE's ``D`` on one batch: ``Σ_i |μ_{y_i} − p_{y_i}(x_i)|`` (a sum, not a
    mean, as in the code)."""
    return (mu[y] - true_class_probability(model(x), y)).abs().sum()


def prue_prunable(model: nn.Module) -> Prunable:
    """PrUE's prunable set: the conv weights if the model has convolutions (the
    official code), else every linear weight except the output layer (the same
    "classifier stays dense" rule for MLPs)."""
    params = prunable_parameters(model, ("conv",))
    return params or prunable_parameters(
        model, ("linear",), exclude_output=True
    )


def prue_scores(
    model: nn.Module, params: Prunable, batches: Batches
) -> list[torch.Tensor]:
    """PrUE scores ``|w · ∂D/∂w|`` (= ``|∂D/∂m|`` at ``m = 1``) of ``params``,
    with ``D`` over ``batches``.

    ``model`` is put in eval mode for both passes (BatchNorm uses its running
    statistics, as in the official code) and returned to its previous mode; its
    weights, buffers and ``.grad`` are unchanged. ``batches`` yields ``(x, y)``
    or ``(x, y, index)`` and is iterated twice (``μ``, then ``D``): pass a list
    or :class:`~kdcore.batches.DeviceBatches`. The official prune set is the
    training set.
    """
    was_training = model.training
    model.eval()
    try:
        mu = class_mean_confidence(model, batches)
        # gradient_scores takes (x, y); no copy of the batches
        pairs = ((b[0], b[1]) for b in batches)
        return gradient_scores(
            model, params, pairs, lambda m, x, y: prue_dispersion(m, x, y, mu)
        )
    finally:
        model.train(was_training)


def prue_prune(
    model: nn.Module,
    batches: Batches,
    amount: float,
    params: Prunable | None = None,
) -> Prunable:
    """Score ``model`` with :func:`prue_scores` and remove the ``amount``
    fraction of the still-alive weights of ``params`` (default
    :func:`prue_prunable`) with the lowest scores, ranked globally.

    Returns the pruned ``(module, "weight")`` pairs. Retrain the model
    afterwards: :func:`kdcore.fit.fit` keeps the masks fixed.
    """
    params = prue_prunable(model) if params is None else params
    prune_global(params, prue_scores(model, params, batches), amount)
    return params
