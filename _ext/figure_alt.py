"""Sphinx extension: a figure's image gets its caption's first sentence as its alt text.

myst-nb's ``glue:figure`` gives the image no ``alt``, so Sphinx writes the image's path there
("../_images/3b34….png"): what a screen reader reads aloud, or a browser shows when the image fails. The
caption already says what the figure shows; its first sentence, with the run's glued numbers in it, is the
alt text. An image with an alt text of its own keeps it. The notebooks are unchanged.
"""

from __future__ import annotations

import re

from docutils import nodes

MOST = 200  # characters of alt text: a sentence, not the whole caption
SENTENCE_END = re.compile(r"(?<=\.)\s")  # after a full stop, before a space (not inside "3.5")


def first_sentence(caption: str) -> str:
    """The caption's first sentence, at most :data:`MOST` characters, on one line ("Left: …" stays whole: a
    figure of panels says what each shows)."""
    text = " ".join(caption.split())
    text = SENTENCE_END.split(text, maxsplit=1)[0].rstrip(".")
    return text if len(text) <= MOST else text[: MOST - 1].rsplit(" ", 1)[0] + "…"


def _describe(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = first_sentence(caption.astext())


def setup(app):
    app.connect("doctree-resolved", _describe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
