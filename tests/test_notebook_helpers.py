"""kdcore.notebook: the helpers chapters display with, run outside a kernel."""

import pytest

from kdcore import notebook


def test_interactive_shows_the_function_at_its_default_and_is_silent_when_disabled(capsys):
    pytest.importorskip("ipywidgets")
    calls = []
    notebook.interactive(lambda T=4.0: calls.append(T), enabled=False, T=(0.5, 20.0, 0.5))
    assert calls == []  # headless: no slider, no call (the chapter's static figure stands in)
    notebook.interactive(lambda T=4.0: calls.append(T), enabled=True, T=(0.5, 20.0, 0.5))
    assert calls == [4.0]  # ipywidgets' interact draws once at the default, as in a live notebook
