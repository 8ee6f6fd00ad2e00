import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kdcore.batch import plan
from kdcore.chapters import CHAPTERS, chapter_notebooks
from kdcore.params import Param, ParameterError, from_namespace, parameters_cell, resolve, spec

ROOT = Path(__file__).resolve().parent.parent


def test_profiles_merge_and_explicit_values_win():
    book = resolve("kd_basics", profile="book")
    smoke = resolve("kd_basics", profile="smoke")
    assert book.teacher == "mlp-512-512" and smoke.teacher != book.teacher
    assert smoke.seeds == list(range(resolve("kd_basics", profile="smoke").seeds.__len__()))
    paper = resolve("kd_basics", profile="paper", dataset="cifar10", seeds=[3, 5])
    assert paper.teacher == "resnet32x4" and paper.dataset == "cifar10" and paper.seeds == [3, 5]
    assert resolve("kd_basics", profile="smoke", temperature=None).temperature == book.temperature


def test_from_namespace_reads_only_the_chapters_parameters():
    P = from_namespace("kd_basics", {"profile": "smoke", "temperature": 2.5, "unrelated": 1})
    assert P.temperature == 2.5 and not hasattr(P, "unrelated")


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("dataset", "mnist", "one of fashion_mnist"),
        ("teacher", "resnet9", "a kdcore architecture"),
        ("student_epochs", 0, "an integer ≥ 1"),
        ("teacher_epochs", -3, "an integer ≥ 1"),
        ("seeds", 0, "a number of seeds ≥ 1"),
        ("seeds", [1, -1], "a number of seeds ≥ 1"),
        ("temperature", 0.0, "a number in (0, ∞)"),
        ("w_kd", -0.1, "a number in [0, ∞)"),
        ("data_dir", "/no/such/dir", "an existing directory"),
        ("profile", "fast", "one of"),
    ],
)
def test_bad_values_name_the_parameter_the_value_and_what_is_allowed(name, value, allowed):
    with pytest.raises(ParameterError) as error:
        resolve("kd_basics", **{name: value})
    message = str(error.value)
    assert message.startswith(f"{name}={value!r}") and allowed in message


def test_unknown_parameter_and_chapter_are_refused():
    with pytest.raises(ParameterError, match=r"temprature=2.0 is not a parameter of chapter 'kd_basics'; did you"):
        resolve("kd_basics", temprature=2.0)
    with pytest.raises(ParameterError, match="unknown chapter"):
        resolve("no_such_chapter")


@pytest.mark.parametrize("profile", ["book", "paper"])
def test_kdcore_widgets_sets_the_default_and_an_explicit_value_still_wins(monkeypatch, profile):
    monkeypatch.delenv("KDCORE_WIDGETS", raising=False)
    from_profile = resolve("kd_basics", profile=profile).widgets
    assert from_profile is (profile == "book")  # sliders in the book (Colab, Jupyter); none on a GPU batch
    monkeypatch.setenv("KDCORE_WIDGETS", "0")
    assert resolve("kd_basics", profile=profile).widgets is False
    assert resolve("kd_basics", profile=profile, widgets=True).widgets is True
    monkeypatch.setenv("KDCORE_WIDGETS", "1")
    assert resolve("kd_basics", profile=profile).widgets is True
    monkeypatch.setenv("KDCORE_WIDGETS", "yes")  # anything but 0 or 1 leaves the profile's value
    assert resolve("kd_basics", profile=profile).widgets is from_profile


# --- unknown names: papermill only warns; from_namespace reads the executed "# Parameters" cells -----------


def test_an_unknown_name_in_an_executed_parameters_cell_is_refused_with_the_closest_names():
    injected = "# Parameters\nprofile = 'smoke'\ntemprature = 2\n"
    namespace = {"In": ["", parameters_cell("kd_basics"), injected], "profile": "smoke", "temprature": 2}
    with pytest.raises(ParameterError) as error:
        from_namespace("kd_basics", namespace)
    assert str(error.value) == (
        "temprature=2 is not a parameter of chapter 'kd_basics'; did you mean temperature? "
        "(all parameters: papermill --help-notebook book/01_kd_basics.ipynb)"
    )
    # a near miss, another chapter's parameter, and a name close to none
    for name, hint in [("w_kdd", "did you mean w_kd"), ("sparsity", r"\(all parameters"), ("zzz", r"\(all")]:
        with pytest.raises(ParameterError, match=rf"^{name}=0.5 is not a parameter of chapter 'kd_basics'.*{hint}"):
            from_namespace("kd_basics", {"In": [f"# Parameters\n{name} = 0.5\n"]})
    # cells that are not parameters cells, and the chapter's own names, are fine
    ok = {"In": ["x = 1", injected.replace("temprature", "temperature")], "profile": "smoke", "temperature": 2.0}
    assert from_namespace("kd_basics", ok).temperature == 2.0


