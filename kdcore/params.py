"""Chapter parameters: one typed spec per chapter (:mod:`kdcore.chapters`), merged and validated here.

Every chapter starts with a papermill ``parameters`` cell, generated from its spec, in which each value is
``None``: "the profile's value". :func:`resolve` merges, in increasing priority,

1. the spec's defaults (the ``book`` profile, the published book's settings),
2. the chosen profile's overrides (``smoke`` for tests, ``paper`` for GPU/CIFAR scale, ``gpu`` for CNNs on
   Fashion-MNIST in minutes on one GPU, where a chapter defines it),
3. ``KDCORE_WIDGETS=0`` or ``1`` in the environment, for ``widgets`` alone (headless runners set 0), and
4. every value that is not ``None`` (from papermill ``-p``, the batch CLI, or an edit in Colab),

then checks each value, then the spec's cross-parameter checks, before any work starts. A bad value raises
one :class:`ParameterError` that names the parameter, the bad value and what is allowed; nothing has been
written at that point.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .models import is_architecture

PROFILES = ("book", "smoke", "paper", "gpu")


class ParameterError(ValueError):
    """An invalid chapter parameter: the message names it, its value and what is allowed."""


# A check returns None when the value is fine, else a phrase saying what is allowed.
Check = Callable[[Any], "str | None"]


def int_at_least(low: int) -> Check:
    return lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= low else f"an integer ≥ {low}"


def optional_count(v) -> str | None:
    """``None`` (all of them) or a count ≥ 1, e.g. how many training examples to use."""
    return None if v is None or int_at_least(1)(v) is None else "None or an integer ≥ 1"


def number(low: float, high: float | None = None, low_open: bool = False, high_open: bool = True) -> Check:
    def check(v):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
        ok = ok and (v > low if low_open else v >= low) and (high is None or (v < high if high_open else v <= high))
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return None if ok else f"a number in {left}{low}, {'∞' if high is None else high}{right}"

    return check


def one_of(*choices) -> Check:
    return lambda v: None if v in choices else f"one of {', '.join(map(str, choices))}"


def boolean(v) -> str | None:
    return None if isinstance(v, bool) else "True or False"


def architecture(v) -> str | None:
    if isinstance(v, str) and is_architecture(v):
        return None
    return "a kdcore architecture (mlp-W1-W2-…, lenet5, resnet8…110, resnet8x4, resnet32x4, vgg8…19, wrn-d-k)"


def seeds(v) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
        return None
    if isinstance(v, (list, tuple)) and v and all(isinstance(s, int) and s >= 0 for s in v) and len(set(v)) == len(v):
        return None
    return "a number of seeds ≥ 1, or a non-empty list of distinct non-negative integers"


def device(v) -> str | None:
    """auto, cpu, or a device this machine has: cuda[:N] with N below the GPU count, mps where MPS exists."""
    found = re.fullmatch(r"cuda(?::(\d+))?|mps|auto|cpu", v) if isinstance(v, str) else None
    if not found:
        return "auto, cpu, cuda, cuda:N or mps"
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if v.startswith("cuda") and not gpus:
        return "auto or cpu (this machine has no CUDA GPU)"
    if v.startswith("cuda") and int(found.group(1) or 0) >= gpus:
        return f"auto, cpu, cuda or cuda:0…cuda:{gpus - 1} (this machine has {gpus} CUDA GPU{'s' * (gpus > 1)})"
    if v == "mps" and not torch.backends.mps.is_available():
        return "auto, cpu or cuda (this machine has no MPS)"
    return None


def existing_dir(v) -> str | None:
    return None if v is None or (isinstance(v, (str, os.PathLike)) and Path(v).is_dir()) else "an existing directory"


def existing_file(v) -> str | None:
    return None if v is None or (isinstance(v, (str, os.PathLike)) and Path(v).is_file()) else "an existing file"


def list_of(check: Check, what: str, empty: bool = False) -> Check:
    def list_check(v):
        ok = isinstance(v, (list, tuple)) and (empty or v) and all(check(x) is None for x in v)
        return None if ok else f"a {'' if empty else 'non-empty '}list of {what}"

    return list_check


def output_dir(v) -> str | None:
    """A folder that exists or can be created (checked without creating it: validation writes nothing)."""
    if isinstance(v, (str, os.PathLike)) and str(v):
        existing = next(p for p in (Path(v).absolute(), *Path(v).absolute().parents) if p.exists())
        if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
            return None
    return "a directory that exists or can be created (not a file, inside a writable directory)"


@dataclass(frozen=True)
class Param:
    """One parameter: its book default, its check, its help, and its notebook annotation (from the default)."""

    default: Any
    check: Check
    help: str
    type: str = ""

    def __post_init__(self):
        # papermill --help-notebook skips a line with two "=" and reads the annotation up to a non-word character
        assert "=" not in self.help and "\n" not in self.help and re.fullmatch(r"\w*", self.type), self
        if not self.type:
            object.__setattr__(self, "type", type(self.default).__name__ if self.default is not None else "str")

    def but(self, **changes) -> Param:
        """This parameter with another default or help (a chapter's variant of a shared one)."""
        return Param(**{**vars(self), **changes})


@dataclass(frozen=True)
class ChapterSpec:
    """A chapter's parameters (defaults = the book profile), the other profiles' overrides, cross-checks."""

    name: str
    params: dict[str, Param]
    smoke: dict = field(default_factory=dict)
    paper: dict = field(default_factory=dict)
    checks: tuple[Callable[[dict], str | None], ...] = ()  # values -> None, or the whole error message
    gpu: dict | None = None  # CNNs on Fashion-MNIST on one GPU; only the chapters that define it

    def __post_init__(self):
        for profile in ("smoke", "paper", "gpu"):
            unknown = set(getattr(self, profile) or {}) - set(self.params)
            assert not unknown, f"{self.name}: {profile} overrides unknown parameters {sorted(unknown)}"


class Params(SimpleNamespace):
    """Resolved parameters, with attribute access."""

    def as_dict(self) -> dict:
        return dict(vars(self))

    def _repr_html_(self) -> str:  # a notebook shows the resolved values as a table
        from .report import Table

        return Table([{"parameter": k, "value": repr(v)} for k, v in vars(self).items()])._repr_html_()


def _chapters() -> dict[str, ChapterSpec]:
    from .chapters import CHAPTERS

    return CHAPTERS


def spec(chapter: str) -> ChapterSpec:
    CHAPTERS = _chapters()
    if chapter not in CHAPTERS:
        raise ParameterError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTERS)}")
    return CHAPTERS[chapter]


