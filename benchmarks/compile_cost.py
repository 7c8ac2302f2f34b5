"""Where a first run's compile time goes: each `python -m minidl.warmup` group compiled in
a fresh process with an empty Numba cache, with every kernel's compile timed.

    python -m benchmarks.compile_cost [--groups conv head lstm] [--opt 0] [--rounds 2]

For each group (minidl/warmup.py) a worker process points NUMBA_CACHE_DIR at an empty
folder, runs the group as the warmup does, and records each Numba compile (Numba's
"numba:compile" events): its seconds with the compiles it started inside it taken out
("own"), so the kernels' shares add up to the group's compile time. The table gives each
group's wall and CPU seconds (the process's start and imports excluded) and its largest
kernels; then, for each seed model, the least wall time its warmup could take: its
groups' CPU over the machine's cores, and no less than its largest group (the warmup
runs a group on one process), however the groups are spread.

`--opt N` runs the workers with NUMBA_OPT=N (LLVM's optimisation level, 3 by default),
to show how much of a compile is LLVM's optimisation and how much Numba's own passes.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from benchmarks import compare

SHOWN = 5  # kernels listed per group


def timed_compiles(run: Callable[[], Any]) -> dict[str, Any]:
    """Call `run`, timing every Numba compile it starts: {"wall_s", "cpu_s", "compile_s",
    "kernels": {qualified name: own seconds}}, a compile's own seconds leaving out the
    compiles it started inside it (its helpers'), so that they add up to compile_s."""
    from numba.core import event

    own: dict[str, float] = defaultdict(float)
    stack: list[list[float]] = []  # [start, seconds of the compiles nested in it]

    class Timer(event.Listener):
        def on_start(self, ev: Any) -> None:
            stack.append([time.perf_counter(), 0.0])

        def on_end(self, ev: Any) -> None:
            start, nested = stack.pop()
            took = time.perf_counter() - start
            own[ev.data["dispatcher"].py_func.__qualname__] += took - nested
            if stack:
                stack[-1][1] += took

    timer = Timer()
    event.register("numba:compile", timer)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        run()
    finally:
        event.unregister("numba:compile", timer)
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "compile_s": sum(own.values()), "kernels": dict(own)}


def measure_group(name: str) -> dict[str, Any]:
    """Run warmup group `name` in this process (its cache empty), timing every compile."""
    from minidl import warmup
    from minidl.kernels import _numba

    _numba.compile_notice.said()  # no notice on the worker's stderr
    return timed_compiles(warmup.GROUPS[name])


def run_worker(name: str, opt: int | None) -> dict[str, Any]:
    """measure_group in a fresh process with an empty Numba cache (fast kernels on)."""
    from minidl import warmup

    with tempfile.TemporaryDirectory(prefix="minidl-compile-cost-") as cache:
        env = {"NUMBA_CACHE_DIR": cache, "MINIDL_KERNELS": "auto"}
        if opt is not None:
            env["NUMBA_OPT"] = str(opt)
        return compare.run_in_subprocess({"group": name, "threads": warmup.usable_cores()},
                                         extra_env=env, module="benchmarks.compile_cost")


def _row(name: str, runs: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """A group's medians over `runs` and its table row, with its SHOWN largest kernels."""
    mid = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s", "compile_s")}
    kernels: dict[str, list[float]] = defaultdict(list)
    for r in runs:
        for kernel, s in r["kernels"].items():
            kernels[kernel].append(s)
    top = sorted(((statistics.median(s), k) for k, s in kernels.items()), reverse=True)[:SHOWN]
    shown = ", ".join(f"`{k}` {s:.2f}" for s, k in top)
    return mid, f"| {name} | {mid['wall_s']:.2f} | {mid['cpu_s']:.2f} | {mid['compile_s']:.2f} | {shown} |"


def main(argv: list[str] | None = None) -> int:
    from minidl import warmup

    p = argparse.ArgumentParser(prog="python -m benchmarks.compile_cost",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", nargs="+", default=list(warmup.GROUPS), choices=list(warmup.GROUPS))
    p.add_argument("--opt", type=int, default=None, help="NUMBA_OPT for the workers (default: Numba's, 3)")
    p.add_argument("--rounds", type=int, default=2, help="fresh processes per group (medians)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(measure_group(json.loads(args.worker)["group"])), flush=True)
        return 0
    opt = "Numba's default" if args.opt is None else str(args.opt)
    cores = warmup.usable_cores()
    print(f"# {cores} cores, Python {sys.version.split()[0]}, NUMBA_OPT {opt}, median of {args.rounds}")
    print("| group | wall s | CPU s | compiling s | largest kernels, own compile s |")
    print("|---|---:|---:|---:|---|")
    measured: dict[str, dict[str, float]] = {}
    for name in args.groups:
        measured[name], row = _row(name, [run_worker(name, args.opt) for _ in range(args.rounds)])
        print(row, flush=True)
    print()
    for model, groups in warmup.MODELS.items():
        if all(g in measured for g in groups):
            cpu = sum(measured[g]["cpu_s"] for g in groups)
            floor = max(cpu / cores, *(measured[g]["wall_s"] for g in groups))
            print(f"{model} ({', '.join(groups)}): {cpu:.1f} s of CPU, so at least {floor:.1f} s of "
                  f"wall time on {cores} cores (process starts and imports not counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
