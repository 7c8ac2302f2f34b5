"""Rank 1 raises while rank 0 waits in an all-reduce: the job must end with the error.

Run by test_mpi.py as `mpiexec -n 2 python tests/distributed/mpi_abort.py MODE`, MODE
"hook" (init() installs the excepthook) or "context" (`with dist.abort_on_error():`).
"""
from __future__ import annotations

import sys

import numpy as np

import minidl.distributed as dist


def work() -> None:
    if dist.get_rank() == 1:
        raise RuntimeError("rank 1 failed on purpose")
    dist.all_reduce(np.ones(4))  # without the abort, rank 0 would wait here forever
    print("rank 0 passed the all-reduce (must not happen)", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    dist.init(abort_on_error=mode == "hook")
    if mode == "context":
        with dist.abort_on_error():
            work()
    else:
        work()
