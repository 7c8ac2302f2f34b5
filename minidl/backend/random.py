"""One seeded random source per backend, so `manual_seed` makes runs repeatable."""
from __future__ import annotations

import operator
from types import ModuleType
from typing import Any

import numpy as np


_seed: int | None = None
_numpy_rng = np.random.default_rng()
_cupy_rngs: dict[int, Any] = {}  # one per GPU: a CuPy generator's state lives on one device


_SEED_MIN, _SEED_MAX = -(2**63), 2**64 - 1  # torch.manual_seed's range


def manual_seed(seed: int) -> None:
    """Seed every random source minidl uses (init, dropout, shuffling) on both backends.

    Any integer from -2**63 to 2**64 - 1 (Python or NumPy), as torch.manual_seed: a negative
    seed means seed + 2**64, so -1 seeds as 2**64 - 1. Floats are refused, not truncated."""
    global _seed, _numpy_rng
    _seed = _check_seed(seed)
    _numpy_rng = np.random.default_rng(_seed)
    # CuPy's generators are re-made from _seed on first use: seeding must not import CuPy
    _cupy_rngs.clear()


def _check_seed(seed: Any) -> int:
    try:
        value = operator.index(seed)  # int, bool and NumPy integers; never a float or str
    except TypeError:
        raise TypeError(f"md.manual_seed: expected an integer seed, got {type(seed).__name__} "
                        f"{seed!r}") from None
    if not _SEED_MIN <= value <= _SEED_MAX:
        raise ValueError(f"md.manual_seed: seed {value} is out of range: expected an integer from "
                         f"{_SEED_MIN} to {_SEED_MAX}")
    return value % 2**64  # torch's wrap of negative seeds; NumPy and CuPy need non-negative


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
