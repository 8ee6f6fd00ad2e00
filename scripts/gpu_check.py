"""The device check: one prepared run on one GPU that proves the paper path works, measures it, and runs the
`gpu` profile's chapters (the book part "At CNN scale").

    python scripts/gpu_check.py --out DIR --data-dir .device-data   # on the GPU machine: at most --deadline-s
    python scripts/gpu_check.py --out DIR --tiny                    # the same steps at tiny sizes on CPU (CI)

It needs only what the device image has (torch, scipy, matplotlib, pytest, tqdm, pyyaml, requests, click)
plus the wheels scripts/prepare_device.sh fetches (IPython and the Jupyter stack papermill runs chapters with).
Every step adds its result to ``DIR/gpu_check.json`` as soon as it ends (the benchmarks' own JSON files are
embedded), so a run cut short still returns what it measured; DIR gets at most 8 files (the device tool's
limit): that JSON and the `gpu` chapters' executed notebooks, results JSON and ``run.json`` in ``DIR/gpu``.
Steps, in order (the slow and optional ones last):

1. ``tests``: pytest of the tests CI skips for want of CUDA, and the kill-and-resume test on this device;
2. ``kd_throughput``: ``benchmarks/kd_throughput.py`` (a), (b), (c), without ``torch.compile``;
3. ``chapter_kd_step``: images/s of the chapters' own KD step (``kdcore.experiment.train_student``, the path
   every chapter runs) at the benchmark's batch sizes, to compare with (b)/(c); then, in the same call, the
   student runs compiled (``--compile``, ``Bench.compile``) and, with ``--fold-bn``, the teacher folded;
4. ``paper_throughputs``: ``benchmarks/teacher_training.py --plan benchmarks/plan/paper.json``: images/s of
   every network of the paper profile (its teachers, resnet32x4 at batch 64 and VGG-19 at 128, included),
   training and forward, from which ``scripts/cost_table.py`` computes the paper profile's cost table;
5. ``gpu_throughputs``: the same for the `gpu` profile's plan (Fashion-MNIST-shaped images), and from it the
   projected time of step 6;
6. ``gpu_book``: the `gpu` profile's chapters (``--gpu-chapters``) executed with papermill by
   ``scripts/execute_chapters.py --profile gpu``, their epochs scaled down by one factor only if the
   projection does not fit the time left (the scale and the values used are recorded, and stay visible in
   the notebooks; below ``--min-scale`` the step is skipped for a call of its own);
7. ``chapters``: every chapter at the paper profile, one epoch per training run, on ``synthetic-cifar100``
   with a small training subset, each to its end (``--workers`` at once: they prove the path, they time
   nothing);
8. ``kd_throughput_compile``: (b) and (c) through ``torch.compile`` (``--compile``'s mode: by default
   reduce-overhead, CUDA graphs), if time is left;
9. ``compile_objectives``: ``benchmarks/compile_objectives.py`` in that mode: every objective the chapters
   train with (cross-entropy, KD, TSD, the ICC teacher and student, KR), eager and compiled, for two seeds:
   whether it compiles, to the eager loss, and pays (``--only compile_objectives`` makes it a call of its own;
   with ``--tiny``, KD alone, at tiny size).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# every parameter that names a network: the paper check keeps the paper's (not the smoke profile's MLPs)
ARCH_PARAMETERS = {"teacher", "student", "network", "low_capacity_student", "confident_teacher", "small_teacher",
                   "assistant"}  # fmt: skip
KEEP_PAPER = ARCH_PARAMETERS | {"dataset", "train_subset", "output_dir", "teacher_path", "data_dir", "profile"}
# the steps, in the order they run (environment is recorded first, always); scripts/import_gpu_run.py reads them
GPU_CHAPTERS = ("kd_basics", "capacity_gap", "comparison")  # step gpu_book: the book part "At CNN scale"
STEPS = ("tests", "kd_throughput", "chapter_kd_step", "paper_throughputs", "gpu_throughputs", "gpu_book", "chapters",
         "kd_throughput_compile", "compile_objectives")  # fmt: skip


def reusable(path: Path | None, profile: str, device: str, plan: dict) -> dict | None:
    """``path``'s record of step ``{profile}_throughputs`` if it was measured on a device of this name and
    prices every row of ``plan`` (a cost plan, benchmarks/plan/PROFILE.json) as scripts/cost_table.py does."""
    from cost_table import chapter_cost

    if path is None or not path.exists():
        return None
    check = json.loads(path.read_text())
    rates = (check.get(f"{profile}_throughputs") or {}).get("json")
    if not rates or check.get("environment", {}).get("device") != device:
        return None
    try:
        for chapter in plan["chapters"].values():
            chapter_cost(chapter["rows"], rates)
    except KeyError:  # cost_table.rate: a network this record never timed
        return None
    return check[f"{profile}_throughputs"]


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
    """kdcore's record of the machine, the device this run uses, and when it started."""
    import torch

    from kdcore.record import environment as machine

    record = {**machine(), "driver_ok": torch.cuda.is_available(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if not device.startswith("cuda"):  # --device cpu (CI's tiny run): not the GPU the machine may have
        record.update(device="cpu", cuda=None)
    return record


# ------------------------------------------------------------------------------------- chapters without Jupyter
def check_parameters(chapter: str, device: str, subset: int, out: Path, tiny: bool = False) -> dict:
    """Paper profile, one epoch per run, a small synthetic CIFAR-100 subset; lists from the smoke profile."""
    from kdcore.params import spec

    s = spec(chapter)
    values = {k: v for k, v in s.smoke.items() if k not in KEEP_PAPER}  # small sweeps, few seeds
    values.update({k: 1 for k in s.params if k.endswith("epochs")})
    if "stop_epoch" in s.params:  # the early-stopped teacher stops after epoch 1 of a 2-epoch run
        values.update(stop_epoch=1, confident_epochs=2)
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


def chapters_step(args, work: Path) -> list[dict]:
    """Every chapter at the paper profile (``check_parameters``), ``args.workers`` at once, each in its own
    process; results JSON into ``work`` (they prove the path; the numbers are meaningless)."""
    from kdcore.chapters import chapter_key, chapter_notebooks

    notebooks = [nb for nb in chapter_notebooks(ROOT / "book") if not args.chapters or
                 any(c in nb.name for c in args.chapters)]  # fmt: skip

    def one(notebook: Path) -> dict:
        parameters = check_parameters(chapter_key(notebook), args.device, args.subset, work, args.tiny)
        result = run([sys.executable, __file__, "--execute", str(notebook), json.dumps(parameters)],
                     timeout=args.chapter_timeout, env={"MPLBACKEND": "Agg"})  # fmt: skip
        return {"chapter": notebook.name, "parameters": parameters, "ok": result["exit"] == 0, **result}

    with ThreadPoolExecutor(args.workers) as pool:
        return list(pool.map(one, notebooks))


def gpu_book(args, out: Path, work: Path, seconds_left: float) -> dict:
    """The `gpu` profile's chapters, executed with papermill into ``out`` (notebooks, results JSON, run.json).

    Their epochs are the profile's unless ``args.margin`` times their projected time (step gpu_throughputs)
    exceeds ``seconds_left``: then every epoch count is scaled down by one factor (:func:`book_scale`), which
    is recorded and shows in the notebooks' injected parameters."""
    from kdcore.params import resolve

    overrides = {}
    if args.tiny:  # the smallest ResNets, one epoch, a small synthetic Fashion-MNIST-shaped subset, on CPU
        overrides = {"dataset": "synthetic", "train_subset": 600, "device": "cpu", "allow_cpu": True,
                     "teacher": "resnet8", "small_teacher": "resnet8", "confident_teacher": "resnet8",
                     "assistant": "resnet8", "student": "resnet8", "teacher_seeds": [0, 1], "student_labels": 300,
                     "teacher_epochs": 1, "student_epochs": 1, "confident_epochs": 2, "stop_epoch": 1,
                     "retrain_epochs": 1, "output_dir": str(work / "gpu")}  # fmt: skip
    plan = {"seconds_left": None if seconds_left == float("inf") else round(seconds_left), "scale": 1.0}
    if not args.tiny and args.gpu_book_seconds:
        plan["projected_seconds"] = args.gpu_book_seconds
        plan["overhead_seconds"] = args.gpu_book_overhead
        plan["scale"] = book_scale(seconds_left, args.gpu_book_seconds, args.margin, args.gpu_book_overhead)
        if plan["scale"] < args.min_scale:  # epochs cut this far would make the pages say little: not now
            return {**plan, "skipped": f"scale {plan['scale']:.2f} < --min-scale {args.min_scale}: give gpu_book "
                    "a call of its own (--only gpu_throughputs gpu_book)"}  # fmt: skip
        if plan["scale"] < 1.0:
            for chapter in args.gpu_chapters:
                overrides.update(scaled_epochs(resolve(chapter, "gpu").as_dict(), plan["scale"]))
    flags = [f for k, v in overrides.items() for f in ("-p", k, json.dumps(v))]
    command = [sys.executable, "scripts/execute_chapters.py", *args.gpu_chapters, "--profile", "gpu",
               "--out", str(out / "gpu"), *flags]  # fmt: skip
    # within the deadline: a run killed by the device tool's limit would return no record of this step
    result = run(command, timeout=max(30.0, min(seconds_left, 3600)))
    return {**plan, "chapters": list(args.gpu_chapters), "overrides": overrides, **result}


def book_scale(seconds_left: float, projected: float, margin: float, overhead: float = 0.0) -> float:
    """The factor on every epoch count that fits ``margin`` × (the fixed ``overhead`` + the scaled projected
    training time) into the time left (≤ 1; below 0 when even the overhead does not fit).

    The projection ran up to 1.5× short of the measured time on CPU (benchmarks/README.md), hence the margin.
    The overhead (kernel starts, imports, a model's build and first steps) does not shrink with the epochs:
    without it, the first H200 run scaled to 0.33 and ran out of time in chapter 9."""
    return min(1.0, (seconds_left / margin - overhead) / projected)


def scaled_epochs(values: dict, scale: float) -> dict:
    """Every epoch count of a chapter's values times ``scale`` (at least 1; an early stop stays early), those
    that differ from ``values`` (a scale close to 1 rounds back to them: no override)."""
    scaled = {k: max(1, round(v * scale)) for k, v in values.items() if k.endswith("epochs") or k == "stop_epoch"}
    if "stop_epoch" in scaled:
        scaled["stop_epoch"] = min(scaled["stop_epoch"], scaled["confident_epochs"] - 1) or 1
        scaled["confident_epochs"] = max(scaled["confident_epochs"], scaled["stop_epoch"] + 1)
    return {k: v for k, v in scaled.items() if v != values[k]}


# --------------------------------------------------------------------------------------- the chapters' KD step
def chapter_kd_step(args) -> dict:
    """Images/s of ``experiment.train_student`` (what every chapter calls) distilling resnet32x4 into
    resnet8x4 on augmented CIFAR-100-shaped data at ``batch``: compare with the benchmark's (b)/(c)."""
    from kdcore import experiment
    from kdcore.data import synthetic
    from kdcore.fit import fold_batchnorm
    from kdcore.params import resolve

    teacher, student = ("resnet8", "resnet8") if args.tiny else ("resnet32x4", "resnet8x4")
    P = resolve("kd_basics", "paper", dataset="synthetic-cifar100", device=args.device,
                **({"allow_cpu": True} if args.device == "cpu" else {}))  # fmt: skip
    bench = experiment.prepare(P)
    bench.resume_runs = False  # a measurement, not a result to keep
    # synthetic-cifar100 has 413 training images: one batch an epoch would time the per-epoch overhead, not
    # the step. The benchmark's 50,000 images, batched as experiment.prepare batches a chapter's data.
    data = synthetic(512 if args.tiny else 50_000, 16, (3, 32, 32), 100)
    teacher_model = bench.build(teacher).eval()
    result = {"teacher": teacher, "student": student, "images": data.train_x.shape[0]}
    # each batch size as the chapters run it, then in the same call the variants asked for: the teacher's
    # BatchNorms folded (--fold-bn: should prepare_teacher fold on CUDA?), student runs compiled (--compile)
    variants = {"images_per_s": (teacher_model, False)}
    if args.fold_bn:
        variants["images_per_s_fold_bn"] = (fold_batchnorm(teacher_model), False)
    if args.compile:
        variants["images_per_s_compiled"] = (teacher_model, args.compile)
        result["compile"] = args.compile
    for key, (frozen, mode) in variants.items():
        bench.compile = mode
        rates, result["steps_per_epoch"], extra = kd_step_rates(args, bench, data, student, frozen, key)
        result[key] = rates
        if mode:  # what compiling costs at the start of a run: the first epoch's time beyond a warm epoch's
            result["compile_seconds"] = extra
    return result


def kd_step_rates(args, bench, data, student: str, teacher_model, label: str) -> tuple[dict, dict, dict]:
    """Images/s of the chapters' KD step at each of ``args.kd_batches``, the steps of an epoch, and the seconds
    the first epoch took beyond the second (warm-up: compilation, CUDA graph capture)."""
    from kdcore import experiment
    from kdcore.fit import TrainConfig
    from kdcore.losses import KD

    sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmarks' batches, as a chapter's (with indices)
    from kd_throughput import augmented_batches

    rows, steps, extra = {}, {}, {}
    for batch in args.kd_batches:
        # fit batches as its DeviceBatches do (TrainConfig.batch_size only labels the run): one per batch size
        train = augmented_batches(data, batch, bench.device, with_index=True)
        config = TrainConfig(epochs=2, batch_size=batch, lr=0.05, schedule="constant", crop_padding=4, hflip=True)
        run_ = experiment.train_student(
            bench, student, lambda s: KD(s, teacher_model), seed=0, config=config, train=train
        )
        first, seconds = (row["seconds"] for row in run_.history)  # the second epoch: warm
        rows[batch], steps[batch], extra[batch] = train.num_examples / seconds, len(train), first - seconds
        print(f"  chapters' KD step ({label}), batch {batch}: {rows[batch]:.1f} images/s", flush=True)
    return rows, steps, extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json and gpu/ (at most 8 files)")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes on CPU: CI checks the script works")
    parser.add_argument("--device", default=None, help="default: cuda, or cpu with --tiny")
    parser.add_argument("--chapters", nargs="*", default=None, help="only chapters whose file names contain these")
    parser.add_argument(
        "--gpu-chapters",
        nargs="*",
        default=list(GPU_CHAPTERS),
        help="chapter keys of step gpu_book, in order (later ones reuse earlier ones' runs)",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="steps to skip")
    parser.add_argument("--only", nargs="*", default=None, help="run only these steps (environment is always first)")
    parser.add_argument(
        "--min-scale",
        type=float,
        default=0.25,
        help="gpu_book: skip it rather than scale the gpu profile's epochs below this",
    )
    parser.add_argument("--data-dir", default=None, help="Fashion-MNIST IDX files (carried to the GPU machine)")
    parser.add_argument(
        "--deadline-s",
        type=float,
        default=None,
        help="seconds the whole run may take (default: 570 on a GPU, none with --tiny)",
    )
    parser.add_argument(
        "--reserve-s", type=float, default=120, help="seconds kept from gpu_book for the steps after it"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=1.5,
        help="gpu_book: scale its epochs to fit --margin times the projected time in the time left",
    )
    parser.add_argument(
        "--reuse-throughputs",
        type=Path,
        default=None,
        help="a gpu_check.json of an earlier call: its throughputs, not measured again, if it ran on this device",
    )
    parser.add_argument(
        "--fold-bn", action="store_true", help="chapter_kd_step: also with the teacher's BatchNorms folded"
    )
    parser.add_argument(
        "--compile",
        default=None,
        metavar="MODE",
        help="torch.compile mode of kd_throughput_compile, compile_objectives and chapter_kd_step's compiled "
        "variant (none: no variant); default: reduce-overhead (CUDA graphs, the mode that paid on an H200), none "
        "with --tiny",
    )
    parser.add_argument("--workers", type=int, default=3, help="paper-profile chapters run at once (step 7)")
    parser.add_argument("--execute", nargs=2, metavar=("NOTEBOOK", "PARAMS_JSON"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.execute:  # the child process of the chapters step
        execute_notebook(Path(args.execute[0]).resolve(), json.loads(args.execute[1]))
        return 0
    started = time.monotonic()
    args.device = args.device or ("cpu" if args.tiny else "cuda")
    args.subset = 256 if args.tiny else 1024
    args.chapter_timeout = 600 if args.tiny else 240
    args.kd_batches = [32, 64] if args.tiny else [64, 256, 512]
    args.deadline_s = args.deadline_s or (None if args.tiny else 570)
    args.compile = args.compile or (None if args.tiny else "reduce-overhead")
    args.compile = None if args.compile == "none" else args.compile
    args.gpu_book_seconds = args.gpu_book_overhead = None  # set by step gpu_throughputs
    if args.data_dir:  # every child process (tests, chapters, papermill kernels) finds the data there
        os.environ["KDCORE_DATA_DIR"] = str(Path(args.data_dir).resolve())
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))  # what need not come back: only gpu_check.json embeds it
    (out / "gpu_check.json").unlink(missing_ok=True)
    machine = environment(args.device)
    record(out, "environment", machine)
    python, quick = sys.executable, ["--quick"] if args.tiny else []
    tests = ["tests/test_fastpath.py", "tests/test_reliability_resume.py", "tests/test_resume_runs.py",
             "tests/test_locks.py", "tests/test_fit.py"]  # fmt: skip
    # the kill-and-resume test on this device (tests/helpers/resumable_teacher.py reads KDCORE_TEST_DEVICE)
    test_env = {"KDCORE_TEST_DEVICE": args.device, "KDCORE_CHECKPOINT_EVERY_S": "0"}

    def seconds_left() -> float:
        return float("inf") if args.deadline_s is None else args.deadline_s - (time.monotonic() - started)

    def benchmark(script: str, name: str, *flags: str, timeout: float = 300) -> dict:
        """Run a benchmark script; its JSON is embedded in the step's record."""
        path = work / f"{name}.json"
        result = run([python, script, "--device", args.device, *quick, *flags, "--json", str(path)], timeout)
        return {**result, "json": json.loads(path.read_text()) if path.exists() else None}

    def compiled() -> dict:  # each compiled batch size costs a fresh compile (tens of seconds): 64, 512, 2048
        if args.tiny:  # compiling on a CPU takes minutes and measures nothing of interest
            return {"skipped": "no compile on CPU"}
        if not args.compile:
            return {"skipped": "--compile none"}
        return benchmark("benchmarks/kd_throughput.py", "kd_throughput_compile", "--compile", args.compile,
                         "--batch-sizes", "512", "2048", timeout=min(300, max(60, seconds_left())))  # fmt: skip

    def objectives_compiled() -> dict:  # on CPU (--tiny) one objective: compiling there takes a while
        if not args.compile:
            return {"skipped": "--compile none"}
        flags = ["--compile", args.compile, *(["--only", "kd"] if args.tiny else [])]
        return benchmark("benchmarks/compile_objectives.py", "compile_objectives", *flags,
                         timeout=min(420, max(60, seconds_left())))  # fmt: skip

    def throughputs(profile: str) -> dict:
        """Images/s of every network and batch size of a profile's cost plan (benchmarks/plan/PROFILE.json):
        the paper profile's cost table, and the time the gpu profile's chapters will take (step gpu_book)."""
        plan = ROOT / "benchmarks" / "plan" / f"{profile}.json"
        plan_ = json.loads(plan.read_text())
        earlier = reusable(args.reuse_throughputs, profile, machine["device"], plan_)
        if earlier:  # an earlier call's measurement on this kind of device: its seconds saved
            result = {**earlier, "reused_from": earlier["json"]["measured"]}
        else:
            flags = ["--plan", str(plan), *(["--num-train", "32"] if args.tiny else [])]
            result = benchmark("benchmarks/teacher_training.py", f"throughputs_{profile}", *flags, timeout=240)
        if profile == "gpu" and result["json"]:  # the chapters in order with one cache (cost_table's model)
            from cost_table import overhead_seconds, shared_cache_seconds

            result["projected_gpu_book_seconds"] = shared_cache_seconds(plan_, result["json"])
            result["overhead_gpu_book_seconds"] = overhead_seconds(plan_)
            args.gpu_book_seconds = result["projected_gpu_book_seconds"]
            args.gpu_book_overhead = result["overhead_gpu_book_seconds"]
            print(f"  gpu profile's chapters projected at {args.gpu_book_seconds:.0f} s of training and "
                  f"{args.gpu_book_overhead:.0f} s of overhead", flush=True)  # fmt: skip
        return result

    steps = {
        "tests": lambda: run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], 300, test_env),
        "kd_throughput": lambda: benchmark("benchmarks/kd_throughput.py", "kd_throughput"),
        "chapter_kd_step": lambda: chapter_kd_step(args),
        "paper_throughputs": lambda: throughputs("paper"),
        "gpu_throughputs": lambda: throughputs("gpu"),
        "gpu_book": lambda: gpu_book(args, out, work, seconds_left() - args.reserve_s),
        "chapters": lambda: chapters_step(args, work),
        "kd_throughput_compile": compiled,
        "compile_objectives": objectives_compiled,
    }
    assert tuple(steps) == STEPS, "STEPS names the steps in the order they run"
    failed = False
    for name, step in steps.items():
        if name in args.skip or (args.only is not None and name not in args.only):
            continue
        if seconds_left() < 30:
            record(out, name, {"skipped": "no time left before the deadline"})
            continue
        print(f"{name}:", flush=True)
        try:
            value = step()
        except Exception:
            value, failed = {"error": traceback.format_exc()[-3000:]}, True
        record(out, name, value)
        results = value if isinstance(value, list) else [value]
        failed |= any(isinstance(r, dict) and r.get("exit") not in (None, 0) for r in results)
    record(out, "seconds", round(time.monotonic() - started, 1))
    print(f"written: {out / 'gpu_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
