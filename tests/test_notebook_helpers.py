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


def test_table_renders_markdown_with_formats(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))
    notebook.table([{"name": "a", "acc": 0.91234}, {"name": "b", "acc": 0.5}], formats={"acc": "{:.1%}".format})
    assert shown == ["| name | acc |\n|---|---|\n| a | 91.2% |\n| b | 50.0% |"]
