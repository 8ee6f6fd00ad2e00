"""Sphinx extension: a number and its unit stay on one line ("70 %", "+0.26 pp") in the HTML.

The prose writes ``{glue:text}`x:.1f` %``: the number the run glues and its unit are separate text nodes,
with a space between where the browser may break the line, leaving "%" or "pp" alone at the start of the
next one. In the HTML that space becomes a no-break space; the notebooks keep plain spaces.
"""

from __future__ import annotations

import re

from docutils import nodes

# a space before "%" or "pp" (not "ppm"), after a digit, or at the start of a text node (after a glued number)
UNIT_SPACE = re.compile(r"(?:(?<=\d)|^) (?=(?:%|pp)(?![A-Za-z]))")
SKIP = (nodes.literal, nodes.literal_block, nodes.math, nodes.math_block, nodes.raw)


def keep_units(text: str) -> str:
    """``text`` with a no-break space before each unit that follows a number (or starts the text)."""
    return UNIT_SPACE.sub("\u00a0", text)


def _keep(app, doctree, docname) -> None:
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or isinstance(parent, SKIP) or not UNIT_SPACE.search(text):
            continue
        parent.replace(text, nodes.Text(keep_units(str(text))))


def setup(app):
    app.connect("doctree-resolved", _keep)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
