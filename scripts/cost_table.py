"""The paper profile's cost per chapter: a plan of every training run, priced by measured throughputs.

    python scripts/cost_table.py plan                  # CPU, minutes: writes benchmarks/plan/paper.json
    python benchmarks/teacher_training.py --plan benchmarks/plan/paper.json --json T.json   # on the GPU
    python scripts/cost_table.py table --throughputs T.json                  # prints the Markdown table
    python scripts/cost_table.py table --throughputs T.json --write README.md benchmarks/README.md
    python scripts/cost_table.py table --throughputs T.json --check README.md benchmarks/README.md

``plan`` runs each chapter (``book/NN_*.ipynb``, without Jupyter) under :class:`kdcore.cost.Planning`: every
``fit`` and ``evaluate`` is recorded with its true epochs and image counts but runs one batch, so the paper
profile (CIFAR-100 sizes, on ``synthetic-cifar100`` stand-in images: no download) plans on a CPU in minutes.
Each chapter runs alone, in a fresh cache, as a reader running only that chapter would.

``table`` prices the plan: a training run costs its epochs × images at the architecture's measured training
rate (images/s at its batch size), plus, for distillation, the teacher's forward pass per image, plus its
validation passes; an evaluation costs a forward pass per image. ``--write`` replaces the text between
``<!-- cost-table:start -->`` and ``<!-- cost-table:end -->`` in the given Markdown files and, in every
chapter's first Markdown cell, between ``<!-- paper-cost:start -->`` and ``<!-- paper-cost:end -->`` (added
at the end of the cell if missing). ``--check`` exits 1 if any of them is out of date.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANS = ROOT / "benchmarks" / "plan"
TABLE_MARKERS = ("<!-- cost-table:start -->", "<!-- cost-table:end -->")
CHAPTER_MARKERS = ("<!-- paper-cost:start -->", "<!-- paper-cost:end -->")
# The data a profile is planned on: its dataset, or a synthetic stand-in of the real one's shape and sizes
# (CIFAR-100: 50,000 training and 10,000 test images), so nothing is downloaded.
STAND_INS = {"paper": ("synthetic-cifar100", 50_000, 10_000)}
CACHED_LOGITS_BATCH = 1024  # kdcore.objectives.Distiller.cache_teacher_logits runs the teacher in these chunks

sys.path.insert(0, str(ROOT / "scripts"))
from gpu_check import execute_notebook  # the one way chapters run without Jupyter


# ------------------------------------------------------------------------------------------------------- plan
def chapters(names: list[str] | None, profile: str = "paper") -> list[Path]:
    """The chapter notebooks in book order that define ``profile`` (the `gpu` one only three do), or those of
    them whose file names contain one of ``names``."""
    from kdcore.chapters import chapter_key, chapter_notebooks
    from kdcore.params import spec

    found = chapter_notebooks(ROOT / "book")
    if profile == "gpu":
        found = [nb for nb in found if spec(chapter_key(nb)).gpu is not None]
    return [nb for nb in found if not names or any(name in nb.name for name in names)]


def planning_parameters(notebook: Path, profile: str, output_dir: Path) -> dict:
    """The profile at full size on the CPU, on the stand-in data where it has one; results to ``output_dir``."""
    from kdcore.chapters import chapter_key
    from kdcore.params import spec

    names = spec(chapter_key(notebook)).params
    values = {"profile": profile, "device": "cpu", "output_dir": str(output_dir), "widgets": False}
    if profile in STAND_INS:
        values["dataset"] = STAND_INS[profile][0]
    if profile in ("paper", "gpu"):
        values["allow_cpu"] = True
    return {k: v for k, v in values.items() if k in names or k == "profile"}


@contextlib.contextmanager
def stand_in_sizes(profile: str):
    """While planning ``profile``, its synthetic stand-in has the real dataset's sizes (kdcore.data.SYNTHETIC)."""
    from kdcore.data import SYNTHETIC

    if profile not in STAND_INS:
        yield
        return
    name, num_train, num_test = STAND_INS[profile]
    saved = dict(SYNTHETIC[name])
    SYNTHETIC[name].update(num_train=num_train, num_test=num_test)
    try:
        yield
    finally:
        SYNTHETIC[name].clear()
        SYNTHETIC[name].update(saved)


