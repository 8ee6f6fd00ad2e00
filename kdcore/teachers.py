"""Train a teacher once, reuse it everywhere: a cache keyed by a hash of the teacher's full configuration.

A chapter asks for a teacher by what defines it (architecture, data split, training config, objective,
seed). The first call trains it (checkpointed every ``KDCORE_CHECKPOINT_EVERY_S`` seconds, 120 by default,
so a killed run resumes) and stores the weights under ``cache_dir()``; every later call, from this chapter or
another, loads them. Files load with
``weights_only=True``. Both files are written atomically, so a crash leaves either no file or a whole one. A
damaged or tampered cache file (say, an interrupted copy) is never silently retrained over: loading raises
:class:`~kdcore.checkpoint.UnsafeCheckpointError`, which names the file and says to delete it to retrain.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import distributed
from .checkpoint import file_lock, load_checkpoint, save_checkpoint
from .fit import History, TrainConfig, fit, prepare_model
from .models import build_model
from .objectives import CrossEntropy, Objective
from .prune.io import load_pruned_state_dict
from .seeding import seed_everything
from .splits import Splits

CACHE_VERSION = 1  # bump when a change in kdcore makes old cached teachers invalid


def cache_dir() -> Path:
    """``KDCORE_CACHE_DIR`` if set, else ``~/.cache/kdcore``."""
    return Path(os.environ.get("KDCORE_CACHE_DIR") or Path.home() / ".cache" / "kdcore")


def config_hash(key: dict) -> str:
    """A short stable hash of a JSON-able dict (sorted keys)."""
    text = json.dumps({"cache_version": CACHE_VERSION, **key}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_spec(arch: str, splits: Splits) -> dict:
    """What :func:`kdcore.models.build_model` needs to rebuild a model for these data."""
    data = splits.data
    return {
        "arch": arch,
        "in_channels": data.in_channels,
        "num_classes": data.num_classes,
        "image_size": data.image_size,
    }


def build_from_spec(spec: dict) -> nn.Module:
    return build_model(spec["arch"], spec["in_channels"], spec["num_classes"], spec["image_size"])


def train_or_load(
    arch: str,
    splits: Splits,
    config: TrainConfig,
    train,
    val=None,
    *,
    objective: Callable[[nn.Module], Objective] = CrossEntropy,
    objective_key: dict | None = None,
    seed: int = 0,
    progress: bool | str = True,
    stop_after: int | None = None,
    compile: bool | str = False,
) -> tuple[nn.Module, dict]:
    """Return a trained teacher and its record, training it only if the cache does not have it.

    Args:
        arch: architecture name for :func:`kdcore.models.build_model`.
        splits: the data split it is trained on (its ``key`` enters the hash).
        config: the training config (enters the hash).
        train, val: :class:`~kdcore.batches.DeviceBatches` of ``splits.train`` / ``splits.val``.
        objective: builds the training objective from the model (default: plain cross-entropy).
        objective_key: a JSON-able description of ``objective`` (enters the hash); required when
            ``objective`` is not plain cross-entropy, so different objectives never share a cache entry.
        seed: seeds the initialization (and, through ``config.seed``, batch order).
        stop_after: an early-stopped teacher: the run of ``config`` stopped after this many epochs (its own
            cache entry). It checkpoints its last state to the full run's partial file, so the full run, asked
            for later, resumes from there instead of training those epochs again (the same numbers on CPU).
        compile: ``fit``'s ``torch.compile`` mode; a speed trick, so not part of the cache key.

    Returns:
        ``(model, record)``: the model in eval mode on ``train.device``; the record holds ``key``,
        ``hash``, ``path``, ``history`` and ``cached`` (whether it was loaded rather than trained).
    """
    if objective is not CrossEntropy and objective_key is None:
        raise ValueError("pass objective_key to describe a custom objective in the cache key")
    key = {
        "model": model_spec(arch, splits),
        "split": splits.key,
        "train": config.to_dict(),
        "objective": objective_key or {"name": "cross_entropy"},
        "seed": seed,
    }
    full = cache_dir() / "teachers" / f"{arch}-{config_hash(key)}.pt"  # the whole run's file
    stopped = stop_after is not None and stop_after < config.epochs
    if stopped:
        key["stopped_at"] = stop_after
    digest = config_hash(key)
    path = cache_dir() / "teachers" / f"{arch}-{digest}.pt"
    seed_everything(seed)
    model = prepare_model(build_from_spec(key["model"]), train.device)

    def train_it() -> History:
        partial = full.with_suffix(".partial.pt")  # an early stop leaves its state here for the whole run
        lock = stopped and not distributed.is_distributed()  # the whole run's partial file is shared
        with file_lock(full.with_suffix(".lock")) if lock else contextlib.nullcontext():
            history = fit(objective(model), train, config, val, checkpoint=partial, progress=progress,
                          stop_after=stop_after if stopped else None, compile=compile)  # fmt: skip
            # an early stop keeps its state for the whole run, unless that run has finished already
            _save_result(path, key, model, history, partial if not stopped or full.exists() else None)
        return history

    history, cached = _load_or_make(path, model, train_it)
    model.eval()
    return model, {"key": key, "hash": digest, "path": str(path), "history": history, "cached": cached}


def _save_result(path: Path, key: dict, model: nn.Module, history: list, partial: Path | None) -> None:
    """Write a finished run (key, weights, history) to ``path`` and drop its ``partial`` checkpoint.

    Under torchrun every rank holds the same weights: rank 0 writes them, and the others wait for it."""
    if distributed.is_main():
        save_checkpoint({"key": key, "model": model.state_dict(), "history": list(history)}, path)
        if partial is not None:
            partial.unlink(missing_ok=True)
    distributed.barrier()


def _load_or_make(path: Path, model: nn.Module, make: Callable[[], History]) -> tuple[History, bool]:
    """Load ``path`` into ``model`` if it exists, else ``make()`` it, under a lock on the path.

    The lock makes two processes that want the same file (``kdcore-batch --workers 2``) take turns: the
    second finds the first one's file instead of training over the same ``.partial.pt``. Under torchrun the
    ranks train together, so they take no lock (rank 0 alone writes).
    """
    lock = contextlib.nullcontext() if distributed.is_distributed() else file_lock(path.with_suffix(".lock"))
    with lock:
        if path.exists():
            saved = load_checkpoint(path, map_location="cpu")  # load_state_dict copies onto the model's device
            load_pruned_state_dict(model, saved["model"])  # masks, where the file has them
            return History(saved["history"]), True
        return make(), False


def derive_or_load(
    source: nn.Module, key: dict, derive: Callable[[nn.Module, Path], list], name: str
) -> tuple[nn.Module, dict]:
    """A model derived from ``source`` (pruned and retrained, say) by ``derive(copy, partial)``, made once
    and cached.

    ``derive`` changes its copy of ``source`` in place (masks included: they are buffers, saved with the
    weights) and returns a history; it should pass ``partial`` to :func:`~kdcore.fit.fit` as its checkpoint,
    so a killed retraining resumes. ``key`` must say everything that defines the result (the source's hash
    first). The file sits beside the trained teachers, under ``cache_dir()/derived``.
    """
    digest = config_hash(key)
    path = cache_dir() / "derived" / f"{name}-{digest}.pt"
    model = copy.deepcopy(source)
    history, cached = _made_once(path, key, model, lambda partial: derive(model, partial))
    model.eval()
    return model, {"key": key, "hash": digest, "path": str(path), "history": history, "cached": cached}


def cached_run(model: nn.Module, key: dict, train: Callable[[Path], list], name: str) -> tuple[History, bool]:
    """A student run made once: ``train(partial)`` trains ``model`` (checkpointing to ``partial``), the result
    is saved under ``cache_dir()/runs``, and a later call with the same ``key`` loads it instead.

    Used at the paper profile, where one student is hours of GPU time: a killed run resumes from its last
    checkpoint and the finished ones are not redone.
    """
    return _made_once(cache_dir() / "runs" / f"{name}-{config_hash(key)}.pt", key, model, train)


def _made_once(path: Path, key: dict, model: nn.Module, train: Callable[[Path], list]) -> tuple[History, bool]:
    """``path`` loaded into ``model``, or made by ``train(partial)`` (which checkpoints to ``partial``, beside
    ``path``, so a killed run resumes) and saved there: ``(history, cached)``."""

    def train_it() -> History:
        partial = path.with_suffix(".partial.pt")
        history = History(train(partial))
        _save_result(path, key, model, history, partial)
        return history

    return _load_or_make(path, model, train_it)


def describe(objective: nn.Module) -> dict:
    """What defines an objective, for a cache key: its class, its settings (:func:`_plain`: numbers, strings,
    ``None``, and lists, tuples and dicts of them: a method's ``layers=(1, 2)`` keys it as surely as its
    temperature; not its run state, :data:`RUN_STATE`), a fingerprint
    of every frozen network it holds (a distiller's teacher), so another teacher never shares a key, and
    one of the objective's own buffers if it has any (KR's priors: built another way, another key)."""
    settings = {k: _json(v) for k, v in vars(objective).items() if _plain(v) and k[0] != "_" and k not in RUN_STATE}
    teachers = {
        name: fingerprint(module) for name, module in objective.named_children() if name != "model"
    }  # the model being trained is not part of what defines the objective
    own = [buffer for _, buffer in objective.named_buffers(recurse=False)]
    buffers = {"buffers": fingerprint_tensors(own)} if own else {}  # others keep the keys they had
    return {"class": type(objective).__name__, **settings, **teachers, **buffers}


RUN_STATE = ("training", "cached_logits", "cached_for")  # what an objective is doing, not what it is


def _plain(value) -> bool:
    """A setting a cache key can hold as it is: a number (a numpy one too), string, bool or ``None``, or a list,
    tuple or string-keyed dict of them."""
    if isinstance(value, (list, tuple)):
        return all(map(_plain, value))
    if isinstance(value, dict):
        return all(isinstance(k, str) for k in value) and all(map(_plain, value.values()))
    return value is None or isinstance(value, (int, float, str, bool, np.generic))


def _json(value):
    """A :func:`_plain` setting as JSON writes it (a numpy scalar as its Python number)."""
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def fingerprint(module: nn.Module) -> list[float]:
    """Sum and sum of squares of all weights and buffers in float64: cheap, and differs between any two
    trained networks."""
    return fingerprint_tensors([*module.parameters(), *module.buffers()])


@torch.no_grad()
def fingerprint_tensors(tensors: list[torch.Tensor]) -> list[float]:
    """:func:`fingerprint` of a list of tensors (integer ones are skipped)."""
    tensors = [t.double() for t in tensors if t.is_floating_point()]
    if not tensors:
        return [0.0, 0.0]
    return [float(sum(t.sum() for t in tensors)), float(sum((t * t).sum() for t in tensors))]


def load_teacher(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Load a teacher file written by :func:`train_or_load` (for example a copy of a cached teacher)."""
    saved = load_checkpoint(path, map_location=device)
    model = prepare_model(build_from_spec(saved["key"]["model"]), device)
    model.load_state_dict(saved["model"])
    return model.eval(), saved["key"]
