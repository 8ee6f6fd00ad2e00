"""The work ledger (kdcore.cost), planning mode, the cost table (scripts/cost_table.py) and the throughput
benchmark's --plan mode: the plan counts what a real run trains, and the table's arithmetic is exact."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kdcore import cost
from kdcore.batches import DeviceBatches
from kdcore.chapters import chapter_notebooks
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, evaluate, fit
from kdcore.losses import KD, KR
from kdcore.models import build_model
from kdcore.objectives import CrossEntropy
from kdcore.splits import Split
from kdcore.teachers import cache_dir, train_or_load

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("cost_table", ROOT / "scripts" / "cost_table.py")
cost_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cost_table)

DATA = synthetic(96, 40, (1, 8, 8), 10)


def batches(train: bool = True, batch_size: int = 32) -> DeviceBatches:
    split = Split(DATA.train_x, DATA.train_y) if train else Split(DATA.test_x, DATA.test_y)
    return DeviceBatches(split, DATA.mean, DATA.std, batch_size, shuffle=train, with_index=train)


def model(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(arch, 1, 10, 8)


CONFIG = TrainConfig(epochs=3, batch_size=32, lr=0.05)


def test_a_distillation_fit_records_its_row_and_evaluate_outside_fit_one_more():
    objective = KD(model("mlp-8"), model("mlp-16"))
    with cost.Ledger() as ledger:
        fit(objective, batches(), CONFIG, batches(False, 16), progress=False, stop_after=2)
        evaluate(objective.model, batches(False, 16))
    assert ledger.rows == [
        {"kind": "train", "arch": "mlp-8", "objective": "KD", "teacher": "mlp-16", "teacher_logits": "every step",
         "from_epoch": 0, "epochs": 2, "train_examples": 96, "batch_size": 32, "val_examples": 40,
         "val_batch_size": 16, "cache": None},
        {"kind": "evaluate", "arch": "mlp-8", "examples": 40, "batch_size": 16},
    ]  # fmt: skip


def test_a_resumed_run_counts_only_the_epochs_it_trains(tmp_path):
    checkpoint = tmp_path / "teachers" / "mlp-8-abc.partial.pt"
    checkpoint.parent.mkdir()
    with cost.Ledger() as ledger:
        fit(CrossEntropy(model("mlp-8")), batches(), CONFIG, checkpoint=checkpoint, progress=False, stop_after=2)
        fit(CrossEntropy(model("mlp-8")), batches(), CONFIG, checkpoint=checkpoint, progress=False)
    assert [(r["from_epoch"], r["epochs"], r["cache"], r["teacher"]) for r in ledger.rows] == [
        (0, 2, "teachers/mlp-8-abc", None),
        (2, 1, "teachers/mlp-8-abc", None),
    ]
    assert ledger.rows[0]["val_examples"] == 0 and ledger.rows[0]["val_batch_size"] is None


def test_cached_teacher_logits_and_kr_alone_are_told_apart():
    kd = KD(model("mlp-8"), model("mlp-16"))
    kd.cache_teacher_logits(batches())
    kr_alone = KR(model("mlp-8"), model("mlp-16"), unit_order="index")  # w_kd = 0: the teacher's weights only
    with cost.Ledger() as ledger:
        for objective in (kd, kr_alone):
            fit(objective, batches(), CONFIG, progress=False)
    assert [(r["teacher"], r["teacher_logits"]) for r in ledger.rows] == [("mlp-16", "cached"), (None, None)]


def run_once(ledger: cost.Ledger | None) -> tuple[dict, list, torch.Tensor]:
    """A KD run and an evaluation: weights, history (without timings) and logits."""
    objective = KD(model("mlp-8"), model("mlp-16"))
    with ledger if ledger is not None else contextlib.nullcontext():
        history = fit(objective, batches(), CONFIG, batches(False, 16), progress=False)
        logits = evaluate(objective.model, batches(False, 16)).logits
    return objective.model.state_dict(), [{k: v for k, v in r.items() if k != "seconds"} for r in history], logits


def test_the_ledger_is_off_by_default_and_changes_no_result():
    assert cost.active() is None
    plain, recorded = run_once(None), run_once(cost.Ledger())
    assert cost.active() is None
    assert all(torch.equal(plain[0][k], recorded[0][k]) for k in plain[0])
    assert plain[1] == recorded[1] and torch.equal(plain[2], recorded[2])


def test_one_ledger_at_a_time():
    with cost.Ledger(), pytest.raises(RuntimeError, match="already active"), cost.Ledger():
        pass
    assert cost.active() is None


def test_planning_trains_one_batch_and_resumes_where_a_real_run_would(tmp_path):
    checkpoint = tmp_path / "teachers" / "mlp-8-abc.partial.pt"
    checkpoint.parent.mkdir()
    rows = {}
    for name, ledger in (("real", cost.Ledger()), ("planned", cost.Planning(examples=8))):
        checkpoint.unlink(missing_ok=True)
        with ledger:
            stopped = fit(CrossEntropy(model("mlp-8")), batches(), CONFIG, checkpoint=checkpoint, progress=False,
                          stop_after=2)  # fmt: skip
            fit(CrossEntropy(model("mlp-8")), batches(), CONFIG, checkpoint=checkpoint, progress=False)
        rows[name] = ledger.rows
        assert len(stopped) == (2 if name == "real" else 1)  # planning: only the last epoch of the range
    assert rows["planned"] == rows["real"]


def test_planned_evaluations_score_a_few_images_and_keep_the_split_shape():
    test = batches(False, 16)
    with cost.Planning(examples=8) as planning:
        result = evaluate(model("mlp-8"), test)
    assert result.logits.shape == (40, 10) and torch.equal(result.labels, test.y)
    assert torch.equal(result.logits[8:16], result.logits[:8])  # the first 8 images' logits, repeated
    assert planning.rows == [{"kind": "evaluate", "arch": "mlp-8", "examples": 40, "batch_size": 16}]


def test_planning_never_writes_into_the_real_cache(tmp_path, monkeypatch):
    real = tmp_path / "real-cache"
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(real))
    splits = type("Splits", (), {"data": DATA, "key": {"dataset": "synthetic"}})()
    with cost.Planning(examples=8) as planning:
        scratch = planning.scratch
        assert cache_dir() == scratch / "cache"
        train_or_load("mlp-8", splits, CONFIG, batches(), progress=False)
        assert any((scratch / "cache" / "teachers").glob("mlp-8-*.pt"))
    assert not real.exists() and not scratch.exists()
    assert os.environ["KDCORE_CACHE_DIR"] == str(real)


def test_pruning_scores_are_counted_and_planned_on_one_batch():
    net, train = model("mlp-16"), batches(batch_size=32)
    assert cost.scoring(net, train, forward_passes=1) is train  # no ledger: nothing changes
    with cost.Planning(examples=8) as planning:
        scored = cost.scoring(net, train, forward_passes=1)
    assert len(scored.y) == 8
    assert [r["kind"] for r in planning.rows] == ["evaluate", "gradient"]
    assert all(r["examples"] == 96 for r in planning.rows)


def test_the_plan_of_a_chapter_equals_what_a_real_run_trains(tmp_path):
    """The one slower test: chapter 1 at the smoke profile, planned, then run for real under a ledger."""
    notebook = ROOT / "book" / "01_kd_basics.ipynb"
    planned = cost_table.plan_chapter(notebook, "smoke")
    cwd = Path.cwd()
    with cost.Ledger() as ledger:
        try:
            cost_table.execute_notebook(notebook, cost_table.planning_parameters(notebook, "smoke", tmp_path))
        finally:
            os.chdir(cwd)
    assert {r["kind"] for r in planned} == {"train", "evaluate"}
    assert planned == ledger.rows


# ----------------------------------------------------------------------------------------------- the table
PLAN = {
    "profile": "paper",
    "chapters": {
        "01_kd_basics": {"notebook": "book/01_kd_basics.ipynb", "rows": [
            {"kind": "train", "arch": "s", "objective": "KD", "teacher": "t", "teacher_logits": "every step",
             "from_epoch": 0, "epochs": 2, "train_examples": 1000, "batch_size": 100, "val_examples": 500,
             "val_batch_size": 1000, "count": 3, "caches": ["runs/s-1", "runs/s-2", "runs/s-3"]},
            {"kind": "evaluate", "arch": "s", "examples": 2000, "batch_size": 1000, "count": 1},
        ]},
        "02_capacity_gap": {"notebook": "book/02_capacity_gap.ipynb", "rows": [
            {"kind": "train", "arch": "s", "objective": "KD", "teacher": "t", "teacher_logits": "every step",
             "from_epoch": 0, "epochs": 2, "train_examples": 1000, "batch_size": 100, "val_examples": 500,
             "val_batch_size": 1000, "count": 2, "caches": ["runs/s-1", "runs/s-9"]},
            {"kind": "gradient", "arch": "t", "examples": 3000, "batch_size": 500, "count": 1},
        ]},
    },
}  # fmt: skip
THROUGHPUTS = {
    "device": "NVIDIA Test GPU",
    "measured": "2000-01-02",
    "train": {"s": {"100": 50.0}, "t": {"64": 100.0, "1024": 300.0}},
    "forward": {"s": {"1000": 1000.0}, "t": {"100": 200.0}},
}


def test_the_table_prices_training_teacher_validation_and_evaluation_exactly():
    # a run: 2 epochs × 1000 images at 50/s (40 s) + the teacher on the same 2000 images at 200/s (10 s)
    # + validation 2 × 500 images at 1000/s (1 s) = 51 s; three runs and one 2000-image evaluation: 155 s
    one = cost_table.chapter_cost(PLAN["chapters"]["01_kd_basics"]["rows"], THROUGHPUTS)
    assert one["seconds"] == pytest.approx(155.0) and one["runs"] == 3
    # two runs (102 s) + a gradient pass over 3000 images at the nearest measured batch (1024: 300/s): 112 s
    two = cost_table.chapter_cost(PLAN["chapters"]["02_capacity_gap"]["rows"], THROUGHPUTS)
    assert two["seconds"] == pytest.approx(112.0)
    # in book order with one cache, chapter 2's run toward runs/s-1 is loaded, not trained: 155 + 61
    assert cost_table.shared_cache_seconds(PLAN, THROUGHPUTS) == pytest.approx(216.0)
    text = cost_table.markdown_table(PLAN, THROUGHPUTS)
    row = "| [1. Knowledge distillation in one notebook](book/01_kd_basics.ipynb) | 3 | 2.6 min | 3 × s ← t, 2 epochs"
    assert row + ": 2.5 min |" in text  # named as the contents name it (a reconstruction's title says so)
    assert cost_table.chapter_name("04_tolerant_teachers", ROOT / "book" / "04_tolerant_teachers.ipynb").endswith(
        "(our reconstruction)"
    )
    assert "| **every chapter** | 5 | 4.5 min | in book order with one cache: 3.6 min |" in text
    assert "one NVIDIA Test GPU" in text and "2000-01-02" in text


def test_the_table_lists_no_item_too_small_to_read():
    small = copy.deepcopy(PLAN)
    small["chapters"]["01_kd_basics"]["rows"][1]["examples"] = 2000 * 6  # 12 s of evaluation: "0.2 min"
    row = next(line for line in cost_table.markdown_table(small, THROUGHPUTS).splitlines() if "01_kd" in line)
    assert row.endswith("3 × s ← t, 2 epochs: 2.5 min; evaluations and pruning scores: 0.2 min |")
    # 2 s would read "0.0 min": left out
    row = next(line for line in cost_table.markdown_table(PLAN, THROUGHPUTS).splitlines() if "01_kd" in line)
    assert row.endswith("3 × s ← t, 2 epochs: 2.5 min |")


def test_a_missing_throughput_names_the_architecture():
    with pytest.raises(KeyError, match="'s'"):
        cost_table.chapter_cost(PLAN["chapters"]["01_kd_basics"]["rows"], {**THROUGHPUTS, "train": {}})


def test_notebooks_keep_their_exact_layout_when_rewritten():
    """--write rewrites notebooks with json.dumps(indent=1, ensure_ascii=False): nbformat's own layout."""
    for path in chapter_notebooks(ROOT / "book"):  # never a chapter being executed (.executing.ipynb)
        text = path.read_text()
        assert json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n" == text, path.name