def plan_chapter(notebook: Path, profile: str) -> list[dict]:
    """The ledger rows of one chapter run under :class:`kdcore.cost.Planning` (in this process)."""
    from kdcore.cost import Planning

    cwd = Path.cwd()
    with Planning() as planning, stand_in_sizes(profile):
        try:
            execute_notebook(notebook, planning_parameters(notebook, profile, planning.scratch / "results"))
        finally:
            os.chdir(cwd)  # execute_notebook runs the chapter from its folder, as papermill does
        return planning.rows


def aggregate(rows: list[dict]) -> list[dict]:
    """Identical rows (all but ``cache``) as one, with their ``count`` and the ``caches`` they train toward, in
    the order each first ran."""
    merged: dict[str, dict] = {}
    for row in rows:
        key = json.dumps({k: v for k, v in row.items() if k != "cache"}, sort_keys=True)
        entry = merged.setdefault(key, {**{k: v for k, v in row.items() if k != "cache"}, "count": 0})
        entry["count"] += 1
        if row.get("cache"):
            entry.setdefault("caches", []).append(row["cache"])
    return list(merged.values())


def images(notebooks: list[Path], profile: str) -> dict:
    """The images the plan's networks see (shape and classes of the profile's dataset, one for every chapter):
    ``benchmarks/teacher_training.py --plan`` times the networks on synthetic images of that shape."""
    from kdcore.chapters import chapter_key
    from kdcore.data import NUM_CLASSES, SHAPES
    from kdcore.params import resolve

    found = {resolve(chapter_key(nb), **planning_parameters(nb, profile, Path("."))).dataset for nb in notebooks}
    if len(found) != 1:
        raise ValueError(f"the chapters of one plan must share a dataset, these use {sorted(found)}")
    (dataset,) = found
    return {"dataset": dataset, "shape": list(SHAPES[dataset]), "classes": NUM_CLASSES[dataset]}


