"""DataLoader: batches of a Dataset as Tensors, optionally shuffled, optionally loaded by
worker processes."""
from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.backend import random as _random
from minidl.data.collate import as_tensors, default_collate
from minidl.data.dataset import Subset, TensorDataset


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` samples.

    A batch has the structure of one sample with every field stacked: for
    `TensorDataset(x, y)` a tuple `(x_batch, y_batch)` of Tensors, for samples that are
    dicts a dict of Tensors, for samples that are single arrays one Tensor. Host
    fields go to the default backend, GPU fields stay on the GPU. With `shuffle=True`
    every epoch (every `iter()`) draws a fresh permutation of the indices from a
    generator seeded by `seed`, or from the library generator that `md.manual_seed`
    seeds; a TensorDataset (or a Subset of one) is never copied as a whole, only the
    rows of each batch are gathered. `drop_last` skips a final short batch.
    `sampler` (anything with __len__ and __iter__ yielding indices, such as
    `minidl.distributed.DistributedSampler`) decides the order instead of `shuffle`.

    `collate_fn(list of samples)` replaces the default stacking (`default_collate`); its
    result is returned as it is. `num_workers > 0` loads batches in that many worker
    processes, giving the same batches in the same order as `num_workers=0`; the
    workers stop when the iteration ends, breaks off or raises, and an exception in a
    worker is raised again here with the worker's traceback in its message. Each
    worker seeds the library, `random` and NumPy's global generators from the epoch's
    seed and its id (then calls `worker_init_fn(worker_id)`), so random augmentation
    differs between workers and repeats with the seed. `multiprocessing_context`
    ("fork", "spawn", "forkserver") defaults to "fork" where available; with "spawn"
    the dataset and functions must be picklable. `timeout` (seconds, 0 = none) bounds
    the wait for one batch. `pin_memory` is accepted for PyTorch code and has no effect.
    """

    def __init__(self, dataset: Any, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, sampler: Any = None, *,
                 num_workers: int = 0, pin_memory: bool = False,
                 collate_fn: Callable[[list[Any]], Any] | None = None,
                 worker_init_fn: Callable[[int], Any] | None = None,
                 multiprocessing_context: str | None = None, timeout: float = 0.0) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: the dataset needs __len__ and __getitem__, "
                            f"got {type(dataset).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: give either shuffle=True or a sampler (the sampler sets the "
                             "order, e.g. DistributedSampler(..., shuffle=True)), not both")
        if sampler is not None and not (hasattr(sampler, "__len__") and hasattr(sampler, "__iter__")):
            raise TypeError(f"DataLoader: sampler must have __len__ and __iter__ (yielding indices), "
                            f"got {type(sampler).__name__}")
        _check_options(num_workers, pin_memory, collate_fn, worker_init_fn, multiprocessing_context, timeout)
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.num_workers = int(num_workers)
        self.pin_memory = pin_memory
        self.collate_fn = collate_fn
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.timeout = float(timeout)
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else _random.generator(np)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return self._generator().permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        bounds = range(0, len(self) * self.batch_size, self.batch_size)
        if self.num_workers > 0:
            return self._from_workers([order[s:s + self.batch_size] for s in bounds])
        return self._in_process(order, bounds)

    def _in_process(self, order: np.ndarray, bounds: range) -> Iterator[Any]:
        fetch = _Fetcher(self.dataset, self.collate_fn)
        on_device: dict[int, Any] = {}  # the epoch's rows copied once to each device holding data
        rows = order
        if fetch.rows is not None:
            arrays, index = fetch.rows
            rows = order if index is None else index[order]
            on_device = {id(a): B.array_module(a).asarray(rows) for a in arrays if B.device_of(a) == "cuda"}
        for start in bounds:
            if fetch.rows is not None:
                batch: Any = tuple(_gather(fetch.rows[0], rows[start:start + self.batch_size], on_device, start))
            else:
                batch = fetch(order[start:start + self.batch_size])
            yield batch if self.collate_fn is not None else as_tensors(batch)

    def _from_workers(self, tasks: list[np.ndarray]) -> Iterator[Any]:
        fetch = _Fetcher(self.dataset, self.collate_fn)
        if fetch.rows is not None and any(B.device_of(a) == "cuda" for a in fetch.rows[0]):
            raise ValueError("DataLoader: num_workers > 0 loads batches in other processes, which cannot "
                             "read this process's GPU arrays; keep the dataset on the host (batches still "
                             "go to the default backend) or use num_workers=0")
        # per-epoch worker seeds, spawned without drawing from the generator, so the
        # shuffling stream is the same as with num_workers=0
        epoch_seed = self._generator().bit_generator.seed_seq.spawn(1)[0]
        seeds = [int(s.generate_state(1, np.uint64)[0] % 2**63) for s in epoch_seed.spawn(self.num_workers)]
        return self._worker_batches(fetch, tasks, seeds)

    def _worker_batches(self, fetch: _Fetcher, tasks: list[np.ndarray], seeds: list[int]) -> Iterator[Any]:
        # multiprocessing (and its sockets) only when workers are asked for: 0.7 MB less
        # in every process that imports minidl
        from minidl.data.worker import WorkerPool, default_context  # noqa: PLC0415

        pool = WorkerPool(fetch, tasks, self.num_workers, seeds, self.worker_init_fn,
                          self.multiprocessing_context or default_context(), self.timeout)
        try:
            for number in range(len(tasks)):
                batch = pool.get(number)
                yield batch if self.collate_fn is not None else as_tensors(batch)
        finally:  # also when the loop breaks off (the generator is closed) or raises
            pool.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, num_workers={self.num_workers})")


class _Fetcher:
    """Loads one batch (raw arrays, not Tensors) from dataset indices; picklable, so a
    worker started with "spawn" gets its own copy.

    A TensorDataset, or a Subset of one, is read by gathering rows (`rows`: its arrays
    and the Subset's index map); any other dataset sample by sample, then collated.
    """

    def __init__(self, dataset: Any, collate_fn: Callable[[list[Any]], Any] | None) -> None:
        self.dataset = dataset
        self.collate_fn = collate_fn
        self.rows = _row_source(dataset) if collate_fn is None else None

    def __call__(self, indices: np.ndarray) -> Any:
        if self.rows is not None:
            arrays, index = self.rows
            return tuple(_gather(arrays, indices if index is None else index[indices], {}, 0))
        samples = [self.dataset[int(i)] for i in indices]
        return (self.collate_fn or default_collate)(samples)


def _row_source(dataset: Any) -> tuple[tuple[Any, ...], np.ndarray | None] | None:
    """(arrays, index map or None) when `dataset` is a TensorDataset or Subsets of one."""
    index = None
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        rows = np.asarray(dataset.indices, dtype=np.int64) % max(len(dataset.dataset), 1)
        index = rows if index is None else rows[index]
        dataset = dataset.dataset
    if type(dataset).__getitem__ is not TensorDataset.__getitem__:
        return None
    return dataset.arrays, index


def _gather(arrays: tuple[Any, ...], idx: np.ndarray, on_device: dict[int, Any], start: int) -> list[Any]:
    """Rows `idx` (= the epoch's rows[start:start + len(idx)]) of each array; a contiguous
    run is sliced (a view) instead of gathered. A GPU array is gathered through its device
    copy of the rows (`on_device`), so no index is copied to the GPU per batch."""
    contiguous = len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))
    if contiguous:
        sel: Any = slice(int(idx[0]), int(idx[-1]) + 1)
        return [a[sel] for a in arrays]
    return [a[on_device[id(a)][start:start + len(idx)]] if id(a) in on_device else a[idx]
            for a in arrays]


def _check_options(num_workers: Any, pin_memory: Any, collate_fn: Any, worker_init_fn: Any,
                   context: Any, timeout: Any) -> None:
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers must be an integer >= 0, got {num_workers!r}")
    if not isinstance(pin_memory, bool):
        raise TypeError(f"DataLoader: pin_memory must be True or False, got {pin_memory!r}")
    for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"DataLoader: {name} must be callable, got {type(fn).__name__}")
    if context is not None:
        import multiprocessing as mp  # noqa: PLC0415 - only to list the methods

        if context not in mp.get_all_start_methods():
            raise ValueError(f"DataLoader: multiprocessing_context must be one of "
                             f"{mp.get_all_start_methods()}, got {context!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout >= 0:
        raise ValueError(f"DataLoader: timeout must be a number of seconds >= 0, got {timeout!r}")
