"""How long a training step's matrix products alone take in NumPy's BLAS, beside
PyTorch's whole step: the floor an im2col + BLAS framework cannot go under.

    python -m benchmarks.gemm_bound --cases cifar:train:128 lstm:train:64 [--rounds 3]

For each Conv2D and Dense layer of a benchmark model (benchmarks/models.py) the products
of the im2col formulation are timed one by one, each as ONE NumPy call on contiguous
operands (BLAS's best case): forward weight @ columns, the weight gradient, and the input
gradient (not for the first layer, whose input needs none). Recurrent models add their
input projection over all steps, one (N, H) @ (H, G*H) product per step forward and
one per step backward, and the recurrent weight's gradient. PyTorch's step is measured
by benchmarks.compare's worker in its own process, alternating with the products, so
both see the same machine load.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from benchmarks import compare, models

GATES = {"lstm": 4, "textlstm": 4, "gru": 3}


def products(model: str, batch: int) -> list[tuple[tuple[int, int, int], int]]:
    """((M, K, N), count) of every matrix product in one training step (M x K @ K x N)."""
    if model in GATES:
        t, i, h = (28, 28, models.LSTM_HIDDEN) if model == "lstm" else \
            (models.TEXT_STEPS, models.TEXT_EMBED, models.TEXT_HIDDEN)
        g, classes = GATES[model] * h, (10 if model == "lstm" else 2)
        return [((batch * t, i, g), 1), ((i, batch * t, g), 1),  # input projection and its dW
                ((batch, h, g), t), ((batch, g, h), t), ((h, batch * t, g), 1),  # recurrence
                ((batch, h, classes), 1), ((h, batch, classes), 1), ((batch, classes, h), 1)]
    shape: tuple[int, ...] = models.model_input(model, np.zeros((1, 1, 28, 28), np.float32)).shape[1:]
    out, first = [], True
    for layer in models.SEQUENTIAL[model]:
        kind = layer[0]
        if kind == "conv":
            _, c, co, k, pad = layer
            oh, ow = shape[1] + 2 * pad - k + 1, shape[2] + 2 * pad - k + 1
            kk, p = c * k * k, batch * oh * ow
            out += [((co, kk, p), 1), ((co, p, kk), 1)] + ([] if first else [((kk, co, p), 1)])
            shape, first = (co, oh, ow), False
        elif kind == "dense":
            _, fi, fo = layer
            out += [((batch, fi, fo), 1), ((fi, batch, fo), 1)] + ([] if first else [((batch, fo, fi), 1)])
            shape, first = (fo,), False
        elif kind == "pool":
            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])
        elif kind == "flatten":
            shape = (int(np.prod(shape)),)
    return out


def time_products(model: str, batch: int, repeats: int = 5) -> float:
    """Seconds for all of one step's products, each product's median over `repeats`."""
    rng = np.random.default_rng(0)
    total = 0.0
    for (m, k, n), count in products(model, batch):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        np.matmul(a, b, out=c)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(count):
                np.matmul(a, b, out=c)
            times.append(time.perf_counter() - t0)
        total += statistics.median(times)
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gemm_bound", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", nargs="+", default=["cifar:train:128", "lstm:train:64", "textlstm:train:64",
                                                  "gru:train:64", "mlp:train:64", "cnn:train:64"])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        model, _, batch = json.loads(args.worker)["case"].split(":")
        print("RESULT " + json.dumps({"products_s": time_products(model, int(batch))}), flush=True)
        return 0
    print(f"# {compare.machine_note(args.threads)}")
    print("| case | products alone, ms | PyTorch whole step, ms | products / PyTorch step |")
    print("|---|---:|---:|---:|")
    for case in args.cases:
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(compare.run_in_subprocess({"case": case, "threads": args.threads},
                                                  module="benchmarks.gemm_bound")["products_s"])
            spec = {"kind": "case", "framework": "torch", "case": case, "repeats": 3, "warmup": 3,
                    "repeat_time": 0.5, "max_steps": None, "threads": args.threads}
            theirs.append(compare.run_in_subprocess(spec)["median_step_s"])
        a, b = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        print(f"| {compare._case_label(case)} | {a:.1f} | {b:.1f} | {a / b:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
