"""Atomic writes and safe loads: a crash never leaves a truncated file that a later run would trust, and a
tampered or foreign pickle is refused before any of its code runs.

Design choice for damaged teacher files: ``train_or_load`` does not silently retrain over a damaged cache
file (it may be the only copy of hours of GPU training, or a sign of tampering); it refuses it with an
:class:`UnsafeCheckpointError` that names the file and says to delete it to retrain. A damaged per-epoch
``.partial.pt`` checkpoint is refused the same way. kdcore itself never produces either: both are written
through a temporary file and an atomic rename.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

import kdcore.checkpoint
from kdcore.batches import DeviceBatches
from kdcore.checkpoint import UnsafeCheckpointError, load_checkpoint, save_checkpoint, write_json
from kdcore.data import synthetic
from kdcore.fit import TrainConfig
from kdcore.record import write_chapter_results, write_results
from kdcore.splits import holdout_split
from kdcore.teachers import cache_dir, load_teacher, train_or_load


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- atomic writes -----------------------------------------------------------------------------------


def test_a_checkpoint_write_that_crashes_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "run.pt"
    save_checkpoint({"epoch": 1, "w": torch.arange(1000.0)}, target)
    before = target.read_bytes()

    def crash_midway(obj, f):  # write half the bytes, then die as a full disk or a bug would
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("No space left on device")

    real_save = torch.save
    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"epoch": 2, "w": torch.zeros(1000)}, target)
    monkeypatch.undo()

    assert target.read_bytes() == before
    assert load_checkpoint(target)["epoch"] == 1
    assert _leftovers(tmp_path) == []  # the half-written temporary file was removed


def test_a_results_write_that_crashes_before_the_rename_leaves_the_previous_results(tmp_path, monkeypatch):
    target = tmp_path / "results" / "kd_basics.json"
    write_results(target, "kd_basics", {"seeds": [0]}, {"acc": 0.5}, started=time.time())
    before = target.read_text()

    def crash(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(kdcore.checkpoint.os, "fsync", crash)  # the bytes are in the temporary file by now
    with pytest.raises(OSError, match="I/O error"):
        write_results(target, "kd_basics", {"seeds": [0, 1]}, {"acc": 0.75}, started=time.time())
    monkeypatch.undo()

    assert target.read_text() == before and json.loads(before)["results"] == {"acc": 0.5}
    assert _leftovers(target.parent) == []


def test_a_chapter_writes_its_results_where_the_batch_looks_for_them(tmp_path):
    from kdcore.params import resolve

    P = resolve("kd_basics", "smoke", output_dir=str(tmp_path / "out"))
    path = write_chapter_results("kd_basics", P, {"acc": 0.5}, started=time.time())
    assert path == tmp_path / "out" / "kd_basics.json"  # kdcore.batch reads <output_dir>/<chapter>.json
    record = json.loads(path.read_text())
    assert record["chapter"] == "kd_basics" and record["results"] == {"acc": 0.5}
    assert record["params"] == json.loads(json.dumps(P.as_dict()))


def test_unserializable_results_leave_no_file(tmp_path):
    with pytest.raises(TypeError, match="not JSON-serializable"):
        write_json({"model": object()}, tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_ordinary_permissions(tmp_path):
    """Temporary files must not keep mkstemp's private 0600 mode after the rename (shared caches, results)."""
    ordinary = tmp_path / "ordinary"
    ordinary.write_text("x")
    mode = ordinary.stat().st_mode & 0o777
    assert (save_checkpoint({"a": 1}, tmp_path / "c.pt").stat().st_mode & 0o777) == mode
    assert (write_json({"a": 1}, tmp_path / "r.json").stat().st_mode & 0o777) == mode


WRITER = """
import sys, torch
from kdcore.checkpoint import save_checkpoint, write_json
folder = sys.argv[1]
version = 0
while True:
    version += 1
    save_checkpoint({"version": version, "w": torch.full((2_000_000,), float(version))}, folder + "/big.pt")
    write_json({"version": version, "values": [version] * 200_000}, folder + "/big.json")
    print(version, flush=True)
"""


