"""A work ledger: the training runs and evaluations a piece of code makes, counted in images, never timed.

While a :class:`Ledger` is active (``with Ledger() as ledger: …``), :func:`kdcore.fit.fit` appends one row
per call and :func:`kdcore.fit.evaluate` one per call outside ``fit`` (``fit``'s own validation is part of
its row), and the gradient-based pruning scores one per pass (:func:`scoring`). A row says what ran, on
which architecture and how many images, so measured throughputs (images/s, ``benchmarks/teacher_training.py
--plan``) turn it into device time (``scripts/cost_table.py``):

* ``{"kind": "train", "arch", "objective", "teacher", "teacher_logits", "from_epoch", "epochs",
  "train_examples", "batch_size", "val_examples", "val_batch_size", "cache"}``: ``epochs`` are those this call
  runs (an early stop and a resumed checkpoint count only theirs); ``teacher`` is the architecture whose
  forward pass a distillation step runs (``None`` without one), ``teacher_logits`` ``"every step"`` or
  ``"cached"`` (computed once, :meth:`~kdcore.objectives.Distiller.cache_teacher_logits`); ``cache`` names the
  cache file the run trains toward (``teachers/resnet32x4-<hash>``), or ``None``;
* ``{"kind": "evaluate", "arch", "examples", "batch_size"}``: one forward pass over a split;
* ``{"kind": "gradient", "arch", "examples", "batch_size"}``: one forward and backward pass (SNIP, PrUE).

:class:`Planning` is a ledger that also makes the work nearly free, to list a paper-profile chapter's runs on
a CPU in minutes. Inactive (the default), each hook costs one global lookup and changes nothing.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tempfile
from pathlib import Path

from torch import nn

from .objectives import Distiller

_active: Ledger | None = None


def active() -> Ledger | None:
    """The ledger in force, or ``None`` (the default)."""
    return _active


def architecture(model: nn.Module) -> str:
    """The name a model was built by (:func:`kdcore.models.build_model` records it), else its class name."""
    return getattr(model, "arch", type(model).__name__)


def scoring(model: nn.Module, batches, forward_passes: int = 0, gradient_passes: int = 1):
    """The batches a pruning score should iterate: ``batches`` itself, or under :class:`Planning` their first
    batch. An active ledger records ``forward_passes`` forward-only and ``gradient_passes`` forward-and-backward
    passes of ``model`` over them (PrUE: one of each; SNIP: one gradient pass)."""
    if _active is None:
        return batches
    return _active.scoring(model, batches, forward_passes, gradient_passes)


def first_examples(batches, n: int):
    """A shallow copy of ``batches`` (:class:`~kdcore.batches.DeviceBatches`) over its first ``n`` examples.

    The copy shares the generator, so a training run on it draws from the same random stream."""
    head = copy.copy(batches)
    head.x, head.y = batches.x[:n], batches.y[:n]
    return head


class Ledger:
    """Records every ``fit``, ``evaluate`` and pruning-score pass while active (see the module docstring).

    One ledger at a time; nesting raises. ``rows`` holds the rows in the order the work ran.
    """

    def __init__(self):
        self.rows: list[dict] = []

    def __enter__(self) -> Ledger:
        global _active
        if _active is not None:
            raise RuntimeError("a cost ledger is already active")
        _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        _active = None

    # --- the hooks (kdcore.fit and kdcore.experiment call these only while a ledger is active) ----------------
    def fit(self, objective, train, config, val, start_epoch: int, end: int, checkpoint) -> tuple:
        """Record a ``fit`` call that will run epochs ``start_epoch``…``end``; returns ``(train, val,
        start_epoch)`` for ``fit`` to go on with (unchanged here; :class:`Planning` shrinks them)."""
        self.rows.append(fit_row(objective, train, config, val, start_epoch, end, checkpoint))
        return train, val, start_epoch

    def evaluate(self, model, batches, score):
        """Record an evaluation and run it: ``score(model, batches)`` is ``fit``'s unrecorded evaluation."""
        self.rows.append(pass_row("evaluate", model, batches))
        return score(model, batches)

    def scoring(self, model, batches, forward_passes: int, gradient_passes: int):
        self.rows += [pass_row("evaluate", model, batches)] * forward_passes
        self.rows += [pass_row("gradient", model, batches)] * gradient_passes
        return batches


