"""The device check (scripts/gpu_check.py) runs end to end at tiny size on CPU, so the rare GPU window is spent
measuring, not debugging. Its own pytest step is skipped here: CI runs those tests anyway.

The same run's output is then imported into a copy of the book (scripts/import_gpu_run.py), as a session
lent a GPU would import the real one: the `gpu` profile's chapters become the part "At CNN scale"."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from gpu_check import STEPS, book_scale, scaled_epochs

from kdcore.chapters import chapter_key, chapter_notebooks


@pytest.fixture(scope="module")
def device_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpu_check")
    command = [sys.executable, "scripts/gpu_check.py", "--out", str(out), "--tiny", "--chapters", "01_kd_basics",
               "02_capacity_gap", "--skip", "tests", "--fold-bn", "--compile", "default"]  # fmt: skip
    # as on the device image, which has no ipywidgets: tqdm's progress is text on stderr there (the training
    # logs the copies fold), not the widgets it draws in a kernel that can import ipywidgets
    shadow = tmp_path_factory.mktemp("no-ipywidgets")
    (shadow / "ipywidgets.py").write_text('raise ImportError("the device image has no ipywidgets")\n')
    path = os.pathsep.join(filter(None, (str(shadow), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KDCORE_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
           "PYTHONPATH": path}  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1500, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_gpu_check_tiny_on_cpu_writes_every_step(device_run):
    report = json.loads((device_run / "gpu_check.json").read_text())
    assert report["environment"]["device"] == "cpu"
    assert report["kd_throughput"]["exit"] == 0 and report["kd_throughput"]["json"]["ratio_c_a"] > 0
    assert report["kd_throughput_compile"] == {"skipped": "no compile on CPU"}
    kd = report["compile_objectives"]["json"]["objectives"]["kd"]  # --tiny: KD alone, compiled on the CPU
    assert kd["compiled"]["first_epoch_loss"] == pytest.approx(kd["eager"]["first_epoch_loss"], rel=1e-4)
    assert kd["compiled, next seed"]["graphs_compiled"] == 0  # the next seed reuses the compiled graph
    step = report["chapter_kd_step"]  # each batch size really ran at that size (the first H200 run's did not)
    assert set(step["images_per_s"]) == {"32", "64"} and all(v > 0 for v in step["images_per_s"].values())
    assert step["steps_per_epoch"] == {"32": 16, "64": 8}
    assert set(step["images_per_s_fold_bn"]) == {"32", "64"}  # --fold-bn: the same step, teacher folded
    assert set(step["images_per_s_compiled"]) == set(step["compile_seconds"]) == {"32", "64"}  # --compile
    for profile in ("paper", "gpu"):  # every network of the profile's cost plan, timed training and forward
        plan = json.loads((ROOT / "benchmarks" / "plan" / f"{profile}.json").read_text())
        archs = {r["arch"] for c in plan["chapters"].values() for r in c["rows"] if r["kind"] == "train"}
        rates = report[f"{profile}_throughputs"]["json"]
        assert archs <= set(rates["train"]) and all(v > 0 for a in rates["train"].values() for v in a.values())
    assert report["gpu_throughputs"]["projected_gpu_book_seconds"] > 0
    assert report["gpu_throughputs"]["overhead_gpu_book_seconds"] > 0
    chapters = report["chapters"]
    assert [c["chapter"] for c in chapters] == ["01_kd_basics.ipynb", "02_capacity_gap.ipynb"]
    assert all(c["ok"] for c in chapters), [c["tail"][-800:] for c in chapters if not c["ok"]]
    assert chapters[1]["parameters"]["stop_epoch"] < chapters[1]["parameters"]["confident_epochs"]
    # chapter 2's networks are the paper's families (at tiny size), not the smoke profile's MLPs
    assert {chapters[1]["parameters"][k] for k in ("confident_teacher", "small_teacher", "assistant")} == {"resnet8"}
    assert all(c["parameters"]["profile"] == "paper" for c in chapters)
    assert chapters[0]["parameters"]["dataset"] == "synthetic-cifar100"
    # at most 8 files come back from the device: the report and the gpu profile's 3 notebooks, 3 JSON, run.json
    files = sorted(str(p.relative_to(device_run)) for p in device_run.rglob("*") if p.is_file())
    assert len(files) <= 8 and "gpu_check.json" in files, files


@pytest.mark.slow
def test_gpu_book_runs_every_gpu_chapter_at_the_gpu_profile(device_run):
    book = json.loads((device_run / "gpu" / "run.json").read_text())
    assert list(book["chapters"]) == ["01_kd_basics.ipynb", "02_capacity_gap.ipynb", "09_comparison.ipynb"]
    for name, run in book["chapters"].items():
        results = json.loads((device_run / "gpu" / f"{run['chapter']}.json").read_text())
        assert results["params"]["profile"] == "gpu" and results["params"]["augment"] is True
        nb = nbformat.read(device_run / "gpu" / name, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors
    comparison = json.loads((device_run / "gpu" / "comparison.json").read_text())
    assert set(comparison["params"]["methods"]) >= {"prue", "imp", "kr", "icc", "tolerant"}  # every method


def test_scaled_epochs_keep_the_early_stop_early():
    values = {"teacher_epochs": 30, "confident_epochs": 60, "stop_epoch": 30, "student_epochs": 20, "lr": 0.2}
    assert scaled_epochs(values, 0.5) == {"teacher_epochs": 15, "confident_epochs": 30, "stop_epoch": 15,
                                          "student_epochs": 10}  # fmt: skip
    tiny = scaled_epochs(values, 0.01)
    assert tiny["stop_epoch"] == 1 and tiny["confident_epochs"] == 2 and tiny["student_epochs"] == 1
    assert scaled_epochs(values, 0.995) == {}  # rounds back to the profile's: nothing to override
    assert scaled_epochs(values, 0.9) == {"teacher_epochs": 27, "confident_epochs": 54, "stop_epoch": 27,
                                          "student_epochs": 18}  # fmt: skip


@pytest.mark.slow
def test_import_makes_the_cnn_scale_part(device_run, tmp_path):
    for name in ("book", "benchmarks"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("results"))
    for name in ("_toc.yml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    # as a lent session makes it: call 1 (everything but gpu_book), then call 2 (gpu_throughputs, gpu_book)
    report = json.loads((device_run / "gpu_check.json").read_text())
    second = {"environment", "gpu_throughputs", "gpu_book"}
    calls = [tmp_path / "call1", tmp_path / "call2"]
    for call, steps in zip(calls, ({k: v for k, v in report.items() if k not in second - {"environment"}},
                                   {k: v for k, v in report.items() if k in second})):  # fmt: skip
        call.mkdir()
        (call / "gpu_check.json").write_text(json.dumps(steps))
    shutil.copytree(device_run / "gpu", calls[1] / "gpu")
    for call in calls:
        done = subprocess.run([sys.executable, "scripts/import_gpu_run.py", str(call), "--commit", "0123456789abcdef",
                               "--root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        assert done.returncode == 0, done.stderr
    toc = yaml.safe_load((tmp_path / "_toc.yml").read_text())
    parts = {p["caption"]: [c["file"] for c in p["chapters"]] for p in toc["parts"]}
    assert parts["At CNN scale"] == [f"book/results/gpu/{n}" for n in ("01_kd_basics", "02_capacity_gap",
                                                                        "09_comparison")]  # fmt: skip
    assert list(parts)[-1] == "Appendix" and "book/gpu_measurements" in parts["Appendix"]
    gpu = tmp_path / "book" / "results" / "gpu"
    run = json.loads((device_run / "gpu" / "run.json").read_text())
    for name in ("01_kd_basics", "02_capacity_gap", "09_comparison"):
        markdown, original = (
            "\n".join(c.source for c in nbformat.read(folder / f"{name}.ipynb", 4).cells if c.cell_type == "markdown")
            for folder in (gpu, ROOT / "book")
        )
        assert markdown.splitlines()[0] == f"# {original.splitlines()[0][2:].split(':')[0]}, at CNN scale"
        assert f"Executed on **{run['environment']['device']}**" in markdown and "commit `0123456789ab`" in markdown
        assert ("after [chapter 1](01_kd_basics.ipynb) and [chapter 2]" in markdown) == (name == "09_comparison")
        for label in re.findall(r":name:\s*(\S+)", original):  # figure labels unique in the book
            assert f":name: gpu-{label}" in markdown and f":name: {label}\n" not in markdown
        # table labels, which the outputs define (report.table(name=…)), too: prefixed in the copy's outputs
        outputs = [nbformat.read(folder / f"{name}.ipynb", 4).cells for folder in (gpu, ROOT / "book")]
        tables = [{m for c in cells if c.cell_type == "code" for o in c.outputs
                   for m in re.findall(r'data-name="([^"]+)"', str(o.get("data", {}).get("text/html", "")))}
                  for cells in outputs]  # fmt: skip
        assert tables[0] and all(t.startswith("gpu-") for t in tables[0]), tables[0]
        assert {t.removeprefix("gpu-") for t in tables[0]} <= tables[1]  # the chapter's, relabelled
        # a reference to the copy's own figure or table goes to the copy's; one to another chapter's stays
        own = set(re.findall(r":name:\s*(\S+)", original)) | tables[1]
        refs = re.findall(r"\{numref\}`(?:[^`<]*<)?([^`>]+)", markdown)
        assert refs and not [r for r in refs if r in own], refs
        for link in re.findall(r"\]\((?!https?:|#)([^)\s#]+)", markdown):  # every relative link still resolves
            assert (gpu / link).resolve().exists() or not re.search(r"[./]", link), link  # or names a label
        assert (gpu / f"{run['chapters'][name + '.ipynb']['chapter']}.json").exists()
        install = next(c.source for c in nbformat.read(gpu / f"{name}.ipynb", 4).cells if c.cell_type == "code")
        assert f'@{yaml.safe_load((ROOT / "_config.yml").read_text())["kdcore_ref"]}"' in install  # not the run's
    appendix = (tmp_path / "book" / "gpu_measurements.md").read_text()
    assert f"{report['kd_throughput']['json']['ratio_c_a']:.2f}" in appendix  # call 1's, kept after call 2
    ran = ", ".join(f"[chapter {int(n[:2])}](results/gpu/{n}.ipynb)" for n in ("01_kd_basics", "02_capacity_gap"))
    assert f"The `gpu` profile's {ran} and [chapter 9](results/gpu/09_comparison.ipynb) were projected at" in appendix
    assert "## What the paper profile costs" in appendix and "| **every chapter** |" in appendix
    assert "## kdcore's speed targets, as measured" in appendix
    assert "| (c) ÷ (a), images/s, without compile | ≥ 10 |" in appendix
    # what the tiny run did not measure, and why: its pytest step is skipped here, and compile on the CPU
    assert "| `tests` | no record: the step never ran" in appendix
    assert "| `kd_throughput_compile` | skipped: no compile on CPU |" in appendix
    assert "## Every objective compiled (mode `default`), resnet8 → resnet8, batch 64" in appendix
    assert re.search(r"\n\| kd \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \|", appendix)  # KD's row, measured
    for readme in (tmp_path / "README.md", tmp_path / "benchmarks" / "README.md"):  # the cost table filled in
        table = readme.read_text().split("<!-- cost-table:start -->")[1].split("<!-- cost-table:end -->")[0]
        assert "Not measured yet" not in table and "| **every chapter** |" in table, readme
    first_cell = nbformat.read(tmp_path / "book" / "05_prue.ipynb", 4).cells
    assert "Paper profile" in next(c.source for c in first_cell if c.cell_type == "markdown")
    record = json.loads((tmp_path / "benchmarks" / "results" / "gpu_check.json").read_text())
    assert [c["steps"] for c in record.pop("calls")] == [[s for s in STEPS if s in report and s not in second],
                                                         ["gpu_throughputs", "gpu_book"]]  # fmt: skip
    assert record == report
    # the comparison's side-by-side section (tagged book-profile-only) is the book page's, not the copy's
    copy = nbformat.read(gpu / "09_comparison.ipynb", 4).cells
    book_only = [c.id for c in nbformat.read(ROOT / "book" / "09_comparison.ipynb", 4).cells
                 if "book-profile-only" in c.metadata.get("tags", [])]  # fmt: skip
    assert "cell-cnn-scale-prose" in book_only and not {c.id for c in copy} & set(book_only)
    assert f"Left out of this copy: {len(book_only)} cells" in copy[0].source + copy[1].source
    folds = []
    for cell in (c for c in copy if c.cell_type == "code"):  # training logs behind a toggle, as a terminal left them
        if cell.outputs and all(o.get("name") == "stderr" for o in cell.outputs):
            assert {"hide-output", "hide-cell"} & set(cell.metadata.tags)
            assert not any("\r" in o.text for o in cell.outputs)
            # one button folds both where the chapter folds the code too: its label says so
            both = "hide-cell" in cell.metadata.tags
            assert not {"hide-input", "hide-output"} <= set(cell.metadata.tags)  # two buttons, one label
            assert cell.metadata.mystnb["code_prompt_show"].endswith(", with its training log") == both
            folds.append(both)
    assert True in folds  # ch. 9's teachers cell folds its code too (the other kind: the test below)


def test_a_copied_training_log_folds_under_a_button_that_says_what_it_shows():
    """A run's training log folds (``hide-output``); where the chapter folds the cell's code too, both fold
    behind one button (``hide-cell``: hide-input and hide-output would make two, with one label), whose label
    then keeps the chapter's words and adds the log."""
    from import_gpu_run import TRAINING_LOG, presented_as_in_chapter

    v4 = nbformat.v4
    folded_code = v4.new_code_cell("recipes = 1", id="a", metadata={
        "tags": ["hide-input"], "mystnb": {"code_prompt_show": "Show the recipes"}})  # fmt: skip
    chapter = v4.new_notebook(cells=[folded_code, v4.new_code_cell("x = 1", id="b")])
    logs = [v4.new_code_cell(source, id=i, metadata={"tags": ["hide-output"], "mystnb": dict(TRAINING_LOG)})
            for i, source in (("a", "recipes = 1"), ("b", "x = 1"))]  # fmt: skip
    presented_as_in_chapter(logs, chapter, "gpu")
    both = {"code_prompt_show": "Show the recipes, with its training log", "code_prompt_hide": "Hide the cell"}
    assert logs[0].metadata == {"tags": ["hide-cell"], "mystnb": both}
    assert logs[1].metadata == {"tags": ["hide-output"], "mystnb": TRAINING_LOG}
    assert logs[1].metadata.mystnb is not TRAINING_LOG  # a copy: editing one cell's label changes no other
    presented_as_in_chapter(logs, chapter, "gpu")  # a re-render finds the log by its label and keeps both folds
    assert logs[0].metadata.tags == ["hide-cell"] and logs[1].metadata.tags == ["hide-output"]


