"""What NumPy's BLAS threads cost minidl's parallel kernels right after a product.

    python -m benchmarks.blas_spin [--rounds 7]
    OPENBLAS_THREAD_TIMEOUT=20 python -m benchmarks.blas_spin

After each threaded product, OpenBLAS's idle workers spin (yielding) for their "thread
timeout", 2^28 clock cycles by default (about 0.1 s), before they sleep. On a 2-core
machine such a worker shares a core with the second thread of every Numba kernel started
in that time. This times one parallel kernel, the CIFAR CNN's second convolution (batch
128, 32 -> 32 channels, 32x32, the direct path), quiet (0.3 s after the last product) and
right after a 512x512 product, with its loop in tasks (minidl's way, `_numba.Parallel`)
and in Numba's static split (one block per thread), and the CPU time the BLAS threads
spend in the 0.3 s after one product. OPENBLAS_THREAD_TIMEOUT (the user's setting, read
when NumPy loads OpenBLAS) shortens the spin.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

QUIET_S = 0.3  # longer than OpenBLAS's default spin


def spin_ms(product: Callable[[], object]) -> float:
    """CPU ms that threads other than this one spend in QUIET_S after one product."""
    process, own = time.process_time(), time.thread_time()
    product()
    time.sleep(QUIET_S)
    return ((time.process_time() - process) - (time.thread_time() - own)) * 1e3


def run(rounds: int) -> list[str]:
    from minidl.kernels import _numba
    from minidl.kernels.conv import cpu

    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 32, 32, 32), dtype=np.float32)
    w = rng.standard_normal((32, 32, 3, 3), dtype=np.float32) * 0.1
    b = np.zeros(32, np.float32)
    a = rng.standard_normal((512, 512), dtype=np.float32)

    def product() -> None:
        a @ a

    def kernel() -> None:
        cpu.forward(x, w, b, (1, 1), (1, 1), (True, True, True))

    kernel()
    product()
    tasks_chunk = _numba.chunk_size
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for split in ("tasks", "static"):
            _numba.chunk_size = tasks_chunk if split == "tasks" else (lambda iterations: 0)
            try:
                for when in ("quiet", "after a product"):
                    if when == "quiet":
                        time.sleep(QUIET_S)
                    else:
                        product()
                    t0 = time.perf_counter()
                    kernel()
                    times.setdefault((split, when), []).append(time.perf_counter() - t0)
            finally:
                _numba.chunk_size = tasks_chunk
    timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset (OpenBLAS's default)")
    lines = [f"OPENBLAS_THREAD_TIMEOUT={timeout}; {rounds} rounds; convolution kernel, ms (median)",
             "| loop split | quiet | right after a product |", "|---|---:|---:|"]
    for split in ("tasks", "static"):
        quiet, after = (statistics.median(times[(split, w)]) * 1e3 for w in ("quiet", "after a product"))
        lines.append(f"| {split} | {quiet:.1f} | {after:.1f} |")
    lines.append(f"CPU time of the other threads in {QUIET_S:.1f} s after one product: "
                 f"{statistics.median(spin_ms(product) for _ in range(3)):.0f} ms")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.blas_spin", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    args = p.parse_args(argv)
    print("\n".join(run(args.rounds)))


if __name__ == "__main__":
    main()
