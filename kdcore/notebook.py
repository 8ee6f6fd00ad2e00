"""Small notebook helpers for the chapters: kdcore's own source, and widgets with static fallbacks (tables, figures
and verdicts are :mod:`kdcore.report`'s)."""

from __future__ import annotations

import inspect
from collections.abc import Callable


def show_source(*objects) -> None:
    """Display the source of kdcore functions or classes as a highlighted code block.

    The chapters explain a method by showing the code that runs it, so the book, the library and the tests
    share one truth.
    """
    from IPython.display import Markdown, display

    for obj in objects:
        display(Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```"))


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
