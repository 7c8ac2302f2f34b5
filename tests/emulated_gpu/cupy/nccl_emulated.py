"""cupy.cuda.nccl of the emulator: NCCL's communicator calls carried out over MPI.

Device pointers are host addresses here, so each call views the memory behind the pointer
as a NumPy array and runs the matching MPI collective on it, in place. The communicator
spans MPI.COMM_WORLD, as minidl's process group does.
"""
from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np

NCCL_INT8, NCCL_UINT8, NCCL_INT32, NCCL_UINT32, NCCL_INT64, NCCL_UINT64 = 0, 1, 2, 3, 4, 5
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64 = 6, 7, 8
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN = 0, 1, 2, 3

_DTYPES = {NCCL_INT8: np.int8, NCCL_UINT8: np.uint8, NCCL_INT32: np.int32, NCCL_UINT32: np.uint32,
           NCCL_INT64: np.int64, NCCL_UINT64: np.uint64, NCCL_FLOAT16: np.float16,
           NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64}


def get_unique_id() -> tuple:
    return tuple(int(b) for b in os.urandom(128))


def _view(ptr: int, count: int, datatype: int) -> np.ndarray:
    dtype = np.dtype(_DTYPES[datatype])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype, count=count)


class NcclCommunicator:
    def __init__(self, ndev: int, commId: tuple, rank: int) -> None:  # noqa: N803 - CuPy's names
        from mpi4py import MPI  # noqa: PLC0415

        if not isinstance(commId, tuple) or len(commId) != 128:
            raise TypeError("NcclCommunicator: commId must be the tuple get_unique_id() returns")
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD.Dup()
        if self._comm.Get_size() != ndev or self._comm.Get_rank() != rank:
            raise RuntimeError(f"NcclCommunicator: ndev={ndev}, rank={rank} do not match MPI "
                               f"({self._comm.Get_size()} ranks, this is {self._comm.Get_rank()})")

    def _op(self, op: int) -> Any:
        return {NCCL_SUM: self._MPI.SUM, NCCL_PROD: self._MPI.PROD, NCCL_MAX: self._MPI.MAX,
                NCCL_MIN: self._MPI.MIN}[op]

    def allReduce(self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int,  # noqa: N802
                  stream: int) -> None:
        recv = _view(recvbuf, count, datatype)
        send = self._MPI.IN_PLACE if sendbuf == recvbuf else _view(sendbuf, count, datatype)
        self._comm.Allreduce(send, recv, op=self._op(op))

    def bcast(self, buff: int, count: int, datatype: int, root: int, stream: int) -> None:
        self._comm.Bcast(_view(buff, count, datatype), root=root)

    def destroy(self) -> None:
        if self._comm is not None:
            self._comm.Free()
            self._comm = None
