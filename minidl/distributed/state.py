"""The job's default process group and the module-level helpers that use it.

Before `init()` (or in a plain `python script.py`) the helpers describe a job of one:
rank 0 of 1, collectives do nothing, so one script runs both ways without branches.
"""
from __future__ import annotations

import os
from typing import Any

from minidl import backend as B
from minidl.distributed.abort import install_abort_hook, remove_abort_hook
from minidl.distributed.group import ProcessGroup, import_mpi

_group: ProcessGroup | None = None
# what launchers tell each process about the job size: MPICH/Intel MPI (Hydra, PMI),
# Open MPI, MVAPICH
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process as one of several ranks (read from
    the environment, without starting MPI): lets a script go data-parallel by itself."""
    for var in _SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 1:
            return True
    return False


def init(backend: str | None = None, comm: Any = None, abort_on_error: bool = True) -> ProcessGroup:
    """Join the MPI job that `mpiexec`/`mpirun`/`srun` started; returns the process group.

    `backend` ("numpy" or "cupy", default `md.get_backend()`): on "cupy" each rank uses the
    GPU of its local rank and gradients travel over NCCL. `comm` is an mpi4py communicator
    (default COMM_WORLD). `abort_on_error` installs an excepthook that prints an uncaught
    exception and calls MPI_Abort, so one failing rank ends the job instead of leaving the
    others waiting forever in a collective. Calling init() again returns the same group.
    """
    global _group
    backend = B.normalize_backend(backend if backend is not None else B.get_backend())
    if _group is not None:
        if _group.backend != backend:
            raise RuntimeError(f"minidl.distributed.init: already initialised with backend "
                               f"{_group.backend!r}, asked for {backend!r}")
        return _group
    if comm is None:
        comm = import_mpi().COMM_WORLD
    _group = ProcessGroup(comm, backend)
    if abort_on_error:
        install_abort_hook(_group)
    return _group


def is_initialized() -> bool:
    """True once `init()` has run in this process."""
    return _group is not None


def _group_or_none() -> ProcessGroup | None:
    return _group


def get_group() -> ProcessGroup:
    """The default process group; a RuntimeError before `init()`."""
    if _group is None:
        raise RuntimeError("minidl.distributed: call minidl.distributed.init() first "
                           "(and start the script with mpiexec -n N python script.py)")
    return _group


def destroy() -> None:
    """Leave the group (frees NCCL, puts back the excepthook); the helpers describe a job of
    one again."""
    global _group
    remove_abort_hook()
    if _group is not None:
        _group.destroy()
        _group = None


def get_rank() -> int:
    """This process's rank in [0, world size); 0 before init()."""
    return _group.rank if _group is not None else 0


def get_world_size() -> int:
    """Number of processes in the job; 1 before init()."""
    return _group.world_size if _group is not None else 1


def get_local_rank() -> int:
    """This process's rank among those on its node (its GPU index); 0 before init()."""
    return _group.local_rank if _group is not None else 0


def is_main_process() -> bool:
    """True on rank 0, the rank that logs, draws progress bars and writes checkpoints."""
    return get_rank() == 0


def barrier() -> None:
    """Wait for every rank (no-op in a job of one)."""
    if _group is not None:
        _group.barrier()


def all_reduce(array: Any, op: str = "sum") -> Any:
    """Reduce a NumPy/CuPy array over every rank in place ("sum", "mean", "max", "min")."""
    return _group.all_reduce(array, op) if _group is not None else array


def broadcast(array: Any, root: int = 0) -> Any:
    """Overwrite an array on every rank with root's values, in place."""
    return _group.broadcast(array, root) if _group is not None else array


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Root's picklable `obj` on every rank."""
    return _group.broadcast_object(obj, root) if _group is not None else obj


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's picklable `obj`, in rank order."""
    return _group.all_gather_object(obj) if _group is not None else [obj]
