"""kdcore.batch: planning and validation (fast), and real papermill batches at the smoke profile (slow)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from kdcore.batch import Run, config_name, configurations, main, metrics, plan, summarize
from kdcore.chapters import chapter_notebooks
from kdcore.params import ParameterError

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
CHAPTERS = {"kd_basics": BOOK / "01_kd_basics.ipynb", "prue": BOOK / "05_prue.ipynb"}  # two cheap chapters at smoke


def batch(*args, cwd=ROOT, cell_timeout=300):
    """Run the CLI as a user would (``python -m kdcore.batch``); return the completed process.

    A smoke cell takes seconds: the cell timeout turns a stuck kernel into a listed failure, not a stuck suite.
    """
    return subprocess.run(
        [sys.executable, "-m", "kdcore.batch", *map(str, args), "--cell-timeout", str(cell_timeout)],
        cwd=cwd, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_metrics_rule_takes_numeric_leaves_and_summary_means():
    record = {
        "results": {
            "teacher": {"arch": "mlp-64", "test_acc": 0.9},
            "students": {"KD": {"test_acc": {"mean": 0.8, "std": 0.0, "n": 1, "values": [0.8]}}},
            "kd_minus_ce": {"diff": -0.01, "ci": [-0.01, -0.01], "verdict": "within noise"},
            "flag": True,
            "runs": {
                "CE": [
                    {"seed": 0, "test_acc": 0.7, "val_curve": [0.5, 0.6], "seconds": 3.0},
                    {"seed": 1, "test_acc": 0.8, "seconds": None},
                ]
            },  # a run without a timing
            "comparisons": [
                {"a": "CE", "b": "KD", "regime": "few", "diff": 0.03, "p": 0.001, "ci": [0.01, 0.05]},
                {"a": "CE", "b": "KD", "diff": -0.01, "p": 0.6, "ci": None},
                # told apart by their setting (chapter 8's students), or by nothing but their place
                {"a": "KD", "b": "KR", "setting": "main", "diff": 0.001},
                {"a": "KD", "b": "KR", "setting": "small", "diff": 0.002},
                {"a": "KD", "b": "TA", "diff": 0.004},
                {"a": "KD", "b": "TA", "diff": 0.005},
            ],
            "sweep": [
                {"sparsity": 0.5, "test_acc": 0.85, "layers": [{"layer": "fc1", "kept": 0.5}]},  # details: left out
                {"sparsity": 0.9, "test_acc": 0.8},
            ],
            "lineages": [{"seed": 0, "lineage": 0, "test_acc": 0.7}, {"seed": 1, "lineage": 1, "test_acc": 0.9}],
        },
        "seconds": 12.5,
    }
    assert metrics(record) == {
        "teacher/test_acc": 0.9,
        "students/KD/test_acc": 0.8,
        "kd_minus_ce/diff": -0.01,
        # a list of run records: each number averaged over the runs (curves and the seeds themselves skipped)
        "runs/CE/test_acc": 0.75,  # "seconds" is not a number in every run: left out, not a KeyError
        # a family of comparisons: each one's difference, by name, never averaged with the others
        "comparisons/few: KD − CE/diff": 0.03,
        "comparisons/KD − CE/diff": -0.01,
        "comparisons/main: KR − KD/diff": 0.001,
        "comparisons/small: KR − KD/diff": 0.002,
        "comparisons/TA − KD #4/diff": 0.004,
        "comparisons/TA − KD #5/diff": 0.005,
        "lineages/test_acc": 0.8,  # a lineage is which run it is, like a seed: not averaged
        # a sweep: each point by position
        "sweep/0/sparsity": 0.5,
        "sweep/0/test_acc": 0.85,
        "sweep/1/sparsity": 0.9,
        "sweep/1/test_acc": 0.8,
        "seconds": 12.5,
    }


def test_configuration_names_are_readable_and_unique():
    a = config_name({"profile": "smoke", "temperature": 2})
    b = config_name({"profile": "smoke", "temperature": 2.0001})
    assert a.startswith("profile=smoke_temperature=2-") and a != b
    assert config_name({"profile": "smoke", "sparsities": [0.5, 0.9]}).startswith("profile=smoke_sparsities=_0.5_0.9")


def test_yaml_sweep_file_with_command_line_overrides_on_top(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("- {temperature: 2, w_kd: 0.5}\n- {temperature: 8}\n")
    configs = configurations("smoke", {"w_ce": 0.3}, sweep)
    assert configs == [
        {"profile": "smoke", "temperature": 2, "w_kd": 0.5, "w_ce": 0.3},
        {"profile": "smoke", "temperature": 8, "w_ce": 0.3},
    ]


def test_plan_validates_every_run_and_keys_folders_by_chapter_config_seed(tmp_path):
    notebooks = {CHAPTERS["kd_basics"]: "kd_basics"}
    runs = plan(notebooks, [{"profile": "smoke", "temperature": 2}], None, tmp_path)
    assert [r.seed for r in runs] == [0, 1]  # the smoke profile's two seeds
    assert runs[1].directory == tmp_path / "kd_basics" / config_name(runs[1].config) / "seed-1"
    with pytest.raises(ParameterError, match="temperature"):
        plan(notebooks, [{"profile": "smoke", "temperature": -1}], [0], tmp_path)


def test_a_typo_fails_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "out"
    code = main([str(CHAPTERS["kd_basics"]), "--profile", "smoke", "-p", "temperatur", "2", "--out", str(out)])
    assert code == 2
    assert "temperatur" in capsys.readouterr().err
    assert not out.exists()


def test_the_paper_profile_on_a_cpu_is_refused_at_planning_once(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    code = main([str(CHAPTERS["kd_basics"]), "--profile", "paper", "--seeds", "0", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("is not allowed at the paper profile") == 1 and "-p allow_cpu True" in err
    assert not out.exists()  # no kernel started
    notebooks = {CHAPTERS["kd_basics"]: "kd_basics"}
    assert len(plan(notebooks, [{"profile": "paper", "allow_cpu": True}], [0], tmp_path)) == 1  # asked for


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_two_chapters_two_seeds_at_smoke_profile_make_one_table(tmp_path):
    out = tmp_path / "runs"
    done = batch(*CHAPTERS.values(), "--profile", "smoke", "--seeds", 0, 1, "--workers", 2, "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["chapter"]: r for r in read_csv(out / "summary.csv")}
    assert sorted(rows) == sorted(CHAPTERS)  # one row per (chapter, configuration)
    for chapter, row in rows.items():
        assert row["configuration"] == "profile=smoke" and row["n"] == "2"
        records = []
        for seed in (0, 1):
            folder = out / chapter / config_name({"profile": "smoke"}) / f"seed-{seed}"
            records.append(json.loads((folder / f"{chapter}.json").read_text()))
            assert records[-1]["params"]["seeds"] == [seed] and records[-1]["params"]["profile"] == "smoke"
            assert (folder / CHAPTERS[chapter].name).is_file()  # the executed notebook
        values = [metrics(r) for r in records]
        name = next(n for n in values[0] if n.startswith("runs/") and n.endswith("/test_acc"))
        assert float(row[f"{name} mean"]) == pytest.approx((values[0][name] + values[1][name]) / 2)
        assert float(row[f"{name} std"]) == pytest.approx(abs(values[0][name] - values[1][name]) / 2**0.5)
    markdown = (out / "summary.md").read_text()
    assert "## kd_basics" in markdown and "## prue" in markdown
    assert markdown.count("| profile=smoke | 2 |") == 2


def fails_on_seed_1(failure: str) -> list:
    """A one-cell chapter (chapter 1's key) that writes its results JSON, except for seed 1, which runs ``failure``."""
    return [
        nbformat.v4.new_markdown_cell("# A chapter that fails for one seed"),
        nbformat.v4.new_code_cell(
            'import os\nprofile = os.environ.get("KDCORE_PROFILE", "book")\nseeds = None\noutput_dir = None',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "from pathlib import Path\n"
            "from kdcore.params import from_namespace\n"
            "from kdcore.record import write_results\n"
            'P = from_namespace("kd_basics", globals())\n'
            "if P.seeds == [1]:\n"
            f"    {failure}\n"
            'path = Path(P.output_dir) / "kd_basics.json"\n'
            'write_results(path, "kd_basics", P.as_dict(), {"acc": 0.5 + P.seeds[0]}, 0.0)'
        ),
    ]


def write_chapter(path: Path, cells: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=kernel), path)
    return path


