"""Real MNIST images for the benchmarks, read straight from the gzipped IDX files.

Looked for in $MINIDL_DATA/mnist, then ../shared/data/mnist beside the project. The
train split is used when present, else the 10,000-image test split (benchmarks only
time steps: which images does not matter, only that they are real).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

_PROJECT = Path(__file__).resolve().parents[1]


def mnist_dir() -> Path:
    """The folder holding the MNIST IDX files; FileNotFoundError saying where it looked."""
    candidates = []
    if os.environ.get("MINIDL_DATA"):
        candidates.append(Path(os.environ["MINIDL_DATA"]) / "mnist")
    candidates.append(_PROJECT.parent / "shared" / "data" / "mnist")
    candidates.append(Path.home() / ".cache" / "minidl" / "mnist")
    for c in candidates:
        if (c / "t10k-images-idx3-ubyte.gz").is_file() or (c / "train-images-idx3-ubyte.gz").is_file():
            return c
    raise FileNotFoundError(
        "MNIST IDX files not found; looked in " + ", ".join(map(str, candidates))
        + " (set MINIDL_DATA to the folder holding mnist/)")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 1, 28, 28), labels int64 (N,)); `batches` scales them to float32.

    Kept as bytes, as a data loader would: a float32 copy of the whole set would add
    the same 25 MB to every framework's peak memory and hide the difference."""
    root = mnist_dir()
    split = "train" if (root / "train-images-idx3-ubyte.gz").is_file() else "t10k"
    x = _read_idx(root / f"{split}-images-idx3-ubyte.gz")
    y = _read_idx(root / f"{split}-labels-idx1-ubyte.gz")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return np.ascontiguousarray(x.reshape(-1, 1, 28, 28)), y.astype(np.int64)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1]."""
    return images.astype(np.float32) * np.float32(1 / 255)


def batches(images: np.ndarray, labels: np.ndarray, batch: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` consecutive batches, wrapping around the data (made once, outside the timing)."""
    n = len(images)
    if batch > n:
        reps = -(-batch // n)
        images, labels, n = np.concatenate([images] * reps), np.concatenate([labels] * reps), n * reps
    out = []
    for k in range(count):
        start = (k * batch) % (n - batch + 1)
        out.append((to_float(images[start:start + batch]), labels[start:start + batch].copy()))
    return out