def test_a_copied_cell_whose_code_the_chapter_has_changed_since_is_folded_and_says_so():
    """A run keeps the code it ran; where the chapter's cell has changed since, the prose may describe the new
    layout ("behind the button"), so the run's version folds under a label that says whose code it is."""
    from import_gpu_run import OLDER, RUN_CODE, TRAINING_LOG, presented_as_in_chapter

    v4 = nbformat.v4
    names = {"tags": ["hide-input"], "mystnb": {"code_prompt_show": "Show the names"}}
    chapter = v4.new_notebook(cells=[v4.new_code_cell("train(new=True)", id="a"),
                                     v4.new_code_cell("names = 1", id="b", metadata=names),
                                     v4.new_code_cell("same = 1", id="c")])  # fmt: skip
    log = {"tags": ["hide-output"], "mystnb": dict(TRAINING_LOG)}
    stale = {"mystnb": {"code_prompt_show": "an older label"}}
    run = [v4.new_code_cell("setup()\ntrain()", id="a", metadata=log),
           v4.new_code_cell("names = 1\nloop()", id="b"),
           v4.new_code_cell("same =  1\n", id="c", metadata=stale)]  # fmt: skip
    for _ in range(2):  # a re-render finds the same
        presented_as_in_chapter(run, chapter, "gpu")
        assert run[0].metadata.tags == ["hide-cell"]  # its code and its log behind one button
        assert run[0].metadata.mystnb["code_prompt_show"] == RUN_CODE + OLDER + ", with its training log"
        assert run[1].metadata.tags == ["hide-input"]
        assert run[1].metadata.mystnb["code_prompt_show"] == "Show the names" + OLDER
        # the chapter's own code (spaced otherwise): as it is, without a label the chapter's cell does not have
        assert run[2].metadata.get("tags", []) == [] and "mystnb" not in run[2].metadata


