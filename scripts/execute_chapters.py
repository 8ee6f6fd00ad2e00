"""Execute chapters with papermill at a profile, and keep the committed notebooks diff-friendly.

    python scripts/execute_chapters.py [book/01_kd_basics.ipynb ...]   (default: every chapter, book profile)
    python scripts/execute_chapters.py kd_basics capacity_gap comparison --profile gpu --out DIR

Each notebook runs with the book/ folder as working directory (as in jupyter-book and nbval), then is
cleaned: papermill's and the execution metadata are dropped, consecutive stream outputs are merged, and
widget model ids are renumbered deterministically, so a re-run changes only what really changed.

The profile reaches the kernel through ``KDCORE_PROFILE``, so the notebook gets no injected cell. Without
``--out`` the chapters are executed in place (``make book``); with it, the executed copies, each chapter's
results JSON and ``run.json`` (when, where, on what device, how long) go to DIR and the book is untouched
(the kernel writes the JSON under book/ as usual; it is moved to DIR and the book's own put back):
how the GPU machine runs the `gpu` profile (scripts/gpu_check.py, step ``gpu_book``). ``-p NAME VALUE``
(VALUE read as YAML) overrides a parameter the way ``papermill -p`` does, in an injected cell that stays in
the executed notebook for the reader to see.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import papermill
import yaml

from kdcore.batch import KERNEL_START_TIMEOUT
from kdcore.chapters import chapter_key, chapter_notebooks, find_notebooks
from kdcore.params import PROFILES, resolve
from kdcore.record import environment

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


def execute(path: Path, output: Path | None = None, parameters: dict | None = None) -> float:
    """Execute ``path`` and write the cleaned result to ``output`` (default: in place); the seconds it took."""
    started = time.time()
    # beside the output: with --out nothing is written in book/ (a test's device check runs beside the suite)
    executing = (output or path).with_suffix(".executing.ipynb")
    try:
        papermill.execute_notebook(
            str(path), str(executing), parameters=parameters or {}, cwd=str(path.parent), kernel_name="python3",
            progress_bar=False, execution_timeout=CELL_TIMEOUT, start_timeout=KERNEL_START_TIMEOUT,
        )  # fmt: skip
        nb = clean(nbformat.read(executing, as_version=4))
        nbformat.write(nb, output or path)
    finally:
        executing.unlink(missing_ok=True)
    return time.time() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook paths or chapter keys (default: every chapter)")
    parser.add_argument("--profile", default="book", choices=PROFILES)
    parser.add_argument("--out", type=Path, help="write executed copies, results JSON and run.json here")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a parameter (VALUE is YAML), as papermill -p does")  # fmt: skip
    args = parser.parse_args(argv)
    os.environ["KDCORE_PROFILE"] = args.profile  # the kernel inherits it; no injected parameters cell
    os.environ["KDCORE_WIDGETS"] = "0"  # headless: the static figures show what the sliders would (kdcore.params)
    overrides = {name: yaml.safe_load(value) for name, value in args.p}
    notebooks = list(find_notebooks(args.notebooks, BOOK)) if args.notebooks else chapter_notebooks(BOOK)
    known = set().union(*(resolve(chapter_key(path), args.profile).as_dict() for path in notebooks))
    unknown = sorted(set(overrides) - known)
    if unknown:  # a typo would otherwise be dropped silently (each chapter takes the names it has)
        parser.error(f"-p {', '.join(unknown)}: not a parameter of any of these chapters")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    runs, total = {}, 0.0
    for path in notebooks:
        path = path.resolve()
        key = chapter_key(path)
        given = {k: v for k, v in overrides.items() if k in resolve(key, args.profile).as_dict()}
        P = resolve(key, args.profile, **given)  # a bad value fails here, before the kernel starts
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        written = path.parent / P.output_dir / f"{key}.json"  # where the kernel writes (book/results/ …)
        committed = written.read_bytes() if args.out and written.is_file() else None
        try:
            seconds = execute(path, args.out / path.name if args.out else None, given)
            if args.out:
                shutil.copy(written, args.out / f"{key}.json")
        finally:
            if args.out:  # the results JSON moved to DIR; the book's own stays as it was, even after a failure
                if committed is None:
                    written.unlink(missing_ok=True)
                else:
                    written.write_bytes(committed)
        total += seconds
        print(f"{path.name}: {seconds:.0f} s", flush=True)
        if args.out:
            runs[path.name] = {"chapter": key, "profile": args.profile, "overrides": given, "started": started,
                               "seconds": round(seconds, 1)}  # fmt: skip
            record = {"environment": environment(), "chapters": runs}
            (args.out / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"all chapters: {total:.0f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
