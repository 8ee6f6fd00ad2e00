"""Sphinx extension: a value the run glues into the prose, as the HTML sets it.

The prose marks the numbers it takes from the run (``{glue:text}``, a ``span.pasted-text``) with a faint
dotted underline (``_assets/kdcore.css``): "this number is this run's". Many glued values hold words too: a
verdict ("within noise"), a method ("teacher assistant in the low-label regime") or a whole sentence that
the run chooses ("Nor did the reference, … (+0.33 and +0.54 pp, both within noise): …"). Underlined whole,
they read as links, two lines of prose at a time. So in the HTML each number of a glued value is wrapped in
a ``span.pasted-number``, which alone is underlined: the reader still sees which numbers came from the run.

A glued number formatted by Python (``{glue:text}`x:+.2f```) starts with a hyphen ("-1.40"), where the
HTML of kdcore.report's tables has a minus sign ("−1.40"); in the HTML the hyphen before a glued number
becomes a minus sign too, by the same rule (:func:`kdcore.report.minus_signs`). The notebooks are unchanged.
"""

from __future__ import annotations

import re

from docutils import nodes

from kdcore.report import minus_signs

# "+0.33", "−26.85", "5,000", "99.8", "±2.1" (after minus_signs); not the 512 of "mlp-512"
NUMBER = re.compile(r"(?<![\w\-.+−±])[+−±]?\d[\d,]*(?:\.\d+)?")


def split_numbers(text: str) -> list[tuple[str, bool]]:
    """``text`` as pieces ``(piece, is_number)``, in order, that join back to it."""
    pieces, at = [], 0
    for match in NUMBER.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def _mark(app, doctree, docname) -> None:
    for pasted in list(doctree.findall(nodes.inline)):
        if "pasted-text" not in pasted["classes"]:
            continue
        text = minus_signs(pasted.astext())
        children = [nodes.inline(piece, piece, classes=["pasted-number"]) if number else nodes.Text(piece)
                    for piece, number in split_numbers(text)]  # fmt: skip
        pasted.children = []
        pasted.extend(children)


def setup(app):
    app.connect("doctree-resolved", _mark)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
