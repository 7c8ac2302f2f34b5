"""Compile minidl's CPU kernels before a first run: `python -m minidl.warmup [cnn mlp lstm]`.

Numba compiles a kernel the first time it runs and caches the machine code for later
processes (minidl/kernels/_numba.py). With an empty cache the seed CNN's first training
step waits about 6 s on 2 cores for its kernels, one after another. This runs the layers
of the seed models instead (the CNN, the MLP and the row LSTM of `examples/`), one group
of kernels per process and as many processes as the machine has cores, so the compiles
proceed side by side; the models' own first run then loads every kernel from the cache.

Each group runs the public layers as a training script does (float32, a training step
at batch 64, an evaluation pass at batch 500), so it compiles exactly the builds those
runs take; tests/test_warmup.py checks that a seed model compiles nothing afterwards.
With fast kernels off (`MINIDL_KERNELS=reference`) or without Numba there is nothing to do.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

import minidl as md
import minidl.functional as F
from minidl import nn, optim
from minidl.kernels import _route

TRAIN_BATCH, EVAL_BATCH = 64, 500


def _train(model: nn.Module, x: np.ndarray, loss: Callable[[md.Tensor], md.Tensor],
           optimizer: bool = False) -> None:
    """One training step at TRAIN_BATCH (two Adam steps if `optimizer`: Adam's first step
    also looks for subnormal moments, with a kernel of its own), then an evaluation
    forward at EVAL_BATCH. x takes a gradient where the model has no parameters."""
    opt = optim.Adam(model.parameters(), lr=1e-3) if optimizer else None
    has_params = any(True for _ in model.parameters())
    loss(model(md.tensor(x[:TRAIN_BATCH], requires_grad=not has_params))).backward()
    if opt is not None:
        opt.step()
        opt.step()
    with md.no_grad():
        model(md.tensor(x))


def _images(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((EVAL_BATCH, *shape)).astype(np.float32)


def _summed(y: md.Tensor) -> md.Tensor:
    return y.sum()


def _conv() -> None:
    """The seed CNN's Conv2D + ReLU + MaxPool2D (one fused op): forward and weight gradient
    (no input gradient)."""
    _train(nn.Sequential(nn.Conv2D(1, 32, 3), nn.ReLU(), nn.MaxPool2D(2)), _images(1, 28, 28), _summed)


def _head() -> None:
    """Dense -> ReLU -> Dense, cross-entropy and Adam: the MLP, and the CNN's and LSTM's heads."""
    labels = np.random.default_rng(0).integers(0, 10, TRAIN_BATCH)
    head = nn.Sequential(nn.Dense(784, 128), nn.ReLU(), nn.Dense(128, 10))
    _train(head, _images(784), lambda logits: F.cross_entropy(logits, md.tensor(labels)),
           optimizer=True)
    # Adam's parallel build: a parameter as large as the CNN's Dense(5408, 128) weight
    _train(nn.Dense(5408, 128), _images(5408)[:TRAIN_BATCH], _summed, optimizer=True)


def _lstm() -> None:
    """The row LSTM's cell, forward and backward over 28 steps: a loss on the last hidden
    state (as the seed model's) and one on every step's output."""
    lstm = nn.LSTM(28, 128, batch_first=True)
    _train(lstm, _images(28, 28), lambda out: out[1][0][-1].sum())
    _train(lstm, _images(28, 28), lambda out: out[0].sum())


GROUPS: dict[str, Callable[[], None]] = {"conv": _conv, "head": _head, "lstm": _lstm}
MODELS: dict[str, tuple[str, ...]] = {"cnn": ("conv", "head"), "mlp": ("head",),
                                      "lstm": ("lstm", "head")}


def _run_group(name: str) -> tuple[str, float]:
    from minidl.kernels import _numba

    _numba.compile_notice.said()  # the warmup says it once, not once per process
    start = time.perf_counter()
    GROUPS[name]()
    return name, time.perf_counter() - start


def _fast_kernels_on() -> bool:
    return _route.kernels_mode() != "reference" and _route.numba_available()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity): the warmup's default jobs."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def warmup(models: Sequence[str] = tuple(MODELS), jobs: int | None = None) -> dict[str, float]:
    """Compile (or load from the cache) the CPU kernels of `models`, on `jobs` processes
    (default: one per core, at most one per kernel group); returns each group's seconds.
    Nothing runs when fast kernels are off or Numba is missing."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"warmup: unknown model {unknown[0]!r}: expected some of {tuple(MODELS)}")
    if not _fast_kernels_on():
        return {}
    groups = list(dict.fromkeys(g for m in models for g in MODELS[m]))
    jobs = max(1, min(jobs or usable_cores(), len(groups)))
    if jobs == 1:
        return dict(_run_group(g) for g in groups)
    # fork: the children start at once, with minidl imported and no thread running yet.
    # Elsewhere (macOS, Windows) fork is unsafe or absent, so they start afresh.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(jobs) as pool:
        return dict(pool.imap_unordered(_run_group, groups))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minidl.warmup", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", default=list(MODELS), help=f"some of {', '.join(MODELS)} (default: all)")
    p.add_argument("--jobs", type=int, default=None, help="processes (default: one per core)")
    args = p.parse_args(argv)
    if not _fast_kernels_on():
        print("minidl.warmup: nothing to compile (fast kernels are off or Numba is missing)")
        return 0
    print(f"minidl: compiling CPU kernels for {', '.join(args.models)} (first run only; "
          "later runs load them from the cache)...", flush=True)
    start = time.perf_counter()
    seconds = warmup(args.models, args.jobs)
    detail = ", ".join(f"{g} {s:.1f} s" for g, s in sorted(seconds.items(), key=lambda kv: -kv[1]))
    print(f"minidl: kernels ready in {time.perf_counter() - start:.1f} s ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