def test_sigkill_during_large_writes_never_leaves_a_truncated_target(tmp_path):
    """Kill a process that keeps rewriting an 8 MB checkpoint and a 1 MB JSON at moments that fall inside
    a write; each target must always be one complete version."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "1"  # both files exist, complete
        time.sleep(0.3)  # well inside a later round of writes
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    checkpoint = load_checkpoint(tmp_path / "big.pt")
    assert torch.equal(checkpoint["w"], torch.full((2_000_000,), float(checkpoint["version"])))
    results = json.loads((tmp_path / "big.json").read_text())
    assert results["values"] == [results["version"]] * 200_000
    # at most one temporary file per target can be left by the kill; nothing ever reads them
    assert all(name.startswith((".big.pt.", ".big.json.")) for name in _leftovers(tmp_path))


# --- damaged files are refused ---------------------------------------------------------------------------


@pytest.mark.parametrize("keep", ["nothing", "one byte", "100 bytes", "half", "all but the last byte"])
def test_a_truncated_checkpoint_is_refused_with_a_clear_error(tmp_path, keep):
    path = save_checkpoint({"epoch": 3, "model": {"w": torch.randn(64, 64)}}, tmp_path / "run.pt")
    data = path.read_bytes()
    n = {"nothing": 0, "one byte": 1, "100 bytes": 100, "half": len(data) // 2, "all but the last byte": -1}[keep]
    path.write_bytes(data[:n])
    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load .*run\.pt.*truncated.*Delete it"):
        load_checkpoint(path)


def test_damaged_bytes_raise_only_unsafe_checkpoint_error(tmp_path):
    """Corrupt files raise all sorts of errors inside torch.load (KeyError, IndexError, TypeError…); callers
    must see one kind."""
    path = save_checkpoint({"epoch": 3, "config": {"lr": 0.1}, "model": {"w": torch.randn(20, 5)}}, tmp_path / "c.pt")
    data = bytearray(path.read_bytes())
    generator = torch.Generator().manual_seed(0)
    refused = 0
    for _ in range(300):
        damaged = bytearray(data)
        for position in torch.randint(len(data), (3,), generator=generator).tolist():
            damaged[position] = (damaged[position] + 1 + position) % 256
        path.write_bytes(damaged)
        try:
            load_checkpoint(path)  # a flip inside the tensor bytes can load: torch keeps no checksum
        except UnsafeCheckpointError:
            refused += 1
    assert refused > 100


def test_a_missing_checkpoint_is_a_missing_file_not_an_unsafe_one(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nothing.pt")


def _teacher_setup():
    data = synthetic(300, 50, num_classes=3)
    splits = holdout_split(data, 0.2)
    train = DeviceBatches(splits.train, data.mean, data.std, 64, shuffle=True)
    return splits, train, TrainConfig(epochs=2, batch_size=64, lr=0.05)


def test_train_or_load_refuses_a_truncated_cached_teacher_and_says_to_delete_it():
    splits, train, config = _teacher_setup()
    _, record = train_or_load("mlp-8", splits, config, train, progress=False)
    path = Path(record["path"])
    path.write_bytes(path.read_bytes()[:-200])  # e.g. an interrupted copy into the cache
    with pytest.raises(UnsafeCheckpointError, match="Delete it to retrain") as error:
        train_or_load("mlp-8", splits, config, train, progress=False)
    assert str(path) in str(error.value)
    path.unlink()  # what the message says to do
    _, again = train_or_load("mlp-8", splits, config, train, progress=False)
    assert not again["cached"] and load_checkpoint(path)["key"] == record["key"]


def test_train_or_load_refuses_a_damaged_partial_checkpoint():
    splits, train, config = _teacher_setup()
    _, record = train_or_load("mlp-8", splits, config, train, progress=False)
    path = Path(record["path"])
    path.rename(path.with_suffix(".partial.pt"))  # pretend training stopped there...
    partial = path.with_suffix(".partial.pt")
    partial.write_bytes(partial.read_bytes()[:500])  # ...and the file was then damaged
    with pytest.raises(UnsafeCheckpointError, match=r"partial\.pt"):
        train_or_load("mlp-8", splits, config, train, progress=False)
    assert not path.exists()  # nothing was trained or cached from it


# --- safe loading ----------------------------------------------------------------------------------------


class _Payload:
    """What an attacker would pickle: unpickling it runs a shell command (here: creates a file)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_a_malicious_pickle_is_refused_and_its_code_never_runs(tmp_path, container):
    marker = tmp_path / "pwned"
    save = torch.save if container == "torch.save" else lambda obj, f: pickle.dump(obj, f, protocol=2)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        save({"epoch": 1, "model": {"w": torch.zeros(2)}, "extra": _Payload(marker)}, f)

    with pytest.raises(UnsafeCheckpointError, match=r"refusing to load .*evil\.pt"):
        load_checkpoint(path)
    assert not marker.exists()

    # control: the same kind of file loaded unsafely does run the code, so this test can fail
    control = tmp_path / "control.pt"
    with open(control, "wb") as f:
        save({"x": _Payload(tmp_path / "ran")}, f)
    with open(control, "rb") as f:
        torch.load(f, weights_only=False) if container == "torch.save" else pickle.load(f)
    assert (tmp_path / "ran").exists()


def test_a_tampered_teacher_file_is_refused_by_load_teacher_and_train_or_load(tmp_path):
    splits, train, config = _teacher_setup()
    _, record = train_or_load("mlp-8", splits, config, train, progress=False)
    path = Path(record["path"])
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(path) as archive:  # inject a payload into the checkpoint's own pickle
        names = archive.namelist()
        contents = {name: archive.read(name) for name in names}
    data_pkl = next(name for name in names if name.endswith("data.pkl"))
    contents[data_pkl] = pickle.dumps(_Payload(marker), protocol=2)
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, contents[name])

    with pytest.raises(UnsafeCheckpointError, match="tampered"):
        load_teacher(path)
    with pytest.raises(UnsafeCheckpointError, match="tampered"):
        train_or_load("mlp-8", splits, config, train, progress=False)
    assert not marker.exists()
    assert cache_dir() in path.parents


def test_write_json_takes_numpy_arrays_and_scalars(tmp_path):
    import numpy as np

    # a results dict may hold group_means' arrays; an array's .item() raises beyond one element
    path = write_json({"means": np.array([0.8, 0.9]), "n": np.int64(3), "x": np.float32(0.5)}, tmp_path / "r.json")
    assert json.loads(path.read_text()) == {"means": [0.8, 0.9], "n": 3, "x": 0.5}