def test_import_refuses_a_folder_that_holds_no_run(tmp_path):
    (tmp_path / "gpu").mkdir()  # e.g. RUN_DIR/gpu passed instead of RUN_DIR
    done = subprocess.run([sys.executable, "scripts/import_gpu_run.py", str(tmp_path / "gpu"), "--commit", "0123abc",
                           "--root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and "holds neither gpu/run.json nor gpu_check.json" in done.stderr


def test_calls_merge_into_one_record_per_device(tmp_path):
    """A later session's calls keep the steps it did not run from the earlier ones, and say which call ran which."""
    from import_gpu_run import call_of, merged

    path = tmp_path / "gpu_check.json"
    h200 = {"device": "NVIDIA H200", "torch": "2.11.0"}
    path.write_text(json.dumps(merged(path, {"environment": {**h200, "started": "day 1"}, "tests": 1, "gpu_book": 2},
                                      "aaa")))  # fmt: skip
    record = merged(path, {"environment": {**h200, "started": "day 2"}, "gpu_book": 3}, "bbb")
    assert record["tests"] == 1 and record["gpu_book"] == 3
    assert [(c["commit"], c["steps"]) for c in record["calls"]] == [("aaa", ["tests"]), ("bbb", ["gpu_book"])]
    assert call_of(record, "gpu_book")["started"] == "day 2"
    h100 = {"environment": {"device": "NVIDIA H100", "torch": "2.11.0", "started": "day 3"}, "gpu_book": 4}
    assert merged(path, h100, "ccc") == {
        **h100,
        "calls": [{"started": "day 3", "commit": "ccc", "steps": ["gpu_book"]}],
    }


def test_the_gpu_chapters_shrink_only_when_their_projection_does_not_fit():
    assert book_scale(seconds_left=420, projected=200, margin=1.5) == 1.0  # 300 s fit: the profile as it is
    assert book_scale(seconds_left=420, projected=560, margin=1.5) == pytest.approx(0.5)


@pytest.mark.slow
def test_a_later_call_can_reuse_the_measured_throughputs(device_run, tmp_path):
    """--reuse-throughputs: a second call on the same kind of device skips the timing it has (22 s on an H200)."""
    command = [sys.executable, "scripts/gpu_check.py", "--out", str(tmp_path), "--tiny", "--only", "gpu_throughputs",
               "--reuse-throughputs", str(device_run / "gpu_check.json")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    first = json.loads((device_run / "gpu_check.json").read_text())["gpu_throughputs"]
    again = json.loads((tmp_path / "gpu_check.json").read_text())["gpu_throughputs"]
    assert again["json"] == first["json"] and again["reused_from"] == first["json"]["measured"]
    assert again["projected_gpu_book_seconds"] == pytest.approx(first["projected_gpu_book_seconds"])


def test_the_fixed_overhead_does_not_shrink_with_the_epochs():
    # 420 s / 1.5 = 280 s; 80 s of overhead leaves 200 s for 400 s of training: half the epochs
    assert book_scale(seconds_left=420, projected=400, margin=1.5, overhead=80) == pytest.approx(0.5)
    assert book_scale(seconds_left=420, projected=400, margin=1.5, overhead=300) < 0  # not even the overhead fits


def test_not_measured_says_why():
    from import_gpu_run import not_measured

    assert not_measured({"exit": 0, "tail": "ok"}) is None and not_measured([{"ok": True}]) is None
    assert not_measured(None).startswith("no record")
    assert not_measured({"skipped": "no compile on CPU"}) == "skipped: no compile on CPU"
    assert "RuntimeError: boom" in not_measured({"exit": 1, "tail": "Traceback\nRuntimeError: boom\n"})


def test_the_appendix_names_the_chapters_gpu_book_ran():
    from import_gpu_run import gpu_book_sentence

    book = {"chapters": ["capacity_gap", "comparison"], "seconds": 540, "scale": 1.0, "overrides": {}}
    check = {"gpu_throughputs": {"projected_gpu_book_seconds": 420, "overhead_gpu_book_seconds": 60}, "gpu_book": book}
    sentence = gpu_book_sentence(check, ROOT / "book")
    assert sentence.startswith("The `gpu` profile's [chapter 2](results/gpu/02_capacity_gap.ipynb) and "
                               "[chapter 9](results/gpu/09_comparison.ipynb) were projected at 7.0 min")  # fmt: skip
    assert "ran in 9.0 min (step `gpu_book`), at the profile's epochs." in sentence
    del check["gpu_book"]["chapters"]  # a record from before the step said which: it ran all three
    assert "[chapter 1](results/gpu/01_kd_basics.ipynb), [chapter 2]" in gpu_book_sentence(check, ROOT / "book")


def test_the_chapters_step_is_compared_with_the_fast_path_run_the_same_way():
    from import_gpu_run import targets

    def kd(compile_, a, sweep):
        args = {"compile": compile_, "recipe_images": 50_000, "recipe_epochs": 240}
        return {"json": {"args": args, "images_per_s": {"a": a, "c": max(sweep.values()), "sweep": sweep},
                         "ratio_c_a": max(sweep.values()) / a}}  # fmt: skip

    check = {
        "kd_throughput": kd(False, 5000, {"64": 5000}),
        "kd_throughput_compile": kd("reduce-overhead", 5000, {"64": 20000}),
        "chapter_kd_step": {"images_per_s": {"64": 4000}, "images_per_s_compiled": {"64": 16000},
                            "compile": "reduce-overhead"},
    }  # fmt: skip
    rows = [r for r in targets(check) if "chapters' KD step" in r]
    assert [r.split(" | ")[2] for r in rows] == ["1.25", "1.25"]  # eager with eager, CUDA graphs with CUDA graphs
    check["chapter_kd_step"]["compile"] = "default"  # compiled another way than the fast path: no comparison
    assert [r.split(" | ")[2] for r in targets(check) if "chapters' KD step" in r] == ["1.25"]


def test_the_appendix_compares_compiled_and_eager_throughput_in_images_per_second_not_by_each_runs_baseline():
    from import_gpu_run import both_baselines

    def kd(a, b, c):
        return {"json": {"images_per_s": {"a": a, "b": b, "c": c}}}

    check = {"kd_throughput": kd(5000, 5500, 60000), "kd_throughput_compile": kd(4000, 19800, 84000)}
    (sentence,) = [line for line in both_baselines(check) if line]
    assert "5,000 images/s in the first, 4,000 in the second" in sentence
    assert "(b) went from 5,500 to 19,800 (× 3.6), (c) from 60,000 to 84,000 (× 1.4)" in sentence
    del check["kd_throughput_compile"]
    assert both_baselines(check) == []


def test_the_committed_appendix_is_drawn_from_the_committed_record():
    from import_gpu_run import appendix

    check = json.loads((ROOT / "benchmarks" / "results" / "gpu_check.json").read_text())
    plans = {p: json.loads((ROOT / "benchmarks" / "plan" / f"{p}.json").read_text()) for p in ("paper", "gpu")}
    committed = (ROOT / "book" / "gpu_measurements.md").read_text()
    assert committed == appendix(check, plans, ROOT / "book") + "\n", "rerun import_gpu_run.appendix on the record"


def test_throughputs_are_reused_only_from_the_same_device(tmp_path):
    from gpu_check import reusable

    path = tmp_path / "gpu_check.json"
    record = {"train": {"resnet8": {"512": 1.0}}, "forward": {"resnet8": {"1024": 2.0}}, "measured": "2026-11-26"}
    path.write_text(json.dumps({"environment": {"device": "NVIDIA H200"}, "gpu_throughputs": {"json": record}}))
    row = {
        "kind": "train",
        "arch": "resnet8",
        "teacher": None,
        "teacher_logits": None,
        "epochs": 1,
        "train_examples": 512,
        "batch_size": 512,
        "val_examples": 100,
        "val_batch_size": 1024,
        "count": 1,
    }
    plan = {"chapters": {"01_kd_basics": {"rows": [row]}}}
    assert reusable(path, "gpu", "NVIDIA H200", plan)["json"] == record
    assert reusable(path, "gpu", "NVIDIA H100 80GB HBM3", plan) is None  # another GPU: measure again
    assert reusable(path, "paper", "NVIDIA H200", plan) is None and reusable(None, "gpu", "NVIDIA H200", plan) is None
    plan["chapters"]["01_kd_basics"]["rows"].append({**row, "teacher": "resnet8x4"})  # a network it never timed
    assert reusable(path, "gpu", "NVIDIA H200", plan) is None


def test_imported_streams_read_as_a_terminal_left_them():
    from import_gpu_run import as_a_terminal_shows

    bars = "\rteacher:   0%|  | 0/18\rteacher:  50%|█ | 9/18\rteacher: 100%|██| 18/18\n"
    assert as_a_terminal_shows(bars) == "teacher: 100%|██| 18/18\n"  # one line, not every redraw side by side
    warning = "/x/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update\n  from .autonotebook import tqdm\n"
    assert as_a_terminal_shows(warning + "kept\n") == "kept\n"


def test_copies_say_when_their_run_padded_crops_with_the_mean_colour():
    from import_gpu_run import padded_with_mean

    older = "e3c7c467a1b2"  # chapter 1's CNN-scale run, before crops were padded black
    if subprocess.run(["git", "cat-file", "-e", older], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("a shallow clone: the run's commit is not in its history")
    assert padded_with_mean(older) and not padded_with_mean("HEAD") and not padded_with_mean("0" * 12)
    text = nbformat.read(ROOT / "book" / "results" / "gpu" / "01_kd_basics.ipynb", 4).cells[0].source
    assert text.count("**Crops padded with the mean colour.**") == 1  # its note says so, once


def test_rerender_brings_an_older_copy_up_to_its_chapter_from_the_results_alone(tmp_path):
    from import_gpu_run import FOLDED, RERENDERED, RETESTED, SCALE, provenance, rerender

    book, gpu = tmp_path / "book", tmp_path / "book" / "results" / "gpu"
    gpu.mkdir(parents=True)
    chapter = nbformat.read(ROOT / "book" / "01_kd_basics.ipynb", 4)
    nbformat.write(chapter, book / "01_kd_basics.ipynb")
    # an older run of the chapter: no prose check yet, other prose, a code cell the chapter has since dropped
    run = nbformat.read(ROOT / "book" / "01_kd_basics.ipynb", 4)
    (check,) = [c for c in run.cells if "report.prose_check(" in c.source]
    run.cells.remove(check)
    printed = next(c for c in run.cells if c.cell_type == "code" and "experiment.train_student(" in c.source)
    printed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="what the run printed\n")]
    example = next(c for c in run.cells if c.cell_type == "code" and "kd.kd_loss(z_s" in c.source)
    example.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an older example\n")]
    # the cell that writes the results JSON, as an older commit had it: shown, its last line's value printed
    writes = next(c for c in run.cells if "write_chapter_results(" in c.source)
    writes.metadata = {}
    writes.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "PosixPath('x.json')"})]
    run.cells.append(nbformat.v4.new_code_cell("print('only in the run')", id="run-only"))
    parameters = next(i for i, c in enumerate(run.cells) if "parameters" in c.metadata.get("tags", []))
    given = nbformat.v4.new_code_cell("seeds = [0]", id="given", metadata={"tags": ["injected-parameters"]})
    run.cells.insert(parameters + 1, given)
    found = next(c for c in run.cells if c.cell_type == "markdown" and "## Key takeaways" in c.source)
    found.source = "## Key takeaways\n\nOld words."
    note = provenance("01_kd_basics.ipynb", {"chapter": "kd_basics", "started": "then", "seconds": 60},
                      {"device": "NVIDIA H200", "torch": "2"}, "0123456789abcdef", "../../")  # fmt: skip
    heading, _, rest = run.cells[0].source.partition("\n")
    run.cells[0].source = f"{heading} (at CNN scale)\n\n{note}\n{rest}"
    nbformat.write(run, gpu / "01_kd_basics.ipynb")
    record = json.loads((ROOT / "book" / "results" / "kd_basics.json").read_text())
    record["results"]["teacher"]["arch"] = record["params"]["teacher"] = "resnet8x4"
    # a run from before the chapter paired its comparisons: re-rendered, they are made again with its tests
    (book / "results" / "kd_basics.json").write_text(json.dumps(record))
    del record["results"]["comparisons_ignoring_pairs"]
    # ...whose KD students with all labels land where CE's did, seed by seed: re-tested, that verdict differs
    runs = record["results"]["runs"]
    for ce, kd, wobble in zip(runs["CE (all labels)"], runs["KD (all labels)"], [1, -2, 1.5, -1, 0.5]):
        kd.update(seed=ce["seed"], test_acc=ce["test_acc"] + wobble / 1000)
    (gpu / "kd_basics.json").write_text(json.dumps(record))

    notes = []
    for _ in range(2):  # a second re-render changes nothing but the date line
        assert rerender(gpu / "01_kd_basics.ipynb", book, "fedcba9876543210") > 0
        first = nbformat.read(gpu / "01_kd_basics.ipynb", 4).cells[0].source
        notes.append([line for line in first.splitlines() if not line.startswith(RERENDERED)])
    assert notes[0] == notes[1] and "\n\n\n" not in first  # one blank line between paragraphs, every time
    assert "Before you start" in chapter.cells[0].source and "Before you start" not in first  # CPU run times
    cells = nbformat.read(gpu / "01_kd_basics.ipynb", 4).cells
    ids = [c.id for c in cells]
    expected = [c.id for c in chapter.cells]
    expected.insert(parameters + 1, "given")  # what the run was given, where it was; no cell the chapter dropped
    assert ids == expected  # the chapter's cells, in its order...
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert "Old words." not in text and "\n- Temperature" in text  # ...and its prose
    # this run parts from the prose (the KD students re-tested above): its conclusions fold behind a button
    assert re.search(r"## Key takeaways\n\n::::\{dropdown\} " + FOLDED + r"\n- Temperature", text)
    assert text.count(RERENDERED) == 1 and "from commit `fedcba987654`" in text and "commit `0123456789ab`" in text
    epochs = record["params"]["student_epochs"]  # the note says how small the run was, once
    assert text.count(SCALE) == 1 and f"`student_epochs = {epochs!r}`" in text
    assert text.count(RETESTED) == 1
    assert cells[ids.index(printed.id)].outputs[0]["text"] == "what the run printed\n"  # the run's own logs
    assert cells[ids.index(example.id)].outputs[0]["text"].startswith("kdcore kd_loss: ")  # the chapter's example
    shown = cells[ids.index(writes.id)]  # presented as the chapter presents it, without the stray value
    assert shown.outputs == [] and "hide-input" in shown.metadata["tags"]
    assert shown.metadata["mystnb"]["code_prompt_show"] == "Show the cell that writes the results JSON"
    box = "".join(o["data"].get("text/markdown", "") for o in cells[ids.index(check.id)].outputs)
    assert "**KD (all labels) − CE (all labels)**: within noise here" in box
    text_mime = "application/papermill.record/text/plain"  # a glued number or text, not a figure
    glued = {o.metadata["scrapbook"]["name"]: o.data[text_mime]
             for c in cells if c.cell_type == "code" for o in c.outputs if text_mime in o.get("data", {})}  # fmt: skip
    assert glued["teacher"] == "'resnet8x4'"  # computed from this run's record
    assert not list(gpu.glob("*.rerender.ipynb"))


