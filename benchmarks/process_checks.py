"""Process-level checks of minidl's CPU kernels: fork, PyTorch in the same process, memory
given back, and two training threads at once. Every measurement runs in its own fresh
subprocess (a fork that kills a child, or a threading layer that aborts, takes only that
process with it).

Run from the project root:

    python -m benchmarks.process_checks                     # every check, minidl's own choices
    python -m benchmarks.process_checks --variants default omp workqueue tbb \\
        --tbb-python /tmp/venv-tbb/bin/python --markdown /tmp/checks.md
    python -m benchmarks.process_checks --checks coexist --rounds 7 --variants default omp+passive
    python -m benchmarks.process_checks --checks coexist --cases all --rounds 3

Checks:
- fork: train the seed CNN 3 steps (kernels run in parallel), then run the trained model in
  a fork-start `multiprocessing.Pool`, in a plain `os.fork()` child, and in two fork-start
  worker processes fed through queues as DataLoader workers are; each must return the
  parent's outputs within a timeout. The parent then trains one more step.
- coexist: training throughput of the seed CNN (batch 64) and a wide MLP (784-1024-1024-10,
  batch 256) solo, with `import torch` before minidl, with torch used before training
  (three torch ops, then none), and with torch used between steps: one torch op (a
  512x512 matmul and a 32-channel 3x3 conv over a batch of 64 MNIST-sized images, on
  torch's 2 intra-op threads) between every two minidl steps.
  With --cases, the same for benchmarks.compare's training cases (--cases all: every one).
  Only minidl's steps are timed: the question is whether torch's presence slows minidl's
  kernels, not how long torch's own work takes. Modes (and variants) alternate process by
  process, round after round. Each process gives img/s at its median step and the CPU
  time all its threads spend per step (median: work plus any spinning). The table gives
  img/s as median (min-max) over rounds, the ratios to solo as the median of per-round
  ratios (neighbouring processes share the machine's noise) and as best round / best
  round (on a shared machine the best round is the one least disturbed).
- memory: RSS after the imports; before building the model, once the kernels are loaded
  (the same model trained 2 steps at batch 2, then deleted); after N training steps;
  after deleting model, optimizer and batches (+ gc); peak RSS (ru_maxrss), minor page
  faults per training step (ru_minflt) and the step time; and 300 MB of the user's own
  arrays allocated and freed (how much RSS stays).
- threads: two Python threads train two seed CNNs at the same time; each model must end
  with the weights it gets when trained alone.
- launch: microseconds per call of a small parallel kernel through minidl's `launch`,
  below its threshold (one thread) and above it (all threads), at 1,000 and 262,144
  float32 elements: what entering the threading layer costs.
- faults: minor page faults per training step of the seed CNN by op (forward, backward)
  and optimizer step, with the arrays of 256 KB or more each returns (not in the default
  set of checks: ask for it with --checks faults; --workload wide for the wide MLP).

Variants: "default" (no setting: what minidl chooses) or a Numba threading layer (omp,
workqueue, tbb) given to the child as NUMBA_THREADING_LAYER, the user's own switch; with
suffixes "+passive" (OMP_WAIT_POLICY=PASSIVE in the child's environment from its start)
and "+mallopt" (the child calls glibc mallopt as minidl 1.x did: mmap threshold 256 MB,
trim threshold 512 MB). "tbb" runs under --tbb-python (a venv with the `tbb` wheel). A
suffix "@PATH" runs the variant in another checkout (holding this same file), e.g. the
code before a change: "default@/tmp/before".
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
CHECKS = ("fork", "coexist", "memory", "threads", "launch", "faults")
WORKLOADS = {"cnn": 64, "wide": 256}  # workload -> batch
WIDE_SIZES = (784, 1024, 1024, 10)
# "before": torch's ops ran before training (a torch model evaluated first), none during it;
# "used": one torch op between every two minidl steps (its OpenMP workers spin after each)
MODES = ("solo", "import", "before", "used")
TIMEOUT_S = 30.0


# ---- workloads (inside a worker) ------------------------------------------------------

def build(workload: str, seed: int = 0) -> Any:
    """The seed CNN (benchmarks.models) or the wide MLP 784-1024-1024-10."""
    from benchmarks import models

    if workload == "cnn":
        return models.build_minidl("cnn", seed)
    from minidl import nn

    layers: list[Any] = []
    for fi, fo in zip(WIDE_SIZES, WIDE_SIZES[1:]):
        layers += [nn.Dense(fi, fo), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def batches(workload: str, count: int, batch: int | None = None) -> list[tuple[Any, Any]]:
    import minidl as md
    from benchmarks import data

    images, labels = data.load_mnist(4000)
    out = []
    for x, y in data.batches(images, labels, batch or WORKLOADS[workload], count):
        x = x if workload == "cnn" else x.reshape(len(x), 784)
        out.append((md.tensor(x), md.tensor(y)))
    return out


def trainer(net: Any) -> Any:
    """step(x, y) -> loss: zero_grad, forward, cross-entropy, backward, Adam step."""
    import minidl.functional as F
    from minidl import optim

    opt = optim.Adam(net.parameters(), lr=1e-3)

    def step(x: Any, y: Any) -> float:
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def infer(net: Any, x: Any) -> Any:
    import minidl as md

    with md.no_grad():
        return net(md.tensor(x)).numpy()


def threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run
        return "none"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _usage() -> resource.struct_rusage:
    return resource.getrusage(resource.RUSAGE_SELF)


# ---- fork -----------------------------------------------------------------------------

_NET: Any = None  # the trained model, inherited by forked children


def _infer_chunk(x: Any) -> Any:
    return infer(_NET, x)


def _describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"


def _fork_pool(x: Any, expected: Any) -> str:
    import multiprocessing as mp

    import numpy as np

    chunks = [x] * 4
    pool = mp.get_context("fork").Pool(2)
    try:
        outs = pool.map_async(_infer_chunk, chunks).get(TIMEOUT_S)
    except mp.TimeoutError:
        return f"FAIL: no answer in {TIMEOUT_S:.0f} s (a child died)"
    finally:
        pool.terminate()
        pool.join()
    ok = all(np.allclose(o, expected, rtol=1e-5, atol=1e-6) for o in outs)
    return "pass" if ok else "FAIL: wrong outputs"


def _plain_fork(x: Any, expected: Any) -> str:
    import numpy as np

    pid = os.fork()
    if pid == 0:  # the child: run the model, report by exit code
        code = 1
        try:
            code = 0 if np.allclose(infer(_NET, x), expected, rtol=1e-5, atol=1e-6) else 3
        finally:
            os._exit(code)
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return "pass" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 \
                else f"FAIL: child {_describe_status(status)}"
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return f"FAIL: child still running after {TIMEOUT_S:.0f} s"


def _loader_worker(x: Any, index_q: Any, result_q: Any) -> None:
    """A DataLoader worker: takes batch indices, returns the batch through minidl kernels."""
    while (k := index_q.get()) is not None:
        result_q.put((k, infer(_NET, x)))


def _loader_workers(x: Any, expected: Any, workers: int = 2, n_batches: int = 6) -> str:
    import multiprocessing as mp
    import queue

    import numpy as np

    ctx = mp.get_context("fork")
    index_q, result_q = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_loader_worker, args=(x, index_q, result_q), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()
    for k in range(n_batches):
        index_q.put(k)
    got = {}
    try:
        while len(got) < n_batches:
            k, out = result_q.get(timeout=TIMEOUT_S)
            got[k] = out
    except queue.Empty:
        codes = [p.exitcode for p in procs]
        return f"FAIL: {len(got)}/{n_batches} batches in {TIMEOUT_S:.0f} s (worker exit codes {codes})"
    finally:
        for _ in procs:
            index_q.put(None)
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
    ok = all(np.allclose(o, expected, rtol=1e-5, atol=1e-6) for o in got.values())
    return "pass" if ok else "FAIL: wrong outputs"


def check_fork(spec: dict[str, Any]) -> dict[str, Any]:
    global _NET
    _NET = build("cnn")
    step = trainer(_NET)
    data = batches("cnn", 4)
    for x, y in data[:3]:
        step(x, y)
    x = data[3][0].numpy()
    expected = infer(_NET, x)
    out = {"layer": threading_layer(), "pool": _fork_pool(x, expected),
           "os.fork": _plain_fork(x, expected), "loader workers": _loader_workers(x, expected)}
    try:
        step(*data[0])
        out["parent after"] = "pass"
    except Exception as e:  # noqa: BLE001 - reported, not raised: the other checks still count
        out["parent after"] = f"FAIL: {type(e).__name__}: {e}"
    return out


# ---- coexistence with torch -----------------------------------------------------------

def _torch_op(threads: int) -> Any:
    import numpy as np
    import torch
    import torch.nn.functional as tF

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.standard_normal((512, 512), dtype=np.float32))
    img = torch.from_numpy(rng.standard_normal((64, 1, 28, 28), dtype=np.float32))
    w = torch.from_numpy(rng.standard_normal((32, 1, 3, 3), dtype=np.float32))

    def op() -> None:
        (a @ a).sum().item()
        tF.conv2d(img, w).relu_().sum().item()

    return op


def _coexist_step(workload: str) -> tuple[Any, int]:
    """(run(k): one training step on the k-th of 8 cycling batches, batch size) for a
    WORKLOADS name or a benchmarks.compare case ("model:train:batch")."""
    if ":" in workload:
        from benchmarks import workloads

        run, _ = workloads.make_step("minidl", workload, pool=8)
        return run, int(workload.split(":")[2])
    step = trainer(build(workload))
    data = batches(workload, 8)
    return (lambda k: step(*data[k % len(data)])), WORKLOADS[workload]


def check_coexist(spec: dict[str, Any]) -> dict[str, Any]:
    mode, workload = spec["mode"], spec["workload"]
    torch_op = None
    if mode in ("import", "before", "used"):
        import torch  # before minidl, as a script that imports both at its top

        torch.set_num_threads(spec["threads"])
    if mode == "before":
        for _ in range(3):
            _torch_op(spec["threads"])()
    if mode == "used":
        torch_op = _torch_op(spec["threads"])
    run, batch = _coexist_step(workload)
    for k in range(3):  # compile or load the kernels; first allocations
        run(k)
        if torch_op:
            torch_op()
    t0 = time.perf_counter()
    run(3)
    n = max(10, int(spec["seconds"] / max(time.perf_counter() - t0, 1e-4)))
    times, cpu = [], []
    for k in range(n):
        if torch_op:
            torch_op()
        t0, c0 = time.perf_counter(), time.process_time()
        run(k)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    times.sort()
    # the median step: robust to the stalls other processes on the machine cause; CPU
    # time of all the process's threads during minidl's steps: work plus any spinning
    return {"layer": threading_layer(), "rate": batch / times[n // 2], "cpu_ms": 1000 * statistics.median(cpu),
            "steps": n}


# ---- memory ---------------------------------------------------------------------------

def _train_and_free(workload: str, steps: int, batch: int | None = None) -> dict[str, float]:
    net = build(workload)
    step = trainer(net)
    data = batches(workload, 4, batch)
    step(*data[0])  # first step out of the page-fault count (first allocations, kernels)
    ru0, t0 = _usage(), time.perf_counter()
    for k in range(steps):
        step(*data[k % len(data)])
    elapsed, ru1 = time.perf_counter() - t0, _usage()
    trained = rss_mb()
    del net, step, data
    gc.collect()
    return {"trained": trained, "freed": rss_mb(), "faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / steps,
            "step_ms": 1000 * elapsed / steps}


def _user_arrays(mb: int = 300) -> dict[str, float]:
    """The user's own arrays, allocated then freed: how much RSS stays."""
    import numpy as np

    before = rss_mb()
    arrays = [np.ones((mb << 20) // 8 // 10) for _ in range(10)]
    held = rss_mb()
    del arrays
    gc.collect()
    return {"before": before, "held": held, "freed": rss_mb()}


def check_memory(spec: dict[str, Any]) -> dict[str, Any]:
    import minidl  # noqa: F401 - imports out of the baseline
    from benchmarks import data

    data.load_mnist(4000)
    gc.collect()
    imported = rss_mb()
    # the same model at batch 2, trained and deleted: loads Numba and the kernels' machine
    # code (held for the process's life, as any imported code), so `start` is "kernels
    # ready, no model"
    _train_and_free(spec["workload"], 2, batch=2)
    start = rss_mb()
    run = _train_and_free(spec["workload"], spec["steps"])
    return {"layer": threading_layer(), "imported": imported, "start": start, **run,
            "peak": _usage().ru_maxrss / 1024, "user_300mb": _user_arrays()}


def _big_arrays(out: Any, min_bytes: int = 256 << 10) -> list[str]:
    items = out if isinstance(out, (tuple, list)) else (out,)
    return [f"{a.dtype} {tuple(a.shape)} {a.nbytes / 2**20:.1f} MB" for a in items
            if hasattr(a, "nbytes") and hasattr(a, "dtype") and a.nbytes >= min_bytes]


def _count_faults(owner: Any, attr: str, faults: dict[str, float], arrays: dict[str, set]) -> None:
    """Wrap owner.attr (a method of an op class, or a module's function) with a fault counter."""
    orig = owner.__dict__[attr]
    key = f"{getattr(owner, '__name__', owner)}.{attr}".replace("minidl.autograd.function.", "engine ")

    def counted(*a: Any, **kw: Any) -> Any:
        f0 = _usage().ru_minflt
        out = orig(*a, **kw)
        faults[key] += _usage().ru_minflt - f0
        arrays[key].update(_big_arrays(out if out is not None else a[1:]))
        return out

    setattr(owner, attr, counted)


def check_faults(spec: dict[str, Any]) -> dict[str, Any]:
    """Minor page faults per training step by op (forward/backward) and optimizer step,
    with the arrays of 256 KB or more each returns: where fresh memory is touched."""
    from collections import defaultdict

    from benchmarks.profile_step import _subclasses
    from minidl.autograd import function
    from minidl.autograd.function import Function
    from minidl.optim.optimizer import Optimizer

    faults: dict[str, float] = defaultdict(float)
    arrays: dict[str, set] = defaultdict(set)
    for cls in _subclasses(Function):
        for meth in ("forward", "backward"):
            if meth in cls.__dict__:
                _count_faults(cls, meth, faults, arrays)
    for cls in [Optimizer, *_subclasses(Optimizer)]:
        if "step" in cls.__dict__:
            _count_faults(cls, "step", faults, arrays)
    if "_accumulate_leaf" in vars(function):  # the engine's first-gradient copy into .grad
        _count_faults(function, "_accumulate_leaf", faults, arrays)
    workload = spec["workload"]
    net = build(workload)
    step = trainer(net)
    data = batches(workload, 4)
    for x, y in data[:3]:
        step(x, y)
    faults.clear()
    arrays.clear()
    f0 = _usage().ru_minflt
    n = spec["steps"]
    for k in range(n):
        step(*data[k % len(data)])
    total = (_usage().ru_minflt - f0) / n
    rows = sorted(((v / n, k, sorted(arrays[k])) for k, v in faults.items() if v), reverse=True)
    return {"layer": threading_layer(), "total": total,
            "rows": [[k, round(f), "; ".join(a)] for f, k, a in rows]}


def check_launch(spec: dict[str, Any]) -> dict[str, Any]:
    """Microseconds per call of a small parallel kernel through `launch`: below the
    threshold (one thread) and above it (every thread), 1,000 and 256k elements."""
    import numpy as np

    from minidl.kernels._numba import launch

    out: dict[str, Any] = {}
    for size in (1_000, 1 << 18):
        a = np.ones(size, np.float32)
        y = np.empty_like(a)
        for label, threshold in (("one thread", size + 1), ("all threads", 0)):
            launch(_scale, size, threshold, a, y)
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(200):
                    launch(_scale, size, threshold, a, y)
                best = min(best, (time.perf_counter() - t0) / 200)
            out[f"{size:,} elements, {label}"] = best * 1e6
    return {"layer": threading_layer(), "us": out}


def _scale_impl(a: Any, y: Any) -> None:  # pragma: no cover - compiled
    for i in prange(a.shape[0]):
        y[i] = a[i] * 2.0


_scale: Any = None
prange: Any = range  # numba.prange in a "launch" worker


# ---- threads --------------------------------------------------------------------------

def _train_model(seed: int, steps: int, data: list[tuple[Any, Any]]) -> Any:
    net = build("cnn", seed)
    step = trainer(net)
    for k in range(steps):
        step(*data[k % len(data)])
    return {k: v.copy() for k, v in net.state_dict().items()}


def check_threads(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    steps, data = spec["steps"], batches("cnn", 4)
    alone = [_train_model(seed, steps, data) for seed in (1, 2)]
    together: list[Any] = [None, None]
    errors: list[str] = []

    def run(i: int) -> None:
        try:
            together[i] = _train_model(i + 1, steps, data)
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"{type(e).__name__}: {e}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        return {"layer": threading_layer(), "result": "FAIL: " + "; ".join(errors)}
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for a, b in zip(alone, together) for k in a)
    return {"layer": threading_layer(), "result": "pass" if diff == 0 else f"differs by {diff:.2e}",
            "two_threads_s": elapsed}


WORKERS = {"fork": check_fork, "coexist": check_coexist, "memory": check_memory,
           "threads": check_threads, "faults": check_faults, "launch": check_launch}


def _apply_mallopt() -> None:
    """What minidl 1.x did to glibc when its kernels turned on (kept here to measure it)."""
    import ctypes

    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 256 << 20)
    libc.mallopt(m_trim_threshold, 512 << 20)


def _worker(spec: dict[str, Any]) -> None:
    global _scale, prange
    if spec["check"] == "launch":  # Numba only now: the other checks import it when minidl does
        from numba import prange

        from minidl.kernels._numba import pjit

        _scale = pjit(_scale_impl)
    if "mallopt" in spec["flags"]:
        _apply_mallopt()
    out = WORKERS[spec["check"]](spec)
    print("RESULT " + json.dumps(out), flush=True)


# ---- the driver -----------------------------------------------------------------------

def variant_env(variant: str, tbb_python: str | None) -> tuple[list[str], dict[str, str], list[str]]:
    """(python command, environment additions, flags) for a variant like "omp+passive"."""
    layer, *flags = variant.partition("@")[0].split("+")
    env: dict[str, str] = {}
    python = [sys.executable]
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    if "passive" in flags:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if layer == "tbb":
        if not tbb_python:
            raise SystemExit("variant tbb needs --tbb-python (a venv with the tbb wheel)")
        python = [tbb_python]
        prefix = subprocess.run([tbb_python, "-c", "import sys; print(sys.prefix)"],
                                capture_output=True, text=True, check=True).stdout.strip()
        # numba's tbbpool has no RPATH: a venv's lib/ must be on the loader path (numba#6108)
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [f"{prefix}/lib", os.environ.get("LD_LIBRARY_PATH")]))
    return python, env, flags


