"""Small data augmentations written with NumPy (run on the host, before batching)."""
from __future__ import annotations

import numpy as np

from minidl.backend import device_of, random as _random


def random_shift(images: np.ndarray, max_shift: int = 2,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Shift each image by a random whole number of pixels, filling with zeros.

    images (N, H, W) or (N, C, H, W); each image gets its own (dy, dx) drawn
    uniformly from [-max_shift, max_shift]. Returns a new array of the same shape
    and dtype. `rng` defaults to the library generator (seeded by md.manual_seed).
    """
    if device_of(images) == "cuda":
        raise TypeError("random_shift: images must be host data (a NumPy array), got a CuPy array; "
                        "augment before moving batches to the GPU")
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"random_shift: expected images (N, H, W) or (N, C, H, W), "
                         f"got shape {images.shape}")
    if max_shift < 0:
        raise ValueError(f"random_shift: max_shift must be >= 0, got {max_shift}")
    rng = rng if rng is not None else _random.generator(np)
    n, (h, w) = images.shape[0], images.shape[-2:]
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    # pad once, then read every image through its own shifted window
    pad = [(0, 0)] * (images.ndim - 2) + [(max_shift, max_shift), (max_shift, max_shift)]
    padded = np.pad(images, pad)
    rows = (max_shift - shifts[:, 0])[:, None] + np.arange(h)          # (N, H)
    cols = (max_shift - shifts[:, 1])[:, None] + np.arange(w)          # (N, W)
    batch = np.arange(n)[:, None, None]
    if images.ndim == 3:
        return padded[batch, rows[:, :, None], cols[:, None, :]]
    moved = np.moveaxis(padded, 1, -1)                                  # (N, H', W', C)
    out = moved[batch, rows[:, :, None], cols[:, None, :]]             # (N, H, W, C)
    return np.ascontiguousarray(np.moveaxis(out, -1, 1))
