"""nbval gives the same verdict three times in a row: no timings, addresses or progress bars in checked cells.

The checked cells (first line ``# NBVAL_CHECK_OUTPUT``) are the worked examples on fixed tensors; nbval
compares their output with the output stored in the committed notebook, which came from another process
(``scripts/execute_chapters.py`` at the book profile). The main suite runs nbval over every chapter once.
Running whole chapters twice more would cost minutes on 2 cores, so this file runs the *checked cells* twice
more, each time in a fresh kernel (a new process: new addresses, new hash seed, so set order can change),
and adds static checks:

* one notebook is assembled from every chapter's cells up to its last checked cell (the template puts the
  worked examples before the experiment, so this is seconds of work), each chapter starting from a clean
  namespace in ``book/``, and ``pytest --nbval-lax`` runs it twice in a row; every checked cell must match
  the committed output both times. A control cell that prints an address is appended: it must fail both
  times, which shows that the comparison really happens. (A chapter whose checked cells have no stored
  output yet is left out of this run; the static check below reports it);
* every checked cell of every chapter has stored outputs (else nbval compares nothing), only text outputs,
  and none of the volatile patterns below in its stored output or in its source.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kdcore.batch import KERNEL_START_TIMEOUT
from kdcore.chapters import chapter_notebooks

BOOK = Path(__file__).resolve().parent.parent / "book"
CHECK = "# NBVAL_CHECK_OUTPUT"

# What changes from run to run, and must never reach a checked output.
VOLATILE_OUTPUT = {
    "a memory address": r"0x[0-9a-fA-F]{6,}",
    "an object repr with an address": r"<[\w.]+ object at ",
    "a duration": r"\b\d+(\.\d+)?\s?(s|ms|µs|us|ns|sec|secs|seconds|min|minutes)\b",
    "a progress bar": r"it/s|s/it|█|\d+%\||\[\d\d:\d\d<",
    "a carriage return (progress redraw)": r"\r",
    "a date or a clock time": r"\b\d{4}-\d\d-\d\d\b|\b\d\d:\d\d:\d\d\b",
    "a local path": r"/(tmp|home|root|Users)/",
}
VOLATILE_SOURCE = {
    "the clock": r"\btime\.(time|perf_counter|monotonic)\(|\bdatetime\b",
    "a progress bar": r"\btqdm\b",
    "an object id or a string hash (PYTHONHASHSEED)": r"\bid\(|\bhash\(",
    "an unseeded global RNG": r"\b(torch\.rand\w*|torch\.normal|np\.random\.\w+|random\.\w+)\((?![^)]*generator)",
}
SEEDING = r"\b(torch\.manual_seed|np\.random\.seed|random\.seed|seed_everything)\("
TEXT_OUTPUTS = {"text/plain", "text/markdown", "text/html", "text/latex"}


def is_checked(cell) -> bool:
    """A checked cell: tagged ``nbval-check-output`` (the chapters' form), or whose first line is the marker."""
    if cell.cell_type != "code":
        return False
    return "nbval-check-output" in cell.metadata.get("tags", []) or cell.source.split("\n", 1)[0].strip() == CHECK


def checked_cells(notebook: Path) -> list:
    return [c for c in nbformat.read(notebook, 4).cells if is_checked(c)]


def _output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    return "".join(
        v if isinstance(v, str) else "".join(v) for k, v in output.get("data", {}).items() if k in TEXT_OUTPUTS
    )


CHECKED = [(nb, i, cell) for nb in chapter_notebooks(BOOK) for i, cell in enumerate(checked_cells(nb))]


@pytest.mark.parametrize("notebook", chapter_notebooks(BOOK), ids=lambda p: p.name)
def test_every_chapter_has_a_checked_worked_example(notebook):
    assert checked_cells(notebook), f"{notebook.name}: no cell starts with {CHECK!r} (see CHAPTER.md, step 7)"


@pytest.mark.parametrize(("notebook", "index", "cell"), CHECKED, ids=[f"{nb.stem}-{i}" for nb, i, _ in CHECKED])
def test_checked_cells_hold_stable_text_only(notebook, index, cell):
    where = f"{notebook.name}, checked cell {index}"
    assert cell.outputs, f"{where}: no stored output, so nbval would compare nothing; execute the chapter"
    for output in cell.outputs:
        assert output.output_type in ("stream", "execute_result", "display_data"), f"{where}: {output.output_type}"
        if output.output_type == "stream":
            assert output.name == "stdout", f"{where}: writes to {output.name} (warnings are not stable)"
        else:
            kinds = set(output.get("data", {}))
            assert kinds and kinds <= TEXT_OUTPUTS | {"image/png"}, f"{where}: non-text output {sorted(kinds)}"
        text = _output_text(output)
        for what, pattern in VOLATILE_OUTPUT.items():
            assert not re.search(pattern, text), f"{where}: its output contains {what}: {text!r}"
    for what, pattern in VOLATILE_SOURCE.items():
        found = _volatile_use(pattern, cell.source)
        assert not found, f"{where}: its code uses {what} ({found.group(0)!r}); checked outputs must not vary"


def _volatile_use(pattern: str, source: str):
    """The first match of ``pattern`` in ``source``, unless it is a global-RNG draw after a seeding call."""
    found = re.search(pattern, source)
    if found and pattern == VOLATILE_SOURCE["an unseeded global RNG"]:
        seeded = re.search(SEEDING, source)
        if seeded and seeded.start() < found.start():  # seeded first: the draws are the same every run
            return None
    return found


def test_volatile_patterns_catch_what_they_are_meant_to():
    samples = {
        "a memory address": "<function f at 0x7f3a2b1c9d30>",
        "an object repr with an address": "<torch.utils.data.DataLoader object at 0x1>",
        "a duration": "epoch took 1.23 s",
        "a progress bar": "seeds: 100%|██████████| 5/5 [00:03<00:00,  1.52it/s]",
        "a carriage return (progress redraw)": "50%\r100%",
        "a date or a clock time": "written 2026-11-22 01:51:52",
        "a local path": "saved to /tmp/kd/run.json",
    }
    assert set(samples) == set(VOLATILE_OUTPUT)
    for what, text in samples.items():
        assert re.search(VOLATILE_OUTPUT[what], text), what
    fine = "T= 1: 0.045 0.000 0.017 0.004 0.028 0.000 0.905 0.000 0.002 0.000\nkdcore kd_loss: 0.358047 (5 seeds)"
    assert not any(re.search(p, fine) for p in VOLATILE_OUTPUT.values())
    assert re.search(VOLATILE_SOURCE["an unseeded global RNG"], "x = torch.randn(3)")
    assert not re.search(VOLATILE_SOURCE["an unseeded global RNG"], "x = torch.randn(3, generator=g)")
    rng = VOLATILE_SOURCE["an unseeded global RNG"]
    assert not _volatile_use(rng, "torch.manual_seed(0)\nx = torch.randn(3)")  # seeded first: stable
    assert _volatile_use(rng, "x = torch.randn(3)\ntorch.manual_seed(0)")  # drawn before seeding: not stable


def checked_prefix_notebook(notebooks: list[Path]) -> tuple[nbformat.NotebookNode, int]:
    """One notebook: for each chapter, a clean start in book/, then its code cells up to its last checked cell
    (the checked cells keep their committed outputs), and finally the control cell. Returns it and the number
    of checked cells it compares."""
    cells, checked = [], 0
    for notebook in notebooks:
        source = nbformat.read(notebook, 4)
        code = [c for c in source.cells if c.cell_type == "code"]
        last = max((i for i, c in enumerate(code) if is_checked(c)), default=-1)
        if last < 0 or not all(c.outputs for c in code if is_checked(c)):
            continue  # not executed yet: test_checked_cells_hold_stable_text_only reports it
        cells.append(nbformat.v4.new_code_cell(f"%reset -f\nimport os\nos.chdir({str(BOOK)!r})  # {notebook.name}"))
        for cell in code[: last + 1]:
            new = nbformat.v4.new_code_cell(cell.source, metadata={"tags": cell.metadata.get("tags", [])})
            if is_checked(cell):
                new.outputs, new.execution_count, checked = cell.outputs, 1, checked + 1  # nbval needs a count
            cells.append(new)
    control = nbformat.v4.new_code_cell(f"{CHECK}\nprint(object())  # control: differs in every process")
    control.outputs = [nbformat.v4.new_output("stream", name="stdout", text="<object object at 0x0>\n")]
    control.execution_count = 1
    cells.append(control)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb, checked


@pytest.mark.slow
def test_nbval_passes_on_every_checked_cell_twice_more_in_fresh_kernels(tmp_path):
    nb, checked = checked_prefix_notebook(chapter_notebooks(BOOK))
    assert checked >= 1
    path = tmp_path / "checked_cells.ipynb"
    nbformat.write(nb, path)
    control = f"checked_cells.ipynb::Cell {len(nb.cells) - 1}"
    env = {**os.environ, "KDCORE_PROFILE": "smoke", "KDCORE_THREADS": "1", "KDCORE_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider", "--nbval-lax",
               "--nbval-current-env", "--nbval-cell-timeout=300",
               f"--nbval-kernel-startup-timeout={KERNEL_START_TIMEOUT}", "--durations=5", path.name]  # fmt: skip
    for run in (2, 3):  # run 1 is the main suite's nbval over book/
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        failed = re.findall(r"^FAILED (\S+::Cell \d+)", result.stdout, flags=re.MULTILINE)
        assert failed == [control], f"nbval run {run}: cells other than the control differ:\n{result.stdout[-6000:]}"
        assert f"{len(nb.cells) - 1} passed" in result.stdout, result.stdout[-3000:]
