"""`make read` renders the book in a venv with Jupyter Book and kdcore alone, without torch (README)."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_html_build_imports_nothing_that_needs_torch():
    # the Sphinx extensions _config.yml loads, and the kdcore modules they import, with torch made unimportable
    extensions = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["local_extensions"]
    code = (f"import sys; sys.modules['torch'] = None; sys.path.insert(0, '_ext'); "
            f"import {', '.join(extensions)}")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    # and the check can fail: a module that needs torch is caught
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None; import kdcore.fit"],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode != 0 and "torch" in done.stderr
