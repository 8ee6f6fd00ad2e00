"""Structured pruning: remove whole conv channels or hidden units, then build
the smaller dense model.

Two steps, so the masked model can be trained (or compared) before it is
compacted:

1. :func:`prune_units` ranks the units of every layer by the L1 norm of their
   incoming weights and masks the lowest ones, per layer (L1 norms of different
   layers are not comparable, so no global ranking).
2. :func:`compact` returns a physically smaller copy that computes exactly the
   same outputs.

The structured-mask convention, which is what makes the two models equal:
removing unit ``c`` masks row ``c`` of the layer's weight **and** its bias, and,
after a conv, the BatchNorm weight ``γ_c`` and bias ``β_c``. The unit then
outputs exactly zero in train and in eval mode (BN gives ``0·x̂ + 0``; masking
only the conv would leave ``β_c``, or ``β_c − γ_c·μ_c/σ_c`` in eval mode,
flowing through the ReLU). A zero unit contributes nothing downstream, so
deleting it, with the matching input columns of the next layer, changes nothing.
:func:`compact` removes exactly the units whose four masks are all zero.

Supported architectures (chains of layers, :func:`unit_layers`):
:class:`~kdcore.models.vgg.CifarVGG` (conv-BN-ReLU blocks, then global pooling
and a linear head) and :class:`~kdcore.models.mlp.MLP`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..models.mlp import MLP
from ..models.vgg import CifarVGG
from .masks import MASK_SUFFIX, attach_mask, get_mask
from .thresholds import prune_lowest

# (conv or linear, the BatchNorm after it or None)
Layer = tuple[nn.Module, nn.Module | None]


def unit_layers(model: nn.Module) -> tuple[list[Layer], nn.Linear]:
    """The prunable layers of a chain model, in order, and its output layer
    (never pruned)."""
    if isinstance(model, CifarVGG):
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
        return list(zip(convs, norms)), model.classifier
    if isinstance(model, MLP):
        linears = [m for m in model.net if isinstance(m, nn.Linear)]
        return [(linear, None) for linear in linears[:-1]], linears[-1]
    raise TypeError(
        "structured pruning supports CifarVGG and MLP, not "
        f"{type(model).__name__}"
    )


def unit_l1_norms(layer: nn.Module) -> torch.Tensor:
    """L1 norm of each output unit's incoming weights (a conv filter, a row of a
    linear weight)."""
    return layer.weight.detach().abs().flatten(1).sum(1)


def alive_units(layer: nn.Module, norm: nn.Module | None) -> torch.Tensor:
    """Boolean vector: units that any of their masks (weight row, bias, BN
    weight, BN bias) keeps."""
    alive = get_mask(layer, "weight").flatten(1).bool().any(1)
    for module, name in [(layer, "bias"), (norm, "weight"), (norm, "bias")]:
        if module is not None and getattr(module, name, None) is not None:
            alive = alive | get_mask(module, name).bool()
    return alive


def mask_units(
    layer: nn.Module, norm: nn.Module | None, keep: torch.Tensor
) -> None:
    """Attach structured masks removing the units where ``keep`` is False (see
    the module docstring)."""
    attach_mask(
        layer,
        "weight",
        keep.view(-1, *[1] * (layer.weight.dim() - 1)).expand_as(layer.weight),
    )
    for module, name in [(layer, "bias"), (norm, "weight"), (norm, "bias")]:
        if module is not None and getattr(module, name, None) is not None:
            attach_mask(module, name, keep)


def prune_units(model: nn.Module, amount: float) -> None:
    """Remove the ``amount`` fraction of each layer's alive units with the
    lowest L1 norm (masks only).

    Ties are broken as in :func:`~kdcore.prune.thresholds.prune_lowest`; at
    least one unit always stays.
    """
    for layer, norm in unit_layers(model)[0]:
        norms, alive = unit_l1_norms(layer), alive_units(layer, norm)
        keep = prune_lowest(norms, alive, amount)
        # an empty layer would disconnect the network: keep its strongest unit
        if not keep.any():
            keep[norms.masked_fill(~alive, -1).argmax()] = True
        mask_units(layer, norm, keep)


def _slice(
    t: torch.Tensor, rows: torch.Tensor | None, columns: torch.Tensor | None
) -> torch.Tensor:
    t = t if rows is None else t[rows]
    return t if columns is None or t.dim() < 2 else t[:, columns]


@torch.no_grad()
def _shrink_(
    module: nn.Module, rows: torch.Tensor | None, columns: torch.Tensor | None
) -> None:
    """Keep output units ``rows`` and input units ``columns`` (None = all) of a
    conv, linear or BatchNorm module: every parameter and buffer (masks
    included) is sliced, and the size attributes follow."""
    for name, p in list(module.named_parameters(recurse=False)):
        setattr(
            module,
            name,
            nn.Parameter(_slice(p, rows, columns).clone(), p.requires_grad),
        )
    for name, b in list(module.named_buffers(recurse=False)):
        if b.dim() > 0:  # not BatchNorm's num_batches_tracked
            setattr(module, name, _slice(b, rows, columns).clone())
    if isinstance(module, nn.Conv2d):
        module.out_channels, module.in_channels = module.weight.shape[:2]
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = module.weight.shape
    elif isinstance(module, nn.BatchNorm2d):
        module.num_features = module.weight.shape[0]


def compact(model: nn.Module) -> nn.Module:
    """A smaller dense copy of ``model`` without its removed units; it computes
    the same outputs.

    Masks that still remove something (unstructured pruning inside the kept
    units) are carried over, sliced; masks left all ones are dropped. The copy's
    ``config`` (VGG) or ``widths`` (MLP) gives the new widths, e.g. to build the
    same student from scratch.
    """
    small = copy.deepcopy(model)
    layers, head = unit_layers(small)
    # the kept units of the previous layer: the columns to keep in this one
    inputs = None
    for layer, norm in layers:
        kept = alive_units(layer, norm).nonzero().flatten()
        _shrink_(layer, kept, inputs)
        if norm is not None:
            _shrink_(norm, kept, None)
        inputs = kept
    _shrink_(head, None, inputs)
    for module in small.modules():
        for name in [b for b in module._buffers if b.endswith(MASK_SUFFIX)]:
            if bool(module._buffers[name].all()):
                del module._buffers[name]
    widths = [layer.weight.shape[0] for layer, _ in layers]
    if isinstance(small, CifarVGG):
        it = iter(widths)
        small.config = [
            item if item == "M" else next(it) for item in small.config
        ]
    else:
        small.widths = tuple(widths)
    return small