def test_a_copys_note_shows_where_and_how_small_its_run_was_and_folds_the_rest():
    from import_gpu_run import NOTE, NOTE_DETAILS, RERUN, SCALE, full_note, opening, provenance, shown_note, with_scale

    params = {"student_epochs": 12, "seeds": [0, 1]}
    run, environment = (
        {"chapter": "kd_basics", "started": "then", "seconds": 60},
        {"device": "NVIDIA H200", "torch": "2"},
    )
    note = with_scale(provenance("01_kd_basics.ipynb", run, environment, "0123456789abcdef", "../../"), params)
    first = f"# Chapter 1 at CNN scale: KD\n\n{shown_note(note)}\n\nThe chapter's opening.\n"
    box = NOTE.search(first).group(0)
    assert "Executed on **NVIDIA H200**" in box and SCALE in box and RERUN not in box  # a few lines in view...
    assert f":::{{dropdown}} {NOTE_DETAILS}\n" in first and RERUN in first  # ...the rest one click away
    assert with_scale(full_note(first), params) == note  # whole again, as a re-render reads it
    assert opening(first) == "\nThe chapter's opening.\n"


def test_a_copy_whose_run_parts_from_its_prose_folds_what_the_run_does_not_bear_out_and_keeps_the_rest():
    from import_gpu_run import FOLDED, FOLDED_HERE, RESULTS_ARE, fold_sections, states

    said = ["KD hurt a lot with all the labels here", "seed … is the lowest in all of its rounds"]
    sources = ["# KD\n\nThe opening stays.\n\nA claim: KD hurt a lot with all the labels here, we said.\n\n"
               "## The experiment\n\nDesign words.\n\n```{table} Design\n:name: t\n\n| a |\n|---|\n| 1 |\n```",
               "More design words: seed {glue:text}`low` is the lowest in all of its rounds.",
               "## What we found\n\n```{glue:figure} f\n:name: fig-f\n\nKD hurt a lot with all the labels here.\n```"
               "\n\n- **KD hurt.**\n\n- And more."]  # fmt: skip
    first, second, third = fold_sections(sources, "[chapter 1](../../01_kd_basics.ipynb)", said)
    # a paragraph the run contradicts folds, under a line that says why (once); the teaching stays
    assert first.startswith("# KD\n\nThe opening stays.\n\n*Folded here: text written for [chapter 1]")
    assert f"::::{{dropdown}} {FOLDED_HERE}\nA claim: KD hurt a lot" in first
    assert first.endswith(
        "## The experiment\n\nDesign words.\n\n```{table} Design\n:name: t\n\n| a |\n|---|\n| 1 |\n```"
    )
    assert second == f"::::{{dropdown}} {FOLDED_HERE}\n{sources[1]}\n::::"  # a glued number in the quote: "…"
    # the conclusions fold whole, in one button; a figure stays, its caption's untrue words said under it
    assert third.startswith(f"## What we found\n\n{RESULTS_ARE}\n\n```{{glue:figure}} f")
    assert "*Not so in this run: the caption's “KD hurt a lot with all the labels here”.*" in third
    assert third.endswith(f"::::{{dropdown}} {FOLDED}\n- **KD hurt.**\n\n- And more.\n::::")
    assert third.count("Folded here") == 0 and third.count("{dropdown}") == 1
    # a quote is found by a run of its words in order, and a short one only whole
    assert states(
        "Seen [here](x.md): a claim that KD hurt a lot with all the labels", "KD hurt a lot with all the labels"
    )
    assert not states(
        "one teacher and one fixed labelled subset, so", "with one teacher and one fixed labelled subset, it"
    )
    assert states("- **With all labels, KD hurt**: …", "With all labels, KD hurt")
    assert not states("With all labels, KD helped", "With all labels, KD hurt")


