"""Write every chapter's ``parameters`` cell from its spec in kdcore/chapters.py.

    python scripts/sync_parameters.py          # rewrite the cells that differ
    python scripts/sync_parameters.py --check  # exit 1, listing the notebooks whose cell differs

A notebook's chapter is the one its ``from_namespace("NAME", globals())`` call names. Only the cell's source
changes: its tags, its metadata and every other cell (outputs included) stay as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kdcore.chapters import chapter_key, chapter_notebooks
from kdcore.params import parameters_cell

BOOK = Path(__file__).resolve().parent.parent / "book"


def _dump(nb: dict) -> str:
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"  # nbformat's own layout


def sync(notebook: Path, write: bool) -> bool:
    """Whether ``notebook``'s parameters cell differed from its spec (rewritten when ``write``)."""
    nb = json.loads(notebook.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise SystemExit(f"{notebook}: {len(cells)} cells tagged 'parameters', need exactly one")
    source = parameters_cell(chapter_key(notebook))
    current = cells[0]["source"]
    if (current if isinstance(current, str) else "".join(current)) == source:
        return False
    if write:
        cells[0]["source"] = source.splitlines(keepends=True)
        notebook.write_text(_dump(nb))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a cell differs")
    parser.add_argument("--book-dir", type=Path, default=BOOK)
    args = parser.parse_args(argv)
    stale = [nb for nb in chapter_notebooks(args.book_dir) if sync(nb, write=not args.check)]
    for nb in stale:
        print(f"{nb}: parameters cell {'differs from' if args.check else 'rewritten from'} kdcore/chapters.py")
    if args.check and stale:
        print("run: python scripts/sync_parameters.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
