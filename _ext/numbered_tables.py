"""Sphinx extension: every captioned table of :mod:`kdcore.report` is numbered as the book's figures are.

A chapter displays its tables from code (``report.table``, ``report.verdicts``), as HTML that carries its
caption; Sphinx numbers figures, not a cell's HTML. This extension finds each such table in the rendered
notebook, takes its caption out of the HTML and sets it above the table as Sphinx sets a numbered caption:
"Table 4.2 Teachers on test, …", numbered per chapter like "Fig. 4.2". A table built with
``name="tab-teachers"`` is also a label, so the prose can refer to it as ``{numref}`tab-teachers```, which
reads "Table 4.2" and links to it. Jupyter and Colab, which do not run Sphinx, show the caption unnumbered
above the table, as before. The notebooks are unchanged.
"""

from __future__ import annotations

import html
import re

from docutils import nodes
from sphinx.transforms import SphinxTransform

# kdcore.report.Table's HTML: [<p>intro</p>]<div class="kdcore-table…" [data-name="…"] …><table…><caption>…
TABLE = re.compile(
    r'(?P<before>.*?)(?P<open><div class="kdcore-table[^"]*"(?: data-name="(?P<name>[^"]*)")?[^>]*>'
    r"<table[^>]*>)<caption>(?P<caption>.*?)</caption>(?P<after>.*)",
    re.S,
)


class numbered_table(nodes.General, nodes.Element):
    """A table from a cell's output, counted by Sphinx among the tables ("Table %s"); ``caption``: its caption
    as text (the title a ``{numref}`` with ``{name}`` shows)."""


class NumberTables(SphinxTransform):
    """Wrap each captioned kdcore table of a cell's HTML output in a :class:`numbered_table`."""

    default_priority = 500  # after myst-nb has rendered the outputs (the parser does), before the references

    def apply(self, **kwargs) -> None:
        for raw in list(self.document.findall(nodes.raw)):
            if raw.get("format") != "html" or "kdcore-table" not in raw.astext():
                continue
            match = TABLE.fullmatch(raw.astext())
            if not match:  # no caption: nothing to number
                continue
            text = html.unescape(re.sub(r"<[^>]+>", "", match["caption"]))
            table = numbered_table("", caption=text)
            table += nodes.raw("", match["open"] + match["after"], format="html", classes=raw["classes"])
            if match["name"]:
                table["names"].append(html.unescape(match["name"]))
                self.document.note_explicit_target(table, table)
            else:  # numbered all the same: Sphinx numbers only a node with an id
                self.document.set_id(table)
            replacement = [table]
            if match["before"].strip():  # the table's intro paragraph stays above its number
                replacement.insert(0, nodes.raw("", match["before"], format="html"))
            raw.replace_self(replacement)  # which gives the first node the output's classes
            table["classes"] = ["kdcore-numbered"]


def visit(self, node) -> None:
    """``<figure>`` with the caption above the table, as Sphinx sets a figure's: number, text, permalink."""
    self.body.append(self.starttag(node, "figure"))
    self.body.append("<figcaption><p>")
    self.add_fignumber(node)
    self.body.append(f'<span class="caption-text">{html.escape(node["caption"])}</span>')
    self.add_permalink_ref(node, "Link to this table")
    self.body.append("</p></figcaption>\n")


def depart(self, node) -> None:
    self.body.append("</figure>\n")


def setup(app):
    app.add_enumerable_node(numbered_table, "table", lambda node: node["caption"], html=(visit, depart))
    app.add_transform(NumberTables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
