"""Re-run chapters with papermill: chapters × configurations × seeds, in parallel, summarized in one table.

    python -m kdcore.batch book/01_kd_basics.ipynb book/03_pruning.ipynb --profile smoke --seeds 0 1 \\
        -p temperature 2 --workers 2 --out runs/batch

* A chapter is a notebook path, a chapter key (``kd_basics``, looked up in ``--book-dir``) or ``all``.
* A *configuration* is a profile plus parameter overrides: ``-p NAME VALUE`` (VALUE is read as YAML, so
  ``-p seeds "[0, 1]"`` is a list and ``-p lr 0.1`` a float) and/or ``--config FILE``, a YAML mapping (one
  configuration) or a list of mappings (a sweep); ``-p`` applies on top of each.
* A *run* is one chapter, one configuration and one seed: papermill executes the notebook with
  ``seeds=[s]`` (working directory: the notebook's folder) and its results JSON goes to the run's folder,
  ``OUT/<chapter>/<configuration>-<hash>/seed-<s>/``, beside the executed notebook.
* Every run's parameters are validated (:func:`kdcore.params.resolve`) before the first one starts.
* ``--workers`` runs execute at once, each in its own process and kernel. The other seeds of a
  configuration wait for its first run, which trains and caches the teachers they share.
* A failing run does not stop the others; failures are listed at the end and the exit code is 1.
  ``--cell-timeout`` turns a cell that runs too long (or a kernel that stops answering) into a failure.
* ``OUT/summary.csv`` and ``OUT/summary.md`` hold one row per (chapter, configuration): mean ± std over its
  seeds of every *metric* of the results JSON (one seed: its value, no std). The rule: a metric is a numeric
  leaf of the JSON's ``results``, named by its ``/``-joined path; a mean ± std summary (``{mean, std, n,
  values}``, which with one seed holds that seed's value) counts as the leaf ``mean``; a list of run records
  (each with a ``seed``) gives each number averaged over its runs (not the seeds themselves); a list of
  comparisons gives each comparison's ``diff``, named ``<regime, setting…>: <b> − <a>``; any other list of
  mappings (a sweep) gives each item by position (not the lists inside it); lists of numbers (per-seed
  values, intervals) and strings are skipped. The run time (``seconds``) is a metric too.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import yaml

from .chapters import find_notebooks
from .experiment import device_for
from .params import ParameterError, resolve
from .results import summary

# Seconds a new Jupyter kernel may take to answer. nbclient's default (60) is too short on a busy 2-core machine,
# where a batch's workers (or a test suite's) start kernels while others train: one CI run failed on it.
KERNEL_START_TIMEOUT = 300


@dataclass(eq=False)
class Run:
    chapter: str  # the chapter key, e.g. "kd_basics"
    notebook: Path
    config: dict  # the profile first, then the overrides by name
    seed: int
    directory: Path

    @property
    def label(self) -> str:
        return f"{self.chapter} [{describe(self.config)}] seed {self.seed}"


def describe(config: dict) -> str:
    """``"profile=smoke temperature=2"``: a configuration as a reader would type it."""
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in config.items())


def config_name(config: dict) -> str:
    """A folder name for a configuration: readable (shortened), plus a short hash that makes it unique."""
    digest = hashlib.sha256(json.dumps(config, default=str).encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9.=+-]+", "_", "_".join(f"{k}={v}" for k, v in config.items())).strip("_")
    return f"{readable[:80]}-{digest}"


def configurations(profile: str | None, overrides: dict, config_file: Path | None) -> list[dict]:
    """The configurations to run: the YAML file's mapping(s), each with the command line's overrides on top."""
    loaded = yaml.safe_load(config_file.read_text()) if config_file else None
    base = loaded if isinstance(loaded, list) else [loaded or {}]
    if not all(isinstance(c, dict) for c in base):
        raise ParameterError(f"{config_file}: must hold a mapping of parameters or a list of mappings")
    profile = profile or os.environ.get("KDCORE_PROFILE") or "book"
    return [{"profile": profile, **c, **overrides} for c in base]


def plan(notebooks: dict[Path, str], configs: list[dict], seeds: list[int] | None, out: Path) -> list[Run]:
    """Every run, each validated with :func:`kdcore.params.resolve` (and its device with
    :func:`kdcore.experiment.device_for`); a bad value raises before anything runs."""
    runs = []
    for notebook, key in notebooks.items():
        for config in configs:
            given = {k: v for k, v in config.items() if k != "profile"}
            if "seeds" in given or "output_dir" in given:
                raise ParameterError("seeds and output_dir are set by the batch (use --seeds and --out)")
            config = {"profile": config["profile"], **dict(sorted(given.items()))}
            resolved = resolve(key, config["profile"], **given)
            device_for(resolved)  # the paper profile on a CPU: refused here, once, not by every kernel
            for seed in seeds or resolved.seeds:
                directory = out / key / config_name(config) / f"seed-{seed}"
                resolve(key, config["profile"], **given, seeds=[seed], output_dir=str(directory))
                runs.append(Run(key, notebook, config, seed, directory))
    return runs


def execute(run: Run, threads: int, cell_timeout: float | None = None) -> str | None:
    """Execute one run with papermill (in a worker process, so each run has its own kernel); the error or None."""
    import papermill

    os.environ["KDCORE_THREADS"] = str(threads)  # the kernel inherits this worker's environment
    os.environ["KDCORE_WIDGETS"] = "0"  # no one moves a slider in a batch; see kdcore.params (-p widgets wins)
    parameters = {**run.config, "seeds": [run.seed], "output_dir": str(run.directory)}
    run.directory.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(run.notebook), str(run.directory / run.notebook.name), parameters=parameters,
            cwd=str(run.notebook.parent), kernel_name="python3", progress_bar=False, execution_timeout=cell_timeout,
            start_timeout=KERNEL_START_TIMEOUT,
        )  # fmt: skip
    except papermill.PapermillExecutionError as e:
        return f"{e.ename}: {e.evalue}"
    except Exception as e:  # a dead kernel, a timeout, an unreadable notebook: report it, keep the batch going
        return f"{type(e).__name__}: {e}"
    if not (run.directory / f"{run.chapter}.json").is_file():
        return f"the notebook wrote no {run.chapter}.json to its output_dir"
    return None


ID_KEYS = ("seed", "teacher_seed", "lineage")  # which run a record is, not what it measured: never averaged
NAMED_BY = ("regime", "setting", "measure", "key")  # what tells a family's comparisons of one pair of sides apart


def comparison_names(family: list[dict]) -> list[str]:
    """One name a comparison: ``"<regime>, <setting>…: <b> − <a>"``, from whichever of :data:`NAMED_BY` it
    has; where two would still share a name, each gets its position too (``" #3"``), so none overwrites
    another."""
    names = [", ".join(str(c[k]) for k in NAMED_BY if c.get(k)) for c in family]
    names = [f"{where}: {c['b']} − {c['a']}" if where else f"{c['b']} − {c['a']}" for where, c in zip(names, family)]
    return [f"{name} #{i}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def metrics(record: dict) -> dict[str, float]:
    """The metrics of one results JSON (see the module docstring for the rule)."""
    found = {}
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)

    def walk(node, path, in_sweep=False):
        if isinstance(node, dict) and {"mean", "std", "n", "values"} <= node.keys():
            walk(node["mean"], path, in_sweep)
        elif isinstance(node, dict):
            for name, child in node.items():
                walk(child, f"{path}/{name}" if path else str(name), in_sweep)
        elif isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
            if all("seed" in item for item in node):
                # run records (``StudentRun.record``): repeats of one thing, so each number is averaged over
                # them; a key that some records lack or hold no number in (a cached run's timing) is left out
                keys = [k for k in node[0] if k not in ID_KEYS and all(number(item.get(k)) for item in node)]
                for key in keys:
                    walk(sum(float(item[key]) for item in node) / len(node), f"{path}/{key}")
            elif all({"a", "b", "diff"} <= item.keys() for item in node):
                # a family of comparisons: each its own metric, its difference, named by what it compares
                for name, item in zip(comparison_names(node), node):
                    walk(item["diff"], f"{path}/{name}/diff")
            elif not in_sweep:  # different settings (a sweep's points): one metric each, by position; their
                for i, item in enumerate(node):  # own lists (a point's per-layer details) are left out
                    walk(item, f"{path}/{i}", in_sweep=True)
        elif number(node):
            found[path] = float(node)

    walk(record.get("results", {}), "")
    if number(record.get("seconds")):
        found["seconds"] = float(record["seconds"])
    return found


def summarize(runs: list[Run], out: Path) -> list[dict]:
    """Mean ± std over seeds per (chapter, configuration), written to ``summary.csv`` and ``summary.md``."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        path = run.directory / f"{run.chapter}.json"
        if path.is_file():
            groups.setdefault((run.chapter, describe(run.config)), []).append(metrics(json.loads(path.read_text())))
    rows, names = [], {}
    for (chapter, config), records in groups.items():
        row = {"chapter": chapter, "configuration": config, "n": len(records), "metrics": {}}
        for record in records:
            names.update(dict.fromkeys(record))
        for name in dict.fromkeys(n for r in records for n in r):
            row["metrics"][name] = summary([r[name] for r in records if name in r])
        rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["chapter", "configuration", "n", *(f"{m} {s}" for m in names for s in ("mean", "std"))])
        for row in rows:
            cells = [row["metrics"].get(m) for m in names]
            # one seed has no spread to estimate: its std is left empty, not written as 0
            values = [v for c in cells for v in ((c["mean"], c["std"] if c["n"] > 1 else "") if c else ("", ""))]
            writer.writerow([row["chapter"], row["configuration"], row["n"], *values])
    lines = ["# Batch summary: mean ± std over seeds (n; one seed: its value alone)", "",
             "± is the sample standard deviation between the runs, not a confidence interval. Each run has one "
             "student seed, so its notebook's comparisons over student seeds have no interval (those over a "
             "chapter's teacher seeds still do): for those, run the chapter once with `-p seeds N`. Values are "
             "as in the results JSON (accuracies as fractions, differences `b − a`); a value alike in every "
             "run (a teacher all seeds share) shows as `= value`.", ""]  # fmt: skip
    for chapter in dict.fromkeys(r["chapter"] for r in rows):
        mine = [r for r in rows if r["chapter"] == chapter]
        columns = list(dict.fromkeys(m for r in mine for m in r["metrics"]))
        lines += [f"## {chapter}", "", "| configuration | n | " + " | ".join(columns) + " |"]
        lines.append("|---|---|" + "---|" * len(columns))
        for r in mine:
            cells = [_cell(c) if (c := r["metrics"].get(m)) else "" for m in columns]
            lines.append(f"| {r['configuration']} | {r['n']} | " + " | ".join(cells) + " |")
        lines.append("")
    (out / "summary.md").write_text("\n".join(lines))
    return rows


