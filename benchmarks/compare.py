"""minidl beside PyTorch on the benchmark models (benchmarks/models.py): real MNIST images,
and the names corpus for the names_gpt Transformer.

Run from the project root:

    python -m benchmarks.compare                       # every case, 2 threads, table on stdout
    python -m benchmarks.compare --markdown docs/perf_table.md --png docs/benchmark.png
    python -m benchmarks.compare --cases cnn:train:64 mlp:train:64 --repeats 3

Every (framework, case) runs in its own fresh subprocess, so neither JIT caches,
allocator state nor peak memory leak from one measurement into another. Each
training case times whole steps (zero_grad, forward, cross-entropy, backward, Adam
step) after warm-up; the first step (JIT compile or cache load, allocations) is
reported on its own. Throughput is images/s per repeat: min, median, max.

Frameworks: "minidl" (NumPy + Numba kernels), "minidl-cupy" (when md.cuda_available()),
"torch" (CPU, when installed), "torch-cuda" (when torch sees a GPU).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DEFAULT_CASES = ("cnn:train:64", "cnn:train:128", "cnn:train:256", "mlp:train:64", "widemlp:train:256",
                 "cifar:train:128", "binary:train:32", "lstm:train:64", "textlstm:train:64",
                 "gru:train:64", "bncnn:train:64", "gpt:train:64", "cnn:infer:1000")
MEMORY_CASE = "cnn:train:64"
# target ratios to PyTorch (CPU): throughput at least this much (1.0 where not listed);
# "memory": the seed CNN's training peak RSS at most this much
TARGETS = {"cnn:train:64": 1.5, "mlp:train:64": 1.5, "lstm:train:64": 1.2, "cnn:infer:1000": 3.0,
           "memory": 0.5}
RSS_TARGET = 1.0  # every case's peak RSS at most PyTorch's
LABELS = {"cnn": "seed CNN", "mlp": "MLP 784-128-64-32-10", "widemlp": "wide MLP 784-1024-1024-10",
          "cifar": "CIFAR-sized CNN 32x32x3", "binary": "binary CNN 150x150x3", "lstm": "row LSTM (T=28, H=128)",
          "textlstm": "text LSTM (T=50, H=256)", "gru": "text GRU (T=50, H=256)", "bncnn": "BatchNorm CNN",
          "gpt": "names_gpt Transformer (names/s)"}
PROJECT = Path(__file__).resolve().parents[1]
DATA_LIMIT = 8000  # the offline training subset: the first 8,000 test images


# ---- the worker (runs inside a subprocess) ------------------------------------------

def set_threads(threads: int) -> None:
    """Pin every thread pool a framework may use; must run before numpy/torch import."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)


