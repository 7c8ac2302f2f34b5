"""Where the time of a minidl training step goes: per-op timers and a cProfile summary.

    python -m benchmarks.profile_step --model cnn --batch 64 --steps 30
    python -m benchmarks.profile_step --model lstm --cprofile 25

Per-op timers wrap every `Function` subclass's forward and backward and the
optimizer's step; what is left of the step time is the engine's own Python work
(graph building, the backward walk, gradient accumulation) plus layer glue.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections import defaultdict
from typing import Any

from benchmarks import data, models, workloads


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


def install_timers(totals: dict[str, float]) -> None:
    """Wrap forward/backward of every op class (defined in its own class body) with a timer."""
    from minidl.autograd.function import Function

    for cls in _subclasses(Function):
        for meth in ("forward", "backward"):
            if meth not in cls.__dict__:
                continue
            orig = cls.__dict__[meth]

            def timed(self: Any, *a: Any, _orig: Any = orig, _key: str = f"{cls.__name__}.{meth}") -> Any:
                t0 = time.perf_counter()
                try:
                    return _orig(self, *a)
                finally:
                    totals[_key] += time.perf_counter() - t0

            setattr(cls, meth, timed)


def run(model: str, batch: int, steps: int, warmup: int = 3, cprofile: int = 0, mode: str = "train") -> str:
    from minidl import optim

    images, labels = data.load_mnist(8000)
    # the batches benchmarks.compare times (names_gpt: token batches, not images)
    step, _ = workloads.queued_step("minidl", f"{model}:{mode}:{batch}", images, labels, 8)

    for k in range(warmup):
        step(k)
    lines = []
    if cprofile:
        prof = cProfile.Profile()
        prof.enable()
        for k in range(steps):
            step(k)
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(cprofile)
        lines.append(s.getvalue())
        return "\n".join(lines)
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    plain = (time.perf_counter() - t0) / steps
    totals: dict[str, float] = defaultdict(float)
    install_timers(totals)
    orig_step = optim.Adam.step

    def timed_step(self: Any, *a: Any) -> Any:
        t = time.perf_counter()
        try:
            return orig_step(self, *a)
        finally:
            totals["Adam.step (optimizer)"] += time.perf_counter() - t

    optim.Adam.step = timed_step  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    timed_total = (time.perf_counter() - t0) / steps
    optim.Adam.step = orig_step  # type: ignore[method-assign]
    lines.append(f"{model} {mode} batch {batch}: {plain * 1e3:.2f} ms/step untimed "
                 f"({batch / plain:,.0f} images/s); {timed_total * 1e3:.2f} ms/step with timers")
    accounted = 0.0
    for key, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        per = t / steps
        accounted += per
        lines.append(f"  {key:40s} {per * 1e3:8.3f} ms  {100 * per / timed_total:5.1f}%")
    rest = timed_total - accounted
    lines.append(f"  {'(engine, glue, Python overhead)':40s} {rest * 1e3:8.3f} ms  {100 * rest / timed_total:5.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_step", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="cnn", choices=models.MODELS)
    p.add_argument("--mode", default="train", choices=("train", "infer"))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--cprofile", type=int, default=0, help="print the top N functions by own time instead")
    args = p.parse_args(argv)
    print(run(args.model, args.batch, args.steps, cprofile=args.cprofile, mode=args.mode))


if __name__ == "__main__":
    main()
