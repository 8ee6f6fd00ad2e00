"""Atomic writes and safe loads.

Everything kdcore writes (checkpoints, results JSON) goes to a temporary file in the same directory and is
then renamed over the target, so a crash never leaves a truncated file that a later run would trust.
Checkpoints load with ``weights_only=True``: tensors, numbers, strings, lists and dicts only, never
arbitrary pickled objects.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch


class UnsafeCheckpointError(RuntimeError):
    """A checkpoint that is not a plain-tensor file written by kdcore (tampered, foreign or corrupt)."""


def _atomic_write(path: str | os.PathLike, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def save_checkpoint(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file and an atomic rename."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)``; anything else in the file is refused with a clear error."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as e:
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
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")
