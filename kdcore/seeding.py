"""Seeding and device choice."""

from __future__ import annotations

import os
import random
import zlib

import numpy as np
import torch

# how the students under several teacher seeds take their seeds (kdcore.experiment.student_seeds); the first is
# the default, the one place kdcore.chapters' `student_seeding` and the experiment code read the choices from
STUDENT_SEEDINGS = ("per-teacher", "shared")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and all GPUs).

    On CPU, with the same thread count, this makes runs bit-identical. On CUDA some kernels (atomics in
    backward passes, cuDNN autotuning) stay nondeterministic; see README.md, "Determinism".
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds the legacy global RNG that user code may call)
    torch.manual_seed(seed)


def derived_seed(seed: int, stream: str) -> int:
    """A seed for one named use of ``seed`` (e.g. ``"random-scores"``), statistically independent of ``seed``
    itself and of every other stream (NumPy's ``SeedSequence`` with the stream's name as its spawn key).

    Why: a generator seeded with the model's own seed replays the draws that initialised the model.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(stream.encode()),))
    return int(sequence.generate_state(1, np.uint64)[0] >> 1)  # < 2**63: a valid torch seed


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` if available, else ``cpu``; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pin_threads(n: int | None = None) -> int:
    """Fix torch's CPU thread count (results differ in late digits across thread counts).

    ``n`` defaults to ``KDCORE_THREADS``, else the number of cores.
    """
    n = n or int(os.environ.get("KDCORE_THREADS", "0")) or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n
