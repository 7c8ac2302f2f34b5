"""Embedding gradient: rows of gy scatter-added into a zero table.

Contract. ids (any shape S, integers in [0, num)), gy (S + (D,)), the table's `shape`
(num, D): `backward(ids, gy, shape) -> gw`, gw (num, D) zero but for gw[ids[k]] += gy[k]
over the entries k of ids in C order; a repeated id accumulates in that order
(np.add.at's: the same bits on every implementation).

Implementations: reference.py (`backend.scatter_add`: np.add.at, or CuPy's atomic
add.at on the GPU) and cpu.py (Numba: one pass over gy, no index temporaries, the table
from the model's workspace). A gy in another layout (the LSTM's input projection hands
back a time-major one) is first copied into a workspace array: fresh multi-MB
temporaries page-fault on every first touch, which took 8 of the text LSTM's 54 ms a
step in np.add.at's index and value copies.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.kernels import _route
from minidl.kernels._workspace import scratch
from minidl.kernels.embedding import reference


def backward(ids: Any, gy: Any, shape: tuple[int, int]) -> Any:
    """gw (num, D): gy's rows summed into the rows that ids pick."""
    xp = array_module(gy)
    if not gy.flags.c_contiguous:
        copy = scratch(gy.shape, gy.dtype, xp)
        copy[...] = gy
        gy = copy
    impl = reference
    if _route.route(gy) == "cpu":
        from minidl.kernels.embedding import cpu  # noqa: PLC0415 - imports Numba

        impl = cpu
    return impl.backward(ids, gy, (int(shape[0]), int(shape[1])))
