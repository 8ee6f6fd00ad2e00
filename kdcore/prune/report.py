"""How sparse is a model: per-layer and overall sparsity, parameter counts dense
vs kept.

Counts come from the masks, not from the values: a weight is "kept" unless a
mask removed it, so a bias that happens to be 0.0 still counts as a parameter of
the model.
"""

from __future__ import annotations

import torch
from torch import nn

from ..report import Table
from .masks import get_mask, masked_parameters
from .prunable import Prunable, parameter_names, prunable_parameters


def sparsity(params: Prunable) -> float:
    """Fraction of the weights in ``params`` removed by their masks."""
    masks = [get_mask(module, name) for module, name in params]
    total = sum(m.numel() for m in masks)
    kept = (
        torch.stack([m.count_nonzero() for m in masks]).sum().item()
        if masks
        else 0
    )
    return 1 - kept / total if total else 0.0


class SparsityReport(list):
    """One row per prunable weight (``layer``, ``shape``, ``params``, ``kept``,
    ``sparsity``), plus ``total`` (the same columns over those rows) and
    ``model`` (all parameters of the model, biases and BN included). Displays as
    a table in a notebook."""

    def __init__(self, rows: list[dict], total: dict, model: dict):
        super().__init__(rows)
        self.total, self.model = total, model

    def to_table(self) -> Table:
        return format_table([*self, self.total, self.model])

    def _repr_html_(self) -> str:
        return self.to_table()._repr_html_()

    def to_markdown(self) -> str:
        return self.to_table().to_markdown()

    def __str__(self) -> str:
        return self.to_markdown()


def _row(layer: str, shape: str, params: int, kept: int) -> dict:
    return {
        "layer": layer,
        "shape": shape,
        "params": params,
        "kept": kept,
        "sparsity": 1 - kept / params,
    }


def sparsity_report(
    model: nn.Module, params: Prunable | None = None
) -> SparsityReport:
    """Sparsity of each weight in ``params`` (default: every conv and linear
    weight) and of the model.

    All counts are gathered in one host transfer.
    """
    params = prunable_parameters(model) if params is None else params
    masks = [get_mask(module, name) for module, name in params]
    # for the model row, wherever they are
    masked = [mask for _, mask in masked_parameters(model)]
    kept = (
        torch.stack([m.count_nonzero() for m in masks + masked]).tolist()
        if masks + masked
        else []
    )
    rows = [
        _row(name, "×".join(map(str, mask.shape)), mask.numel(), k)
        for name, mask, k in zip(parameter_names(model, params), masks, kept)
    ]
    total = (
        _row(
            "prunable",
            "",
            sum(r["params"] for r in rows),
            sum(r["kept"] for r in rows),
        )
        if rows
        else {}
    )
    removed = sum(m.numel() for m in masked) - sum(kept[len(masks) :])
    everything = sum(p.numel() for p in model.parameters())
    return SparsityReport(
        rows, total, _row("model", "", everything, everything - removed)
    )


def format_table(rows: list[dict], caption: str | None = None) -> Table:
    """A :class:`kdcore.report.Table` of ``rows`` (dicts with the same keys);
    sparsities as percentages. The book numbers it when it has a ``caption``."""
    return Table(
        [
            {
                k: f"{100 * v:.2f} %" if k == "sparsity" else v
                for k, v in r.items()
            }
            for r in rows
            if r
        ],
        caption=caption,
    )
