"""Sphinx extension: the HTML shows code cells without ruff's ``# fmt:`` directives.

The chapters keep a few long calls on one line with ``# fmt: skip`` (and the generated parameters cell
between ``# fmt: off`` and ``# fmt: on``) so that ``ruff format`` leaves them as written. Those comments
speak to the formatter, not to the reader; the notebooks keep them (Colab, Jupyter), the HTML drops them.
"""

from __future__ import annotations

import re

from docutils import nodes

TRAILING = re.compile(r"[ \t]+# fmt: skip[ \t]*$", re.MULTILINE)  # "call(...)  # fmt: skip"
WHOLE_LINE = re.compile(r"^[ \t]*# fmt: (?:off|on|skip)[ \t]*\n?", re.MULTILINE)  # "# fmt: off" alone


def strip_directives(code: str) -> str:
    """``code`` without ruff's ``# fmt:`` directives (trailing ones, and lines that hold nothing else)."""
    return WHOLE_LINE.sub("", TRAILING.sub("", code))


def _strip(app, doctree, docname) -> None:
    for block in doctree.findall(nodes.literal_block):
        code = block.astext()
        if "# fmt:" not in code or block.rawsource != code:  # only plain code (not parsed literals)
            continue
        stripped = strip_directives(code)
        block.rawsource = stripped  # what Sphinx highlights
        block.children = []
        block += nodes.Text(stripped)


def setup(app):
    app.connect("doctree-resolved", _strip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
