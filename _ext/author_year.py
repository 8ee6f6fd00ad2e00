"""Sphinx extension: the bibliography labels its entries as the chapters cite them, "Hinton et al., 2015".

The chapters cite author–year (``bibtex_reference_style: author_year`` in _config.yml); pybtex's ``plain``
style labels the list [1], [2], …, which a reader cannot match to "[Hinton et al., 2015]". This registers
``authoryear``: pybtex's plain formatting and sorting, with author–year labels (``:style: authoryear``).
"""

from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _last_name(person) -> str:
    return " ".join(Text.from_latex(part).render_as("text") for part in person.prelast_names + person.last_names)


def author_year(entry) -> str:
    """ "Hinton et al., 2015", "Cho and Hariharan, 2019" or "Jordan, 2024", as the in-text citations read."""
    people = [_last_name(p) for p in entry.persons.get("author") or entry.persons.get("editor") or []]
    if not people:
        names = entry.key
    elif len(people) == 1:
        names = people[0]
    elif len(people) == 2:
        names = f"{people[0]} and {people[1]}"
    else:
        names = f"{people[0]} et al."
    return f"{names}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(PlainStyle):
    default_label_style = AuthorYearLabels


def setup(app):
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
