"""The same matrix products in NumPy's BLAS and in PyTorch's, each library in its own
process: how much of a gap on a BLAS-bound case is the library's products alone.

    python -m benchmarks.blas_products [--rounds 2] [--threads 2]

The shapes are the recurrent models' per-step products and their weight gradients and
input projections (benchmarks/gemm_bound.py lists a step's products). Each is timed as
one call into a preallocated output, the median of 50 calls after one warm-up; rounds
alternate the libraries and pool their medians.

NumPy also runs each product in its transposed form, (B^T A^T) = (A B)^T with both
operands and the (N, M) result contiguous: the same arithmetic, which OpenBLAS runs
faster on the recurrent per-step shapes (a layout that kept the recurrent state as
(H, N) would get it; minidl's is (N, H)).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

import numpy as np

from benchmarks.conv_paths import median_ms

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# (M, K, N): text LSTM step forward and backward, its dW_hh and input projection, then
# the row LSTM's step forward and backward
SHAPES = [(64, 256, 1024), (64, 1024, 256), (256, 3136, 1024), (3200, 64, 1024),
          (64, 128, 512), (64, 512, 128)]


def measure(library: str, threads: int) -> dict[str, float]:
    """Median microseconds per product, in this process, for every shape."""
    rng = np.random.default_rng(0)
    out = {}
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        if library == "torch":
            import torch

            torch.set_num_threads(threads)
            ta, tb, to = torch.from_numpy(a), torch.from_numpy(b), torch.empty(m, n)
            out[f"{m}x{k}x{n}"] = median_ms(lambda: torch.mm(ta, tb, out=to), 50) * 1e3
        else:
            o = np.empty((m, n), np.float32)
            out[f"{m}x{k}x{n}"] = median_ms(lambda: np.matmul(a, b, out=o), 50) * 1e3
            bt, at, ot = np.ascontiguousarray(b.T), np.ascontiguousarray(a.T), np.empty((n, m), np.float32)
            out[f"{m}x{k}x{n}:transposed"] = median_ms(lambda: np.matmul(bt, at, out=ot), 50) * 1e3
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", choices=["numpy", "torch"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(measure(args.worker, args.threads)))
        return
    # each worker's libraries sized to `threads` before they load, as benchmarks.compare does
    env = dict(os.environ, **{var: str(args.threads) for var in THREAD_VARS})
    runs: dict[str, list[dict[str, float]]] = {"numpy": [], "torch": []}
    for _ in range(args.rounds):
        for library in runs:
            done = subprocess.run([sys.executable, "-m", "benchmarks.blas_products", "--worker", library,
                                   "--threads", str(args.threads)], capture_output=True, text=True,
                                  check=True, env=env)
            runs[library].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print("| (M, K) @ (K, N) | NumPy us | GFLOP/s | PyTorch us | GFLOP/s | PyTorch / NumPy speed "
          "| NumPy, transposed form, us | its speed / NumPy's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for m, k, n in SHAPES:
        key = f"{m}x{k}x{n}"
        us = {lib: statistics.median(r[key] for r in runs[lib]) for lib in runs}
        gf = {lib: 2 * m * k * n / us[lib] / 1e3 for lib in runs}
        flipped = statistics.median(r[f"{key}:transposed"] for r in runs["numpy"])
        print(f"| ({m}, {k}) @ ({k}, {n}) | {us['numpy']:.1f} | {gf['numpy']:.0f} | "
              f"{us['torch']:.1f} | {gf['torch']:.0f} | {us['numpy'] / us['torch']:.2f}x "
              f"| {flipped:.1f} | {us['numpy'] / flipped:.2f}x |")


if __name__ == "__main__":
    main()
