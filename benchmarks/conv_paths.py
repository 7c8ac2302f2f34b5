"""The Numba convolution's two paths side by side, per shape: direct ("wide rows") and
im2col + GEMM, forward and gradients, 2 threads (the table behind
MINIDL_DIRECT_CONV_MAX_WEIGHTS in docs/performance.md).

    python -m benchmarks.conv_paths [--rounds 3]

First layers (one or three input channels) ask no input gradient, as in a network.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

# (x shape, weight shape, padding): the seed CNN, the CIFAR-sized CNN, the binary CNN, between
SHAPES = [((64, 1, 28, 28), (32, 1, 3, 3), 0), ((128, 3, 32, 32), (32, 3, 3, 3), 1),
          ((64, 16, 28, 28), (32, 16, 3, 3), 1), ((64, 32, 14, 14), (32, 32, 3, 3), 1),
          ((128, 32, 32, 32), (32, 32, 3, 3), 1), ((128, 32, 16, 16), (64, 32, 3, 3), 1),
          ((128, 64, 16, 16), (64, 64, 3, 3), 1), ((32, 3, 150, 150), (32, 3, 3, 3), 0),
          ((32, 32, 74, 74), (64, 32, 3, 3), 0), ((32, 64, 36, 36), (128, 64, 3, 3), 0)]


def median_ms(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median milliseconds of `repeats` calls of fn after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.conv_paths", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternate the two paths this many times")
    args = p.parse_args(argv)
    from minidl.kernels import _route, _workspace
    from minidl.kernels.conv import cpu

    rng = np.random.default_rng(0)
    workspace = _workspace.Workspace()  # as inside a model's call
    times: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for path, limit in (("direct", 10**12), ("im2col + GEMM", 0)):
            _route.TUNING["MINIDL_DIRECT_CONV_MAX_WEIGHTS"] = limit
            for k, (xs, ws, pad) in enumerate(SHAPES):
                x = rng.standard_normal(xs, dtype=np.float32)
                w = rng.standard_normal(ws, dtype=np.float32)
                needs = (xs[1] > 3, True, True)
                with _workspace.using(workspace):
                    y, saved = cpu.forward(x, w, None, (1, 1), (pad, pad), needs)
                    gy = rng.standard_normal(y.shape, dtype=np.float32)
                    fwd = median_ms(lambda: cpu.forward(x, w, None, (1, 1), (pad, pad), needs))
                    bwd = median_ms(lambda: cpu.backward(gy, saved))
                times.setdefault((k, path), []).append((fwd, bwd))
    print("| x, weight | direct ms (forward / gradients) | im2col + GEMM ms |")
    print("|---|---:|---:|")
    for k, (xs, ws, _) in enumerate(SHAPES):
        cells = [" / ".join(f"{statistics.median(t[i] for t in times[(k, path)]):.2f}" for i in (0, 1))
                 for path in ("direct", "im2col + GEMM")]
        print(f"| {xs}, {'x'.join(map(str, ws))} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
