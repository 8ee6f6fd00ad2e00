"""Which weights may be pruned: the caller chooses, per method.

A prunable set is a list of ``(module, "weight")`` pairs, the same convention as
the ``parameters`` argument of ``torch.nn.utils.prune.global_unstructured``.
Scores and masks are lists aligned with it. PrUE prunes conv weights only;
prune-then-distill prunes conv and linear weights, the output layer included.
Biases and BatchNorm parameters are never in the set.
"""

from __future__ import annotations

from torch import nn

Prunable = list[tuple[nn.Module, str]]

KINDS: dict[str, type[nn.Module]] = {
    # Conv1d/2d/3d and their transposed versions
    "conv": nn.modules.conv._ConvNd,
    "linear": nn.Linear,
}


def output_layer(model: nn.Module) -> nn.Linear | None:
    """The last ``nn.Linear`` in module order: the classifier of every model in
    :mod:`kdcore.models`."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def prunable_parameters(
    model: nn.Module,
    kinds: tuple[str, ...] = ("conv", "linear"),
    exclude_output: bool = False,
) -> Prunable:
    """The ``(module, "weight")`` pairs of ``model``'s layers of the given
    ``kinds``, in module order.

    Args:
        kinds: any of ``"conv"`` and ``"linear"``; ``("conv",)`` is PrUE's set.
        exclude_output: leave the output layer (see :func:`output_layer`) dense.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(
            f"unknown kinds {sorted(unknown)}; choose from {sorted(KINDS)}"
        )
    types = tuple(KINDS[kind] for kind in kinds)
    skip = output_layer(model) if exclude_output else None
    return [
        (m, "weight")
        for m in model.modules()
        if isinstance(m, types) and m is not skip
    ]


def parameter_names(model: nn.Module, params: Prunable) -> list[str]:
    """Dotted names (``features.0.weight``) of the pairs in ``params``, for
    reports."""
    names = {id(module): name for name, module in model.named_modules()}
    return [
        f"{names[id(module)]}.{attr}".lstrip(".") for module, attr in params
    ]
