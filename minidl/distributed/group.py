"""The process group: who am I (rank, world size, local rank) and how ranks talk.

`init()` reads everything from the MPI environment that `mpiexec`/`srun` set up.
NumPy arrays travel over MPI (mpi4py, in place, no pickling); on the CuPy backend each
rank takes the GPU of its local rank and CuPy arrays travel over NCCL, with MPI used only
to start up (the NCCL unique id is broadcast over MPI). mpi4py and CuPy are imported
lazily, so `import minidl` never starts MPI.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from minidl import backend as B

_MPI_HINT = ('minidl.distributed needs mpi4py and an MPI library: pip install "minidl[mpi]" '
             '(or "minidl[test]", or pip install mpi4py mpich), or load your cluster\'s MPI module '
             'and pip install mpi4py')

_OPS = ("sum", "mean", "max", "min")


def import_mpi() -> ModuleType:
    """mpi4py's MPI module (importing it initialises MPI), or an ImportError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f"{_MPI_HINT} ({exc})") from exc
    return MPI


class ProcessGroup:
    """Every rank of one job: its MPI communicator and, on the CuPy backend, an NCCL one.

    Attributes: `rank`, `world_size`, `local_rank` (rank among the processes sharing this
    node), `local_world_size`, `backend` ("numpy" or "cupy"), `device` (the GPU id or None).
    """

    def __init__(self, comm: Any, backend: str = "numpy") -> None:
        self.MPI = import_mpi()
        self.comm = comm
        self.rank = comm.Get_rank()
        self.world_size = comm.Get_size()
        # ranks that share memory are on one node: their order there is the local rank
        self.local_comm = comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = self.local_comm.Get_rank()
        self.local_world_size = self.local_comm.Get_size()
        self.backend = B.normalize_backend(backend)
        self.device: int | None = None
        self.nccl: Any = None
        if self.backend == "cupy":
            self._setup_gpu()

    # ---- start-up -------------------------------------------------------------------
    def _setup_gpu(self) -> None:
        """Pick this rank's GPU by local rank, then build the NCCL communicator."""
        cp = B.get_cupy()
        ndev = cp.cuda.runtime.getDeviceCount()
        if ndev >= self.local_world_size:
            self.device = self.local_rank
        elif ndev == 1:  # the scheduler gave each rank its own GPU (CUDA_VISIBLE_DEVICES)
            self.device = 0
        else:
            raise RuntimeError(
                f"minidl.distributed.init: {self.local_world_size} ranks share this node but only "
                f"{ndev} GPUs are visible; NCCL needs one GPU per rank (start at most {ndev} ranks "
                f"per node)")
        cp.cuda.Device(self.device).use()
        from cupy.cuda import nccl

        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = self.comm.bcast(uid, root=0)
        self.nccl = nccl.NcclCommunicator(self.world_size, uid, self.rank)
        self._nccl_mod = nccl

    def destroy(self) -> None:
        """Free the NCCL and node communicators (MPI itself is finalised at exit by mpi4py)."""
        if self.nccl is not None:
            self.nccl.destroy()
            self.nccl = None
        if self.local_comm is not None:
            self.local_comm.Free()
            self.local_comm = None

    # ---- array collectives (in place) -----------------------------------------------
    def all_reduce(self, array: Any, op: str = "sum") -> Any:
        """Reduce `array` over every rank, in place ("sum", "mean", "max", "min"); returns it.

        CuPy arrays go through NCCL when the group has it, NumPy arrays through MPI.
        """
        if op not in _OPS:
            raise ValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
        if op == "mean" and array.dtype.kind not in "fc":
            raise TypeError(f"all_reduce: op='mean' needs a floating array, got {array.dtype}")
        if self.world_size > 1:
            base = "sum" if op == "mean" else op
            if B.device_of(array) == "cuda":
                self._gpu_collective(array, lambda buf: self._nccl_all_reduce(buf, base),
                                     lambda host: self._mpi_all_reduce(host, base))
            else:
                _in_place(array, lambda buf: self._mpi_all_reduce(buf, base))
            if op == "mean":
                array *= array.dtype.type(1.0 / self.world_size)
        return array

    def broadcast(self, array: Any, root: int = 0) -> Any:
        """Overwrite `array` on every rank with root's values, in place; returns it."""
        self._check_root(root)
        if self.world_size > 1:
            if B.device_of(array) == "cuda":
                self._gpu_collective(array, lambda buf: self._nccl_broadcast(buf, root),
                                     lambda host: self.comm.Bcast(host, root=root))
            else:
                _in_place(array, lambda buf: self.comm.Bcast(buf, root=root))
        return array

    def _mpi_all_reduce(self, buf: np.ndarray, op: str) -> None:
        mpi_op = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}[op]
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=mpi_op)

    def _gpu_collective(self, array: Any, nccl_fn: Any, mpi_fn: Any) -> None:
        """NCCL on the device when the group has it; otherwise stage through host memory."""
        if self.nccl is not None:
            _in_place(array, nccl_fn)
            return
        host = B.to_numpy(array)
        mpi_fn(host)
        array[...] = B.get_cupy().asarray(host)  # ndarray.set() refuses non-contiguous arrays

    def _nccl_all_reduce(self, buf: Any, op: str) -> None:
        nccl = self._nccl_mod
        code = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}[op]
        stream = B.get_cupy().cuda.get_current_stream()
        # sendbuf == recvbuf is NCCL's in-place mode; later work on this stream is ordered after it
        self.nccl.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._nccl_dtype(buf), code, stream.ptr)

    def _nccl_broadcast(self, buf: Any, root: int) -> None:
        stream = B.get_cupy().cuda.get_current_stream()
        self.nccl.bcast(buf.data.ptr, buf.size, self._nccl_dtype(buf), root, stream.ptr)

    def _nccl_dtype(self, buf: Any) -> int:
        nccl = self._nccl_mod
        table = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                 "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64,
                 "int8": nccl.NCCL_INT8, "uint8": nccl.NCCL_UINT8}
        if buf.dtype.name not in table:
            raise TypeError(f"all_reduce/broadcast: NCCL cannot carry dtype {buf.dtype}; "
                            f"expected one of {sorted(table)}")
        return table[buf.dtype.name]

    # ---- object collectives (pickled; for start-up, never per step) -----------------
    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Root's `obj` on every rank (pickled over MPI)."""
        self._check_root(root)
        return self.comm.bcast(obj, root=root)

    def all_gather_object(self, obj: Any) -> list[Any]:
        """[obj of rank 0, obj of rank 1, ...] on every rank (pickled over MPI)."""
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        """Return only when every rank has called it."""
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        """Kill every rank of the job (MPI_Abort); never returns."""
        self.comm.Abort(code)

    def _check_root(self, root: int) -> None:
        if not 0 <= root < self.world_size:
            raise ValueError(f"broadcast: root must be in [0, {self.world_size}), got {root}")

    def __repr__(self) -> str:
        gpu = f", device={self.device}, nccl=True" if self.nccl is not None else ""
        return (f"ProcessGroup(rank={self.rank}, world_size={self.world_size}, local_rank="
                f"{self.local_rank}, backend={self.backend!r}{gpu})")


def _in_place(array: Any, fn: Any) -> None:
    """Run a buffer collective on `array`, through a contiguous copy when it is not contiguous."""
    if array.flags.c_contiguous:
        fn(array)
        return
    xp = B.array_module(array)
    buf = xp.ascontiguousarray(array)
    fn(buf)
    array[...] = buf
