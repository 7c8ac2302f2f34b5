"""The memory pool of the CuPy emulator: what the live device arrays hold."""
from __future__ import annotations

from typing import Any

import numpy as _np

from . import _live


class MemoryPool:
    """The bytes held by live device arrays (views counted once, with their base)."""

    def used_bytes(self) -> int:
        bases: dict[int, int] = {}
        for arr in list(_live.values()):
            b = arr._a
            while isinstance(b.base, _np.ndarray):
                b = b.base
            bases[id(b)] = b.nbytes
        return sum(bases.values())

    total_bytes = used_bytes

    def free_all_blocks(self, stream: Any = None) -> None:
        pass


_pool = MemoryPool()


def get_default_memory_pool() -> MemoryPool:
    return _pool


def get_default_pinned_memory_pool() -> MemoryPool:
    return _pool


_pool = MemoryPool()


def get_default_memory_pool() -> MemoryPool:
    return _pool


def get_default_pinned_memory_pool() -> MemoryPool:
    return _pool
