"""Reusable scratch arrays for kernels, owned by a layer and freed with it.

A training step allocates and frees the same multi-MB arrays every time (the seed CNN at
batch 64: the max-pool output and its argmax, the pool's input gradient, the ReLU
output, the Dense weight and input gradients). glibc serves each from a fresh mapping,
and every first touch of a 4 KB page is a page fault: at batch 1,000 those faults took
half of a seed-CNN inference step (docs/performance.md, "Threads, fork and other
libraries"). minidl does not change the allocator for the whole process (mallopt);
instead a CPU kernel takes such an array from `scratch(name, shape, dtype)`: from the
`Workspace` of the module that is running (a `Module.__call__`, or the backward of an
op that module recorded), else a plain `np.empty`.

An array is handed out again only when nothing outside the workspace refers to it any
more (no tensor, no saved-for-backward slot, no view: CPython's reference count says
so). So an output the user keeps, or a graph kept with `retain_graph`, is never
overwritten; the workspace then makes another array. A workspace keeps arrays of one
shape per name (a new batch size replaces the old ones), so an evaluation at another
batch size does not stack a second set on the training set. When the module (and so
its workspace) is deleted, its arrays go with it.

    ws = Workspace()
    y = ws.empty("pool.out", (n, c, oh, ow), x.dtype)   # uninitialised, C-contiguous
    with using(ws):
        y = scratch("pool.out", (n, c, oh, ow), x.dtype)  # the same, from a kernel
"""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Hashable
from typing import Any

import numpy as np

# arrays kept per (key, shape, dtype): enough for a graph held across a step (the
# previous step's output still referenced while the next one runs) without growing
# without bound when every array is kept by the caller
MAX_PER_KEY = 3


def _refs(arrays: list[tuple[Any, Any]], i: int) -> int:
    return sys.getrefcount(arrays[i][1])


def _refs_when_unused() -> int:
    """The reference count `_refs` sees for an array held only by the workspace's list
    (measured, not assumed: it differs between Python versions)."""
    return _refs([((), np.empty(0))], 0)


_UNUSED_PAIR = _refs_when_unused()


class Workspace:
    """Scratch arrays keyed by (name, shape, dtype), reused once nothing else holds them.

    Thread-safe: an array is handed to one caller at a time."""

    def __init__(self, max_per_key: int = MAX_PER_KEY) -> None:
        if max_per_key < 1:
            raise ValueError(f"Workspace: max_per_key must be at least 1, got {max_per_key}")
        self.max_per_key = max_per_key
        self._arrays: dict[tuple[Any, ...], list[Any]] = {}
        self._lock = threading.Lock()

    def empty(self, name: Hashable, shape: tuple[int, ...], dtype: Any, xp: Any = np) -> Any:
        """An uninitialised C-contiguous `xp` array of this shape and dtype: one made
        earlier for `name` that nothing else refers to any more, else a new one (kept
        for next time while fewer than `max_per_key` are kept for `name`). Unused arrays
        of `name` of another shape or dtype are dropped."""
        shape = tuple(int(s) for s in shape)
        kind = (shape, np.dtype(dtype), xp.__name__)
        with self._lock:
            arrays = self._arrays.setdefault(name, [])
            if any(a[0] != kind for a in arrays):
                # the other kinds' unused arrays go: a new batch size replaces the old one
                arrays[:] = [a for i, a in enumerate(arrays)
                             if a[0] == kind or _refs(arrays, i) > _UNUSED_PAIR]
            for i in range(len(arrays)):
                if arrays[i][0] == kind and _refs(arrays, i) <= _UNUSED_PAIR:
                    return arrays[i][1]
            new = xp.empty(shape, dtype)
            if len(arrays) < self.max_per_key:
                arrays.append((kind, new))
            return new

    @property
    def nbytes(self) -> int:
        """Bytes held by the workspace (in use or not)."""
        with self._lock:
            return sum(a.nbytes for arrays in self._arrays.values() for _, a in arrays)

    def clear(self) -> None:
        """Drop every array (those still referred to elsewhere live on there)."""
        with self._lock:
            self._arrays.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(arrays) for arrays in self._arrays.values())

    def __repr__(self) -> str:
        return f"Workspace({len(self)} arrays, {self.nbytes / 2**20:.1f} MB)"

    # a layer is deep-copied and pickled with its workspace: the copy starts empty
    def __deepcopy__(self, memo: dict[int, Any]) -> Workspace:
        return Workspace(self.max_per_key)

    def __getstate__(self) -> dict[str, Any]:
        return {"max_per_key": self.max_per_key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_per_key"])  # type: ignore[misc]


# ---- the workspace of the running module ------------------------------------------------

class _Current(threading.local):
    workspace: Workspace | None = None


_current = _Current()


def current() -> Workspace | None:
    """The workspace kernels on this thread allocate from now (None: plain allocation)."""
    return _current.workspace


class using:
    """`with using(ws):` kernels on this thread take scratch arrays from `ws` (None: from
    NumPy), and the previous workspace comes back afterwards. A class, not a generator:
    it runs around every module call and every op's backward."""

    __slots__ = ("workspace", "previous")

    def __init__(self, workspace: Workspace | None) -> None:
        self.workspace = workspace

    def __enter__(self) -> None:
        self.previous = _current.workspace
        _current.workspace = self.workspace

    def __exit__(self, *exc: Any) -> None:
        _current.workspace = self.previous


# below this many bytes glibc serves an array from memory it already mapped (no page
# faults to save), and a plain np.empty is cheaper than the workspace's bookkeeping
SCRATCH_MIN_BYTES = 256 * 1024


def scratch(name: Hashable, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous NumPy array: from the current workspace (reused once
    nothing holds it) when it is large, else new. For CPU kernels' outputs and temporaries."""
    workspace = _current.workspace
    if workspace is None or math.prod(shape) * np.dtype(dtype).itemsize < SCRATCH_MIN_BYTES:
        return np.empty(shape, dtype)
    return workspace.empty(name, shape, dtype)
