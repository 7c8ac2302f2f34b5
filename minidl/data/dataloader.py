"""DataLoader: batches of a Dataset as tuples of Tensors, optionally shuffled."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor, tensor
from minidl.backend import random as _random
from minidl.data.dataset import TensorDataset


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` samples.

    Each batch is a tuple of Tensors, one per field of a
    sample (for `TensorDataset(x, y)`: `(x_batch, y_batch)`); host fields go to the
    default backend, GPU fields stay on the GPU. With `shuffle=True`
    every epoch (every `iter()`) draws a fresh permutation of the indices from a
    generator seeded by `seed`, or from the library generator that
    `md.manual_seed` seeds; the data itself is never copied as a whole, only the
    rows of each batch are gathered. `drop_last` skips a final short batch.
    `sampler` (anything with __len__ and __iter__ yielding indices, such as
    `minidl.distributed.DistributedSampler`) decides the order instead of `shuffle`.
    """

    def __init__(self, dataset: Any, batch_size: int = 32, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, sampler: Any = None) -> None:
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
        self.dataset = dataset
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.int64, count=len(self.sampler))
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else _random.generator(np)
        return rng.permutation(n)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._order()
        on_device = {}  # the epoch's order copied once to each device holding data
        if isinstance(self.dataset, TensorDataset):
            on_device = {id(a): B.array_module(a).asarray(order) for a in self.dataset.arrays
                         if B.device_of(a) == "cuda"}
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                fields = _gather(self.dataset.arrays, idx, on_device, start)
            else:
                fields = _collate([self.dataset[int(i)] for i in idx])
            # device arrays stay where they are; host data goes to the default backend
            yield tuple(tensor(f, device=None if B.device_of(f) == "cuda" else B.get_backend())
                        for f in fields)

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last})")


def _gather(arrays: tuple[Any, ...], idx: np.ndarray, on_device: dict[int, Any], start: int) -> list[Any]:
    """Rows `idx` (= order[start:start + len(idx)]) of each array; a contiguous run is sliced
    (a view) instead of gathered. A GPU array is gathered through its device copy of the
    order (`on_device`), so no index is copied to the GPU per batch."""
    contiguous = len(idx) > 0 and idx[-1] - idx[0] == len(idx) - 1 and bool(np.all(np.diff(idx) == 1))
    if contiguous:
        sel: Any = slice(int(idx[0]), int(idx[-1]) + 1)
        return [a[sel] for a in arrays]
    return [a[on_device[id(a)][start:start + len(idx)]] if id(a) in on_device else a[idx]
            for a in arrays]


def _collate(samples: list[Any]) -> list[Any]:
    """Stack a list of samples (tuples of fields, or single values) field by field."""
    first = samples[0]
    if not isinstance(first, (tuple, list)):
        samples = [(s,) for s in samples]
        first = samples[0]
    fields = []
    for k in range(len(first)):
        values = [s[k].data if isinstance(s[k], Tensor) else s[k] for s in samples]
        xp = B.array_module(*values)
        fields.append(xp.stack([xp.asarray(v) for v in values]))
    return fields
