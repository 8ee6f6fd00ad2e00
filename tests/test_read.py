"""`make read` renders the book in a venv with Jupyter Book and kdcore alone (README): kdcore goes in without
its dependencies, of which Jupyter Book brings only pyyaml."""

import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
# kdcore's dependencies that the read venv lacks: every one but pyyaml (checked by hand against a fresh
# `pip install -c requirements.txt jupyter-book` on 2026-11-28)
DEPENDENCIES = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
ABSENT = sorted({re.match(r"[\w-]+", d).group(0) for d in DEPENDENCIES} - {"pyyaml"})
BLOCK = f"""
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {ABSENT!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the read venv)")
sys.meta_path.insert(0, Absent())
"""


def imports_without_the_absent(modules: str) -> subprocess.CompletedProcess:
    code = BLOCK + f"sys.path.insert(0, '_ext')\nimport {modules}\n"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_the_html_build_imports_nothing_the_read_venv_lacks():
    assert "torch" in ABSENT and "numpy" in ABSENT and "scipy" in ABSENT
    # the Sphinx extensions _config.yml loads, and the kdcore modules they import
    extensions = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["local_extensions"]
    done = imports_without_the_absent(", ".join(extensions))
    assert done.returncode == 0, done.stderr[-2000:]
    # and the check can fail: modules that need what the read venv lacks are caught
    for module in ("kdcore.fit", "kdcore.results"):  # torch; scipy and numpy
        done = imports_without_the_absent(module)
        assert done.returncode != 0 and "not in the read venv" in done.stderr, module
