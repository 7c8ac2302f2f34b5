"""Dropout as array code (NumPy and CuPy): the splitmix64 hash on uint64 arrays (their
arithmetic wraps modulo 2^64, as the hash wants). See __init__.py for the contract."""
from __future__ import annotations

import math
from typing import Any

from minidl.backend import array_module

GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def threshold(p: float) -> int:
    """The smallest 24-bit k with k / 2^24 >= p: element kept when its k reaches it."""
    return math.ceil(p * 2**24)


def keep_bits(n: int, seed: int, xp: Any) -> Any:
    """k_0 ... k_{n-1}: the top 24 bits of splitmix64(seed + (i + 1) * GOLDEN)."""
    u64 = xp.uint64
    z = xp.arange(1, n + 1, dtype=u64) * u64(GOLDEN) + u64(seed)
    z = (z ^ (z >> u64(30))) * u64(MIX1)
    z = (z ^ (z >> u64(27))) * u64(MIX2)
    return (z ^ (z >> u64(31))) >> u64(40)


def apply(x: Any, p: float, seed: int) -> Any:
    """x * keep / (1 - p) (x * 0 where dropped)."""
    xp = array_module(x)
    mask = (keep_bits(x.size, seed, xp) >= threshold(p)).astype(x.dtype).reshape(x.shape)
    mask *= x.dtype.type(1.0 / (1.0 - p))
    return x * mask