@pytest.mark.parametrize("copy", sorted((ROOT / "book" / "results" / "gpu").glob("*.ipynb")), ids=lambda p: p.stem)
def test_the_cnn_scale_copies_carry_their_chapters_current_prose_and_report_cells(copy):
    """One truth: a chapter's prose and report cells, edited after its GPU run, reach its CNN-scale copy through
    ``scripts/import_gpu_run.py --rerender`` (no GPU needed), not never."""
    from import_gpu_run import (
        BOX_END,
        SAYS_WHICH,
        _blocks,
        as_copied,
        book_only,
        chapter_link,
        differences,
        figure_labels,
        flagged,
        fold_sections,
        opening,
        states,
        table_labels,
    )

    notebook = nbformat.read(ROOT / "book" / copy.name, 4)
    chapter, left = notebook.cells, book_only(notebook)
    cells = {c.id: c for c in nbformat.read(copy, 4).cells}
    labels = figure_labels([c.source for c in chapter if c.cell_type == "markdown"]) | table_labels(
        list(cells.values())
    )
    prose = {
        c.id: as_copied(c.source, labels, "../../", f"results/gpu/{copy.name}")
        for c in chapter
        if c.cell_type == "markdown" and c.id not in left
    }
    box = differences(list(cells.values()))
    if box:  # the run parts from the prose: the copy folds what the run does not bear out...
        # ...which it can only where it finds each sentence the box quotes
        blocks = [block for text in prose.values() for block in _blocks(text)]
        lost = [quote for quote in flagged(box) if not any(states(block, quote) for block in blocks)]
        assert not lost, f"{copy.name}: the box quotes sentences fold_sections does not find: {lost}"
        prose = dict(zip(prose, fold_sections(list(prose.values()), chapter_link(copy.name, "../../"), flagged(box))))
    stale = []
    for i, cell in enumerate(chapter):
        if cell.id in left:
            continue
        wanted = prose[cell.id] if cell.cell_type == "markdown" else cell.source
        found = cells[cell.id].source if cell.id in cells else None
        if i == 0:  # the title, the copy's note (and the box of differences), then the chapter's first cell
            found, wanted = opening(found) if found else None, wanted.partition("\n")[2]
        is_report = cell.cell_type == "code" and "report" in cell.metadata.get("tags", [])
        if (cell.cell_type == "markdown" or is_report) and found != wanted:
            stale.append(cell.id)
    assert not stale, f"{copy.name}: cells older than the chapter's {stale}; run scripts/import_gpu_run.py --rerender"
    copied = list(cells.values())
    box = differences(copied)  # the verdicts this run does not bear out: said first, before any prose states them
    first = next(c.source for c in copied if c.cell_type == "markdown")
    assert (box is None and BOX_END not in first) or (box is not None and f"\n{box}\n{BOX_END}\n" in first)
    assert SAYS_WHICH in first  # the note says where that box is
    tags = {c.id: c.metadata.get("tags", []) for c in copied}
    again = [c.id for c in copied if "injected-parameters" in tags[c.id] or (box and "prose_check(" in c.source)]
    shown_twice = [i for i in again if "remove-cell" not in tags[i]]
    assert not shown_twice, f"{copy.name}: the box, or the values the note states, shown again in {shown_twice}"
    to_itself = [c.id for c in copied if c.cell_type == "markdown" and f"](../../results/gpu/{copy.name}" in c.source]
    assert not to_itself, f"{copy.name}: links to its own page in {to_itself}"


