"""Parallel workers that want the same teacher take turns: one trains it, the other loads it."""

import multiprocessing as mp
import time

from kdcore.checkpoint import file_lock


def _teacher_in_a_fresh_process(cache_dir, queue):
    import os

    os.environ["KDCORE_CACHE_DIR"] = cache_dir
    from kdcore import experiment
    from kdcore.fit import TrainConfig
    from kdcore.params import Params
    from kdcore.recipes import Plain

    P = Params(dataset="synthetic", data_dir=None, device="cpu", val_fraction=0.2, train_subset=None,
               batch_size=128, augment=False)  # fmt: skip
    _, record = experiment.teacher(experiment.prepare(P), Plain("mlp-16", TrainConfig(epochs=2, batch_size=128)))
    queue.put(record["cached"])


def test_two_processes_train_one_teacher_once(tmp_path):
    context = mp.get_context("spawn")  # a fresh interpreter each, like two kdcore-batch workers
    queue = context.Queue()
    workers = [context.Process(target=_teacher_in_a_fresh_process, args=(str(tmp_path), queue)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert sorted(queue.get(timeout=5) for _ in workers) == [False, True]  # trained once, loaded once
    assert not list(tmp_path.rglob("*.partial.pt"))


def _hold(path, seconds, queue):
    with file_lock(path):
        queue.put(("in", time.monotonic()))
        time.sleep(seconds)
        queue.put(("out", time.monotonic()))


def test_file_lock_excludes_a_second_process(tmp_path):
    context = mp.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_hold, args=(tmp_path / "x.lock", 0.5, queue)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    # ordered by when they happened (CLOCK_MONOTONIC is one clock for all processes), not by arrival: a
    # multiprocessing queue flushes each process's puts from a thread, so the first worker's "out" can reach
    # the queue after the second worker's "in" on a loaded machine (it did, once, in a clean-clone CI run)
    events = [name for name, _ in sorted((queue.get(timeout=5) for _ in range(4)), key=lambda e: e[1])]
    assert events == ["in", "out", "in", "out"]  # never in, in: the second waited for the first
