"""Data-parallel scaling of the seed CNN: 1 process against N processes under mpiexec.

Run from the project root (needs mpi4py and an MPI: pip install -e ".[mpi]"):

    python benchmarks/distributed_scaling.py                 # batch 64 per process, 2 processes
    python benchmarks/distributed_scaling.py --batch 128 --steps 60 --repeats 5

Three configurations, each in fresh processes, alternated `--repeats` times (best kept,
since other load on a shared machine only ever slows a run down):

  1p x 1t   one process, one BLAS/OpenMP/Numba thread, batch B
  1p x Nt   one process, N threads, batch B (what the same cores give without MPI)
  Np x 1t   N processes under mpiexec, one thread each, batch B per process (N*B per step)

Each run trains the seed CNN (Conv2D(1,32,3)-ReLU-MaxPool2D(2)-Flatten-Dense(5408,128)-
ReLU-Dense(128,10)) with Adam on real MNIST digits when ../shared/data or $MINIDL_DATA has
them (random images otherwise), through DataLoader + DistributedSampler +
DistributedDataParallel, and times whole steps after warm-up. Throughput is images/s over
all processes; scaling efficiency = (Np throughput) / (N * 1p x 1t throughput).
The worker mode (`--worker`) is what the launcher starts.

For N GPUs (one process per GPU, gradients over NCCL), time the example itself:
    mpiexec -n 4 python examples/mnist.py --distributed --backend cupy --epochs 1
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# ---- the worker (one rank) ------------------------------------------------------------

def load_images(n: int):
    """(images float32 (n, 1, 28, 28) standardised, labels int64 (n,)): real MNIST if found."""
    import numpy as np

    import minidl as md

    roots = [Path(os.environ["MINIDL_DATA"])] if os.environ.get("MINIDL_DATA") else []
    roots.append(PROJECT.parent / "shared" / "data")
    for root in roots:
        if (root / "mnist").is_dir():
            x, y = md.datasets.load_mnist("test", root=root / "mnist", download=False)
            x = ((x[:n].astype(np.float32) / 255.0 - 0.1307) / 0.3081)[:, None]
            return np.ascontiguousarray(x), y[:n].astype(np.int64)
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n)


def worker(batch: int, steps: int, warmup: int) -> None:
    import numpy as np

    import minidl as md
    import minidl.distributed as dist
    import minidl.functional as F
    from minidl import nn, optim
    from minidl.data import DataLoader, TensorDataset

    if dist.launched_by_mpi():
        dist.init()
    world, rank = dist.get_world_size(), dist.get_rank()
    md.manual_seed(0)
    net = nn.Sequential(nn.Conv2D(1, 32, 3), nn.ReLU(), nn.MaxPool2D(2), nn.Flatten(),
                        nn.Dense(5408, 128), nn.ReLU(), nn.Dense(128, 10))
    opt = optim.Adam(net.parameters(), lr=1e-3)
    model = dist.DistributedDataParallel(net)  # explicit sync below, so it can be timed
    x, y = load_images(8000)
    sampler = dist.DistributedSampler(len(y), shuffle=True, seed=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, sampler=sampler, drop_last=True)

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    it = batches()
    step_times, wait_times, sync_times = [], [], []
    for i in range(warmup + steps):
        xb, yb = next(it)
        dist.barrier()  # every rank starts the step together: the slowest one sets the pace
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        t1 = time.perf_counter()
        dist.barrier()  # waiting for a slower rank is imbalance, not communication
        t2 = time.perf_counter()
        model.sync_gradients()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= warmup:
            step_times.append(t4 - t0)
            wait_times.append(t2 - t1)
            sync_times.append(t3 - t2)
    # the step time of the job is that of its slowest rank
    step = dist.all_reduce(np.array([np.median(step_times)]), "max")[0]
    sync = dist.all_reduce(np.array([np.median(sync_times)]), "max")[0]
    wait = dist.all_reduce(np.array([np.median(wait_times)]), "max")[0]
    if rank == 0:
        print(json.dumps({"world": world, "batch": batch, "step_ms": step * 1e3, "sync_ms": sync * 1e3,
                          "wait_ms": wait * 1e3,
                          "images_per_s": world * batch / step,
                          "buckets": len(model.reducer.buckets) if model.reducer else 0,
                          "final_loss": float(loss.item())}), flush=True)


# ---- the launcher ---------------------------------------------------------------------

def mpiexec() -> list[str]:
    import shutil

    exe = next((str(p) for p in (Path(sys.prefix) / "bin" / "mpiexec",) if p.is_file()), None)
    exe = exe or shutil.which("mpiexec")
    if exe is None:
        sys.exit('no mpiexec found: pip install -e ".[mpi]" (or load your MPI)')
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
    if "Open MPI" in version:
        return [exe, "--oversubscribe", "--bind-to", "none"] + (
            ["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return [exe]


def run(procs: int, threads: int, args: argparse.Namespace) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]))
    env.update({var: str(threads) for var in THREAD_VARS})
    cmd = [sys.executable, __file__, "--worker", "--batch", str(args.batch), "--steps", str(args.steps),
           "--warmup", str(args.warmup)]
    if procs > 1:
        cmd = [*mpiexec(), "-n", str(procs), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT, timeout=600, check=False)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64, help="images per process per step")
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.batch, args.steps, args.warmup)
        return
    n = args.procs
    configs = {"1p x 1t": (1, 1), f"1p x {n}t": (1, n), f"{n}p x 1t": (n, 1)}
    best: dict[str, dict] = {}
    every: dict[str, list[float]] = {name: [] for name in configs}
    for rep in range(args.repeats):
        for name, (procs, threads) in configs.items():
            load = os.getloadavg()[0]  # other work on the machine only slows a run down
            result = run(procs, threads, args)
            print(f"  repeat {rep + 1} (load {load:.1f}): {name:9s} {result['images_per_s']:8.0f} images/s "
                  f"(step {result['step_ms']:.1f} ms, all-reduce {result['sync_ms']:.2f} ms, "
                  f"waiting for the other rank {result['wait_ms']:.2f} ms)", flush=True)
            every[name].append(result["images_per_s"])
            if name not in best or result["images_per_s"] > best[name]["images_per_s"]:
                best[name] = result
    base = best["1p x 1t"]["images_per_s"]
    print(f"\nseed CNN, Adam, batch {args.batch} per process, {os.cpu_count()} cores, best of {args.repeats}:")
    print("| configuration | images/s (best) | median | step (ms) | all-reduce (ms) | rank wait (ms) "
          "| vs 1p x 1t |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in best.items():
        print(f"| {name} | {r['images_per_s']:.0f} | {statistics.median(every[name]):.0f} | "
              f"{r['step_ms']:.1f} | {r['sync_ms']:.2f} | {r['wait_ms']:.2f} | "
              f"{r['images_per_s'] / base:.2f}x |")
    eff = best[f"{n}p x 1t"]["images_per_s"] / (n * base)
    eff_median = statistics.median(every[f"{n}p x 1t"]) / (n * statistics.median(every["1p x 1t"]))
    print(f"\nscaling efficiency 1 -> {n} processes: {eff:.0%} (best runs), {eff_median:.0%} (medians)")


if __name__ == "__main__":
    main()