def test_chapters_quote_the_cnn_scale_run_through_glue_drawn_from_that_run():
    """Chapters 4 to 7 quote chapter 9's CNN-scale verdicts: never as typed numbers (a new device run would
    leave them stale), but as glued phrases that :func:`kdcore.report.quoted` makes from the run's record, as
    :func:`kdcore.record.quoted_run` reads it now."""
    from kdcore import report
    from kdcore.record import quoted_run

    record = quoted_run(ROOT / "book" / "results" / "gpu" / "comparison.json")
    phrases = {report.quoted(c, count=count) for family in ("comparisons", "comparisons_ignoring_pairs")
               for c in record[family] for count in (True, False)}  # fmt: skip
    quoted = 0
    for path in chapter_notebooks(ROOT / "book"):  # never a chapter being executed (.executing.ipynb)
        for cell in nbformat.read(path, 4).cells:
            for paragraph in cell.source.split("\n\n") if cell.cell_type == "markdown" else ():
                if "results/gpu/comparison.json" in paragraph or "results/gpu/09_comparison.ipynb" in paragraph:
                    assert not re.findall(r"\d+\.\d+", paragraph), (path.name, paragraph[:200])
            for output in cell.get("outputs", []) if cell.cell_type == "code" else ():
                name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
                text = output.get("data", {}).get("application/papermill.record/text/plain")
                if "_cnn_" in name and text and "points" in text:
                    assert text.strip("'\"") in phrases, (path.name, name, text)
                    quoted += 1
    assert quoted >= 8  # chapters 4, 5, 6 and 7 quote 2, 3, 6 and 4 verdicts today


