"""How long an optimizer's update of the MLP's first weight takes as training goes on, and
how much of its state has gone subnormal (dead units' moments or momentum decaying).

    python -m benchmarks.subnormal_state --optimizer sgd --steps 4000
    python -m benchmarks.subnormal_state --optimizer sgd --steps 4000 --no-guard

Trains the benchmark MLP (784-128-64-32-10, batch 64, real MNIST) and prints, every
`--every` steps, the median time of the first weight's update over the last interval
and the fraction of its state (Adam's exp_avg, SGD's momentum buffer) that is subnormal.
`--no-guard` never runs the kernels without subnormal arithmetic (`_adam32_many`, `_sgd32`),
to see what they save; the numbers are the same bits either way.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from benchmarks import data


def run(optimizer: str, steps: int, every: int, guard: bool) -> list[str]:
    import minidl as md
    import minidl.functional as F
    from minidl import nn, optim
    from minidl.kernels.optim import cpu

    rng = np.random.default_rng(0)
    images, labels = data.load_mnist(8000)
    x = images.reshape(len(images), -1).astype(np.float32) / 255
    model = nn.Sequential(nn.Dense(784, 128), nn.ReLU(), nn.Dense(128, 64), nn.ReLU(),
                          nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))
    for p in model.parameters():  # the same start on every run
        p.data[...] = rng.uniform(-1, 1, p.shape) / np.sqrt(p.shape[0])
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9) if optimizer == "sgd" \
        else optim.Adam(model.parameters(), lr=1e-3)
    first = model[0].weight
    name = "sgd_update" if optimizer == "sgd" else "adam_update"
    update, times = getattr(cpu, name), []

    def timed(param: Any, *args: Any) -> None:
        t0 = time.perf_counter()
        update(param, *args)
        if param.size == first.data.size:
            times.append(time.perf_counter() - t0)

    saved_guard = cpu._guard
    setattr(cpu, name, timed)
    if not guard:  # the plain kernels always
        cpu._guard = _NeverGuard()
    lines = []
    try:
        for s in range(steps):
            i = (s * 64) % (len(x) - 64)
            loss = F.cross_entropy(model(md.tensor(x[i:i + 64])),
                                   md.tensor(labels[i:i + 64].astype(np.int64)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (s + 1) % every == 0:
                state = opt.state[first]["momentum_buffer" if optimizer == "sgd" else "exp_avg"]
                sub = float(((np.abs(state) < np.finfo(np.float32).tiny) & (state != 0)).mean())
                lines.append(f"step {s + 1:5d}  loss {loss.item():.3f}  subnormal {sub:6.2%}  "
                             f"update {statistics.median(times[-every:]) * 1e6:6.1f} us")
    finally:
        setattr(cpu, name, update)
        cpu._guard = saved_guard
    return lines


class _NeverGuard:
    """Stands in for cpu._SubnormalGuard: never due."""

    def due(self, buf: Any) -> bool:
        return False

    def found(self, buf: Any, count: int) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--every", type=int, default=500)
    p.add_argument("--no-guard", action="store_true")
    args = p.parse_args(argv)
    print("\n".join(run(args.optimizer, args.steps, args.every, not args.no_guard)))


if __name__ == "__main__":
    main()
