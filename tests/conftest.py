import os

import pytest
import torch

# Headless: chapters skip their sliders (kdcore.params says why); kernels started by nbval and papermill inherit it.
os.environ.setdefault("KDCORE_WIDGETS", "0")
# The resume tests kill runs of a few seconds: checkpoint after every epoch (the library default is every 120 s;
# tests/test_fit.py checks that default path explicitly).
os.environ.setdefault("KDCORE_CHECKPOINT_EVERY_S", "0")

# two xdist workers on two cores; also makes CPU results independent of the machine. KDCORE_THREADS too, as
# make test sets it: experiment.prepare pins torch to it (else to every core), in pytest runs outside make test
os.environ.setdefault("KDCORE_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own teacher cache, so no test depends on another's leftovers."""
    monkeypatch.setenv("KDCORE_CACHE_DIR", str(tmp_path / "cache"))
