"""The device check: one prepared run on one GPU that proves the paper path works and measures it.

    python scripts/gpu_check.py --out DIR           # on the GPU machine: about 10 min on one H100
    python scripts/gpu_check.py --out DIR --tiny    # the same steps at tiny sizes on CPU (CI runs this)

It needs only what the device image has (torch, scipy, matplotlib, pytest, tqdm, pyyaml) plus IPython,
carried as wheels, because chapters import ``IPython.display``; it does not need Jupyter: each chapter's
code cells are executed in order in a fresh process, with the parameters injected after its
``parameters`` cell as papermill would. Every step appends to ``DIR/gpu_check.json`` as soon as it ends, so a
run cut short still returns what it measured. Steps:

1. ``tests``: pytest of the tests CI skips for want of CUDA, and the kill-and-resume test on this device;
2. ``kd_throughput``: ``benchmarks/kd_throughput.py`` (a), (b), (c), without and with ``torch.compile``;
3. ``teacher_training``: ``benchmarks/teacher_training.py`` for the paper profile's teachers;
4. ``chapter_kd_step``: images/s of the chapters' own KD step (``kdcore.experiment.train_student``, the path
   every chapter runs) at the benchmark's batch size, to compare with (b)/(c);
5. ``gpu_profile``: seconds per epoch of the `gpu` profile's teacher and student on Fashion-MNIST (pass
   ``--data-dir`` with the IDX files carried along), to size that profile's epochs;
6. ``chapters``: every chapter at the paper profile, one epoch per training run, on ``synthetic-cifar100``
   with a small training subset, each to its end.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCH_PARAMETERS = {"teacher", "student", "network", "low_capacity_student"}
KEEP_PAPER = ARCH_PARAMETERS | {"dataset", "train_subset", "output_dir", "teacher_path", "data_dir", "profile"}


def record(out: Path, step: str, value) -> None:
    """Add ``step`` to ``out/gpu_check.json`` (rewritten whole, atomically, after each step)."""
    path = out / "gpu_check.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[step] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def run(command: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``command`` from the repository root; return its exit code, seconds and output tail."""
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})  # fmt: skip
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        code, output = "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else ""
    print(f"  {' '.join(command[1:4])} … exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
    return {"command": command[1:], "exit": code, "seconds": round(time.perf_counter() - started, 1),
            "tail": output[-3000:]}  # fmt: skip


def environment(device: str) -> dict:
    import torch

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "driver_ok": torch.cuda.is_available(),
        "python": sys.version.split()[0],
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# ------------------------------------------------------------------------------------- chapters without Jupyter
def chapter_name(notebook: Path) -> str:
    """The spec name a notebook resolves (``from_namespace("NAME", globals())``)."""
    for cell in json.loads(notebook.read_text())["cells"]:
        source = "".join(cell["source"])
        if "from_namespace(" in source:
            return source.split("from_namespace(", 1)[1].split(",", 1)[0].strip().strip("\"'")
    raise ValueError(f"{notebook}: no from_namespace call")


def check_parameters(chapter: str, device: str, subset: int, out: Path, tiny: bool = False) -> dict:
    """Paper profile, one epoch per run, a small synthetic CIFAR-100 subset; lists from the smoke profile."""
    from kdcore.params import spec

    s = spec(chapter)
    values = {k: v for k, v in s.smoke.items() if k not in KEEP_PAPER}  # small sweeps, few seeds
    values.update({k: 1 for k in s.params if k.endswith("epochs")})
    values.update(profile="paper", dataset="synthetic-cifar100", train_subset=subset, device=device,
                  output_dir=str(out))  # fmt: skip
    if tiny:  # the smallest network of each paper architecture's family: CI checks the script, not the nets
        for name in ARCH_PARAMETERS & set(s.params):
            arch = s.paper.get(name, s.params[name].default)
            values[name] = (
                "vgg8" if arch.startswith("vgg") else "resnet8" if arch.startswith(("resnet", "wrn")) else arch
            )
    if "allow_cpu" in s.params and device == "cpu":
        values["allow_cpu"] = True
    return {k: v for k, v in values.items() if k in s.params or k == "profile"}


def execute_notebook(notebook: Path, parameters: dict) -> None:
    """Run a chapter's code cells in order in this process, as papermill would: the install cell is skipped
    (kdcore is installed) and a ``# Parameters`` cell with ``parameters`` follows the ``parameters`` cell."""
    import matplotlib

    matplotlib.use("Agg")
    os.chdir(notebook.parent)  # like papermill's --cwd book / nbval: relative paths resolve the same
    namespace: dict = {"__name__": "__main__", "In": []}
    injected = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in parameters.items())
    for i, cell in enumerate(json.loads(notebook.read_text())["cells"]):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        if "pip install" in source and "find_spec" in source:
            continue
        sources = [source, injected] if "parameters" in cell.get("metadata", {}).get("tags", []) else [source]
        for text in sources:
            ast.parse(text)  # a magic (%…, !…) would fail here, with the cell named
            namespace["In"].append(text)
            exec(compile(text, f"{notebook.name} cell {i}", "exec"), namespace)


