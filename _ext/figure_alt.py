"""Sphinx extension: a figure's image gets its caption, read aloud, as its alt text.

myst-nb's ``glue:figure`` gives the image no ``alt``, so Sphinx writes the image's path there
("../_images/3b34….png"): what a screen reader reads aloud, or a browser shows when the image fails. The
caption already says what the figure shows. Its opening, with the run's glued numbers in it and its formulas
as plain text (``\\eta`` as η: a screen reader would spell TeX out), is the alt text: whole sentences up to
:data:`MOST` characters, so a figure of panels ("Left: …. Right: …") says what each shows where it fits. An
image with an alt text of its own keeps it. The notebooks are unchanged.
"""

from __future__ import annotations

import re

from docutils import nodes

MOST = 250  # characters of alt text: what a figure shows, not every caveat of its caption
# a full stop before a space ends a sentence, except after these ("Fig. 5.3", "e.g. a", "Yang et al. 2018")
NOT_AN_END = re.compile(r"(?:\b(?:Fig|Figs|Table|e\.g|i\.e|al|vs|cf|ch|approx))\.$")
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "lambda": "λ",
         "mu": "μ", "rho": "ρ", "sigma": "σ", "tau": "τ", "theta": "θ", "Delta": "Δ", "Sigma": "Σ"}  # fmt: skip
TEX = [
    (re.compile(r"\\(?:mathrm|text|mathit|mathbf|operatorname)\{([^{}]*)\}"), r"\1"),  # \mathrm{CE} → CE
    (re.compile(r"\\[,;:! ]"), " "),  # thin and other spaces
    (re.compile(r"\\cdot\b"), "·"),
    (re.compile(r"\\times\b"), "×"),
    (re.compile(r"\\leq?\b"), "≤"),
    (re.compile(r"\\geq?\b"), "≥"),
    (re.compile(r"\\([A-Za-z]+)"), lambda m: GREEK.get(m[1], m[1])),  # \eta → η; another command: its name
    (re.compile(r"[{}]"), ""),
]


def readable(tex: str) -> str:
    """A formula as a screen reader should say it: ``\\eta\\,\\mathrm{CE}`` reads "η CE"."""
    for pattern, replacement in TEX:
        tex = pattern.sub(replacement, tex)
    return " ".join(tex.split())


def caption_text(caption: nodes.Node) -> str:
    """The caption's text, its formulas :func:`readable`."""
    parts = []
    for node in caption.findall(lambda n: isinstance(n, (nodes.Text, nodes.math))):
        if isinstance(node, nodes.math):
            parts.append(readable(node.astext()))
        elif not isinstance(node.parent, nodes.math):
            parts.append(str(node))
    return " ".join("".join(parts).split())


def opening(text: str) -> str:
    """Whole sentences of ``text`` up to :data:`MOST` characters; a first sentence longer than that, cut at a
    word, with "…"."""
    text = " ".join(text.split())
    ends = [m.end() for m in re.finditer(r"\.(?=\s|$)", text) if not NOT_AN_END.search(text[: m.end()])]
    fitting = [end for end in ends if end <= MOST]
    if fitting:
        return text[: fitting[-1]].rstrip(".")
    return text if len(text) <= MOST else text[: MOST - 1].rsplit(" ", 1)[0] + "…"


def _describe(app, doctree, docname) -> None:
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is None:
            continue
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = opening(caption_text(caption))


def setup(app):
    app.connect("doctree-resolved", _describe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
