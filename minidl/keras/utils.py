"""Keras's utilities: to_categorical, set_random_seed, Progbar, clear_session."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.backend.random import manual_seed
from minidl.keras.layers.base import clear_session
from minidl.training import Progbar

__all__ = ["to_categorical", "set_random_seed", "Progbar", "clear_session"]


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot float32 rows for integer class ids: shape x.shape + (num_classes,) (a trailing
    axis of 1 is dropped first, as Keras); num_classes defaults to max(x) + 1."""
    x = np.asarray(B.to_numpy(x) if B.is_array(x) else x)
    if x.dtype.kind == "f":
        if not np.all(x == np.round(x)):
            raise ValueError("to_categorical: class ids must be whole numbers")
        x = x.astype(np.int64)
    if x.dtype.kind not in "iu":
        raise TypeError(f"to_categorical: expected integer class ids, got dtype {x.dtype}")
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical: class ids must be in [0, {num_classes}), got values from "
                         f"{x.min()} to {x.max()}")
    return np.eye(num_classes, dtype=np.float32)[x]


def set_random_seed(seed: int) -> None:
    """Seed every random draw minidl makes (weights, dropout, shuffling): md.manual_seed."""
    manual_seed(seed)