def chapters_step(args, out: Path) -> list[dict]:
    from kdcore.batch import chapter_notebooks

    rows = []
    for notebook in chapter_notebooks(ROOT / "book"):
        if args.chapters and not any(c in notebook.name for c in args.chapters):
            continue
        chapter = chapter_name(notebook)
        parameters = check_parameters(chapter, args.device, args.subset, out / "chapters", args.tiny)
        result = run([sys.executable, __file__, "--execute", str(notebook), json.dumps(parameters)],
                     timeout=args.chapter_timeout, env={"MPLBACKEND": "Agg"})  # fmt: skip
        rows.append({"chapter": notebook.name, "parameters": parameters, "ok": result["exit"] == 0, **result})
        record(out, "chapters", rows)
    return rows


# --------------------------------------------------------------------------------------- the chapters' KD step
def chapter_kd_step(args) -> dict:
    """Images/s of ``experiment.train_student`` (what every chapter calls) distilling resnet32x4 into
    resnet8x4 on augmented CIFAR-100-shaped data at ``batch``: compare with the benchmark's (b)/(c)."""
    from kdcore import experiment
    from kdcore.fit import TrainConfig
    from kdcore.losses import KD
    from kdcore.params import resolve

    teacher, student = ("resnet8", "resnet8") if args.tiny else ("resnet32x4", "resnet8x4")
    P = resolve("kd_basics", "paper", dataset="synthetic-cifar100", device=args.device,
                **({"allow_cpu": True} if args.device == "cpu" else {}))  # fmt: skip
    bench = experiment.prepare(P)
    bench.resume_runs = False  # a measurement, not a result to keep
    teacher_model = bench.build(teacher).eval()
    rows = {}
    for batch in args.kd_batches:
        config = TrainConfig(epochs=2, batch_size=batch, lr=0.05, schedule="constant", crop_padding=4, hflip=True)
        run_ = experiment.train_student(bench, student, lambda s: KD(s, teacher_model), seed=0, config=config)
        seconds = run_.history[-1]["seconds"]  # the second epoch: warm
        rows[batch] = bench.train.num_examples / seconds
        print(f"  chapters' KD step, batch {batch}: {rows[batch]:.1f} images/s", flush=True)
    return {"teacher": teacher, "student": student, "images": bench.train.num_examples, "images_per_s": rows}


