"""Reusable scratch arrays for kernels, owned by a model and freed with it.

A training step allocates and frees the same multi-MB arrays every time (the seed CNN at
batch 64: the ReLU and max-pool outputs, the argmax, their gradients). glibc serves each
from a fresh mapping, and every first touch of a 4 KB page is a page fault: at batch
1,000 those faults took half of a seed-CNN inference step (docs/performance.md, "Threads,
fork and other libraries"). minidl does not change the allocator for the whole process
(mallopt); instead a CPU kernel takes such an array from `scratch(shape, dtype)`: from
the `Workspace` of the model that is running, else a plain `np.empty`.

The outermost module called (`Module.__call__` with no workspace current) makes its own
workspace current for everything inside it, and an op recorded there runs its backward
under it too, so one model's layers share one workspace: an array freed by one layer
(the pool's input gradient, once the ReLU's backward has read it) serves the next layer
that asks for that shape and dtype, as the allocator would, and the peak stays where it
was without a workspace.

An array is handed out again only when nothing outside the workspace refers to it any
more (no tensor, no saved-for-backward slot, no view: CPython's reference count says
so). So an output the user keeps, or a graph kept with `retain_graph`, is never
overwritten; the workspace then makes another array. Arrays of a shape and dtype no call
asked for during the model's last `MAX_IDLE_CALLS` calls are dropped once unused (a new
batch size replaces the old one). When the model (and so its workspace) is deleted, its
arrays go with it.

    ws = Workspace()
    y = ws.empty((n, c, oh, ow), x.dtype)   # uninitialised, C-contiguous
    with using(ws):
        y = scratch((n, c, oh, ow), x.dtype)  # the same, from a kernel
"""
from __future__ import annotations

import math
import sys
import threading
from typing import Any

import numpy as np

# arrays kept per shape and dtype: enough for the same-shaped activations of a few
# layers at once, without growing without bound when every array is kept by the caller
MAX_PER_KIND = 8
# a kind nobody asked for during this many calls of the model is dropped once unused
MAX_IDLE_CALLS = 2
# below this many bytes glibc serves an array from memory it already mapped (no page
# faults to save), and a plain np.empty is cheaper than the workspace's bookkeeping
SCRATCH_MIN_BYTES = 256 * 1024


def _refs(arrays: list[Any], i: int) -> int:
    return sys.getrefcount(arrays[i])


def _refs_when_unused() -> int:
    """The reference count `_refs` sees for an array held only by the workspace's list
    (measured, not assumed: it differs between Python versions)."""
    return _refs([np.empty(0)], 0)


_UNUSED = _refs_when_unused()


class Workspace:
    """Scratch arrays by (shape, dtype), reused once nothing else holds them.

    Thread-safe: an array is handed to one caller at a time."""

    def __init__(self, max_per_kind: int = MAX_PER_KIND) -> None:
        if max_per_kind < 1:
            raise ValueError(f"Workspace: max_per_kind must be at least 1, got {max_per_kind}")
        self.max_per_kind = max_per_kind
        self._arrays: dict[tuple[Any, ...], list[Any]] = {}
        self._last_asked: dict[tuple[Any, ...], int] = {}
        self._calls = 0
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: Any, xp: Any = np) -> Any:
        """An uninitialised C-contiguous `xp` array of this shape and dtype: one made
        earlier that nothing else refers to any more, else a new one (kept for next time
        while fewer than `max_per_kind` are kept for its shape and dtype)."""
        kind = (tuple(int(s) for s in shape), np.dtype(dtype), xp.__name__)
        with self._lock:
            self._last_asked[kind] = self._calls
            arrays = self._arrays.setdefault(kind, [])
            for i in range(len(arrays)):
                if _refs(arrays, i) <= _UNUSED:
                    return arrays[i]
            new = xp.empty(kind[0], kind[1])
            if len(arrays) < self.max_per_kind:
                arrays.append(new)
            return new

    def new_call(self) -> None:
        """The model is called again: drop the unused arrays of kinds nobody asked for
        during its last MAX_IDLE_CALLS calls."""
        with self._lock:
            self._calls += 1
            for kind, last in list(self._last_asked.items()):
                if self._calls - last <= MAX_IDLE_CALLS:
                    continue
                arrays = self._arrays[kind]
                held = [i for i in range(len(arrays)) if _refs(arrays, i) > _UNUSED]
                arrays[:] = [arrays[i] for i in held]  # (a loop variable would hold each)
                if not arrays:
                    del self._arrays[kind], self._last_asked[kind]

    @property
    def nbytes(self) -> int:
        """Bytes held by the workspace (in use or not)."""
        with self._lock:
            return sum(a.nbytes for arrays in self._arrays.values() for a in arrays)

    def clear(self) -> None:
        """Drop every array (those still referred to elsewhere live on there)."""
        with self._lock:
            self._arrays.clear()
            self._last_asked.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(arrays) for arrays in self._arrays.values())

    def __repr__(self) -> str:
        return f"Workspace({len(self)} arrays, {self.nbytes / 2**20:.1f} MB)"

    # a model is deep-copied and pickled with its workspace: the copy starts empty
    def __deepcopy__(self, memo: dict[int, Any]) -> Workspace:
        return Workspace(self.max_per_kind)

    def __getstate__(self) -> dict[str, Any]:
        return {"max_per_kind": self.max_per_kind}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_per_kind"])  # type: ignore[misc]


# ---- the workspace of the running model ---------------------------------------------------

class _Current(threading.local):
    workspace: Workspace | None = None


_current = _Current()


def current() -> Workspace | None:
    """The workspace kernels on this thread allocate from now (None: plain allocation)."""
    return _current.workspace


class using:
    """`with using(ws):` kernels on this thread take scratch arrays from `ws` (None: from
    NumPy), and the previous workspace comes back afterwards. A class, not a generator:
    it runs around every op's backward."""

    __slots__ = ("workspace", "previous")

    def __init__(self, workspace: Workspace | None) -> None:
        self.workspace = workspace

    def __enter__(self) -> None:
        self.previous = _current.workspace
        _current.workspace = self.workspace

    def __exit__(self, *exc: Any) -> None:
        _current.workspace = self.previous


def scratch(shape: tuple[int, ...], dtype: Any, xp: Any = np) -> Any:
    """An uninitialised C-contiguous `xp` array: for NumPy, from the current workspace
    (reused once nothing holds it) when it is large, else new; for CuPy always new (its
    memory pool already reuses device memory without faults). For kernels' and ops'
    outputs and temporaries."""
    workspace = _current.workspace
    if (xp is not np or workspace is None
            or math.prod(shape) * np.dtype(dtype).itemsize < SCRATCH_MIN_BYTES):
        return xp.empty(shape, dtype)
    return workspace.empty(shape, dtype)
