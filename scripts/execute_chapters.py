"""Execute chapters in place with papermill at the book profile, and keep the committed notebooks diff-friendly.

    python scripts/execute_chapters.py [book/01_kd_basics.ipynb ...]   (default: every chapter)

Each notebook runs with the book/ folder as working directory (as in jupyter-book and nbval), then is
cleaned: papermill's and the execution metadata are dropped, consecutive stream outputs are merged, and
widget model ids are renumbered deterministically, so a re-run changes only what really changed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import papermill

from kdcore.batch import chapter_notebooks

BOOK = Path(__file__).resolve().parent.parent / "book"
CELL_TIMEOUT = 1800  # seconds; a book-profile chapter takes minutes, so a cell this long means a stuck kernel


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            if (
                merged
                and out.output_type == "stream"
                and merged[-1].output_type == "stream"
                and (merged[-1].name == out.name)
            ):
                merged[-1].text += out.text
            else:
                merged.append(out)
        cell.outputs = merged
    return _renumber_widgets(nb)


def _renumber_widgets(nb):
    text = nbformat.writes(nb)
    ids = list(dict.fromkeys(re.findall(r'"model_id": "([0-9a-f]{32})"', text)))
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    ids += [i for i in state if i not in ids]
    for n, old in enumerate(ids):
        text = text.replace(old, f"{n:032x}")
    return nbformat.reads(text, as_version=4)


def execute(path: Path) -> float:
    started = time.time()
    output = path.with_suffix(".executing.ipynb")
    try:
        papermill.execute_notebook(
            str(path), str(output), cwd=str(path.parent), kernel_name="python3",
            progress_bar=False, execution_timeout=CELL_TIMEOUT,
        )  # fmt: skip
        nb = clean(nbformat.read(output, as_version=4))
        nbformat.write(nb, path)
    finally:
        output.unlink(missing_ok=True)
    return time.time() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    os.environ["KDCORE_PROFILE"] = "book"  # the kernel inherits it; no injected parameters cell to commit
    os.environ["KDCORE_WIDGETS"] = "0"  # headless: the static figures show what the sliders would (kdcore.params)
    notebooks = args.notebooks or chapter_notebooks(BOOK)
    total = 0.0
    for path in notebooks:
        seconds = execute(path.resolve())
        total += seconds
        print(f"{path.name}: {seconds:.0f} s", flush=True)
    print(f"all chapters: {total:.0f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
