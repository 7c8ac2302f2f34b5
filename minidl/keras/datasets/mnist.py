"""`keras.datasets.mnist.load_data()` through minidl's MNIST loader (`md.datasets`)."""
from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from minidl.datasets import load_mnist_splits

Split = tuple[np.ndarray, np.ndarray]


def load_data(path: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)): uint8 images (N, 28, 28) and uint8 labels, as
    Keras. The IDX files are found (or downloaded, with their checksums checked) as
    `md.datasets.load_mnist` does; `path` is a folder holding them (Keras's `path`, a file
    name in ~/.keras/datasets, has no meaning here). Offline, with only the test file at
    hand, it warns and returns the documented split: the first 8,000 test images to train
    on, the last 2,000 to test on."""
    root: Any = None if path is None or str(path) == "mnist.npz" else path

    def warn(message: str) -> None:
        warnings.warn(message, UserWarning, stacklevel=4)  # at the caller of load_data

    x_train, y_train, x_test, y_test, _ = load_mnist_splits(root, log=warn)
    if len(x_test) == 0:  # a cut-down test file of at most 8,000 images: hold out its last fifth
        cut = len(x_train) * 4 // 5
        warn(f"the MNIST test file holds only {len(x_train):,} images: training on the first "
             f"{cut:,}, testing on the last {len(x_train) - cut:,}")
        x_train, y_train, x_test, y_test = x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:]
    return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))
