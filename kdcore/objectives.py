"""What :func:`kdcore.fit.fit` optimizes: a module that maps a batch to ``(logits, {name: loss})``.

A batch is ``(x, y)``, or ``(x, y, index)`` when the batches carry example indices, so every ``forward``
takes ``(x, y, index=None)``.

The fit loop sums the named losses, so a method is a small subclass that returns its terms (the pattern of
mdistiller's ``Distiller``). Teacher-side methods (a tolerant teacher, an ICC-regularized teacher) are
objectives without a teacher; distillation methods subclass :class:`Distiller`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Objective(nn.Module):
    """Base class. ``model`` is the network being trained; only its parameters are optimized."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def trainable_parameters(self):
        return self.model.parameters()


class CrossEntropy(Objective):
    """Plain supervised training: ``CE(y, model(x))``, optionally with label smoothing ``ε``."""

    def __init__(self, model: nn.Module, label_smoothing: float = 0.0):
        super().__init__(model)
        self.label_smoothing = label_smoothing

    def forward(self, x, y, index=None):
        logits = self.model(x)
        return logits, {"ce": F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)}


class Distiller(Objective):
    """A student trained against a frozen teacher.

    The teacher is always in eval mode (BatchNorm uses running statistics, dropout is off) and runs under
    ``no_grad``, whatever mode the fit loop puts this module in. (The PrUE code leaves its teacher in train
    mode during distillation, by a PyTorch Lightning side effect we inferred and did not run; we do not.)
    It is a frozen copy from :func:`kdcore.fit.prepare_teacher` (on CUDA with bf16 weights and
    channels_last; on CPU exact), so the caller's teacher is left as it was on every device.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__(student)
        self.teacher = _frozen(teacher)
        self.cached_logits: torch.Tensor | None = None
        self.cached_for: torch.Tensor | None = None  # the images whose indices look the logits up

    @property
    def student(self) -> nn.Module:
        return self.model

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()
        return self

    @property
    def runs_teacher(self) -> bool:
        """Whether a training step needs the teacher's outputs (a forward pass, or cached logits): the cost
        ledger (:mod:`kdcore.cost`) counts them. A method that only uses the teacher's weights says no."""
        return True

    def teacher_logits(self, x: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """The teacher's logits for a batch: looked up by example index if cached, else computed."""
        if self.cached_logits is not None and index is not None:
            return self.cached_logits[index]
        return self._run_teacher(x)

    def _run_teacher(self, x: torch.Tensor) -> torch.Tensor:
        # A bf16 copy needs autocast: fit runs under it, a hand-written training loop may not.
        bf16 = next(self.teacher.parameters(), x).dtype == torch.bfloat16
        with torch.no_grad(), torch.autocast(x.device.type, torch.bfloat16, enabled=bf16):
            return self.teacher(x).float()

    @torch.no_grad()
    def cache_teacher_logits(self, batches) -> None:
        """Compute the teacher's logits for every example of ``batches`` once, for lookup by index.

        Exact only when the batches are not augmented: with random crops or flips the teacher must see each
        augmented view (consistent teaching), so this refuses. On CPU it makes a KD epoch cost about as much
        as a plain one, instead of adding a teacher forward pass to every step.
        """
        if not self.runs_teacher:  # a method that only uses the teacher's weights needs no logits
            return
        if batches.augments:
            raise ValueError("cannot cache teacher logits for augmented batches: each view differs")
        self.cached_logits = torch.cat([self._run_teacher(x) for x in batches.x.split(1024)])
        self.cached_for = batches.x

    def check_cache(self, batches) -> None:
        """Refuse to train on ``batches`` with logits cached for others (``fit`` calls this): their indices
        would look up other images' logits, or one view's for every augmented view, and nothing would fail."""
        cached_for = self.cached_for  # None: logits set by hand, nothing to check them by
        if self.cached_logits is None or cached_for is None or not batches.with_index:  # no index: no lookup
            return
        same = batches.x is cached_for or (  # batches built again over the same split: the same images
            batches.x.shape == cached_for.shape
            and batches.x.device == cached_for.device
            and torch.equal(batches.x, cached_for)
        )
        if batches.augments or not same:
            raise ValueError("teacher logits were cached for other batches: call cache_teacher_logits(train) again")


def _frozen(teacher: nn.Module) -> nn.Module:
    """The teacher a distiller runs: a frozen copy on the teacher's device, on CUDA with bf16 weights and
    channels_last (no weight casts at every step under fit's autocast). The original keeps its fp32 weights
    and its ``requires_grad``, for its own evaluation and the teacher cache."""
    from .fit import prepare_teacher  # fit imports this module

    weight = next(teacher.parameters(), None)
    return prepare_teacher(teacher, weight.device if weight is not None else "cpu")