@pytest.mark.parametrize("copy", sorted((ROOT / "book" / "results" / "gpu").glob("*.ipynb")), ids=lambda p: p.stem)
def test_a_cnn_scale_copy_shows_its_parameters_as_its_chapter_does_and_opens_at_its_profile(copy):
    """The note's "behind the button below" needs the button: the copy's display of ``P`` takes its chapter's
    tags and label, with this run's parameters; its parameters cell names the run's profile, so Colab reruns
    the page at the scale it shows, not at the book profile."""
    chapter = nbformat.read(ROOT / "book" / copy.name, 4).cells
    at = next(i for i, c in enumerate(chapter) if "parameters" in c.metadata.get("tags", []))
    cells = {c.id: c for c in nbformat.read(copy, 4).cells}
    parameters, shown = cells[chapter[at].id], cells[chapter[at + 1].id]
    record = json.loads((copy.parent / f"{chapter_key(ROOT / 'book' / copy.name)}.json").read_text())
    assert re.search(rf'^profile: str = "{record["params"]["profile"]}"', parameters.source, re.M)
    assert shown.metadata.tags == chapter[at + 1].metadata.tags
    label = chapter[at + 1].metadata.mystnb["code_prompt_show"]  # its imports may be the run's: a longer label
    assert shown.metadata.mystnb["code_prompt_show"].startswith(label)
    html = "".join(o.get("data", {}).get("text/html", "") for o in shown.outputs)
    assert html and record["params"]["student"] in html  # this run's values, e.g. its resnet8 student