def _cell(summary: dict) -> str:
    """``"0.8712 ± 0.0021"``; ``"0.8712"`` for one seed (``± 0`` would claim a spread of zero); ``"= 0.8712"``
    where every seed's value is the same (a teacher they share: not a spread measured as zero)."""
    if summary["n"] > 1 and summary["std"] == 0:
        return f"= {summary['mean']:.4g}"
    return f"{summary['mean']:.4g}" + (f" ± {summary['std']:.2g}" if summary["n"] > 1 else "")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="kdcore-batch", description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+", help="notebook paths, chapter keys, or 'all'")
    parser.add_argument("--profile", help="smoke, book, paper, or gpu for chapters 1, 2 and 9 "
                        "(default: $KDCORE_PROFILE, else book)")  # fmt: skip
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter override; VALUE is parsed as YAML")  # fmt: skip
    parser.add_argument("--config", type=Path, help="YAML file: a mapping of overrides, or a list of them")
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds, one run each (default: the profile's)")
    parser.add_argument("--workers", type=int, default=1, help="runs executed at the same time (default: 1)")
    parser.add_argument("--threads", type=int, help="torch CPU threads per run (default: cores / workers)")
    parser.add_argument("--out", type=Path, default=Path("runs/batch"), help="output folder (default: runs/batch)")
    parser.add_argument("--book-dir", type=Path, default=Path("book"),
                        help="where chapter keys are looked up (default: book)")  # fmt: skip
    parser.add_argument("--cell-timeout", type=float, metavar="SECONDS",
                        help="fail a run whose cell runs longer than this (default: no limit)")  # fmt: skip
    parser.add_argument("--resume", action="store_true", help="skip runs whose results JSON already exists")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from tqdm import tqdm

    args = parse_args(argv)
    out = args.out.resolve()
    try:
        overrides = {name: yaml.safe_load(value) for name, value in args.param}
        configs = configurations(args.profile, overrides, args.config)
        runs = plan(find_notebooks(args.chapters, args.book_dir), configs, args.seeds, out)
    except (ParameterError, OSError, yaml.YAMLError) as e:
        print(f"kdcore-batch: {e}", file=sys.stderr)
        return 2
    todo = [r for r in runs if not (args.resume and (r.directory / f"{r.chapter}.json").is_file())]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
    print(f"{len(todo)} runs ({len(runs) - len(todo)} already done), {args.workers} workers → {out}", flush=True)
    # A configuration's first run trains (and caches) its teachers; its other seeds start after it, so
    # parallel workers do not train the same teacher side by side.
    groups: dict[tuple, list[Run]] = {}
    for run in todo:
        groups.setdefault((run.chapter, config_name(run.config)), []).append(run)
    failures, pending = {}, {}
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        submit = partial(pool.submit, execute, threads=threads, cell_timeout=args.cell_timeout)
        pending.update({submit(first): first for first, *_ in groups.values()})
        with tqdm(total=len(todo), desc="runs", unit="run") as bar:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    run = pending.pop(future)
                    group = groups[run.chapter, config_name(run.config)]
                    if run is group[0]:
                        pending.update({submit(other): other for other in group[1:]})
                    if error := future.result():
                        failures[run] = error
                        bar.set_postfix(failed=len(failures))
                        tqdm.write(f"FAILED {run.label}: {error.splitlines()[0]}")
                    bar.update()
    rows = summarize(runs, out)
    print(f"summary of {len(rows)} configurations: {out / 'summary.csv'}, {out / 'summary.md'}")
    if failures:
        print(f"\n{len(failures)} of {len(todo)} runs failed:", file=sys.stderr)
        for run, error in failures.items():
            print(f"- {run.label} ({run.directory / run.notebook.name}):\n    {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