def run_worker(spec: dict[str, Any], variant: str, tbb_python: str | None, threads: int,
               timeout: float = 600) -> dict[str, Any]:
    python, extra, flags = variant_env(variant, tbb_python)
    env = dict(os.environ, **extra)
    for var in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER"):
        if var not in extra:
            env.pop(var, None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    spec = dict(spec, flags=flags, threads=threads)
    tree = Path(variant.partition("@")[2] or PROJECT)  # another checkout, e.g. the code before a change
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")]))
    try:
        proc = subprocess.run([*python, "-m", "benchmarks.process_checks", "--worker", json.dumps(spec)],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    why = _describe_status(proc.returncode << 8 if proc.returncode >= 0 else -proc.returncode)
    tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return {"error": f"worker {why}: {tail}"}


def _coexist_cases(cases: list[str] | None) -> list[str]:
    """The coexist workloads: the seed CNN and wide MLP, or compare.py's training cases."""
    if not cases:
        return list(WORKLOADS)
    if cases == ["all"]:
        from benchmarks.compare import DEFAULT_CASES

        return [c for c in DEFAULT_CASES if ":train:" in c]
    return cases


def _rng(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def run_coexist(variants: list[str], args: argparse.Namespace) -> list[list[str]]:
    runs: dict[tuple[str, str, str], list[float]] = {}
    layers: dict[str, set[str]] = {}
    cases = _coexist_cases(args.cases)
    for r in range(args.rounds):
        for workload in cases:
            for variant in variants:
                for mode in MODES:
                    out = run_worker({"check": "coexist", "mode": mode, "workload": workload,
                                      "seconds": args.seconds}, variant, args.tbb_python, args.threads)
                    if "error" in out:
                        print(f"  coexist {variant} {workload} {mode}: {out['error']}", file=sys.stderr)
                        continue
                    runs.setdefault((variant, workload, mode), []).append(out["rate"])
                    runs.setdefault((variant, workload, mode + "@cpu"), []).append(out["cpu_ms"])
                    layers.setdefault(variant, set()).add(out["layer"])
        print(f"  coexist round {r + 1}/{args.rounds} done", file=sys.stderr)
    rows = []
    for variant in variants:
        for workload in cases:
            solo = runs.get((variant, workload, "solo"), [])
            row = [variant, "/".join(sorted(layers.get(variant, {"?"}))),
                   f"{workload} ({WORKLOADS[workload]})" if workload in WORKLOADS else workload]
            for mode in MODES:
                row.append(_rng(runs[(variant, workload, mode)]) if (variant, workload, mode) in runs else "failed")
            for mode in ("import", "before", "used"):
                got = runs.get((variant, workload, mode), [])
                best = f"{max(got) / max(solo):.2f}x" if got and solo else "-"
                row.append(f"{_ratio(solo, got)}; best {best}")
            row.append(" / ".join(f"{statistics.median(runs[(variant, workload, m + '@cpu')]):.1f}"
                                  if (variant, workload, m + "@cpu") in runs else "-" for m in MODES))
            rows.append(row)
    return rows


def _ratio(base: list[float], other: list[float]) -> str:
    """Median of the per-round ratios (neighbouring processes), with their min-max."""
    ratios = [b / a for a, b in zip(base, other)]
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def _cell(out: dict[str, Any], key: str) -> str:
    return out["error"] if "error" in out else out[key]


def run_simple(check: str, variants: list[str], args: argparse.Namespace) -> list[list[str]]:
    rows = []
    for variant in variants:
        spec = {"check": check, "steps": args.steps, "workload": args.workload}
        out = run_worker(spec, variant, args.tbb_python, args.threads)
        layer = out.get("layer", "?")
        if check == "fork":
            rows.append([variant, layer] + [_cell(out, k) for k in ("pool", "os.fork", "loader workers", "parent after")])
        elif check == "launch":
            rows.append([variant, layer] + ([f"{v:.1f}" for v in out["us"].values()] if "us" in out
                                            else [out["error"], "", "", ""]))
        elif check == "faults":
            if "error" in out:
                rows.append([variant, out["error"], "", "", ""])
                continue
            rows.append([variant, spec["workload"], "whole step", f"{out['total']:,.0f}", ""])
            rows += [[variant, spec["workload"], k, f"{f:,}", a] for k, f, a in out["rows"]]
        elif check == "threads":
            rows.append([variant, layer, _cell(out, "result"),
                         f"{out['two_threads_s']:.1f}" if "two_threads_s" in out else "-"])
        elif "error" in out:
            rows.append([variant, layer, out["error"]] + [""] * 8)
        else:
            u = out["user_300mb"]
            rows.append([variant, layer, f"{out['imported']:.0f}", f"{out['start']:.0f}",
                         f"{out['trained']:.0f}", f"{out['freed']:.0f} ({out['freed'] - out['start']:+.0f})",
                         f"{out['peak']:.0f}", f"{out['faults_per_step']:,.0f}", f"{out['step_ms']:.1f}",
                         f"{u['freed'] - u['before']:+.0f}"])
    return rows


HEADERS = {
    "fork": ["variant", "layer", "fork Pool", "os.fork child", "loader workers (fork)", "parent after"],
    "coexist": ["variant", "layer", "workload (batch)", "solo img/s", "torch imported img/s",
                "torch used before img/s", "torch used between steps img/s",
                "imported / solo (per-round median (min-max); best / best)", "used before / solo (same)",
                "used between / solo (same)", "CPU ms per step: solo / imported / before / between"],
    "memory": ["variant", "layer", "imported MB", "kernels loaded, no model MB", "trained MB",
               "model deleted MB (vs no model)", "peak MB", "minor faults / step", "step ms",
               "user's 300 MB freed: RSS kept MB"],
    "threads": ["variant", "layer", "two threads, two models", "wall s"],
    "launch": ["variant", "layer", "1,000 elements, one thread us", "1,000 elements, all threads us",
               "262,144 elements, one thread us", "262,144 elements, all threads us"],
    "faults": ["variant", "workload", "where", "minor faults / step", "arrays >= 256 KB it returns"],
}


def markdown(title: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.process_checks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checks", nargs="+", choices=CHECKS, default=[c for c in CHECKS if c != "faults"])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="cnn", help="memory/faults: the model")
    p.add_argument("--variants", nargs="+", default=["default"],
                   help="default | omp | workqueue | tbb, each optionally +passive and/or +mallopt")
    p.add_argument("--tbb-python", help="interpreter of a venv holding the tbb wheel (for variant tbb)")
    p.add_argument("--rounds", type=int, default=5, help="coexist: alternating rounds")
    p.add_argument("--cases", nargs="+", default=None,
                   help="coexist: benchmarks.compare training cases (model:train:batch) instead of the "
                        "seed CNN and wide MLP; 'all' for every default training case")
    p.add_argument("--seconds", type=float, default=2.0, help="coexist: timed seconds per process")
    p.add_argument("--steps", type=int, default=20, help="memory/threads: training steps")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--markdown", help="also write the tables to this file")
    p.add_argument("--json", help="also write the tables as JSON to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return
    text, tables = [], {}
    for check in args.checks:
        print(f"running {check} ...", file=sys.stderr)
        rows = run_coexist(args.variants, args) if check == "coexist" else run_simple(check, args.variants, args)
        tables[check] = {"header": HEADERS[check], "rows": rows}
        text.append(markdown(check, HEADERS[check], rows))
        print(text[-1], flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(text))
    if args.json:
        Path(args.json).write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main()
