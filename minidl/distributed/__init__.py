"""Data-parallel training over MPI (mpi4py) and, on NVIDIA GPUs, NCCL (`md.distributed`).

    import minidl.distributed as dist
    dist.init()                                    # under mpiexec -n N python train.py
    model = dist.DistributedDataParallel(net, optimizer=opt)
    sampler = dist.DistributedSampler(dataset, shuffle=True, seed=0)
    loader = md.data.DataLoader(dataset, batch_size=64, sampler=sampler)

Importing this package does not import mpi4py; `init()` does. See docs/distributed.md.
"""
from minidl.distributed.abort import abort_on_error
from minidl.distributed.bucket import Bucket, plan_buckets
from minidl.distributed.ddp import (
    DistributedDataParallel,
    GradientReducer,
    broadcast_optimizer_state,
    check_same_parameters,
)
from minidl.distributed.group import ProcessGroup
from minidl.distributed.sampler import DistributedSampler
from minidl.distributed.state import (
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object,
    destroy,
    get_group,
    get_local_rank,
    get_rank,
    get_world_size,
    init,
    is_initialized,
    is_main_process,
    launched_by_mpi,
)

__all__ = [
    "Bucket",
    "DistributedDataParallel",
    "DistributedSampler",
    "GradientReducer",
    "ProcessGroup",
    "abort_on_error",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object",
    "broadcast_optimizer_state",
    "check_same_parameters",
    "destroy",
    "get_group",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "init",
    "is_initialized",
    "is_main_process",
    "launched_by_mpi",
    "plan_buckets",
]
