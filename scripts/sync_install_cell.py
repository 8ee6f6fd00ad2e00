"""Write every chapter's Colab install cell, pinned to the last commit that changed kdcore.

The first code cell of each chapter (``kdcore.chapters.chapter_notebooks``), and of each chapter's CNN-scale copy
(``book/results/gpu/``, whose report cells need today's library too), installs kdcore where it is missing
(Colab), from GitHub at ``kdcore_ref`` of ``_config.yml``, so a reader in Colab runs the code that produced
the page they read, not whatever the default branch holds today. The cell is tagged ``remove-cell``: the
HTML book does not show it.

    python scripts/sync_install_cell.py            # rewrite the install cells from _config.yml's kdcore_ref
    python scripts/sync_install_cell.py --check    # exit 1 (and list them) if a cell differs; write nothing
    python scripts/sync_install_cell.py --update   # first set kdcore_ref to the last commit that changed
                                                   # kdcore/ or pyproject.toml, then rewrite the cells

``--update`` refuses while kdcore/ or pyproject.toml has uncommitted changes: no commit holds that code yet.
Only the install cell is rewritten (its id and other tags kept); if a chapter's first code cell is not an
install cell, a new one is inserted before it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kdcore.chapters import chapter_notebooks

CONFIG = ROOT / "_config.yml"
PINNED_PATHS = ("kdcore", "pyproject.toml")  # the code a pin names: the library and its dependencies
TAG = "remove-cell"
REF_LINE = re.compile(r"^kdcore_ref:[ \t]*(\S*)[ \t]*$", re.MULTILINE)
INSTALL_MARKERS = ('find_spec("kdcore")', "kdcore @ git+", "kdcore[vision] @ git+")

TEMPLATE = """\
# Colab, or anywhere kdcore is missing: install kdcore (and torchvision, for
# the data) at kdcore_ref of _config.yml, the last commit that changed the
# library (scripts/sync_install_cell.py writes this cell).
import importlib.util

if importlib.util.find_spec("kdcore") is None:
    %pip install -q "{requirement}\""""


def read_config() -> tuple[str, str]:
    """``(repository url, kdcore_ref)`` from _config.yml."""
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    ref = str(config.get("kdcore_ref") or "")
    if not re.fullmatch(r"[0-9a-f]{40}", ref):
        raise SystemExit(f"_config.yml: kdcore_ref must be a full 40-hex commit id, not {ref!r} (run --update)")
    return config["repository"]["url"].rstrip("/"), ref


def requirement(repository: str, ref: str) -> str:
    """The pip requirement the install cell installs."""
    return f"kdcore[vision] @ git+{repository}@{ref}"


def install_source(repository: str, ref: str) -> str:
    return TEMPLATE.format(requirement=requirement(repository, ref))


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def last_code_commit() -> str:
    """The last commit that changed kdcore/ or pyproject.toml; refuses if either has uncommitted changes."""
    dirty = git("status", "--porcelain", "--", *PINNED_PATHS)
    if dirty:
        raise SystemExit(f"uncommitted changes in {' or '.join(PINNED_PATHS)}; commit them first:\n{dirty}")
    return git("log", "-1", "--format=%H", "--", *PINNED_PATHS)


def set_config_ref(ref: str) -> bool:
    """Write ``kdcore_ref: <ref>`` into _config.yml (the line only; comments kept). True if it changed."""
    text = CONFIG.read_text()
    if not REF_LINE.search(text):
        raise SystemExit("_config.yml has no top-level `kdcore_ref:` line")
    new = REF_LINE.sub(f"kdcore_ref: {ref}", text, count=1)
    CONFIG.write_text(new)
    return new != text


def is_install_cell(cell: dict) -> bool:
    source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return cell["cell_type"] == "code" and any(marker in source for marker in INSTALL_MARKERS)


def new_cell_id(cells: list[dict]) -> str:
    taken = {c.get("id") for c in cells}
    n = 0
    while f"install-kdcore-{n}" in taken:
        n += 1
    return f"install-kdcore-{n}" if n else "install-kdcore"


def pinned_notebooks(book: Path) -> list[Path]:
    """Every notebook with an install cell: the chapters, then their CNN-scale copies."""
    return chapter_notebooks(book) + sorted((book / "results" / "gpu").glob("[0-9][0-9]_*.ipynb"))


def synced(notebook: dict, source: str) -> dict:
    """``notebook`` with its install cell set to ``source`` and tagged (a new dict; the input is unchanged)."""
    nb = json.loads(json.dumps(notebook))
    cells = nb["cells"]
    first = next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), len(cells))
    if first < len(cells) and is_install_cell(cells[first]):
        cell = cells[first]
    else:
        cell = {"cell_type": "code", "execution_count": None, "id": new_cell_id(cells), "metadata": {},
                "outputs": [], "source": []}  # fmt: skip
        if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) < 5:
            del cell["id"]
        cells.insert(first, cell)
    cell["source"] = source.splitlines(keepends=True)
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if TAG not in tags:
        tags.append(TAG)
    return nb


def dumps(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="list chapters whose install cell differs; write nothing")
    mode.add_argument("--update", action="store_true", help="set kdcore_ref to the last kdcore commit first")
    parser.add_argument("--book", type=Path, default=ROOT / "book", help="the folder of the chapters")
    args = parser.parse_args(argv)

    if args.update:
        ref = last_code_commit()
        print(f"kdcore_ref: {ref}" + (" (updated)" if set_config_ref(ref) else " (unchanged)"))
    repository, ref = read_config()
    source = install_source(repository, ref)

    stale = []
    for path in pinned_notebooks(args.book):
        notebook = json.loads(path.read_text())
        new = synced(notebook, source)
        if new != notebook:
            stale.append(path)
            if not args.check:
                path.write_text(dumps(new))
    verb = "differ from" if args.check else "rewritten to"
    for path in stale:
        print(f"{path.relative_to(args.book.parent) if path.is_relative_to(args.book.parent) else path}: "
              f"install cell {verb} {requirement(repository, ref)}")  # fmt: skip
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
