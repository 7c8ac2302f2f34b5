"""Collation: a list of samples -> one batch, field by field (PyTorch's default_collate)."""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor, tensor


def default_collate(samples: list[Any]) -> Any:
    """Stack a list of samples into a batch of arrays with the samples' structure.

    Arrays and Tensors stack along a new first axis (N, ...); Python and NumPy numbers
    become a (N,) array (ints int64, floats float64, as PyTorch); strings stay a list;
    dicts collate key by key, tuples and lists field by field (a tuple comes back as a
    tuple, a named tuple as its own type). Samples that do not match (other keys, other
    field counts, other shapes) raise ValueError saying where.
    """
    if not samples:
        raise ValueError("default_collate: got an empty list of samples")
    return _collate(samples, "the sample")


def _collate(values: list[Any], where: str) -> Any:
    first = values[0]
    if isinstance(first, (str, bytes)):
        return list(values)
    if isinstance(first, Tensor) or (B.is_array(first) and not isinstance(first, np.generic)):
        return _stack([v.data if isinstance(v, Tensor) else v for v in values], where)
    if isinstance(first, (numbers.Number, np.generic)):
        return _stack([np.asarray(v) for v in values], where)
    if isinstance(first, Mapping):
        keys = list(first)
        for i, v in enumerate(values):
            if not isinstance(v, Mapping) or set(v) != set(keys):
                got = sorted(v) if isinstance(v, Mapping) else type(v).__name__
                raise ValueError(f"DataLoader: sample {i} has keys {got} at {where}, the first has "
                                 f"{sorted(keys)}")
        return {k: _collate([v[k] for v in values], f"{where}[{k!r}]") for k in keys}
    if isinstance(first, (tuple, list)):
        for i, v in enumerate(values):
            if not isinstance(v, (tuple, list)) or len(v) != len(first):
                got = len(v) if isinstance(v, (tuple, list)) else type(v).__name__
                raise ValueError(f"DataLoader: sample {i} has {got} fields at {where}, the first has "
                                 f"{len(first)}")
        fields = [_collate([v[k] for v in values], f"{where}[{k}]") for k in range(len(first))]
        if hasattr(first, "_fields"):  # a named tuple
            return type(first)(*fields)
        return fields if isinstance(first, list) else tuple(fields)
    raise TypeError(f"DataLoader: cannot collate {type(first).__name__} samples at {where}: expected "
                    f"arrays, Tensors, numbers, strings, dicts, tuples or lists (or pass collate_fn=)")


def _stack(arrays: list[Any], where: str) -> Any:
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"DataLoader: cannot stack samples of shapes {sorted(shapes)} at {where} into "
                         f"one batch; pad them to one shape or pass collate_fn=")
    xp = B.array_module(*arrays)
    return xp.stack([xp.asarray(a) for a in arrays])


def as_tensors(batch: Any) -> Any:
    """Every array in a collated batch as a Tensor: host arrays on the default backend,
    GPU arrays where they are; the structure (tuple, list, dict) is kept."""
    if isinstance(batch, Tensor):
        return batch
    if B.is_array(batch):
        return tensor(batch, device=None if B.device_of(batch) == "cuda" else B.get_backend())
    if isinstance(batch, Mapping):
        return {k: as_tensors(v) for k, v in batch.items()}
    if isinstance(batch, tuple):
        items = [as_tensors(v) for v in batch]
        return type(batch)(*items) if hasattr(batch, "_fields") else tuple(items)
    if isinstance(batch, list):
        return [as_tensors(v) for v in batch]
    return batch
