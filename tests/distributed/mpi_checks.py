"""Every multi-rank check in one launch (MPI start-up costs about a second per launch).

Run by test_mpi.py as `mpiexec -n 2 python tests/distributed/mpi_checks.py OUT [BACKEND]`;
each rank writes what it saw into OUT as <check>_rank<r>.json / .npz and the test judges
it. With BACKEND "cupy" (one GPU per rank) arrays and gradients travel over NCCL.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import minidl as md
import minidl.distributed as dist
from minidl import nn
from tests.distributed import workload


def collectives(rank: int, backend: str) -> dict:
    """Values after each collective, to be compared with what they must be."""
    xp = md.backend.module_for(backend)
    out = {}
    a = xp.full(3, rank + 1.0, dtype=np.float32)
    out["sum"] = dist.all_reduce(a.copy(), "sum").tolist()
    out["mean"] = dist.all_reduce(a.copy(), "mean").tolist()
    out["max_int"] = dist.all_reduce(xp.array([rank, -rank], dtype=np.int64), "max").tolist()
    out["min"] = dist.all_reduce(a.copy(), "min").tolist()
    strided = xp.arange(12.0).reshape(3, 4)[:, ::2] * (rank + 1)  # not contiguous
    out["broadcast_from_1"] = dist.broadcast(strided, root=1).tolist()
    out["broadcast_object"] = dist.broadcast_object({"rank": rank}, root=0)
    out["all_gather_object"] = dist.all_gather_object(rank * 10)
    return out


def unused_gradients(rank: int, backend: str) -> dict:
    """p0 has a gradient everywhere, p1 on rank 1 only, p2 nowhere."""
    params = [nn.Parameter(md.zeros(2, dtype="float64", device=backend)) for _ in range(3)]
    params[0].grad = md.tensor(np.full(2, 1.0 + 2 * rank), device=backend)
    if rank == 1:
        params[1].grad = md.tensor(np.full(2, 4.0), device=backend)
    dist.GradientReducer(params).all_reduce_gradients()
    return {f"p{i}": None if p.grad is None else p.grad.numpy().tolist() for i, p in enumerate(params)}


def sampler_shards(world: int) -> dict:
    """Each case: the indices this rank gets in epochs 0 and 1 (rank and size from init)."""
    out = {}
    for name, kw in {"pad": {"drop_last": False}, "drop": {"drop_last": True},
                     "plain": {"shuffle": False}}.items():
        s = dist.DistributedSampler(11, seed=7, **kw)
        epochs = []
        for epoch in range(2):
            s.set_epoch(epoch)
            epochs.append(list(s))
        out[name] = {"len": len(s), "epochs": epochs}
    return out


def shape_mismatch(rank: int) -> str:
    net = workload.build_model("float32", 0, wide=rank == 1)
    try:
        dist.DistributedDataParallel(net)
    except ValueError as exc:
        return str(exc)
    return "no error"


def averages_per_wiring(group: dist.ProcessGroup) -> dict:
    """Each wiring of DDP, compile and fit: [gradient all-reduces (op "mean"), optimizer steps]."""
    real = group.all_reduce
    means = []

    def counting(array, op="sum"):
        if op == "mean":
            means.append(1)
        return real(array, op)

    group.all_reduce = counting
    try:
        out = {}
        for wiring in workload.WIRINGS:
            means.clear()
            steps = workload.train_wired(wiring)
            out[wiring] = [len(means), steps]
        return out
    finally:
        del group.all_reduce  # the class's method again


def main(out: Path, backend: str) -> None:
    group = dist.init(backend=backend)
    rank, world = dist.get_rank(), dist.get_world_size()

    def save(name: str, value: dict | str) -> None:
        (out / f"{name}_rank{rank}.json").write_text(json.dumps(value))

    save("info", {"rank": rank, "world": world, "local_rank": dist.get_local_rank(),
                  "main": dist.is_main_process(), "repr": repr(group)})
    save("collectives", collectives(rank, backend))
    save("unused", unused_gradients(rank, backend))
    save("sampler", sampler_shards(world))
    save("mismatch", shape_mismatch(rank))
    save("averages", averages_per_wiring(group))
    for case in workload.CASES:
        params = workload.train(case, rank, world, workload.PER_RANK_BATCH, init_seed=rank, device=backend)
        np.savez(out / f"train_{case}_rank{rank}.npz", **params)
    params, history = workload.fit(workload.PER_RANK_BATCH, init_seed=rank)
    np.savez(out / f"fit_rank{rank}.npz", **params)
    save("fit_history", history)
    installed = sys.excepthook
    dist.destroy()  # leave and join again: the excepthook goes back, then is installed again
    original = sys.excepthook
    again = {"left": not dist.is_initialized() and dist.get_world_size() == 1,
             "hook_restored": original is not installed}
    dist.init(backend=backend)
    again["rejoined"] = dist.get_world_size() == world and sys.excepthook is not original
    save("reinit", again)
    dist.barrier()
    print(f"rank {rank} of {world}: done", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "numpy")