def test_a_new_cnn_scale_part_is_numbered_on_from_the_chapters(tmp_path):
    from import_gpu_run import PART, add_to_toc

    toc = tmp_path / "_toc.yml"
    toc.write_text("# header\nformat: jb-book\nroot: book/intro\nparts:\n- caption: Foundations\n  numbered: 1\n"
                   "  chapters:\n  - file: book/01_kd_basics\n"
                   "- caption: Appendix\n  chapters:\n  - file: book/notation\n")  # fmt: skip
    add_to_toc(toc, ["book/results/gpu/01_kd_basics"], PART)
    parts = yaml.safe_load(toc.read_text())["parts"]
    assert [p["caption"] for p in parts] == ["Foundations", PART, "Appendix"]
    assert parts[1]["numbered"] == 1 and "numbered" not in parts[2] and toc.read_text().startswith("# header\n")


def test_a_teacher_trained_again_in_another_call_is_told_with_both_accuracies(tmp_path):
    """Chapter 2's CNN-scale copy measures chapter 1's teacher; where its call trained that teacher again and got
    another accuracy than chapter 1's copy shows, the copy's note and the appendix say so, with both numbers."""
    from import_gpu_run import TRAINED_TWICE, one_seed_twice, teacher_trained_twice, trained_twice_line

    gpu = tmp_path / "results" / "gpu"
    gpu.mkdir(parents=True)
    for name in ("kd_basics.json", "capacity_gap.json", "01_kd_basics.ipynb", "02_capacity_gap.ipynb"):
        shutil.copyfile(ROOT / "book" / "results" / "gpu" / name, gpu / name)
    one, two = (json.loads((gpu / f"{key}.json").read_text()) for key in ("kd_basics", "capacity_gap"))
    first, second = one["results"]["teacher"]["test_acc"], two["results"]["teachers"]["chapter 1's"][0]["accuracy"]

    def rewrite(**params):
        record = json.loads((gpu / "capacity_gap.json").read_text())
        record["params"].update(params)
        record["results"]["teachers"]["chapter 1's"][0]["accuracy"] = params.pop("_accuracy", second)
        (gpu / "capacity_gap.json").write_text(json.dumps(record))

    if abs(first - second) > 1e-6:  # the committed copies: two calls, two accuracies
        twice = teacher_trained_twice(gpu)
        assert twice["first"] == first and twice["second"] == second and len(twice["commits"]) == 2
        line = trained_twice_line(twice, "../../")
        assert line.startswith(TRAINED_TWICE) and f"{100 * second:.2f} %" in line and f"{100 * first:.2f} %" in line
        section = "\n".join(one_seed_twice(tmp_path, []))
        assert f"{100 * (second - first):+.2f} pp" in section and "not in the table of calls" in section
        listed = [{"commit": twice["commits"][0] + "0" * 33}]  # the first call among the appendix's calls
        assert "not in the table of calls" not in "\n".join(one_seed_twice(tmp_path, listed))
    rewrite(_accuracy=first + 0.01)
    assert teacher_trained_twice(gpu)["second"] == pytest.approx(first + 0.01)
    rewrite(_accuracy=first)  # the same accuracy: loaded from a cache, or trained alike; nothing to tell
    assert teacher_trained_twice(gpu) is None and one_seed_twice(tmp_path, []) == []
    rewrite(_accuracy=first + 0.01, teacher_epochs=one["params"]["teacher_epochs"] + 1)  # another recipe
    assert teacher_trained_twice(gpu) is None
