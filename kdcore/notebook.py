"""Small display helpers for the chapters: kdcore's own source, tables, and widgets with static fallbacks."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence


def show_source(*objects) -> None:
    """Display the source of kdcore functions or classes as a highlighted code block.

    The chapters explain a method by showing the code that runs it, so the book, the library and the tests
    share one truth.
    """
    from IPython.display import Markdown, display

    for obj in objects:
        display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))


def table(rows: Sequence[dict], columns: Sequence[str] | None = None, formats: dict | None = None) -> None:
    """Display rows of dicts as a table (for unconverted chapters; new code uses :func:`kdcore.report.table`)."""
    from IPython.display import display

    from .report import Table

    formats = formats or {}
    display(Table([{k: formats[k](v) if k in formats else v for k, v in r.items()} for r in rows], columns))


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