def rss_mb() -> float:
    """Current resident set size of this process, MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def measure(framework: str, case: str, repeats: int = 7, warmup: int = 3, repeat_time: float = 0.5,
            max_steps: int | None = None, threads: int = 2, data_limit: int = DATA_LIMIT) -> dict[str, Any]:
    """Time one case in this process. Returns images/s per repeat and the first-step time."""
    from benchmarks import data, workloads

    batch = int(case.split(":")[2])
    if framework.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    images, labels = data.load_mnist(data_limit)
    base_rss = rss_mb()
    step, sync = workloads.queued_step(framework, case, images, labels, max(2, min(16, 16000 // batch)))
    del images, labels
    sync()
    t0 = time.perf_counter()
    step(0)
    sync()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k in range(1, warmup + 1):
        step(k)
    sync()
    per_step = (time.perf_counter() - t0) / max(warmup, 1)
    steps = max(1, round(repeat_time / max(per_step, 1e-6)))
    if max_steps is not None:
        steps = min(steps, max_steps)
    rates, k = [], warmup + 1
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(k)
            k += 1
        sync()
        rates.append(steps * batch / (time.perf_counter() - t0))
    median_step = batch / statistics.median(rates)
    return {"framework": framework, "case": case, "rates": rates, "steps_per_repeat": steps,
            "first_step_s": first, "median_step_s": median_step,
            "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base_rss}


def measure_memory(framework: str, steps: int = 30, threads: int = 2, data_limit: int = DATA_LIMIT) -> dict[str, Any]:
    """Peak RSS of a process that trains the seed CNN at batch 64 for `steps` steps."""
    from benchmarks import data, models, workloads

    model, _, batch_s = MEMORY_CASE.split(":")
    if framework.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    images, labels = data.load_mnist(data_limit)
    base = rss_mb()
    train, _, to_dev, sync = workloads.parts(framework, model)
    batches = data.batches(images, labels, int(batch_s), steps)
    for x, y in batches:
        train(to_dev(models.model_input(model, x)), to_dev(y))
    sync()
    peak = peak_rss_mb()
    return {"framework": framework, "case": "memory", "peak_rss_mb": peak, "base_rss_mb": base,
            "train_delta_mb": peak - base}


def _worker(spec: dict[str, Any]) -> None:
    if spec["kind"] == "memory":
        out = measure_memory(spec["framework"], spec["steps"], spec["threads"])
    else:
        out = measure(spec["framework"], spec["case"], spec["repeats"], spec["warmup"],
                      spec["repeat_time"], spec.get("max_steps"), spec["threads"])
    print("RESULT " + json.dumps(out), flush=True)


# ---- the driver -----------------------------------------------------------------------

def available_frameworks(wanted: list[str] | None = None) -> list[str]:
    """Which of `wanted` (default: all) run here, probed in subprocesses so that this
    process never imports torch or CuPy."""
    from benchmarks.workloads import FRAMEWORKS

    found = []
    for f in wanted or FRAMEWORKS:
        if f == "minidl":
            found.append(f)
            continue
        code = ("import sys; from benchmarks.workloads import unavailable_reason; "
                f"sys.exit(0 if unavailable_reason({f!r}) is None else 1)")
        probe = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True,
                               check=False)
        if probe.returncode == 0:
            found.append(f)
    return found


def run_in_subprocess(spec: dict[str, Any], timeout: float = 900,
                      extra_env: dict[str, str] | None = None,
                      module: str = "benchmarks.compare") -> dict[str, Any]:
    """`python -m <module> --worker <spec as JSON>` with `spec["threads"]` threads in every
    pool; the dict its last "RESULT " line carries."""
    env = dict(os.environ, **(extra_env or {}))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(spec["threads"])
    env["PYTHONPATH"] = str(PROJECT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", module, "--worker", json.dumps(spec)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark worker failed for {spec}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def _fmt_rate(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    rates = r["rates"]
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def _case_label(case: str) -> str:
    model, mode, batch = case.split(":")
    return f"{LABELS[model]} {'training' if mode == 'train' else 'inference'}, batch {int(batch):,}"


def _rss_cell(ours: dict[str, Any] | None, torch: dict[str, Any] | None) -> str:
    if not ours or not torch:
        return "-"
    a, b = ours["peak_rss_mb"], torch["peak_rss_mb"]
    return f"{a:.0f} / {b:.0f} ({a / b:.2f}x)"


def table_rows(results: list[dict[str, Any]], frameworks: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: images/s per framework, ratio to torch (CPU), target, first step."""
    by = {(r["framework"], r["case"]): r for r in results}
    cases = list(dict.fromkeys(r["case"] for r in results if r["case"] != "memory"))
    header = ["case"] + [f"{f} images/s median (min-max)" for f in frameworks]
    has_torch = "torch" in frameworks
    ours = [f for f in frameworks if f.startswith("minidl")]
    if has_torch:
        header += [f"{f} / torch" for f in ours] + ["target", f"peak RSS MB minidl / torch (<= {RSS_TARGET:.1f}x)"]
    header += [f"{f} first step s" for f in frameworks]
    rows = []
    for case in cases:
        row = [_case_label(case)] + [_fmt_rate(by.get((f, case))) for f in frameworks]
        if has_torch:
            t = by.get(("torch", case))
            for f in ours:
                m = by.get((f, case))
                row.append(f"{statistics.median(m['rates']) / statistics.median(t['rates']):.2f}x"
                           if m and t else "-")
            row.append(f">= {TARGETS.get(case, 1.0):.1f}x")
            row.append(_rss_cell(by.get(("minidl", case)), t))
        row += [f"{by[(f, case)]['first_step_s']:.3f}" if (f, case) in by else "-" for f in frameworks]
        rows.append(row)
    mem = {r["framework"]: r for r in results if r["case"] == "memory"}
    if mem:
        row = ["peak RSS training seed CNN, batch 64 (MB)"]
        row += [f"{mem[f]['peak_rss_mb']:.0f} (+{mem[f]['train_delta_mb']:.0f} over data+imports)"
                if f in mem else "-" for f in frameworks]
        if has_torch:
            for f in ours:
                ok = f in mem and "torch" in mem
                row.append(f"{mem[f]['peak_rss_mb'] / mem['torch']['peak_rss_mb']:.2f}x" if ok else "-")
            row += [f"<= {TARGETS['memory']:.1f}x", ""]
        row += ["" for _ in frameworks]
        rows.append(row)
    return header, rows