def _notebook(chapter: str) -> str:
    """The chapter's notebook, for messages: book/NN_name.ipynb, found by its from_namespace call."""
    from .chapters import chapter_key, chapter_notebooks  # chapters imports this module

    book = Path(__file__).resolve().parent.parent / "book"
    found = [p for p in chapter_notebooks(book) if chapter_key(p) == chapter]  # never a .executing copy
    return f"book/{found[0].name}" if found else "the chapter's notebook"


def _unknown(chapter: str, name: str, value: str) -> ParameterError:
    names = ["profile", *spec(chapter).params]
    close = difflib.get_close_matches(name, names, n=3)
    guess = f"; did you mean {' or '.join(close)}?" if close else ""
    return ParameterError(
        f"{name}={value} is not a parameter of chapter {chapter!r}{guess} "
        f"(all parameters: papermill --help-notebook {_notebook(chapter)})"
    )


def resolve(chapter: str, profile: str | None = None, **given) -> Params:
    """Merge the chapter's spec, profile and the given (non-``None``) values, and validate everything.

    ``profile=None`` means ``KDCORE_PROFILE`` from the environment, else ``book``.

    Raises:
        ParameterError: for an unknown chapter, profile or parameter name, or an invalid value.
    """
    chapter_spec = spec(chapter)
    profile = profile or os.environ.get("KDCORE_PROFILE") or "book"
    if profile not in PROFILES:
        raise ParameterError(f"profile={profile!r} is not allowed: must be one of {', '.join(PROFILES)}")
    if profile == "gpu" and chapter_spec.gpu is None:
        has_gpu = ", ".join(name for name, s in _chapters().items() if s.gpu is not None)
        raise ParameterError(f"profile='gpu' is not allowed for chapter {chapter!r}: only {has_gpu} define it")
    overrides = {"book": {}, "smoke": chapter_spec.smoke, "paper": chapter_spec.paper, "gpu": chapter_spec.gpu}[profile]
    values = {"profile": profile, **{n: p.default for n, p in chapter_spec.params.items()}, **overrides}
    # Headless runners (make book, kdcore-batch, the tests) set KDCORE_WIDGETS=0: nobody moves a slider there
    # (each has a static figure beside it), and nbclient, papermill's executor, can wait forever on a cell with
    # an ipywidgets Output widget: it sends on the shell socket while awaiting the reply on it (nbclient#312).
    if "widgets" in values and os.environ.get("KDCORE_WIDGETS") in ("0", "1"):
        values["widgets"] = os.environ["KDCORE_WIDGETS"] == "1"
    for name, value in given.items():
        if name not in values:
            raise _unknown(chapter, name, repr(value))
        if value is not None:
            values[name] = value
    for name, param in chapter_spec.params.items():
        problem = param.check(values[name])
        if problem:
            raise ParameterError(f"{name}={values[name]!r} is not allowed: must be {problem}")
    for check in chapter_spec.checks:
        problem = check(values)
        if problem:
            raise ParameterError(problem)
    if isinstance(values["seeds"], int):
        values["seeds"] = list(range(values["seeds"]))
    return Params(**values)


