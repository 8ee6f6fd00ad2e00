"""Loss functions, one concept a module, each with the small
:class:`~kdcore.objectives.Objective` that uses it."""

from .icc import (
    ICCKD,
    ICCTeacher,
    class_consistency_loss,
    class_relations,
    icc_loss,
    icc_matrix,
)
from .kd import KD, kd_from, kd_loss
from .kr import KR
from .tsd import TolerantTeacher, top_score_difference

__all__ = ["KD", "KR", "kd_from", "kd_loss"]
__all__ += [
    "ICCKD",
    "ICCTeacher",
    "class_consistency_loss",
    "class_relations",
    "icc_loss",
    "icc_matrix",
]
__all__ += ["TolerantTeacher", "top_score_difference"]
