"""Atomic writes and safe loads.

Everything kdcore writes (checkpoints, results JSON) goes to a temporary file in the same directory and is
then renamed over the target, so a crash never leaves a truncated file that a later run would trust.
Checkpoints load with ``weights_only=True``: tensors, numbers, strings, lists and dicts only, never
arbitrary pickled objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import torch


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that is not a plain-tensor file written by kdcore (tampered, foreign or corrupt)."""


def _atomic_write(path: str | os.PathLike, write) -> Path:
    """Write through a temporary file in the target's folder, flushed to disk, then renamed over the target.

    The rename is atomic, so the target is always either the old file or the complete new one. The temporary
    file is created like any other file (mode 0o666 minus the umask; ``mkstemp`` would make it private), and
    a killed process can leave only a hidden ``.<name>.<random>.tmp`` that nothing reads.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def file_lock(path: str | os.PathLike):
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    Two processes that would make the same file (two batch workers training one teacher, or downloading one
    dataset) take turns: the second waits, then finds the first one's result. POSIX ``flock``: the lock
    goes away with the process, so a killed worker never leaves a stale lock behind. Where ``fcntl`` does not
    exist (Windows), the block runs unlocked.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file and an atomic rename."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)``; anything else in the file is refused with a clear error.

    Raises:
        UnsafeCheckpointError: the file holds a pickled object other than tensors and plain containers
            (its code is never run), or it is truncated or otherwise damaged.
        FileNotFoundError: there is no such file.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # a path problem, not a bad file
    except Exception as e:  # a damaged file raises almost anything (KeyError, IndexError, TypeError, ...)
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it is not a plain-tensor checkpoint written by kdcore "
            f"(tampered, foreign or truncated). Delete it to retrain. Cause: {type(e).__name__}: {e}"
        ) from e


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    """Write JSON atomically (indented, keys in insertion order)."""
    text = json.dumps(obj, indent=2, default=_jsonable) + "\n"
    return _atomic_write(path, lambda f: f.write(text.encode()))


def _jsonable(value):
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars (an array's .item() raises beyond one element)
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")
