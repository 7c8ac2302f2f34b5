"""DataLoader(num_workers > 0): worker processes give the same batches in the same order as
num_workers=0, stop when iteration stops, report their exceptions and never hang.

The datasets here are model-free (NumPy only) and defined at module level, so the tests hold
with the "fork" start method (the default where available) and with "spawn".
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import time

import numpy as np
import pytest

import minidl as md
from minidl.data import DataLoader, Dataset, Subset, TensorDataset


class Records(Dataset):
    """Dict samples computed on the fly."""

    def __init__(self, n: int = 23) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return {"x": np.full((2, 3), i, np.float32), "y": i, "name": f"s{i}"}


class Failing(Records):
    def __getitem__(self, i: int):
        if i == 13:
            raise KeyError(f"sample {i} is missing")
        return super().__getitem__(i)


class Crashing(Records):
    def __getitem__(self, i: int):
        if i == 5:
            os._exit(3)  # a worker killed outright (segfault, OOM killer ...)
        return super().__getitem__(i)


class Slow(Records):
    def __getitem__(self, i: int):
        if i == 2:
            time.sleep(30)
        return super().__getitem__(i)


class Random(Records):
    """Samples drawn from every random source a dataset might use."""

    def __getitem__(self, i: int):
        return (md.rand(1).numpy()[0], random.random(), np.random.random())


class WorkerTag(Records):
    def __getitem__(self, i: int):
        return np.int64(TAG.get("id", -1))


TAG: dict[str, int] = {}


def tag_worker(worker_id: int) -> None:
    TAG["id"] = worker_id


def host(batch):
    """A batch with every Tensor as a NumPy array (for comparing)."""
    if isinstance(batch, md.Tensor):
        return batch.numpy()
    if isinstance(batch, dict):
        return {k: host(v) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return [host(v) for v in batch]
    return batch


def epochs(loader, n: int = 2):
    return [[host(b) for b in loader] for _ in range(n)]


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype


def no_workers_left() -> bool:
    return not mp.active_children()


X = np.arange(46, dtype=np.float32).reshape(23, 2)
Y = np.arange(23)


@pytest.mark.parametrize("make", [
    lambda: TensorDataset(X, Y), lambda: Records(), lambda: Subset(TensorDataset(X, Y), list(range(22, 0, -2))),
], ids=["TensorDataset", "dict samples", "Subset"])
@pytest.mark.parametrize("workers", [1, 3])
def test_same_batches_in_the_same_order_as_without_workers(make, workers):
    kwargs = dict(batch_size=4, shuffle=True, seed=7)
    expected = epochs(DataLoader(make(), **kwargs))
    got = epochs(DataLoader(make(), num_workers=workers, **kwargs))
    assert same(got, expected)
    assert len(got[0]) == len(DataLoader(make(), **kwargs))
    assert not same(got[0], got[1])  # each epoch its own permutation, as without workers
    assert no_workers_left()


def test_unseeded_shuffles_follow_manual_seed_as_without_workers():
    md.manual_seed(11)
    expected = epochs(DataLoader(Records(), batch_size=5, shuffle=True, drop_last=True))
    md.manual_seed(11)
    assert same(epochs(DataLoader(Records(), batch_size=5, shuffle=True, drop_last=True, num_workers=2)),
                expected)


def test_spawned_workers_give_the_same_batches():
    kwargs = dict(batch_size=6, shuffle=True, seed=1)
    expected = epochs(DataLoader(Records(), **kwargs), 1)
    got = epochs(DataLoader(Records(), num_workers=2, multiprocessing_context="spawn", **kwargs), 1)
    assert same(got, expected) and no_workers_left()


def test_workers_stop_when_the_loop_breaks_off():
    loader = DataLoader(Records(200), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            assert len(mp.active_children()) == 2
            break
    assert no_workers_left()
    it = iter(loader)
    next(it)
    del it
    assert no_workers_left()


def test_a_worker_exception_is_raised_here_with_its_traceback():
    with pytest.raises(KeyError) as info:
        for _ in DataLoader(Failing(), batch_size=4, num_workers=2):
            pass
    text = str(info.value)
    assert text.startswith("Caught KeyError in DataLoader worker process 1.\nOriginal Traceback")
    assert "in __getitem__" in text and "raise KeyError(f\"sample {i} is missing\")" in text
    assert "KeyError: 'sample 13 is missing'" in text
    assert no_workers_left()


def test_an_exception_type_that_cannot_be_rebuilt_becomes_runtime_error():
    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    def collate(samples):
        raise Odd(1, 2)

    with pytest.raises(RuntimeError, match=r"(?s)Caught Odd in DataLoader worker process 0\..*Odd: \(1, 2\)"):
        next(iter(DataLoader(Records(), batch_size=4, num_workers=1, collate_fn=collate)))
    assert no_workers_left()


def test_a_batch_that_cannot_be_pickled_is_reported_not_lost():
    with pytest.raises(Exception, match="(?i)pickle"):
        next(iter(DataLoader(Records(), batch_size=2, num_workers=1, collate_fn=lambda s: lambda: s)))
    assert no_workers_left()


def test_a_dead_worker_is_reported_not_waited_for():
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d \(pid \d+\) exited unexpectedly with exit code 3"):
        for _ in DataLoader(Crashing(), batch_size=2, num_workers=2):
            pass
    assert no_workers_left()


def test_timeout_bounds_the_wait_for_a_batch():
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 s waiting for batch 1"):
        for _ in DataLoader(Slow(), batch_size=2, num_workers=1, timeout=0.3):
            pass
    assert no_workers_left()  # the stuck worker was terminated


def test_workers_are_seeded_per_worker_and_repeatably():
    def draws(seed):
        loader = DataLoader(Random(8), batch_size=2, num_workers=2, seed=seed)
        return np.stack([np.stack([f.numpy() for f in b]) for b in loader])  # (batch, source, sample)

    a, b = draws(5), draws(5)
    np.testing.assert_array_equal(a, b)
    for source in range(3):  # batches 0 and 1 come from workers 0 and 1: different streams
        assert not np.array_equal(a[0, source], a[1, source])
    assert not np.array_equal(a, draws(6))


def test_worker_init_fn_runs_in_each_worker():
    tags = [b.tolist() for b in DataLoader(WorkerTag(8), batch_size=2, num_workers=2, worker_init_fn=tag_worker)]
    assert tags == [[0, 0], [1, 1], [0, 0], [1, 1]] and "id" not in TAG


def test_worker_arguments_are_checked():
    for kwargs, error, match in [({"num_workers": -1}, ValueError, "num_workers must be an integer >= 0"),
                                 ({"num_workers": 1.5}, ValueError, "num_workers"),
                                 ({"pin_memory": "yes"}, TypeError, "pin_memory must be True or False"),
                                 ({"collate_fn": 3}, TypeError, "collate_fn must be callable"),
                                 ({"multiprocessing_context": "thread"}, ValueError, "multiprocessing_context"),
                                 ({"timeout": -1}, ValueError, "timeout must be")]:
        with pytest.raises(error, match=match):
            DataLoader(Records(), **kwargs)
    loader = DataLoader(TensorDataset(X, Y), batch_size=5, pin_memory=True)  # accepted, no effect on CPU
    assert same(epochs(loader, 1), epochs(DataLoader(TensorDataset(X, Y), batch_size=5), 1))


@pytest.mark.gpu
def test_gpu_datasets_are_refused_with_workers():
    if not md.cuda_available():
        pytest.skip("needs CuPy and an NVIDIA GPU (install minidl[gpu] on a CUDA machine)")
    ds = TensorDataset(md.tensor(X, device="cuda"), md.tensor(Y, device="cuda"))
    with pytest.raises(ValueError, match="cannot read this process's GPU arrays"):
        iter(DataLoader(ds, num_workers=1))
    md.set_backend("cupy")  # host data with workers: batches land on the default backend
    batch = next(iter(DataLoader(TensorDataset(X, Y), batch_size=4, num_workers=1)))
    assert batch[0].device == "cuda" and batch[1].device == "cuda"
