"""Author a chapter as a percent-format script and turn it into a notebook (an authoring aid).

    python scripts/py2nb.py chapter.py book/NN_name.ipynb

Cells start with ``# %%`` (code) or ``# %% [markdown]``; ``# %% tags=["parameters"]`` adds cell tags.
Markdown lines drop their leading ``# ``. The notebook in book/ is the source of truth once written.
"""

import json
import re
import sys

import nbformat


def convert(text: str) -> nbformat.NotebookNode:
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(re.sub(r"^# ?", "", line) for line in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind = "markdown" if "[markdown]" in line else "code"
            match = re.search(r"tags=(\[.*\])", line)
            tags = json.loads(match.group(1)) if match else []
            lines = []
        else:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"cell-{i:02d}"
    return nb


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    nbformat.write(convert(open(source).read()), target)
