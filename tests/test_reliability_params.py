"""Chapter parameters are validated in one place, before any work starts, and a bad value writes nothing.

Three layers:

* chapter 1 run through papermill with each kind of bad value the issue names: the run stops at the
  validation cell with one ``ParameterError`` (or ``UnsafeCheckpointError`` for a tampered teacher file)
  that names the parameter, the bad value and what is allowed; no later cell ran, and no results JSON,
  cache file or file in the working directory was written. Chapter 1 has no sparsity parameter: a chapter
  that has one (pruning, PrUE…) gets the same papermill check once its notebook exists;
* an unknown name (papermill only warns) and a device the machine lacks, refused the same way;
* the same checks through :func:`kdcore.params.resolve` for every chapter key and every parameter it has
  (cheap, so future chapters are covered without more kernels);
* static rules every chapter notebook must follow: the first code cell after ``parameters`` validates, the
  parameters cell is the one generated from the chapter's spec: every parameter, each with a ``None`` default.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import torch

from kdcore.batch import KERNEL_START_TIMEOUT
from kdcore.batches import DeviceBatches
from kdcore.chapters import CHAPTERS, chapter_notebooks
from kdcore.checkpoint import save_checkpoint
from kdcore.data import synthetic
from kdcore.fit import TrainConfig
from kdcore.params import ParameterError, parameters_cell, resolve
from kdcore.splits import holdout_split
from kdcore.teachers import train_or_load

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTER_1 = BOOK / "01_kd_basics.ipynb"


def chapter_key(notebook: Path) -> str:
    found = re.search(r"from_namespace\(\s*[\"'](\w+)[\"']", _validation_cell(nbformat.read(notebook, 4)).source)
    assert found, f'{notebook.name}: no from_namespace("<chapter>", globals()) call'
    return found.group(1)


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "a chapter has exactly one cell tagged 'parameters'"
    return tagged[0]


def _validation_cell(nb):
    return next(c for c in nb.cells[_parameters_index(nb) + 1 :] if c.cell_type == "code")


# --- papermill: chapter 1 with each bad value --------------------------------------------------------------


def _teacher_file(tmp_path: Path, num_classes: int, monkeypatch) -> Path:
    """A real teacher file from kdcore's cache, made in a cache of its own (not the run's)."""
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path / "teacher-cache"))
    data = synthetic(200, 10, num_classes=num_classes)
    splits = holdout_split(data, 0.5)
    train = DeviceBatches(splits.train, data.mean, data.std, 64, shuffle=True)
    _, record = train_or_load("mlp-8", splits, TrainConfig(epochs=1, batch_size=64), train, progress=False)
    return Path(record["path"])


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


# (name, value, what the message must say is allowed); values that need files are built in the test
BAD_VALUES = [
    ("dataset", "mnist", "must be one of fashion_mnist, cifar10, cifar100"),
    ("student", "resnet9", "must be a kdcore architecture"),
    ("student_epochs", 0, "must be an integer ≥ 1"),
    ("teacher_epochs", -2, "must be an integer ≥ 1"),
    ("seeds", 0, "must be a number of seeds ≥ 1, or a non-empty list of distinct non-negative integers"),
    ("seeds", [0, -1], "must be a number of seeds ≥ 1, or a non-empty list of distinct non-negative integers"),
    ("temperature", 0.0, "must be a number in (0, ∞)"),
    ("w_kd", -0.5, "must be a number in [0, ∞)"),
    ("data_dir", "MISSING_DIR", "must be an existing directory"),
    ("teacher_path", "TEACHER_WITH_100_CLASSES", "has 100 classes but the student, on dataset='fashion_mnist', has 10"),
    ("teacher_path", "TAMPERED_TEACHER", "not a plain-tensor checkpoint written by kdcore (tampered"),
]


def _run_expecting_failure(notebook: Path, parameters: dict, tmp_path: Path, monkeypatch):
    """Run ``notebook`` with papermill; return (error, executed notebook), checking nothing was written."""
    cache, output_dir, cwd = tmp_path / "run-cache", tmp_path / "results", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(cache))  # the kernel inherits this environment
    monkeypatch.setenv("KDCORE_PROFILE", "smoke")
    monkeypatch.setenv("KDCORE_THREADS", "1")
    executed = tmp_path / "executed.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as error:
        papermill.execute_notebook(
            str(notebook), str(executed), parameters={**parameters, "output_dir": str(output_dir)},
            cwd=str(cwd), progress_bar=False, kernel_name="python3", start_timeout=KERNEL_START_TIMEOUT,
        )  # fmt: skip
    assert not cache.exists(), "validation must write nothing to the teacher cache"
    assert not output_dir.exists(), "validation must write no results"
    assert list(cwd.iterdir()) == [], "validation must write nothing to the working directory"
    nb = nbformat.read(executed, 4)
    injected = next(i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", []))
    validation = next(i for i in range(injected + 1, len(nb.cells)) if nb.cells[i].cell_type == "code")
    failed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.outputs and _is_error(c)]
    assert failed == [validation], "the run must stop at the validation cell"
    later = [c for c in nb.cells[validation + 1 :] if c.cell_type == "code"]
    assert all(c.execution_count is None for c in later), "no cell after validation may run"
    return error.value


def _is_error(cell) -> bool:
    return any(out.output_type == "error" for out in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "value", "allowed"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES])
def test_chapter_1_refuses_a_bad_value_before_any_work(tmp_path, monkeypatch, name, value, allowed):
    marker = tmp_path / "pwned"
    if value == "MISSING_DIR":
        value = str(tmp_path / "no-such-data")
    elif value == "TEACHER_WITH_100_CLASSES":
        value = str(_teacher_file(tmp_path, 100, monkeypatch))
    elif value == "TAMPERED_TEACHER":
        value = str(tmp_path / "teacher.pt")
        save_checkpoint({"key": {"model": {"num_classes": 10}}, "model": {"w": torch.zeros(1)}}, value)
        with open(value, "wb") as f:  # a foreign pickle that would run a command on load
            torch.save({"key": {"model": {"num_classes": 10}}, "payload": _Payload(marker)}, f)

    error = _run_expecting_failure(CHAPTER_1, {name: value}, tmp_path, monkeypatch)
    if value == str(tmp_path / "teacher.pt"):
        assert error.ename == "UnsafeCheckpointError" and value in error.evalue
        assert not marker.exists()
    else:
        assert error.ename == "ParameterError"
        assert error.evalue.startswith(f"{name}={value!r} is not allowed")  # the parameter and its value
    assert allowed in error.evalue  # what is allowed


@pytest.mark.slow
def test_chapter_1_refuses_an_unknown_name_with_a_suggestion_before_any_work(tmp_path, monkeypatch):
    """papermill only warns about a name the parameters cell lacks; the validation cell refuses it."""
    error = _run_expecting_failure(CHAPTER_1, {"temprature": 2}, tmp_path, monkeypatch)
    assert error.ename == "ParameterError"
    assert error.evalue.startswith("temprature=2 is not a parameter of chapter 'kd_basics'; did you mean temperature?")
    assert "papermill --help-notebook book/01_kd_basics.ipynb" in error.evalue


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")
def test_chapter_1_refuses_a_device_this_machine_lacks(tmp_path, monkeypatch):
    error = _run_expecting_failure(CHAPTER_1, {"device": "cuda:7"}, tmp_path, monkeypatch)
    assert error.ename == "ParameterError" and error.evalue.startswith("device='cuda:7' is not allowed: must be auto")


SPARSITY_CHAPTERS = [
    (nb, name)
    for nb in chapter_notebooks(BOOK)
    for name in ("sparsity", "sparsities")
    if name in CHAPTERS[chapter_key(nb)].params
][:1]  # one kernel is enough: the check is the same function for every chapter (tested below via resolve)


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "name"), SPARSITY_CHAPTERS, ids=[nb.stem for nb, _ in SPARSITY_CHAPTERS])
def test_a_chapter_with_sparsities_refuses_one_outside_0_1(tmp_path, monkeypatch, notebook, name):
    """Skipped (empty parameter set) until a chapter with a sparsity parameter exists in book/."""
    value = 1.0 if name == "sparsity" else [0.5, 1.0]
    error = _run_expecting_failure(notebook, {name: value}, tmp_path, monkeypatch)
    assert error.ename == "ParameterError" and error.evalue.startswith(f"{name}={value!r} is not allowed")
    assert "[0, 1)" in error.evalue


# --- resolve: every chapter, every applicable bad value -----------------------------------------------------


def _bad_values(tmp_path: Path) -> list[tuple[str, object, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    return [
        ("dataset", "imagenet", "one of fashion_mnist"),
        ("data_dir", str(tmp_path / "missing"), "an existing directory"),
        ("teacher", "resnet-9000", "a kdcore architecture"),
        ("student", "", "a kdcore architecture"),
        ("teacher_epochs", 0, "an integer ≥ 1"),
        ("student_epochs", -1, "an integer ≥ 1"),
        ("retrain_epochs", 0, "an integer ≥ 1"),
        ("epochs", 2.5, "an integer ≥ 1"),
        ("seeds", 0, "a number of seeds ≥ 1"),
        ("seeds", -3, "a number of seeds ≥ 1"),
        ("seeds", [], "a number of seeds ≥ 1"),
        ("seeds", [1, 1], "distinct"),
        ("seeds", [2, -1], "non-negative"),
        ("temperature", 0, "a number in (0, ∞)"),
        ("temperature", -1.0, "a number in (0, ∞)"),
        ("temperature", float("nan"), "a number in (0, ∞)"),
        ("w_ce", -0.1, "a number in [0, ∞)"),
        ("w_kd", -1, "a number in [0, ∞)"),
        ("sparsity", 1.0, "[0, 1)"),
        ("sparsity", -0.1, "[0, 1)"),
        ("sparsities", [0.5, 1.0], "[0, 1)"),
        ("sparsities", [-0.5], "[0, 1)"),
        ("sparsities", [], "[0, 1)"),
        ("imp_targets", [1.2], "[0, 1)"),
        ("output_dir", str(a_file), "a directory that exists or can be created"),
        ("output_dir", str(a_file / "sub"), "a directory that exists or can be created"),
        ("teacher_path", str(tmp_path / "no-teacher.pt"), "an existing file"),
        ("batch_size", 0, "an integer ≥ 1"),
        ("lr", 0.0, "a number in (0, ∞)"),
        ("val_fraction", 1.0, "a number in (0, 1)"),
        ("device", "tpu", "auto, cpu, cuda"),
        ("profile", "fast", "must be one of book, smoke, paper"),
    ]


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_chapter_refuses_every_bad_value_it_could_receive(tmp_path, chapter):
    names = {"profile", *CHAPTERS[chapter].params}
    tested = 0
    for name, value, allowed in _bad_values(tmp_path):
        if name not in names:
            continue
        with pytest.raises(ParameterError) as error:
            resolve(chapter, **{"profile": "smoke", name: value})
        message = str(error.value)
        assert message.startswith(f"{name}={value!r} is not allowed: must be "), message
        assert allowed in message, message
        tested += 1
    assert tested >= 10
    assert list(tmp_path.iterdir()) == [tmp_path / "a-file"]  # validation created nothing


def test_sparsity_checks_refuse_values_outside_0_1():
    for name in ("sparsity", "sparsities"):
        check = CHAPTERS["prune_then_distill"].params[name].check
        wrap = (lambda v: v) if name == "sparsity" else (lambda v: [v])
        assert check(wrap(0.0)) is None and check(wrap(0.99)) is None
        assert all(check(wrap(v)) for v in (1.0, 1.5, -0.01, float("nan"), "0.5", True))


def test_a_teacher_whose_class_count_differs_is_refused(tmp_path, monkeypatch):
    teacher = _teacher_file(tmp_path, 100, monkeypatch)
    with pytest.raises(ParameterError, match=r"has 100 classes but the student, on dataset='cifar10', has 10"):
        resolve("kd_basics", profile="smoke", dataset="cifar10", teacher_path=str(teacher))
    assert resolve("kd_basics", profile="smoke", dataset="cifar100", teacher_path=str(teacher)).teacher_path


def test_a_checkpoint_that_is_not_a_teacher_file_is_refused_as_teacher_path(tmp_path):
    path = save_checkpoint({"epoch": 3, "model": {"w": torch.zeros(2)}}, tmp_path / "run.pt")  # a fit checkpoint
    with pytest.raises(ParameterError, match=r"must be a teacher file written by kdcore\.teachers"):
        resolve("kd_basics", profile="smoke", teacher_path=str(path))


def test_a_data_dir_without_the_dataset_is_refused(tmp_path):
    with pytest.raises(ParameterError, match=r"data_dir=.* must be a directory holding the Fashion-MNIST"):
        resolve("kd_basics", profile="smoke", dataset="fashion_mnist", data_dir=str(tmp_path))


def test_an_output_dir_that_can_be_created_is_accepted_and_not_created(tmp_path):
    target = tmp_path / "new" / "results"
    assert resolve("kd_basics", profile="smoke", output_dir=str(target)).output_dir == str(target)
    assert not (tmp_path / "new").exists()


# --- static rules every chapter and profile must follow -----------------------------------------------------


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_profile_value_has_a_check_and_passes_it(chapter):
    """Every parameter has a check, every override names a parameter, and the published values pass."""
    spec = CHAPTERS[chapter]
    assert all(callable(p.check) and p.help for p in spec.params.values())
    for profile in ("book", "smoke", "paper"):
        assert set(getattr(spec, profile, {})) <= set(spec.params)
        resolve(chapter, profile=profile)  # the published values themselves are valid


@pytest.mark.parametrize("notebook", chapter_notebooks(BOOK), ids=lambda p: p.name)
def test_every_chapter_validates_its_parameters_before_any_work(notebook):
    nb = nbformat.read(notebook, 4)
    index = _parameters_index(nb)
    key = chapter_key(notebook)
    assert key in CHAPTERS, f"{notebook.name}: chapter key {key!r} has no spec in kdcore.chapters.CHAPTERS"
    assert nb.cells[index].source == parameters_cell(key), f"{notebook.name}: run scripts/sync_parameters.py"

    before = [c for c in nb.cells[:index] if c.cell_type == "code"]
    assert all('find_spec("kdcore")' in c.source for c in before), (
        f"{notebook.name}: only the Colab setup cell may run before the parameters cell"
    )

    declared = set()
    for statement in ast.parse(nb.cells[index].source).body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        assert isinstance(statement, (ast.AnnAssign, ast.Assign)), (
            f"{notebook.name}: the parameters cell may only import and assign defaults"
        )
        targets = [statement.target] if isinstance(statement, ast.AnnAssign) else statement.targets
        name = targets[0].id
        declared.add(name)
        assert isinstance(statement.value, ast.Constant) and statement.value.value is None, (
            f"{notebook.name}: parameter {name} must default to None (the profile's value)"
        )
    assert declared == {"profile", *CHAPTERS[key].params}, f"{notebook.name}: the cell must declare every parameter"

    statements = ast.parse(_validation_cell(nb).source).body
    calls = [i for i, s in enumerate(statements) if _calls_validation(s)]
    assert calls, f"{notebook.name}: the first code cell after 'parameters' must call from_namespace(...)"
    for statement in statements[: calls[0]]:  # only imports and a start time may come first
        allowed = isinstance(statement, (ast.Import, ast.ImportFrom)) or (
            isinstance(statement, ast.Assign) and "time" in ast.unparse(statement.value)
        )
        assert allowed, f"{notebook.name}: {ast.unparse(statement)!r} runs before the parameters are validated"


def _calls_validation(statement) -> bool:
    return any(
        isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in ("from_namespace", "resolve")
        for node in ast.walk(statement)
    )
