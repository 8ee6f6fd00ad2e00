"""Pruning: masks as buffers (no forward hooks), scores, thresholds, IMP,
structured pruning and reports.

One concept per module:

* :mod:`~kdcore.prune.masks`: ``<name>_mask`` buffers, kept in force after each
  optimizer step;
* :mod:`~kdcore.prune.prunable`: which weights may be pruned (conv, linear,
  output layer or not);
* :mod:`~kdcore.prune.scores`: magnitude, random, SNIP and any gradient-based
  score;
* :mod:`~kdcore.prune.thresholds`: exact global or per-layer masks from scores;
* :mod:`~kdcore.prune.unstructured`: ``prune_global``, ``prune_layerwise``,
  ``magnitude_prune``;
* :mod:`~kdcore.prune.imp`: iterative magnitude pruning with learning-rate or
  weight rewinding;
* :mod:`~kdcore.prune.structured`: channel / unit pruning and the compactor to a
  smaller dense model;
* :mod:`~kdcore.prune.report`: sparsity per layer and overall;
* :mod:`~kdcore.prune.student_plan`: the dense student derived from a pruned
  teacher (prune-then-distill);
* :mod:`~kdcore.prune.io`: save and reload pruned models;
* :mod:`~kdcore.prune.prue`: PrUE's dispersion score and one-call pruning (Wang
  et al. 2022).
"""

from .imp import (
    imp_rounds,
    imp_schedule,
    iterative_magnitude_pruning,
    rewind_weights,
)
from .io import load_pruned, load_pruned_state_dict, save_pruned
from .masks import (
    attach_mask,
    enforce_masks,
    get_mask,
    masked_parameters,
    remove_masks,
)
from .prue import (
    class_mean_confidence,
    prue_dispersion,
    prue_prunable,
    prue_prune,
    prue_scores,
    true_class_probability,
)
from .prunable import output_layer, parameter_names, prunable_parameters
from .report import SparsityReport, format_table, sparsity, sparsity_report
from .scores import (
    cross_entropy_objective,
    gradient_scores,
    magnitude_scores,
    random_scores,
    snip_scores,
)
from .structured import (
    alive_units,
    compact,
    mask_units,
    prune_units,
    unit_l1_norms,
    unit_layers,
)
from .student_plan import (
    LayerPlan,
    StudentPlan,
    build_derived_student,
    derived_width,
    student_plan,
)
from .thresholds import global_masks, layerwise_masks, prune_lowest
from .unstructured import (
    current_masks,
    magnitude_prune,
    prune_global,
    prune_layerwise,
)

__all__ = [
    "LayerPlan",
    "SparsityReport",
    "StudentPlan",
    "alive_units",
    "attach_mask",
    "build_derived_student",
    "class_mean_confidence",
    "compact",
    "cross_entropy_objective",
    "current_masks",
    "derived_width",
    "enforce_masks",
    "format_table",
    "get_mask",
    "global_masks",
    "gradient_scores",
    "imp_rounds",
    "imp_schedule",
    "iterative_magnitude_pruning",
    "layerwise_masks",
    "load_pruned",
    "load_pruned_state_dict",
    "magnitude_prune",
    "magnitude_scores",
    "mask_units",
    "masked_parameters",
    "output_layer",
    "parameter_names",
    "prue_dispersion",
    "prue_prunable",
    "prue_prune",
    "prue_scores",
    "prunable_parameters",
    "prune_global",
    "prune_layerwise",
    "prune_lowest",
    "prune_units",
    "random_scores",
    "remove_masks",
    "rewind_weights",
    "save_pruned",
    "snip_scores",
    "sparsity",
    "sparsity_report",
    "student_plan",
    "true_class_probability",
    "unit_l1_norms",
    "unit_layers",
]
