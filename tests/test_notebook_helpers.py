"""kdcore.notebook: the helpers chapters display with, run outside a kernel."""

import ast
import inspect

import pytest

from kdcore import notebook


def test_interactive_shows_the_function_at_its_default_and_is_silent_when_disabled(capsys):
    pytest.importorskip("ipywidgets")
    calls = []
    notebook.interactive(lambda T=4.0: calls.append(T), enabled=False, T=(0.5, 20.0, 0.5))
    assert calls == []  # headless: no slider, no call (the chapter's static figure stands in)
    notebook.interactive(lambda T=4.0: calls.append(T), enabled=True, T=(0.5, 20.0, 0.5))
    assert calls == [4.0]  # ipywidgets' interact draws once at the default, as in a live notebook


def _without_docstrings(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            body[0].value.value = ""
    return ast.dump(tree)


def test_shown_source_is_the_real_source_with_methods_dedented_and_sphinx_roles_read_as_names():
    from kdcore.losses import icc, kd

    method = notebook.readable_source(kd.KD.terms)
    # out of its class, which a comment names, and valid Python
    assert method.startswith("# a method of class KD, in kdcore.losses.kd\ndef terms(") and ast.parse(method)
    assert notebook.readable_source(kd.kd_loss).startswith("def kd_loss(")  # a function: no such comment
    shown, real = notebook.readable_source(icc.ICCKD), inspect.getsource(icc.ICCKD)
    assert ":class:`~kdcore.losses.KD`" in real and "`KD`" in shown and ":class:" not in shown
    assert ":meth:`~kdcore.objectives.Distiller.teacher_logits`" in real and "from `teacher_logits`" in shown
    assert "``" in real and "``" not in shown  # reStructuredText literals read as Markdown's
    assert _without_docstrings(shown) == _without_docstrings(real)  # the code is the library's own, unchanged
    assert shown != real
    assert notebook.SPHINX_ROLE.sub(".", "see :mod:`kdcore.cost` and :func:`~a.fit`") == "see . and ."
