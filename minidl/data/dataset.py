"""Dataset: anything with `__len__` and `__getitem__`; TensorDataset wraps arrays; Subset and
random_split select samples."""
from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.backend import random as _random


class Dataset:
    """Base class: subclasses return one sample (a tuple of fields) per index."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} has no __len__()")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no __getitem__()")


class TensorDataset(Dataset):
    """Samples are the rows of one or more arrays (or Tensors) sharing their first axis.

    `TensorDataset(images, labels)[i]` is `(images[i], labels[i])`; an array of
    indices selects several rows at once, which is what DataLoader uses.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array, got none")
        self.arrays = tuple(_as_array(a, i) for i, a in enumerate(arrays))
        lengths = [len(a) for a in self.arrays]
        if len(set(lengths)) != 1:
            raise ValueError(f"TensorDataset: every array needs the same first dimension, "
                             f"got lengths {lengths}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
        return f"TensorDataset({shapes})"


def _as_array(value: Any, position: int) -> Any:
    """The raw backend array of a Tensor, a NumPy/CuPy array as is."""
    if isinstance(value, Tensor):
        return value.data
    if B.is_array(value) and getattr(value, "ndim", 0) >= 1:
        return value
    raise TypeError(f"TensorDataset: argument {position} must be a NumPy/CuPy array or a Tensor "
                    f"with at least one axis, got {type(value).__name__}")


class Subset(Dataset):
    """The samples of `dataset` at `indices` (a sequence of ints), in that order:
    `Subset(ds, [4, 0])[1]` is `ds[0]`."""

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"Subset: the dataset needs __len__ and __getitem__, got {type(dataset).__name__}")
        rows = np.asarray(indices)
        if rows.ndim != 1 or (rows.size and rows.dtype.kind not in "iu"):
            raise TypeError(f"Subset: indices must be a 1-D sequence of integers, got "
                            f"{type(indices).__name__} of dtype {rows.dtype} and shape {rows.shape}")
        n = len(dataset)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"Subset: indices must lie in [-{n}, {n}) for a dataset of {n} samples, "
                             f"got values from {rows.min()} to {rows.max()}")
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (list, np.ndarray)):
            return self.dataset[np.asarray(self.indices)[np.asarray(index)]]
        return self.dataset[self.indices[index]]

    def __repr__(self) -> str:
        return f"Subset({self.dataset!r}, {len(self)} of {len(self.dataset)} samples)"


def random_split(dataset: Any, lengths: Sequence[float], seed: int | None = None) -> list[Subset]:
    """Split `dataset` into non-overlapping random Subsets of the given `lengths`.

    `lengths` are counts that sum to len(dataset), or fractions that sum to 1: then each
    split gets floor(fraction * len) samples and the remainder is handed out one at a time
    from the first split on, as PyTorch's. The permutation comes from a generator seeded
    by `seed`, or from the library generator that `md.manual_seed` seeds.
    """
    n = len(dataset)
    lengths = list(lengths)
    for i, length in enumerate(lengths):
        if isinstance(length, bool) or not isinstance(length, numbers.Real) or not length >= 0:
            raise ValueError(f"random_split: length {i} must be a count or a fraction >= 0, got {length!r}")
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"random_split: split {i} has length 0; it is an empty dataset", stacklevel=2)
    elif all(float(c).is_integer() for c in lengths):
        counts = [int(c) for c in lengths]
    else:
        raise ValueError(f"random_split: lengths must be whole counts or fractions that sum to 1, got {lengths}")
    if sum(counts) != n:
        raise ValueError(f"random_split: the lengths {counts} sum to {sum(counts)}, but the dataset has {n} samples")
    rng = np.random.default_rng(seed) if seed is not None else _random.generator(np)
    order = rng.permutation(n).tolist()
    ends = list(itertools.accumulate(counts))
    return [Subset(dataset, order[end - c:end]) for end, c in zip(ends, counts)]