def gpu_profile(args) -> dict:
    """Seconds per epoch of the `gpu` profile's teacher and KD student on Fashion-MNIST with augmentation, at
    its batch size: what the profile's epochs are sized from (kdcore/chapters.py, GPU_COMMON)."""
    import dataclasses

    from kdcore import experiment
    from kdcore.losses import KD
    from kdcore.objectives import CrossEntropy
    from kdcore.params import resolve

    given = {"device": args.device, "data_dir": args.data_dir, "allow_cpu": args.device == "cpu"}
    if args.tiny:  # Fashion-MNIST-shaped synthetic data and the smallest ResNets
        given.update(dataset="synthetic", teacher="resnet8", student="resnet8")
    P = resolve("kd_basics", "gpu", **given)
    bench = experiment.prepare(P)
    bench.resume_runs = False
    config = dataclasses.replace(experiment.train_config(P, 2), schedule="constant")
    teacher = experiment.train_student(bench, P.teacher, CrossEntropy, seed=0, config=config)
    student = experiment.train_student(
        bench, P.student, lambda s: KD(s, teacher.model.eval(), P.temperature, P.w_ce, P.w_kd), seed=0, config=config
    )
    rows = {}
    for role, arch, run_ in (("teacher", P.teacher, teacher), ("student", P.student, student)):
        seconds = run_.history[-1]["seconds"]  # the second epoch: warm
        rows[role] = {"arch": arch, "epoch_seconds": seconds, "images_per_s": bench.train.num_examples / seconds}
        print(f"  gpu profile {role} {arch}: {seconds:.2f} s/epoch", flush=True)
    return {"dataset": P.dataset, "train_examples": bench.train.num_examples, "batch_size": P.batch_size, **rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on CPU: CI checks the script works")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --tiny")
    parser.add_argument("--chapters", nargs="*", default=None, help="only chapters whose file names contain these")
    parser.add_argument("--skip", nargs="*", default=[], help="steps to skip")
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX files (carried to the GPU machine)")
    parser.add_argument("--execute", nargs=2, metavar=("NOTEBOOK", "PARAMS_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:  # the child process of the chapters step
        execute_notebook(Path(args.execute[0]).resolve(), json.loads(args.execute[1]))
        return 0
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    args.subset = 256 if args.tiny else 1024
    args.chapter_timeout = 600 if args.tiny else 240
    args.kd_batches = [64] if args.tiny else [64, 256, 512]
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").unlink(missing_ok=True)
    record(out, "environment", environment(args.device))
    python, quick = sys.executable, ["--quick"] if args.tiny else []
    tests = ["tests/test_fastpath.py", "tests/test_reliability_resume.py", "tests/test_resume_runs.py",
             "tests/test_locks.py", "tests/test_fit.py"]  # fmt: skip
    # the kill-and-resume test on this device (tests/helpers/resumable_teacher.py reads KDCORE_TEST_DEVICE)
    test_env = {"KDCORE_TEST_DEVICE": args.device, "KDCORE_CHECKPOINT_EVERY_S": "0"}

    def kd_throughput() -> list[dict]:
        runs = []
        # each compiled batch size costs a fresh compile (tens of seconds): batch 64 (b) and 512 only
        compiled = ["--compile", "--batch-sizes", "512"]
        variants = [("kd_throughput", [])] + ([] if args.tiny else [("kd_throughput_compile", compiled)])
        for name, flags in variants:  # compiling on a CPU takes minutes and measures nothing of interest
            command = [python, "benchmarks/kd_throughput.py", "--device", args.device, *quick, *flags]
            runs.append(run([*command, "--json", str(out / f"{name}.json")], timeout=420))
        return runs

    teacher_command = [python, "benchmarks/teacher_training.py", "--device", args.device, *quick]
    teacher_command += ["--json", str(out / "teacher_training.json")]
    steps = {
        "tests": lambda: run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], 300, test_env),
        "kd_throughput": kd_throughput,
        "teacher_training": lambda: run(teacher_command, timeout=300),
        "chapter_kd_step": lambda: chapter_kd_step(args),
        "gpu_profile": lambda: gpu_profile(args),
        "chapters": lambda: chapters_step(args, out),
    }
    failed = False
    for name, step in steps.items():
        if name in args.skip:
            continue
        print(f"{name}:", flush=True)
        try:
            value = step()
        except Exception:
            value, failed = {"error": traceback.format_exc()[-3000:]}, True
        record(out, name, value)
        results = value if isinstance(value, list) else [value]
        failed |= any(isinstance(r, dict) and r.get("exit") not in (None, 0) for r in results)
    print(f"written: {out / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