@pytest.mark.slow
def test_a_failing_run_is_listed_the_others_complete_and_the_exit_code_is_nonzero(tmp_path):
    cells = fails_on_seed_1('raise RuntimeError("deliberate failure for seed 1")')
    notebook = write_chapter(tmp_path / "book" / "99_raises.ipynb", cells)
    out = tmp_path / "runs"
    done = batch(notebook, "--profile", "smoke", "--seeds", 0, 1, "--workers", 2, "--out", out)
    assert done.returncode == 1
    assert "1 of 2 runs failed" in done.stderr
    assert "kd_basics [profile=smoke] seed 1" in done.stderr and "deliberate failure for seed 1" in done.stderr
    folder = out / "kd_basics" / config_name({"profile": "smoke"})
    assert (folder / "seed-1" / "99_raises.ipynb").is_file()  # the executed notebook, with its traceback
    (row,) = read_csv(out / "summary.csv")
    assert row["n"] == "1" and float(row["acc mean"]) == 0.5  # seed 0's run completed


@pytest.mark.slow
def test_a_cell_over_the_cell_timeout_is_a_listed_failure_not_a_stuck_batch(tmp_path):
    notebook = write_chapter(tmp_path / "book" / "99_sleeps.ipynb", fails_on_seed_1("import time; time.sleep(600)"))
    out = tmp_path / "runs"
    done = batch(notebook, "--profile", "smoke", "--seeds", 0, 1, "--workers", 2, "--out", out, cell_timeout=20)
    assert done.returncode == 1
    assert "1 of 2 runs failed" in done.stderr
    assert "kd_basics [profile=smoke] seed 1" in done.stderr and "timed out" in done.stderr.lower()
    assert (out / "kd_basics" / config_name({"profile": "smoke"}) / "seed-0" / "kd_basics.json").is_file()


