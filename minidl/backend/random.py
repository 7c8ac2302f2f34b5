"""One seeded random source per backend, so `manual_seed` makes runs repeatable."""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np


_seed: int | None = None
_numpy_rng = np.random.default_rng()
_cupy_rng: Any = None


def manual_seed(seed: int) -> None:
    """Seed every random source minidl uses (init, dropout, shuffling) on both backends."""
    global _seed, _numpy_rng, _cupy_rng
    _seed = int(seed)
    _numpy_rng = np.random.default_rng(_seed)
    # CuPy's generator is re-made from _seed on first use: seeding must not import CuPy
    _cupy_rng = None


def generator(xp: ModuleType = np) -> Any:
    """The library's generator for an array module (NumPy's or CuPy's)."""
    global _cupy_rng
    if xp is np:
        return _numpy_rng
    if _cupy_rng is None:
        _cupy_rng = xp.random.default_rng(_seed)
    return _cupy_rng


def derive_seed() -> int:
    """A fresh integer seed drawn from the library's NumPy generator."""
    return int(_numpy_rng.integers(0, 2**63 - 1))