class Planning(Ledger):
    """A ledger under which the work is skipped but its rows are the real ones: a plan of a chapter's runs.

    ``fit`` records its row, then trains one batch of ``examples`` images in the last epoch of its range (so an
    early-stopped run's checkpoint says the epoch a real one would, and a later resume counts what a real one
    would) and validates on ``examples`` images; ``evaluate`` scores the first ``examples`` images and repeats
    their logits to the split's length (so every downstream shape is real); pruning scores run on one batch of
    ``examples`` images. (A few images, not a whole batch: a forward pass of 256 CIFAR images through a
    ResNet takes a second on two CPU cores, and a paper chapter makes hundreds.) Every object a chapter builds
    is real and its code runs to its end, at the paper profile on a CPU in minutes. **Every result computed
    under planning is garbage by design**: accuracies, pruning masks (so the widths of a student derived from
    them), histories. Only the rows mean something.

    So that no garbage reaches a real cache, ``KDCORE_CACHE_DIR`` points into a fresh temporary folder while
    active (``scratch / "cache"``; restored after); pass ``scratch / "results"`` as the chapter's
    ``output_dir``. The folder is deleted on exit.
    """

    def __init__(self, examples: int = 16):
        super().__init__()
        self.examples = examples
        self._folder: tempfile.TemporaryDirectory | None = None
        self._cache_dir: str | None = None

    @property
    def scratch(self) -> Path:
        """The temporary folder of this planning session (only while active)."""
        if self._folder is None:
            raise RuntimeError("Planning.scratch exists only while the planning ledger is active")
        return Path(self._folder.name)

    def __enter__(self) -> Planning:
        self._folder = tempfile.TemporaryDirectory(prefix="kdcore-plan-")
        self._cache_dir = os.environ.get("KDCORE_CACHE_DIR")
        os.environ["KDCORE_CACHE_DIR"] = str(self.scratch / "cache")
        try:
            super().__enter__()
        except BaseException:
            self._restore()
            raise
        return self

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self._restore()

    def _restore(self) -> None:
        if self._cache_dir is None:
            os.environ.pop("KDCORE_CACHE_DIR", None)
        else:
            os.environ["KDCORE_CACHE_DIR"] = self._cache_dir
        self._folder.cleanup()
        self._folder = None

    def fit(self, objective, train, config, val, start_epoch, end, checkpoint):
        super().fit(objective, train, config, val, start_epoch, end, checkpoint)
        head = first_examples(train, min(config.batch_size, self.examples))
        return head, None if val is None else first_examples(val, self.examples), max(start_epoch, end - 1)

    def evaluate(self, model, batches, score):
        self.rows.append(pass_row("evaluate", model, batches))
        result = score(model, first_examples(batches, self.examples))
        repeats = -(-len(batches.y) // len(result.labels))
        logits = result.logits.repeat(repeats, 1)[: len(batches.y)]
        return dataclasses.replace(result, logits=logits, labels=batches.y)

    def scoring(self, model, batches, forward_passes, gradient_passes):
        super().scoring(model, batches, forward_passes, gradient_passes)
        return first_examples(batches, self.examples)


# --- rows ----------------------------------------------------------------------------------------------------
def fit_row(objective, train, config, val, start_epoch: int, end: int, checkpoint) -> dict:
    """The row of a ``fit`` call (see the module docstring)."""
    teacher = objective.teacher if isinstance(objective, Distiller) and objective.runs_teacher else None
    cached = teacher is not None and objective.cached_logits is not None
    return {
        "kind": "train",
        "arch": architecture(objective.model),
        "objective": type(objective).__name__,
        "teacher": None if teacher is None else architecture(teacher),
        "teacher_logits": None if teacher is None else "cached" if cached else "every step",
        "from_epoch": start_epoch,
        "epochs": max(0, end - start_epoch),
        "train_examples": train.num_examples * train.world_size,
        "batch_size": config.batch_size,
        "val_examples": 0 if val is None else len(val.y),
        "val_batch_size": None if val is None else val.batch_size,
        "cache": None if checkpoint is None else cache_name(checkpoint),
    }


def pass_row(kind: str, model: nn.Module, batches) -> dict:
    """The row of one pass of ``model`` over every example of ``batches``."""
    return {"kind": kind, "arch": architecture(model), "examples": len(batches.y), "batch_size": batches.batch_size}


def cache_name(checkpoint: str | os.PathLike) -> str:
    """``teachers/resnet32x4-<hash>`` for ``…/teachers/resnet32x4-<hash>.partial.pt``: the cache entry a run
    trains toward, the same in every cache folder (its hash is of the run's configuration)."""
    path = Path(checkpoint)
    return f"{path.parent.name}/{path.name.removesuffix('.partial.pt')}"