def format_text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def format_markdown(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def save_png(results: list[dict[str, Any]], frameworks: list[str], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cases = list(dict.fromkeys(r["case"] for r in results if r["case"] != "memory"))
    by = {(r["framework"], r["case"]): r for r in results}
    mem = {r["framework"]: r for r in results if r["case"] == "memory"}
    width = max(10.0, 1.05 * len(cases))
    fig, axes = plt.subplots(1, 2 if mem else 1, figsize=(width + 3 if mem else width, 5.2),
                             gridspec_kw={"width_ratios": [4, 1]} if mem else None, squeeze=False)
    ax = axes[0][0]
    width = 0.8 / len(frameworks)
    for i, f in enumerate(frameworks):
        med, lo, hi = [], [], []
        for c in cases:
            rates = by[(f, c)]["rates"] if (f, c) in by else [0.0]
            m = statistics.median(rates)
            med.append(m)
            lo.append(m - min(rates))
            hi.append(max(rates) - m)
        x = np.arange(len(cases)) + (i - (len(frameworks) - 1) / 2) * width
        ax.bar(x, med, width, yerr=[lo, hi], capsize=3, label=f)
        if f.startswith("minidl") and "torch" in frameworks:  # the ratio above each bar
            for xi, c, m, up in zip(x, cases, med, hi):
                t = by.get(("torch", c))
                if t and m:  # above the error bar
                    ax.annotate(f"{m / statistics.median(t['rates']):.2f}x", (xi, m + up), ha="center",
                                va="bottom", fontsize=7, xytext=(0, 3), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)))
    ax.set_xticklabels([_case_label(c).replace(", ", "\n") for c in cases], fontsize=8)
    ax.set_ylabel("images/s (median, min-max bars; log scale)")
    ax.set_title("Training and inference throughput, float32, Adam (labels: minidl / torch)")
    ax.legend()
    if mem:
        ax2 = axes[0][1]
        names = [f for f in frameworks if f in mem]
        ax2.bar(names, [mem[f]["peak_rss_mb"] for f in names], color=[f"C{frameworks.index(f)}" for f in names])
        if "torch" in mem:
            ax2.axhline(mem["torch"]["peak_rss_mb"] * TARGETS["memory"], color="gray", linestyle="--",
                        linewidth=1, label="target: 0.5x torch")
            ax2.legend(fontsize=7)
        ax2.set_ylabel("MB")
        ax2.set_title("Peak RSS, seed CNN training")
        ax2.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_note(threads: int) -> str:
    import platform

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {threads} threads, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--cases", nargs="+", default=None,
                   help="model:mode:batch items (model: one of benchmarks.models.MODELS; mode train|infer); "
                   "default: " + " ".join(DEFAULT_CASES))
    p.add_argument("--models", default=None, help="comma-separated subset of the default cases' models")
    p.add_argument("--batches", default=None, help="comma-separated training batch sizes (replaces the defaults)")
    p.add_argument("--infer-batch", type=int, default=1000, help="seed-CNN inference batch size")
    p.add_argument("--frameworks", default=None,
                   help="comma-separated subset of minidl,minidl-cupy,torch,torch-cuda (default: all available)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--rounds", type=int, default=1,
                   help="run every (case, framework) this many times, alternating, and pool the repeats")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat-time", type=float, default=0.5, help="seconds per repeat (sets steps per repeat)")
    p.add_argument("--max-steps", type=int, default=None, help="cap on steps per repeat")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--cold-jit", action="store_true",
                   help="give every minidl worker an empty Numba cache, so its first step includes "
                        "compiling the kernels (default: the on-disk cache, as a second run sees it)")
    p.add_argument("--markdown", help="write the table as Markdown to this path")
    p.add_argument("--png", help="write a bar chart to this path")
    p.add_argument("--json", help="write the raw results to this path")
    p.add_argument("--from-json", help="measure nothing: redraw the table/Markdown/PNG from saved results")
    args = p.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0

    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
        frameworks = list(dict.fromkeys(r["framework"] for r in results))
        _report(results, frameworks, args)
        return 0
    cases = list(args.cases or DEFAULT_CASES)
    if args.batches and not args.cases:
        train_b = [int(b) for b in args.batches.split(",")]
        cases = [f"{m}:train:{b}" for m in ("cnn", "mlp", "lstm", "gru") for b in train_b] + \
                [f"cnn:infer:{args.infer_batch}"]
    elif not args.cases:
        cases = [c if not c.startswith("cnn:infer") else f"cnn:infer:{args.infer_batch}" for c in cases]
    if args.models:
        keep = set(args.models.split(","))
        cases = [c for c in cases if c.split(":")[0] in keep]
    wanted = args.frameworks.split(",") if args.frameworks else None
    frameworks = available_frameworks(wanted)
    missing = [f for f in wanted or [] if f not in frameworks]
    if missing:
        print(f"not available here, skipped: {', '.join(missing)}", file=sys.stderr)
    print(f"# {machine_note(args.threads)}; frameworks: {', '.join(frameworks)}", flush=True)

    pooled: dict[tuple[str, str], dict[str, Any]] = {}
    # interleaved (a case's frameworks one after the other, round after round), so drift
    # in machine load hits every framework alike
    for case, _, f in ((c, k, f) for c in cases for k in range(args.rounds) for f in frameworks):
        r = _run_case(f, case, args)
        print(f"  {f:12s} {case:18s} {_fmt_rate(r)} images/s, first step {r['first_step_s']:.3f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
        pooled[(f, case)] = _pool(pooled.get((f, case)), r)
    results = list(pooled.values())
    if not args.no_memory and any(c.startswith("cnn") for c in cases):
        for f in frameworks:
            if f.endswith(("cupy", "cuda")):
                continue  # host RSS says little about a GPU run
            r = run_in_subprocess({"kind": "memory", "framework": f, "steps": 30, "threads": args.threads})
            results.append(r)
            print(f"  {f:12s} memory           peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)

    _report(results, frameworks, args)
    return 0


def _run_case(framework: str, case: str, args: argparse.Namespace) -> dict[str, Any]:
    spec = {"kind": "case", "framework": framework, "case": case, "repeats": args.repeats,
            "warmup": args.warmup, "repeat_time": args.repeat_time, "max_steps": args.max_steps,
            "threads": args.threads}
    if not (args.cold_jit and framework.startswith("minidl")):
        return run_in_subprocess(spec)
    cache = tempfile.mkdtemp(prefix="minidl-cold-jit-")
    try:
        return run_in_subprocess(spec, extra_env={"NUMBA_CACHE_DIR": cache})
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _pool(earlier: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """One result from two rounds of the same (framework, case): every repeat's rate, the
    first round's first step (the later rounds load their kernels from the cache), the
    highest peak RSS."""
    if earlier is None:
        return new
    return {**earlier, "rates": earlier["rates"] + new["rates"],
            "peak_rss_mb": max(earlier["peak_rss_mb"], new["peak_rss_mb"])}


def _report(results: list[dict[str, Any]], frameworks: list[str], args: argparse.Namespace) -> None:
    header, rows = table_rows(results, frameworks)
    print()
    print(format_text(header, rows))
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(f"Measured on {machine_note(args.threads)}.\n\n"
                                       + format_markdown(header, rows))
    if args.png:
        save_png(results, frameworks, args.png)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.exit(main())