def plan(args) -> int:
    PLANS.mkdir(parents=True, exist_ok=True)
    path = args.out or PLANS / f"{args.profile}.json"
    notebooks = chapters(args.chapters, args.profile)
    result = {
        "profile": args.profile,
        "made_by": f"python scripts/cost_table.py plan --profile {args.profile}"
        + (f" --chapters {' '.join(args.chapters)}" if args.chapters else ""),
        "stand_in": dict(zip(("dataset", "num_train", "num_test"), STAND_INS.get(args.profile, ()))) or None,
        "images": images(notebooks, args.profile),
        "chapters": {},
    }
    for notebook in notebooks:
        started = time.perf_counter()
        with _temporary_file() as rows_file:  # each chapter in a fresh process: no state leaks between them
            command = [sys.executable, __file__, "_plan-chapter", str(notebook), args.profile, str(rows_file)]
            done = subprocess.run(command, cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg", "KDCORE_WIDGETS": "0"})
            if done.returncode:
                print(f"{notebook.name}: planning failed (exit {done.returncode})", file=sys.stderr)
                return 1
            rows = json.loads(rows_file.read_text())
        result["chapters"][notebook.stem] = {"notebook": f"book/{notebook.name}", "rows": aggregate(rows)}
        runs = sum(r["kind"] == "train" for r in rows)
        print(f"{notebook.name}: {runs} training runs planned in {time.perf_counter() - started:.0f} s", flush=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written: {path}")
    return 0


@contextlib.contextmanager
def _temporary_file():
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kdcore-plan-rows-") as folder:
        yield Path(folder) / "rows.json"


# ------------------------------------------------------------------------------------------------------ table
def rate(table: dict, arch: str, batch_size: int, what: str) -> float:
    """Images/s of ``arch`` in ``table`` (``{arch: {batch size: images/s}}``) at the measured batch size nearest
    to ``batch_size`` (on a log scale)."""
    if arch not in table:
        raise KeyError(f"no {what} throughput for {arch!r}: run benchmarks/teacher_training.py --plan on this plan")
    measured = {int(b): r for b, r in table[arch].items()}
    nearest = min(measured, key=lambda b: (abs(math.log(b / batch_size)), b))
    return measured[nearest]


def row_seconds(row: dict, throughputs: dict) -> float:
    """Device seconds of one plan row (all ``count`` of its runs), from measured images/s."""
    train, forward = throughputs["train"], throughputs["forward"]
    if row["kind"] == "evaluate":
        seconds = row["examples"] / rate(forward, row["arch"], row["batch_size"], "forward")
    elif row["kind"] == "gradient":  # a forward and backward pass, as a training step without the update
        seconds = row["examples"] / rate(train, row["arch"], row["batch_size"], "training")
    else:
        images = row["epochs"] * row["train_examples"]
        seconds = images / rate(train, row["arch"], row["batch_size"], "training")
        if row["teacher"] is not None:
            cached = row["teacher_logits"] == "cached"  # one pass before training instead of one per step
            batch = CACHED_LOGITS_BATCH if cached else row["batch_size"]
            teacher_images = row["train_examples"] if cached else images
            seconds += teacher_images / rate(forward, row["teacher"], batch, "forward")
        if row["val_examples"]:
            val_images = row["epochs"] * row["val_examples"]
            seconds += val_images / rate(forward, row["arch"], row["val_batch_size"], "forward")
    return row["count"] * seconds


def item_label(row: dict) -> str:
    """What a row is, for the table's largest items: ``resnet8x4 ← resnet32x4, 240 epochs`` or ``evaluations``."""
    if row["kind"] != "train":
        return "evaluations and pruning scores"
    teacher = f" ← {row['teacher']}" if row["teacher"] else ""
    return f"{row['arch']}{teacher}, {row['epochs']} epochs"


def chapter_cost(rows: list[dict], throughputs: dict) -> dict:
    """Total device seconds, training runs, and seconds by item label (largest first) of one chapter."""
    items: Counter = Counter()
    runs: Counter = Counter()
    for row in rows:
        items[item_label(row)] += row_seconds(row, throughputs)
        if row["kind"] == "train" and row["epochs"]:
            runs[item_label(row)] += row["count"]
    return {"seconds": sum(items.values()), "runs": sum(runs.values()), "items": items.most_common(), "counts": runs}


def runs_in_book_order(plan_: dict):
    """Each plan row with how many of its runs happen in book order with one cache: a cached run (a teacher, a
    pruned teacher, a paper-profile student) that an earlier chapter trained is loaded, not trained again."""
    seen = set()
    for chapter in plan_["chapters"].values():
        for row in chapter["rows"]:
            caches = row.get("caches", [])
            new = [c for c in caches if (c, row["from_epoch"], row["epochs"]) not in seen]
            seen.update((c, row["from_epoch"], row["epochs"]) for c in caches)
            yield row, row["count"] - len(caches) + len(new)  # runs without a cache entry always run


def shared_cache_seconds(plan_: dict, throughputs: dict) -> float:
    """Device seconds of the whole book in order with one cache (:func:`runs_in_book_order`)."""
    return sum(row_seconds({**row, "count": runs}, throughputs) for row, runs in runs_in_book_order(plan_))


# What a chapter costs besides its training runs: the kernel's start, imports, CUDA's and the data's loading
# (per chapter), and each run's model build, first (autotuned) steps and result files (per run). Fitted to the
# first H200 run of the gpu profile (scripts/gpu_check.py, 2026-11-26): chapter 1 took 37.9 s against 11.3 s
# projected for its 13 runs, chapter 2 69.2 s against 39.5 s for 27. Seconds on the paper profile's hours.
OVERHEAD_PER_CHAPTER_S = 24.0
OVERHEAD_PER_RUN_S = 0.22


def overhead_seconds(plan_: dict) -> float:
    """Seconds of overhead of the whole plan in book order with one cache (see ``OVERHEAD_PER_CHAPTER_S``)."""
    runs = sum(n for row, n in runs_in_book_order(plan_) if row["kind"] == "train" and row["epochs"])
    return OVERHEAD_PER_CHAPTER_S * len(plan_["chapters"]) + OVERHEAD_PER_RUN_S * runs


def hours(seconds: float) -> str:
    """GPU time in the unit that reads best: minutes below an hour, else hours (2 significant digits)."""
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"
    return f"{minutes / 60:.0f} h" if minutes >= 600 else f"{minutes / 60:.1f} h"


def device_phrase(throughputs: dict) -> str:
    return f"one {throughputs['device']}"


def chapter_name(name: str, notebook: Path) -> str:
    """``"4. Tolerant teachers … (our reconstruction)"``: a chapter as the book's contents name it, from its
    notebook's title (which says when the chapter is our reconstruction), or ``name`` without a notebook."""
    if not notebook.is_file():
        return name
    cells = json.loads(notebook.read_text())["cells"]
    first = "".join(next((c["source"] for c in cells if c["cell_type"] == "markdown"), []))
    title = first.split("\n", 1)[0].removeprefix("# ").strip()
    return f"{int(name[:2])}. {title}" if title and name[:2].isdigit() else title or name


def markdown_table(plan_: dict, throughputs: dict, folder: Path = ROOT, top: int = 3) -> str:
    """The cost table: one line per chapter (linked from a file in ``folder``), the book's totals, and where
    the numbers come from."""
    lines = ["| chapter | training runs | GPU time | largest items |", "|---|---:|---:|---|"]
    total_seconds = total_runs = 0
    for name, chapter in plan_["chapters"].items():
        cost = chapter_cost(chapter["rows"], throughputs)
        total_seconds, total_runs = total_seconds + cost["seconds"], total_runs + cost["runs"]
        largest = [(label, s) for label, s in cost["items"] if hours(s) != hours(0)][:top]  # none reads "0.0 min"
        items = "; ".join(
            f"{cost['counts'][label]} × {label}: {hours(s)}" if cost["counts"][label] else f"{label}: {hours(s)}"
            for label, s in largest
        )
        link = Path(os.path.relpath(ROOT / chapter["notebook"], folder)).as_posix()
        title = chapter_name(name, ROOT / chapter["notebook"])
        lines.append(f"| [{title}]({link}) | {cost['runs']} | {hours(cost['seconds'])} | {items} |")
    shared = hours(shared_cache_seconds(plan_, throughputs))
    shared = f"in book order with one cache: {shared}"
    lines.append(f"| **every chapter** | {total_runs} | {hours(total_seconds)} | {shared} |")
    lines += [
        "",
        f"*{plan_['profile'].capitalize()} profile, projected for {device_phrase(throughputs)} from throughputs "
        f"measured on {throughputs['measured']} (`benchmarks/teacher_training.py --plan`), for the runs planned in "
        f"`benchmarks/plan/{plan_['profile']}.json` (`scripts/cost_table.py plan`); each chapter alone, from an "
        "empty cache. A distillation run counts its student's training and its teacher's forward passes"
        f".{derived_note(plan_)} Read a chapter's time as ±50 %, the whole book's as closer (the model against a "
        'measured `make book`: benchmarks/README.md, "How far to trust it").*',
    ]
    return "\n".join(lines)


def derived_note(plan_: dict) -> str:
    """A note on the students derived from pruned teachers, whose widths only a real run knows."""
    derived = sorted({r["arch"] for c in plan_["chapters"].values() for r in c["rows"] if "-derived-" in r["arch"]})
    if not derived:
        return ""
    return (
        f" {', '.join(derived)}: timed with prune-then-distill's published widths for that sparsity (the real "
        "widths depend on the trained teacher)."
    )


def chapter_line(chapter: dict, profile: str, throughputs: dict) -> str:
    seconds = chapter_cost(chapter["rows"], throughputs)["seconds"]
    return (
        f"*{profile.capitalize()} profile: ≈ {hours(seconds)} of GPU time on {device_phrase(throughputs)} "
        f"(projected from throughputs measured on {throughputs['measured']}).*"
    )


def between(text: str, markers: tuple[str, str], body: str, append: bool = False) -> str:
    """``text`` with what lies between ``markers`` replaced by ``body`` (on lines of its own). Without the
    markers: appended after a blank line if ``append``, else a ValueError."""
    start, end = markers
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text.split(start, 1)[1]:
        before, rest = text.split(start, 1)
        return before + block + rest.split(end, 1)[1]
    if append:
        return text.rstrip("\n") + "\n\n" + block
    raise ValueError(f"no {start} … {end} markers")


def updated_notebook(path: Path, line: str) -> str:
    """The notebook's text with ``line`` between the paper-cost markers of its first Markdown cell."""
    notebook = json.loads(path.read_text())
    cell = next(c for c in notebook["cells"] if c["cell_type"] == "markdown")
    source = between("".join(cell["source"]), CHAPTER_MARKERS, line, append=True)
    cell["source"] = source.splitlines(keepends=True)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"  # nbformat's own layout


def table(args) -> int:
    plan_ = json.loads(args.plan.read_text())
    throughputs = json.loads(args.throughputs.read_text())
    targets = args.write or args.check
    if not targets:
        print(markdown_table(plan_, throughputs, Path.cwd()))
        return 0
    stale = []
    updates = {}
    for target in map(Path, targets):  # links to the chapters relative to each file
        table_text = markdown_table(plan_, throughputs, target.resolve().parent)
        updates[target] = between(target.read_text(), TABLE_MARKERS, table_text)
    for chapter in plan_["chapters"].values():
        path = args.book / Path(chapter["notebook"]).name
        updates[path] = updated_notebook(path, chapter_line(chapter, plan_["profile"], throughputs))
    for path, new in updates.items():
        if path.read_text() != new:
            stale.append(path)
            if args.write:
                path.write_text(new)
    verb = "updated" if args.write else "out of date"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if stale and args.check else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plan", help="run the chapters in planning mode; write benchmarks/plan/PROFILE.json")
    p.add_argument("--profile", default="paper")
    p.add_argument("--chapters", nargs="*", help="only chapters whose file names contain these")
    p.add_argument("--out", type=Path, help="default: benchmarks/plan/PROFILE.json")
    t = commands.add_parser("table", help="price a plan with measured throughputs; print or write the table")
    t.add_argument("--throughputs", type=Path, required=True, help="JSON of benchmarks/teacher_training.py --plan")
    t.add_argument("--plan", type=Path, default=PLANS / "paper.json")
    t.add_argument("--book", type=Path, default=ROOT / "book", help="where the chapter notebooks are")
    modes = t.add_mutually_exclusive_group()
    modes.add_argument("--write", nargs="+", metavar="MARKDOWN", help="update these files and the chapters")
    modes.add_argument("--check", nargs="+", metavar="MARKDOWN", help="exit 1 if any of them is out of date")
    one = commands.add_parser("_plan-chapter")  # the child process of `plan`
    one.add_argument("notebook", type=Path)
    one.add_argument("profile")
    one.add_argument("rows", type=Path)
    args = parser.parse_args(argv)
    if args.command == "_plan-chapter":
        args.rows.write_text(json.dumps(plan_chapter(args.notebook.resolve(), args.profile)))
        return 0
    return plan(args) if args.command == "plan" else table(args)


if __name__ == "__main__":
    sys.exit(main())