def test_the_batch_refuses_an_unknown_name_with_a_suggestion_before_any_run(tmp_path):
    notebooks = {ROOT / "book" / "01_kd_basics.ipynb": "kd_basics"}
    with pytest.raises(ParameterError, match=r"temprature=2 is not a parameter.*did you mean temperature"):
        plan(notebooks, [{"profile": "smoke", "temprature": 2}], [0], tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- device: checked against what this machine has ---------------------------------------------------------


@pytest.mark.parametrize("gpus", [0, 1])
def test_device_is_checked_against_the_machines_gpus(monkeypatch, gpus):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for ok in ["auto", "cpu", *(["cuda", "cuda:0"] if gpus else [])]:
        assert resolve("kd_basics", "smoke", device=ok).device == ok
    for bad in ["cuda:7", "mps", *([] if gpus else ["cuda", "cuda:0"])]:
        with pytest.raises(ParameterError, match=rf"^device={bad!r} is not allowed: must be auto(,| or) cpu"):
            resolve("kd_basics", "smoke", device=bad)
    if gpus:
        with pytest.raises(ParameterError, match=r"cuda:0…cuda:0 \(this machine has 1 CUDA GPU\)"):
            resolve("kd_basics", "smoke", device="cuda:1")
    else:
        with pytest.raises(ParameterError, match=r"this machine has no CUDA GPU"):
            resolve("kd_basics", "smoke", device="cuda")


def test_mps_is_accepted_where_it_exists(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve("kd_basics", "smoke", device="mps").device == "mps"


# --- the spec: chapter checks, generated cell, help ---------------------------------------------------------


@pytest.mark.parametrize("teacher", ["resnet20", "resnet32x4", "wrn-16-2"])
def test_prune_then_distill_refuses_a_teacher_it_cannot_derive_a_student_from(teacher):
    with pytest.raises(ParameterError) as error:
        resolve("prune_then_distill", "smoke", teacher=teacher)
    message = str(error.value)
    assert message.startswith(f"teacher={teacher!r} is not allowed: must be an MLP (mlp-W1-W2-…) or a VGG")
    assert "derived from the pruned teacher's layer widths" in message
    assert resolve("prune_then_distill", "paper").teacher == "vgg19"


@pytest.mark.parametrize(
    ("chapter", "given", "message"),
    [
        ("prune_then_distill", {"sparsity": 0.5}, "sparsity=0.5 is not allowed: must be one of sparsities="),
        (
            "prune_then_distill",
            {"imp_rate": 0.5, "sparsities": [0.1, 0.5], "sparsity": 0.5},
            "each needs at least one IMP round",
        ),
        ("tolerant", {"ce_weights": [0.5, 0.5, 0.5]}, "must be one CE weight or one per generation"),
        ("tolerant", {"tsd_k": 11}, "tsd_k=11 is not allowed: must be at most the number of classes (10"),
        ("comparison", {"tsd_k": 11}, "tsd_k=11 is not allowed"),
        ("kr", {"teacher": "resnet8"}, "kr_unit_order='similar' is not allowed with teacher='resnet8'"),
        ("pruning", {"teacher": "resnet8"}, "teacher='resnet8' is not allowed: must be an MLP"),
    ],
)
def test_cross_parameter_checks_live_in_the_spec(chapter, given, message):
    with pytest.raises(ParameterError) as error:
        resolve(chapter, "smoke", **given)
    assert message in str(error.value)


def test_param_types_come_from_the_default_and_overrides_must_be_parameters():
    assert Param(2, None, "h").type == "int" and Param([1], None, "h").type == "list"
    assert Param(None, None, "h").type == "str" and Param(None, None, "h", "int").type == "int"
    with pytest.raises(AssertionError):
        Param(1, None, "a = b")  # papermill --help-notebook would skip that line
    assert all(set(s.smoke) | set(s.paper) <= set(s.params) for s in CHAPTERS.values())


def test_parameters_cell_declares_every_parameter_with_none_and_its_help():
    cell = parameters_cell("kr").splitlines()
    # a comment, then ruff's formatter is kept off the one-line-a-parameter layout (book/ruff.toml: 80 columns)
    start = cell.index("# fmt: off") + 1
    assert cell[0].startswith("# Parameters") and all(line.startswith("# ") for line in cell[:start])
    assert "scripts/sync_parameters.py" in " ".join(cell[:start])
    assert cell[start] == "profile: str = None  # book (default), smoke (tests), paper (GPU, CIFAR)"  # no gpu profile
    gpu = parameters_cell("comparison").splitlines()[start]
    assert gpu.endswith("paper (GPU, CIFAR), gpu (GPU, CNNs on Fashion-MNIST)")  # chapter 9 has one
    assert cell[start + 1 :] == [f"{n}: {p.type} = None  # {p.help}" for n, p in spec("kr").params.items()]
    assert "widgets: bool = None" in "\n".join(cell)


def test_papermill_help_notebook_lists_every_parameter_with_type_and_help():
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", "book/06_prune_then_distill.ipynb"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    listed = " ".join(done.stdout.split())
    for name, p in {
        "profile": Param(None, None, "book (default), smoke (tests), paper (GPU, CIFAR)"),
        **spec("prune_then_distill").params,
    }.items():
        assert f"{name}: {p.type} (default None)" in listed and p.help in listed, name


def test_every_notebooks_parameters_cell_is_in_sync_with_its_spec(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "sync_parameters.py"), "--check"]
    done = subprocess.run(script, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "01_kd_basics.ipynb").write_text(
        (ROOT / "book" / "01_kd_basics.ipynb").read_text().replace("# KD temperature T", "# stale help")
    )
    done = subprocess.run([*script, "--book-dir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 1 and "01_kd_basics.ipynb: parameters cell differs" in done.stdout


def test_the_gpu_profile_exists_only_where_a_chapter_defines_it():
    P = resolve("kd_basics", "gpu")
    assert (P.dataset, P.teacher, P.student, P.augment) == ("fashion_mnist", "resnet8x4", "resnet8", True)
    with pytest.raises(ParameterError, match="profile='gpu' is not allowed for chapter 'pruning': only kd_basics"):
        resolve("pruning", "gpu")


@pytest.mark.parametrize("notebook", chapter_notebooks(ROOT / "book"), ids=lambda p: p.stem)
def test_every_chapter_puts_its_resolved_parameters_behind_one_button(notebook):
    """One pattern in every chapter: the papermill cell (all ``None``) is removed from the HTML, the cell after
    it shows its imports and the resolved parameters behind a button (so every name the shown code uses is one
    click away), and the opening says so."""
    import nbformat

    cells = nbformat.read(notebook, 4).cells
    (at,) = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    assert cells[at].metadata.tags == ["parameters", "remove-cell"]
    setup = cells[at + 1]
    assert setup.metadata.get("tags") == ["hide-cell"], setup.metadata
    assert setup.metadata.get("mystnb", {}).get("code_prompt_show") == "Show the imports and the parameters of this run"
    last = setup.source.rstrip().splitlines()[-1]
    assert last == "P" or last.startswith("(P := from_namespace("), last  # the cell's value: the parameters
    assert any(o.get("data", {}).get("text/html") for o in setup.outputs), "no resolved parameters committed"
    assert "behind the button below" in cells[0].source


@pytest.mark.parametrize(
    "notebook",
    [*chapter_notebooks(ROOT / "book"), *sorted((ROOT / "book" / "results" / "gpu").glob("*.ipynb"))],
    ids=lambda p: f"{p.parent.name}/{p.stem}",
)
def test_every_folded_cell_says_what_its_button_shows(notebook):
    """A folded cell's button reads what it hides ("Show the parameters of this run", "Show the training
    log", …), never the generic "Show code cell source" (myst-nb's per-cell ``code_prompt_show``)."""
    import nbformat

    folded = [c for c in nbformat.read(notebook, 4).cells
              if {"hide-input", "hide-output", "hide-cell"} & set(c.metadata.get("tags", []))
              and "remove-cell" not in c.metadata.get("tags", [])]  # fmt: skip
    unlabelled = [c.get("id") for c in folded if not c.metadata.get("mystnb", {}).get("code_prompt_show")]
    assert not unlabelled, f"{notebook.name}: folded cells without a button label: {unlabelled}"


def test_lineage_seeds_stay_below_1000_where_generations_add_1000_a_generation():
    assert resolve("tolerant", "smoke", seeds=[0, 999]).seeds == [0, 999]
    for seeds in ([1000], 1001):  # lineage 1000's patriarch would be lineage 0's first student
        with pytest.raises(ParameterError, match="below 1000"):
            resolve("tolerant", "smoke", seeds=seeds)
