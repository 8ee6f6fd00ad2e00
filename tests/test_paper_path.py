"""The paper profile's CIFAR architectures run end to end, on a small synthetic CIFAR-shaped dataset.

So the CIFAR/GPU code path of a chapter cannot rot unseen while the book itself runs on Fashion-MNIST.
"""

import json
from pathlib import Path

import papermill

from kdcore.batch import KERNEL_START_TIMEOUT

BOOK = Path(__file__).resolve().parent.parent / "book"


def test_chapter_one_runs_with_paper_architectures_on_synthetic_cifar100(tmp_path):
    out = tmp_path / "ch1.ipynb"
    papermill.execute_notebook(
        str(BOOK / "01_kd_basics.ipynb"),
        str(out),
        cwd=str(BOOK),
        kernel_name="python3",
        progress_bar=False,
        start_timeout=KERNEL_START_TIMEOUT,
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
    assert len(results["results"]["runs"]) == 4  # two regimes × (CE only, KD)


def test_chapter_one_runs_at_the_gpu_profile_on_cpu_at_tiny_size(tmp_path):
    """The `gpu` profile (CIFAR-style ResNets with augmentation on Fashion-MNIST) cannot rot between GPU runs."""
    papermill.execute_notebook(
        str(BOOK / "01_kd_basics.ipynb"), str(tmp_path / "ch1.ipynb"), cwd=str(BOOK), kernel_name="python3",
        progress_bar=False, start_timeout=KERNEL_START_TIMEOUT,
        parameters={"profile": "gpu", "train_subset": 256, "teacher": "resnet8", "teacher_epochs": 1,
                    "student_epochs": 1, "seeds": 2, "device": "cpu", "allow_cpu": True, "output_dir": str(tmp_path)},
    )  # fmt: skip
    results = json.loads((tmp_path / "kd_basics.json").read_text())
    assert results["params"]["profile"] == "gpu" and results["params"]["dataset"] == "fashion_mnist"
    assert results["params"]["student"] == "resnet8" and results["params"]["augment"] is True