def test_chapter_notebooks_are_the_numbered_chapters_in_order_without_leftovers(tmp_path):
    for name in ("02_b.ipynb", "01_a.ipynb", "01_a.executing.ipynb", "intro.ipynb", "1_c.ipynb"):
        (tmp_path / name).write_text("{}")
    assert chapter_notebooks(tmp_path) == [tmp_path / "01_a.ipynb", tmp_path / "02_b.ipynb"]


def test_the_summary_gives_one_seed_its_value_alone_and_several_their_mean_and_std(tmp_path):
    runs = []
    for seed, acc in ((0, 0.8), (1, 0.9)):
        for config in ({"profile": "smoke"}, {"profile": "book"}):
            folder = tmp_path / config["profile"] / f"seed-{seed}"
            folder.mkdir(parents=True)
            record = {"results": {"acc": acc, "teacher_acc": 0.9}, "seconds": 1.0}  # one teacher for all seeds
            (folder / "kd_basics.json").write_text(json.dumps(record))
            if config["profile"] == "smoke" or seed == 0:  # the book configuration ran one seed
                runs.append(Run("kd_basics", Path("x.ipynb"), config, seed, folder))
    summarize(runs, tmp_path / "out")
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert "| profile=smoke | 2 | 0.85 ± 0.071 | = 0.9 |" in markdown  # mean ± sample std; the shared teacher
    assert "| profile=book | 1 | 0.8 | 0.9 |" in markdown  # no "± 0": one seed has no spread to estimate
    assert "not a confidence interval" in markdown  # what ± is, said once
    rows = {r["configuration"]: r for r in read_csv(tmp_path / "out" / "summary.csv")}
    assert rows["profile=book"]["acc std"] == "" and float(rows["profile=smoke"]["acc std"]) > 0
