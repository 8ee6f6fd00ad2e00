"""The Colab install cell of every chapter installs the kdcore commit pinned in _config.yml (``kdcore_ref``),
and that commit holds the library the committed outputs came from (scripts/sync_install_cell.py)."""

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REF = str(CONFIG.get("kdcore_ref"))

spec = importlib.util.spec_from_file_location("sync_install_cell", ROOT / "scripts" / "sync_install_cell.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)
PINNED = sync.pinned_notebooks(ROOT / "book")  # the chapters and their CNN-scale copies


def first_code_cell(path: Path) -> dict:
    return next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_config_pins_a_full_commit_id():
    assert re.fullmatch(r"[0-9a-f]{40}", REF), f"_config.yml: kdcore_ref {REF!r} is not a 40-hex commit id"


@pytest.mark.parametrize("path", PINNED, ids=[str(p.relative_to(ROOT / "book").with_suffix("")) for p in PINNED])
def test_the_install_cell_installs_the_pinned_commit(path):
    cell = first_code_cell(path)
    source = "".join(cell["source"])
    urls = re.findall(r"git\+(https://\S+?)@([0-9a-zA-Z._/-]+)", source)
    repository = CONFIG["repository"]["url"].rstrip("/")
    assert urls == [(repository, REF)], f"{path.name}: the install cell installs {urls}, not {repository}@{REF}"
    assert source == sync.install_source(repository, REF), (
        f"{path.name}: the install cell is not the standard one: run `python scripts/sync_install_cell.py`"
    )
    assert "remove-cell" in cell["metadata"].get("tags", []), f"{path.name}: install cell not tagged remove-cell"


def test_sync_check_agrees():
    assert sync.main(["--check"]) == 0, "run `python scripts/sync_install_cell.py`"


def tree(ref: str, path: str) -> str | None:
    found = git("rev-parse", f"{ref}:{path}")
    return found.stdout.strip() if found.returncode == 0 else None


def test_the_pinned_commit_holds_the_current_library():
    """The pin names code identical to HEAD's kdcore/ and pyproject.toml (skipped without git history)."""
    if git("rev-parse", "--git-dir").returncode != 0:
        pytest.skip("not a git checkout")
    if git("cat-file", "-e", f"{REF}^{{commit}}").returncode != 0:
        if git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
            pytest.skip(f"shallow clone: the pinned commit {REF[:12]} is not in the fetched history")
        pytest.fail(f"_config.yml: kdcore_ref {REF} is not a commit of this repository")
    for path in sync.PINNED_PATHS:
        assert tree(REF, path) == tree("HEAD", path), (
            f"{path} at the pinned commit {REF[:12]} differs from HEAD's: re-execute the chapters, then run "
            "`python scripts/sync_install_cell.py --update`"
        )


def test_sync_rewrites_only_the_install_cell_and_inserts_one_where_missing(tmp_path):
    repository = "https://github.com/o/r"
    other = {"cell_type": "code", "id": "b", "metadata": {}, "source": ["x = 1"], "outputs": [], "execution_count": 1}
    old = {"cell_type": "code", "id": "a", "metadata": {"tags": ["keep"]}, "execution_count": 1, "outputs": [],
           "source": ['if importlib.util.find_spec("kdcore") is None:\n', "    pass"]}  # fmt: skip
    title = {"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# T"]}
    nb = {"cells": [title, old, other], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    new = sync.synced(nb, sync.install_source(repository, "f" * 40))
    assert nb["cells"][1]["source"] != new["cells"][1]["source"]  # the input is not modified
    assert [c["id"] for c in new["cells"]] == ["t", "a", "b"] and new["cells"][2] == other
    assert new["cells"][1]["metadata"]["tags"] == ["keep", "remove-cell"]
    assert f"git+{repository}@{'f' * 40}" in "".join(new["cells"][1]["source"])
    assert sync.synced(new, sync.install_source(repository, "f" * 40)) == new  # idempotent

    missing = sync.synced({**nb, "cells": [title, other]}, sync.install_source(repository, "f" * 40))
    assert [c["id"] for c in missing["cells"]] == ["t", "install-kdcore", "b"]
    assert sync.is_install_cell(missing["cells"][1])
