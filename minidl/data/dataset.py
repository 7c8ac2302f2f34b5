"""Dataset: anything with `__len__` and `__getitem__`; TensorDataset wraps arrays."""
from __future__ import annotations

from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor


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
