"""The README's "kdcore in your own code": its Python blocks run, in order, as a reader would paste them."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readmes_own_code_runs_and_trains_a_student_that_learns(capsys):
    part = README.read_text().split("<!-- own-code:start -->")[1].split("<!-- own-code:end -->")[0]
    blocks = re.findall(r"```python\n(.*?)```", part, re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # the cache: conftest's, empty for this test
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"student test accuracy: ([\d.]+)", printed)[1])
    assert accuracy > 0.5  # ten classes: chance is 0.1; the method trained
    assert all(run.test_acc > 0.1 for run in namespace["runs"]) and "test_acc" in namespace["runs"][0].record()
