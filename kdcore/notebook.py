"""Small notebook helpers for the chapters: kdcore's own source, widgets with static fallbacks, and whether a
kernel runs at all (tables and verdicts: :mod:`kdcore.report`; figures: :mod:`kdcore.figures`)."""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable


def show_source(*objects) -> None:
    """Display the source of kdcore functions, classes or methods as a highlighted code block.

    The chapters explain a method by showing the code that runs it, so the book, the library and the tests
    share one truth. Two things change on the way to the page, neither of them code: a method is dedented
    out of its class, and a docstring's Sphinx cross-references (the ``:func:`` and ``:class:`` roles) read as
    the names they point to (see :func:`readable_source`).
    """
    from IPython.display import Markdown, display

    for obj in objects:
        display(Markdown(f"```python\n{readable_source(obj)}\n```"))


# :func:`~kdcore.fit.fit` or :class:`KD`: a role, an optional "~" (show the last part only), a target
SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")
RST_LITERAL = re.compile(r"``([^`]+)``")  # ``x``: reStructuredText's inline literal


def readable_source(obj) -> str:
    """``obj``'s source as :func:`show_source` shows it: dedented (a method under a comment that names its
    class), with reStructuredText's markup read as a reader of Markdown expects: each Sphinx role as the name
    rendered docs would show, in single backticks (``~a.b.c`` as ``c``, ``a.b`` as ``a.b``), and each
    double-backticked literal in single backticks."""

    def name(match: re.Match) -> str:
        target = match.group(2).rsplit(".", 1)[-1] if match.group(1) else match.group(2)
        return f"`{target}`"

    source = textwrap.dedent(inspect.getsource(obj)).rstrip()
    owner = getattr(obj, "__qualname__", "").rpartition(".")[0]
    if owner and "<" not in owner and inspect.isfunction(obj):  # a method, shown without its class: name it
        source = f"# a method of class {owner}, in {obj.__module__}\n{source}"
    return RST_LITERAL.sub(r"`\1`", SPHINX_ROLE.sub(name, source))


def interactive(function: Callable, enabled: bool = True, **sliders) -> None:
    """An ipywidgets ``interact`` view when widgets are enabled and installed; nothing otherwise.

    Every chapter shows a static figure of the same thing next to it, because the HTML book (offline, or
    without the widget JavaScript) cannot run the slider.
    """
    if not enabled:
        return
    try:
        from ipywidgets import interact
    except ImportError:
        return
    interact(function, **sliders)


def in_ipython() -> bool:
    """Whether this runs under IPython (a Jupyter kernel, the IPython shell), where glued values are kept.

    Outside it (a plain script, a test redrawing a chapter from its results JSON) myst-nb's ``glue`` would
    start an IPython shell of its own just to format the value, so :func:`kdcore.figures.figure` and
    :func:`kdcore.report.glue` skip it.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None
