"""Chapter parameters: profiles, overrides and validation, in one place.

Every chapter starts with a papermill ``parameters`` cell in which each value defaults to ``None``,
meaning "the profile's value". :func:`resolve` then merges, in increasing priority,

1. the chapter's ``book`` profile (the published book's settings),
2. the chosen profile (``smoke`` for tests, ``paper`` for GPU/CIFAR scale),
3. ``KDCORE_WIDGETS=0`` or ``1`` in the environment, for ``widgets`` alone (headless runners set 0), and
4. every value that is not ``None`` (from papermill ``-p``, the batch CLI, or an edit in Colab),

and validates the result before any work starts. A bad value raises one :class:`ParameterError` that names
the parameter, the bad value and what is allowed; nothing has been written at that point.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .data import DATASETS, NUM_CLASSES
from .models import is_architecture
from .profiles import PROFILES


class ParameterError(ValueError):
    """An invalid chapter parameter: the message names it, its value and what is allowed."""


# Each check returns None when the value is fine, else a phrase saying what is allowed.
Check = Callable[[Any], "str | None"]


def _int_at_least(low: int) -> Check:
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            return f"an integer ≥ {low}"
        return None

    return check


def _optional_count(v) -> str | None:
    """``None`` (all of them) or a count ≥ 1, e.g. how many training examples to use."""
    return None if v is None or _int_at_least(1)(v) is None else "None or an integer ≥ 1"


def _number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = True) -> Check:
    def check(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
        ok = ok and (v > low if low_open else v >= low)
        ok = ok and (high is None or (v < high if high_open else v <= high))
        if not ok:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            return f"a number in {left}{low}, {'∞' if high is None else high}{right}"
        return None

    return check


def _one_of(choices) -> Check:
    return lambda v: None if v in choices else f"one of {', '.join(map(str, choices))}"


def _boolean(v) -> str | None:
    return None if isinstance(v, bool) else "True or False"


def _architecture(v) -> str | None:
    if isinstance(v, str) and is_architecture(v):
        return None
    return "a kdcore architecture (mlp-W1-W2-…, lenet5, resnet8…110, resnet8x4, resnet32x4, vgg8…19, wrn-d-k)"


def _seeds(v) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return None
    if isinstance(v, (list, tuple)) and v and all(isinstance(s, int) and s >= 0 for s in v) and len(set(v)) == len(v):
        return None
    return "a number of seeds ≥ 1, or a non-empty list of distinct non-negative integers"


def _device(v) -> str | None:
    if isinstance(v, str) and (v in ("auto", "cpu", "cuda", "mps") or v.startswith("cuda:")):
        return None
    return "auto, cpu, cuda, cuda:N or mps"


def _existing_directory(v) -> str | None:
    return None if v is None or (isinstance(v, (str, os.PathLike)) and Path(v).is_dir()) else "an existing directory"


def _existing_file(v) -> str | None:
    return None if v is None or (isinstance(v, (str, os.PathLike)) and Path(v).is_file()) else "an existing file"


def _list_of(check: Check, what: str) -> Check:
    def list_check(v):
        if isinstance(v, (list, tuple)) and v and all(check(x) is None for x in v):
            return None
        return f"a non-empty list of {what}"

    return list_check


def _text(v) -> str | None:
    return None if isinstance(v, str) and v else "a non-empty string"


def _output_directory(v) -> str | None:
    """A folder that exists or can be created (checked without creating it: validation writes nothing)."""
    allowed = "a directory that exists or can be created (not a file, inside a writable directory)"
    if not isinstance(v, (str, os.PathLike)) or not str(v):
        return allowed
    path = Path(v).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return allowed
    return None


# Every parameter name used by any chapter, with its check. Chapters add their own names here.
CHECKS: dict[str, Check] = {
    "profile": _one_of(("smoke", "book", "paper")),
    "dataset": _one_of(DATASETS),
    "data_dir": _existing_directory,
    "device": _device,
    "seeds": _seeds,
    "val_fraction": _number(0, 1, low_open=True),
    "teacher": _architecture,
    "student": _architecture,
    "teacher_epochs": _int_at_least(1),
    "student_epochs": _int_at_least(1),
    "epochs": _int_at_least(1),
    "batch_size": _int_at_least(1),
    "lr": _number(0, low_open=True),
    "weight_decay": _number(0),
    "momentum": _number(0, 1),
    "schedule": _one_of(("cosine", "multistep", "constant")),
    "milestones": lambda v: (
        None
        if isinstance(v, (list, tuple)) and all(_number(0, 1, low_open=True)(m) is None for m in v)
        else "a list of fractions of the epochs in (0, 1)"
    ),
    "augment": _boolean,
    "temperature": _number(0, low_open=True),
    "w_ce": _number(0),
    "w_kd": _number(0),
    "sparsity": _number(0, 1),
    "sparsities": _list_of(_number(0, 1), "sparsities in [0, 1)"),
    "train_subset": _optional_count,
    "low_data": _int_at_least(1),
    "teacher_path": _existing_file,
    "output_dir": _output_directory,
    "widgets": _boolean,
    # an expressive teacher, inter-class correlation (chapter 6)
    "full_data_seeds": _int_at_least(0),
    "icc_beta": _number(0),
    "icc_momentum": _number(0, 1),
    "icc_gamma": _number(0),
    "icc_gammas": lambda v: (
        None
        if isinstance(v, (list, tuple)) and all(_number(0)(g) is None for g in v)
        else "a list (empty: no sweep) of ICC matching weights ≥ 0"
    ),
    # pruning a teacher (chapter 2)
    "exclude_output": _boolean,
    "imp_rate": _number(0, 1, low_open=True),
    "imp_targets": _list_of(_number(0, 1), "target sparsities in [0, 1)"),
    "retrain_epochs": _int_at_least(1),
    "unit_fractions": _list_of(_number(0, 1), "fractions of units in [0, 1)"),
    # PrUE (chapter 4)
    "label_smoothing": _number(0, 1),
    "student_labels": _optional_count,
    # prune, then distill (chapter 5)
    "retrain_lr": _number(0, low_open=True),
    "retrain_weight_decay": _number(0),
    "retrain_milestones": lambda v: (
        None
        if isinstance(v, (list, tuple)) and all(_number(0, 1, low_open=True)(m) is None for m in v)
        else "a list of fractions of the retraining epochs in (0, 1)"
    ),
    # Knowledge Representing (chapter 7)
    "low_capacity_student": _architecture,
    "kr_beta": _number(0),
    "kr_recode": _one_of(("topk", "soft", "none")),
    "kr_rho": _number(0, 1, high_open=False),
    "kr_tau": _number(0),
    "kr_unit_order": _one_of(("similar", "index")),
    # tolerant teachers and KD in generations (chapter 3)
    "network": _architecture,
    "generations": _int_at_least(1),
    "etas": lambda v: (
        None
        if isinstance(v, (list, tuple))
        and 1.0 in v
        and all(_number(0, 1, low_open=True, high_open=False)(e) is None for e in v)
        else "a list of η in (0, 1] that includes 1.0 (the strict teacher)"
    ),
    "tsd_k": _int_at_least(2),
    "tsd_space": _one_of(("prob", "logit")),
    "tsd_primary": _one_of(("gt", "argmax")),
    "ce_weights": _list_of(_number(0, 1, high_open=False), "CE weights in [0, 1] (one, or one per generation)"),
    # the head-to-head comparison (chapter 8)
    "tolerant_eta": _number(0, 1, low_open=True, high_open=False),
}


class Params(SimpleNamespace):
    """Resolved parameters: attribute access, and a table when displayed in a notebook."""

    def as_dict(self) -> dict:
        return dict(vars(self))

    def _repr_markdown_(self) -> str:
        rows = "\n".join(f"| `{k}` | `{v!r}` |" for k, v in vars(self).items())
        return f"| parameter | value |\n|---|---|\n{rows}"


def resolve(chapter: str, profile: str | None = None, **given) -> Params:
    """Merge the chapter's profiles with the given (non-``None``) values and validate everything.

    Raises:
        ParameterError: for an unknown chapter, profile or parameter name, or an invalid value.
    """
    if chapter not in PROFILES:
        raise ParameterError(f"unknown chapter {chapter!r}; known: {', '.join(PROFILES)}")
    profiles = PROFILES[chapter]
    profile = profile or os.environ.get("KDCORE_PROFILE") or "book"
    if profile not in profiles:
        raise ParameterError(f"profile={profile!r} is not allowed: must be one of {', '.join(profiles)}")
    values = {"profile": profile, **profiles["book"], **profiles[profile]}
    # Headless runners (make book, kdcore-batch, the tests) set KDCORE_WIDGETS=0: nobody moves a slider there
    # (each has a static figure beside it), and nbclient, papermill's executor, can wait forever on a cell with
    # an ipywidgets Output widget: it sends on the shell socket while awaiting the reply on it (nbclient#312).
    if "widgets" in values and os.environ.get("KDCORE_WIDGETS") in ("0", "1"):
        values["widgets"] = os.environ["KDCORE_WIDGETS"] == "1"
    for name, value in given.items():
        if name not in values:
            raise ParameterError(
                f"{name}={value!r}: unknown parameter for chapter {chapter!r}; known: {', '.join(values)}"
            )
        if value is not None:
            values[name] = value
    for name, value in values.items():
        check = CHECKS.get(name)
        problem = check(value) if check else None
        if problem:
            raise ParameterError(f"{name}={value!r} is not allowed: must be {problem}")
    _check_consistency(values)
    if isinstance(values.get("seeds"), int):
        values["seeds"] = list(range(values["seeds"]))
    return Params(**values)


def _check_consistency(values: dict) -> None:
    """Checks that involve several parameters (or files) at once."""
    if values.get("kr_unit_order") == "similar" and not str(values.get("teacher")).startswith("mlp"):
        raise ParameterError(
            f"kr_unit_order='similar' is not allowed with teacher={values.get('teacher')!r}: must be 'index' "
            "unless the teacher is an MLP (mlp-…), whose hidden units can be reordered"
        )
    if values.get("dataset") == "fashion_mnist" and values.get("data_dir"):
        from .data import fashion_mnist_dir

        if fashion_mnist_dir(values["data_dir"]) != Path(values["data_dir"]):
            raise ParameterError(
                f"data_dir={values['data_dir']!r} is not allowed: must be a directory holding the "
                "Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], …)"
            )
    if (
        "ce_weights" in values
        and "generations" in values
        and len(values["ce_weights"]) not in (1, values["generations"])
    ):
        raise ParameterError(
            f"ce_weights={values['ce_weights']!r} is not allowed: must be one CE weight or one per generation "
            f"(generations={values['generations']})"
        )
    if "tsd_k" in values and values.get("dataset") in NUM_CLASSES and values["tsd_k"] > NUM_CLASSES[values["dataset"]]:
        raise ParameterError(
            f"tsd_k={values['tsd_k']!r} is not allowed: must be at most the number of classes "
            f"({NUM_CLASSES[values['dataset']]} for dataset={values['dataset']!r})"
        )
    if values.get("teacher_path"):
        from .checkpoint import load_checkpoint

        saved = load_checkpoint(values["teacher_path"])  # weights_only: a tampered file is refused here
        key = saved.get("key") if isinstance(saved, dict) else None
        teacher_classes = key.get("model", {}).get("num_classes") if isinstance(key, dict) else None
        if teacher_classes is None:
            raise ParameterError(
                f"teacher_path={values['teacher_path']!r} is not allowed: must be a teacher file written by "
                "kdcore.teachers (this file has no teacher description)"
            )
        student_classes = NUM_CLASSES[values["dataset"]]
        if teacher_classes != student_classes:
            raise ParameterError(
                f"teacher_path={values['teacher_path']!r} is not allowed: its teacher has {teacher_classes} "
                f"classes but the student, on dataset={values['dataset']!r}, has {student_classes}; "
                "must be a teacher file (kdcore.teachers) for a dataset with the same classes"
            )


def from_namespace(chapter: str, namespace: dict) -> Params:
    """:func:`resolve` with the values the notebook's ``parameters`` cell defined in ``namespace``.

    Only the chapter's own parameter names are read, so ``P = from_namespace("kd_basics", globals())``
    picks up the parameters cell (and papermill's injected cell) and nothing else.
    """
    if chapter not in PROFILES:
        raise ParameterError(f"unknown chapter {chapter!r}; known: {', '.join(PROFILES)}")
    names = ["profile", *PROFILES[chapter]["book"]]
    given = {name: namespace[name] for name in names if name in namespace}
    return resolve(chapter, **given)