def from_namespace(chapter: str, namespace: dict) -> Params:
    """:func:`resolve` with the values the notebook's ``parameters`` cell defined in ``namespace``.

    Only the chapter's own names are read, so ``P = from_namespace("kd_basics", globals())`` picks up the
    parameters cell (and papermill's injected cell) and nothing else. A name assigned in an executed cell that
    starts with ``# Parameters`` (papermill's injected cell, the generated cell) but is not a parameter of
    this chapter is refused, with the closest known names: papermill itself only warns about it.
    """
    names = ["profile", *spec(chapter).params]
    for source in namespace.get("In", []):
        if not isinstance(source, str) or not source.startswith("# Parameters"):
            continue
        try:
            statements = ast.parse(source).body
        except SyntaxError:
            continue
        for statement in statements:
            targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
            for target in targets:
                if isinstance(target, ast.Name) and target.id not in names:
                    raise _unknown(chapter, target.id, ast.get_source_segment(source, statement.value) or "…")
    return resolve(chapter, **{name: namespace[name] for name in names if name in namespace})


def parameters_cell(chapter: str) -> str:
    """The exact source of the chapter's ``parameters`` cell (scripts/sync_parameters.py writes it)."""
    lines = [
        '# Parameters (papermill: -p name value). None means "the profile\'s value"',
        "# (P below shows them all). Generated from kdcore/chapters.py by",
        "# scripts/sync_parameters.py: edit the spec there, not this cell. Each help",
        "# stays on its parameter's line, where papermill --help-notebook reads it:",
        "# fmt: off",
        f"profile: str = None  # {profile_help(chapter)}",
    ]
    lines += [f"{name}: {p.type} = None  # {p.help}" for name, p in spec(chapter).params.items()]
    return "\n".join(lines)


def profile_help(chapter: str) -> str:
    """The profiles a chapter has, for its parameters cell and ``--help-notebook``: ``gpu`` only where defined."""
    gpu = ", gpu (GPU, CNNs on Fashion-MNIST)" if spec(chapter).gpu is not None else ""
    return f"book (default), smoke (tests), paper (GPU, CIFAR){gpu}"