def test_write_and_check_update_the_markdown_and_the_chapters_on_copies(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    for name in ("01_kd_basics.ipynb", "02_capacity_gap.ipynb"):
        shutil.copy(ROOT / "book" / name, book / name)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- cost-table:start -->\nold\n<!-- cost-table:end -->\n\nafter\n")
    (tmp_path / "plan.json").write_text(json.dumps(PLAN))
    (tmp_path / "t.json").write_text(json.dumps(THROUGHPUTS))
    common = ["table", "--plan", str(tmp_path / "plan.json"), "--throughputs", str(tmp_path / "t.json"),
              "--book", str(book)]  # fmt: skip
    assert cost_table.main([*common, "--check", str(readme)]) == 1
    assert cost_table.main([*common, "--write", str(readme)]) == 0
    assert cost_table.main([*common, "--check", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\n<!-- cost-table:start -->\n| chapter |") and text.endswith("end -->\n\nafter\n")
    before, after = (
        json.loads(p.read_text()) for p in (ROOT / "book" / "01_kd_basics.ipynb", book / "01_kd_basics.ipynb")
    )
    first = "".join(after["cells"][0]["source"])
    assert first.endswith("<!-- paper-cost:start -->\n*Paper profile: ≈ 2.6 min of GPU time on one NVIDIA Test GPU "
                          "(projected from throughputs measured on 2000-01-02).*\n<!-- paper-cost:end -->")  # fmt: skip
    assert after["cells"][1:] == before["cells"][1:]
    readme.write_text(text.replace("2.6 min", "2.7 min"))
    assert cost_table.main([*common, "--check", str(readme)]) == 1


# ------------------------------------------------------------------------------ the throughput benchmark
def test_the_benchmark_times_every_architecture_of_a_plan_on_cpu(tmp_path):
    plan = {"chapters": {"x": {"rows": [
        {"kind": "train", "arch": "resnet8", "objective": "KD", "teacher": "vgg8", "teacher_logits": "every step",
         "from_epoch": 0, "epochs": 1, "train_examples": 10, "batch_size": 16, "val_examples": 10,
         "val_batch_size": 32, "count": 1},
        {"kind": "evaluate", "arch": "vgg19-derived-79", "examples": 10, "batch_size": 32, "count": 1},
    ]}}}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    command = [sys.executable, "benchmarks/teacher_training.py", "--device", "cpu", "--quick", "--num-train", "64",
               "--plan", str(tmp_path / "plan.json"), "--json", str(tmp_path / "t.json")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "t.json").read_text())
    assert set(result["train"]) == {"resnet8"} and set(result["train"]["resnet8"]) == {"16"}
    assert {a: set(b) for a, b in result["forward"].items()} == {
        "resnet8": {"32"},
        "vgg8": {"16"},
        "vgg19-derived-79": {"32"},
    }
    assert all(r > 0 for table in ("train", "forward") for rates in result[table].values() for r in rates.values())
    assert result["device"].startswith("cpu") and len(result["measured"]) == 10


def test_the_benchmark_without_a_plan_times_the_paper_teachers_recipes(tmp_path):
    command = [sys.executable, "benchmarks/teacher_training.py", "--device", "cpu", "--quick",
               "--json", str(tmp_path / "t.json")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    teachers = json.loads((tmp_path / "t.json").read_text())["teachers"]
    assert [t["arch"] for t in teachers] == ["resnet8", "vgg8"]  # small stand-ins for resnet32x4 and vgg19
    for t, (batch, epochs) in zip(teachers, [(64, 240), (128, 200)]):
        assert (t["batch_size"], t["recipe_epochs"]) == (batch, epochs) and t["images_per_s"] > 0
        assert t["recipe_minutes"] == pytest.approx(50_000 * epochs / t["images_per_s"] / 60)


@pytest.mark.slow
def test_the_committed_gpu_plan_is_the_gpu_profile_of_today(tmp_path):
    """benchmarks/plan/gpu.json sizes the device's gpu_book step: re-planned from the current spec, it must
    not have changed (after editing the gpu profile: python scripts/cost_table.py plan --profile gpu
    --chapters 01_kd 02_cap 09_comp). The paper plan takes minutes to re-plan and is checked by hand."""
    committed = json.loads((ROOT / "benchmarks" / "plan" / "gpu.json").read_text())
    command = [sys.executable, "scripts/cost_table.py", "plan", "--profile", "gpu", "--chapters", "01_kd", "02_cap",
               "09_comp", "--out", str(tmp_path / "gpu.json")]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    replanned = json.loads((tmp_path / "gpu.json").read_text())
    assert sharing(replanned["chapters"]) == sharing(committed["chapters"])


def sharing(chapters: dict) -> dict:
    """The plan with each cache file named by its order of first appearance: the names hash the trained
    networks' weights, which differ with the thread count (CI plans with one), but which runs share a cache
    entry (what the projection's shared-cache line needs) must not."""
    names: dict[str, str] = {}
    return {
        chapter: [{**row, "caches": [names.setdefault(c, f"#{len(names)}") for c in row.get("caches", [])]}
                  for row in content["rows"]]
        for chapter, content in chapters.items()
    }  # fmt: skip


def test_a_gpu_plan_takes_only_the_chapters_that_define_the_gpu_profile():
    # `cost_table.py plan --profile gpu` once failed on the first chapter without a gpu profile
    def names(*args):
        return [notebook.stem for notebook in cost_table.chapters(*args)]

    assert names(None, "gpu") == ["01_kd_basics", "02_capacity_gap", "09_comparison"]
    assert names(["09_"], "gpu") == ["09_comparison"]
    assert len(names(None, "paper")) == 9
