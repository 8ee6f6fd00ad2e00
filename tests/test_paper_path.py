"""The paper profile's CIFAR architectures run end to end, on a small synthetic CIFAR-shaped dataset.

So the CIFAR/GPU code path of a chapter cannot rot unseen while the book itself runs on Fashion-MNIST.
"""

import json
from pathlib import Path

import papermill

BOOK = Path(__file__).resolve().parent.parent / "book"


def test_chapter_one_runs_with_paper_architectures_on_synthetic_cifar100(tmp_path):
    out = tmp_path / "ch1.ipynb"
    papermill.execute_notebook(
        str(BOOK / "01_kd_basics.ipynb"),
        str(out),
        cwd=str(BOOK),
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "profile": "paper",
            "dataset": "synthetic-cifar100",
            "train_subset": 128,
            "teacher_epochs": 1,
            "student_epochs": 1,
            "seeds": 1,
            "device": "cpu",
            "allow_cpu": True,  # the paper profile refuses the CPU otherwise (tests/test_resume_runs.py)
            "output_dir": str(tmp_path),
        },
    )
    results = json.loads((tmp_path / "kd_basics.json").read_text())
    assert results["params"]["teacher"] == "resnet32x4" and results["params"]["student"] == "resnet8x4"
    assert results["params"]["augment"] is True
    assert len(results["results"]["students"]) == 4  # two regimes × (CE only, KD)
