"""One seeded random source per backend, so `manual_seed` makes runs repeatable."""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


_seed: int | None = None
_numpy_rng = np.random.default_rng()
_cupy_rngs: dict[int, Any] = {}  # one per GPU: a CuPy generator's state lives on one device


def manual_seed(seed: int) -> None:
    """Seed every random source minidl uses (init, dropout, shuffling) on both backends."""
    global _seed, _numpy_rng
    _seed = int(seed)
    _numpy_rng = np.random.default_rng(_seed)
    # CuPy's generators are re-made from _seed on first use: seeding must not import CuPy
    _cupy_rngs.clear()


def generator(xp: ModuleType = np) -> Any:
    """The library's generator for an array module (NumPy's or CuPy's)."""
    if xp is np:
        return _numpy_rng
    device = xp.cuda.runtime.getDevice()
    if device not in _cupy_rngs:
        _cupy_rngs[device] = xp.random.default_rng(_seed)
    return _cupy_rngs[device]


def derive_seed() -> int:
    """A fresh integer seed drawn from the library's NumPy generator."""
    return int(_numpy_rng.integers(0, 2**63 - 1))
