"""Loss functions, one concept a module, each with the small :class:`~kdcore.objectives.Objective` that uses it."""

from .kd import KD, kd_loss

__all__ = ["KD", "kd_loss"]
