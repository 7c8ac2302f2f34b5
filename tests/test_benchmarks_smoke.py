"""One tiny iteration of every benchmark path, so benchmarks/ cannot rot unnoticed.

Runs minidl only (the suite never imports torch); timings are not checked, but every case
must really run: a kernel case computes what the reference computes, a training step
lowers the loss, and every number that comes out is finite.
"""
from __future__ import annotations

import inspect
import json
import math
from typing import Any

import numpy as np
import pytest

import minidl as md
from benchmarks import compare, kernel_cases, models, workloads
from minidl.kernels import _route
from tests.conftest import GPU_REASON

STEPS = 3


@pytest.fixture
def mnist(shared_data, monkeypatch):
    """Point the benchmark loader (and its subprocesses) at the real data folder."""
    monkeypatch.setenv("MINIDL_DATA", str(shared_data))
    return shared_data


# ---- kernel cases -------------------------------------------------------------------------

def _arrays(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _arrays(v)]
    return [] if value is None else [value]


def _closed_over(fn: Any) -> dict[str, Any]:
    """The arrays a case's callable works on (through one wrapper, as the GPU sync adds)."""
    found = {}
    for name, value in inspect.getclosurevars(fn).nonlocals.items():
        if md.backend.is_array(value):
            found[name] = value
        elif inspect.isfunction(value) and value.__closure__:
            found.update(_closed_over(value))
    return found


def run_kernel_case(case: kernel_cases.KernelCase, impl: str) -> list[np.ndarray]:
    """One call of `impl` on the case's smallest size: its first output and the arrays it
    updated in place (the optimizer kernels return nothing), as NumPy arrays."""
    run = case.make(impl, case.sizes[0])
    inputs = _closed_over(run)
    before = {k: md.backend.to_numpy(v).copy() for k, v in inputs.items()}
    outputs = _arrays(run())
    updated = [md.backend.to_numpy(v) for k, v in inputs.items()
               if not np.array_equal(before[k], md.backend.to_numpy(v))]
    results = [md.backend.to_numpy(a) for a in outputs[:1]] + updated
    assert results, f"{case.name} ({impl}) returned nothing and changed nothing"
    for a in [md.backend.to_numpy(o) for o in outputs] + updated:
        assert np.isfinite(a).all(), f"{case.name} ({impl}) gave non-finite values"
    return results


def assert_same_results(case: kernel_cases.KernelCase, got: list[np.ndarray],
                        want: list[np.ndarray]) -> None:
    assert [a.shape for a in got] == [a.shape for a in want], case.name
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=case.name)


@pytest.mark.parametrize("case", kernel_cases.CASES, ids=lambda c: c.name)
def test_every_kernel_case_computes_what_the_reference_does(case):
    assert_same_results(case, run_kernel_case(case, "numba"), run_kernel_case(case, "reference"))


# ---- model steps --------------------------------------------------------------------------

@pytest.fixture
def recorded(monkeypatch) -> dict[str, list[np.ndarray]]:
    """What minidl's benchmark train steps and inferences return, read back as NumPy."""
    seen: dict[str, list[np.ndarray]] = {"loss": [], "logits": []}
    build = models.minidl_workload

    def recording(*args: Any, **kwargs: Any) -> Any:
        train, infer, to_device = build(*args, **kwargs)

        def train_step(x: Any, y: Any) -> Any:
            loss = train(x, y)
            seen["loss"].append(loss.numpy())
            return loss

        def inference(x: Any) -> Any:
            out = infer(x)
            seen["logits"].append(out.numpy())
            return out

        return train_step, inference, to_device

    monkeypatch.setattr(models, "minidl_workload", recording)
    return seen


def check_model_steps(framework: str, case: str, seen: dict[str, list[np.ndarray]]) -> None:
    """STEPS steps of the case on one batch: a training step lowers the loss every time, an
    inference gives the same finite (batch, 10) logits every time."""
    md.manual_seed(0)  # the binary CNN's dropout masks: the same every run
    step, why = workloads.make_step(framework, case, pool=1, data_limit=16)
    assert why is None
    for k in range(STEPS):
        step(k)
    batch = int(case.split(":")[2])
    if ":train:" in case:
        losses = [float(v) for v in seen["loss"]]
        assert len(losses) == STEPS and all(math.isfinite(v) for v in losses), losses
        assert all(b < a for a, b in zip(losses, losses[1:])), f"{case}: the loss did not go down: {losses}"
    else:
        logits = seen["logits"]
        assert len(logits) == STEPS and logits[0].shape == (batch, 10)
        assert np.isfinite(logits[0]).all()
        for other in logits[1:]:
            np.testing.assert_array_equal(other, logits[0])


MODEL_CASES = ["cnn:train:4", "mlp:train:4", "widemlp:train:4", "cifar:train:4", "binary:train:2",
               "lstm:train:4", "textlstm:train:4", "gru:train:4", "cnn:infer:8",
               "bncnn:train:4", "gpt:train:4"]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_every_model_step_runs(mnist, recorded, case):
    check_model_steps("minidl", case, recorded)


@pytest.mark.gpu
@pytest.mark.parametrize("case", kernel_cases.CASES, ids=lambda c: c.name)
def test_every_kernel_case_runs_on_the_gpu(case):
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    assert_same_results(case, run_kernel_case(case, "cupy"), run_kernel_case(case, "reference"))


@pytest.mark.gpu
@pytest.mark.parametrize("case", MODEL_CASES)
def test_every_model_step_runs_on_the_gpu(mnist, recorded, case):
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    check_model_steps("minidl-cupy", case, recorded)
    r = compare.measure("minidl-cupy", case, repeats=1, warmup=0, repeat_time=0.0, max_steps=1,
                        data_limit=16)
    assert all(math.isfinite(v) and v > 0 for v in r["rates"])


def test_measure_and_memory_paths(mnist):
    r = compare.measure("minidl", "mlp:train:4", repeats=2, warmup=1, repeat_time=0.0, max_steps=1,
                        data_limit=16)
    assert len(r["rates"]) == 2 and all(math.isfinite(v) and v > 0 for v in r["rates"])
    assert r["first_step_s"] > 0
    m = compare.measure_memory("minidl", steps=1, data_limit=16)
    assert m["peak_rss_mb"] >= m["base_rss_mb"] > 0


def _fake(framework, case, rate):
    return {"framework": framework, "case": case, "rates": [rate * 0.9, rate, rate * 1.1],
            "first_step_s": 0.1, "median_step_s": 0.01, "peak_rss_mb": 100.0, "base_rss_mb": 50.0}


def test_table_markdown_and_png(tmp_path):
    results = [_fake("minidl", "cnn:train:64", 8000.0), _fake("torch", "cnn:train:64", 4000.0),
               {"framework": "minidl", "case": "memory", "peak_rss_mb": 150.0, "base_rss_mb": 40.0,
                "train_delta_mb": 110.0},
               {"framework": "torch", "case": "memory", "peak_rss_mb": 300.0, "base_rss_mb": 200.0,
                "train_delta_mb": 100.0}]
    header, rows = compare.table_rows(results, ["minidl", "torch"])
    assert rows[0][header.index("minidl / torch")] == "2.00x"
    assert rows[1][header.index("minidl / torch")] == "0.50x"
    assert "| seed CNN training, batch 64 |" in compare.format_markdown(header, rows)
    assert compare.format_text(header, rows).count("\n") == len(rows) + 1
    compare.save_png(results, ["minidl", "torch"], str(tmp_path / "b.png"))
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_redraw_from_saved_results(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([_fake("minidl", "mlp:train:64", 9000.0), _fake("torch", "mlp:train:64", 3000.0)]))
    assert compare.main(["--from-json", str(path), "--markdown", str(tmp_path / "t.md")]) == 0
    assert "| 3.00x |" in (tmp_path / "t.md").read_text()


def test_compare_command_line_end_to_end(mnist, tmp_path):
    """The script's own path: argument parsing, a worker subprocess, Markdown and PNG."""
    md_path, png_path = tmp_path / "t.md", tmp_path / "t.png"
    assert compare.main(["--cases", "mlp:train:4", "--frameworks", "minidl", "--repeats", "1",
                         "--warmup", "0", "--repeat-time", "0", "--max-steps", "1", "--no-memory",
                         "--markdown", str(md_path), "--png", str(png_path)]) == 0
    assert "MLP 784-128-64-32-10 training, batch 4" in md_path.read_text()
    assert png_path.stat().st_size > 0


def test_batches_wrap_and_scale():
    from benchmarks import data

    images = np.arange(3 * 784, dtype=np.uint8).reshape(3, 1, 28, 28)
    out = data.batches(images, np.arange(3), 2, 3)
    assert [x.shape for x, _ in out] == [(2, 1, 28, 28)] * 3
    assert out[0][0].dtype == np.float32 and out[0][0].max() <= 1.0


def test_blas_products_numpy_worker_times_every_shape():
    """benchmarks.blas_products' NumPy side, each product as given and in its transposed
    form (the PyTorch side needs torch, never imported here)."""
    from benchmarks import blas_products  # noqa: PLC0415

    times = blas_products.measure("numpy", threads=1)
    shapes = [f"{m}x{k}x{n}" for m, k, n in blas_products.SHAPES]
    assert sorted(times) == sorted(shapes + [f"{s}:transposed" for s in shapes])
    assert all(math.isfinite(t) and t > 0 for t in times.values())


@pytest.mark.parametrize("guard", [True, False])
def test_subnormal_state_reports_every_interval(mnist, guard):
    """benchmarks.subnormal_state trains and reports; it leaves the optimizer kernels as it
    found them."""
    from benchmarks import subnormal_state  # noqa: PLC0415
    from minidl.kernels.optim import cpu  # noqa: PLC0415

    before = cpu.sgd_update, cpu._guard
    lines = subnormal_state.run("sgd", steps=4, every=2, guard=guard)
    assert [line.split()[1] for line in lines] == ["2", "4"] and all("us" in line for line in lines)
    assert (cpu.sgd_update, cpu._guard) == before


def test_blas_spin_times_both_loop_splits_and_restores_the_chunk_size():
    """benchmarks.blas_spin reports the kernel's times and the BLAS threads' spin; it leaves
    minidl's task split as it found it."""
    from benchmarks import blas_spin  # noqa: PLC0415
    from minidl.kernels import _numba  # noqa: PLC0415

    before = _numba.chunk_size
    lines = blas_spin.run(rounds=1)
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| t") or line.startswith("| s")}
    assert sorted(rows) == ["static", "tasks"]
    assert all(math.isfinite(float(v)) for row in rows.values() for v in row.split("|")[2:4])
    assert "ms" in lines[-1] and _numba.chunk_size is before


@pytest.mark.skipif(not _route.numba_available(), reason="needs Numba (the kernels it compiles)")
def test_compile_cost_times_each_kernel_of_a_group_from_an_empty_cache():
    """benchmarks.compile_cost compiles a warmup group afresh in its own process and splits
    the compile time over the kernels, nested compiles counted once (in their own row)."""
    from benchmarks import compile_cost  # noqa: PLC0415

    got = compile_cost.run_worker("lstm", opt=None)
    kernels = got["kernels"]
    assert {"_forward__serial", "_backward__serial"} <= set(kernels)  # the LSTM cells
    assert all(s >= 0 for s in kernels.values())
    assert got["compile_s"] == pytest.approx(sum(kernels.values()))
    assert 0 < got["compile_s"] <= got["wall_s"]


@pytest.mark.skipif(not _route.numba_available(), reason="needs Numba")
def test_compile_cost_counts_a_helpers_compile_once():
    """A kernel's own compile time leaves out its helper's, compiled inside it: the two add
    up to no more than the time of the call that compiled both."""
    import numba  # noqa: PLC0415

    from benchmarks import compile_cost  # noqa: PLC0415

    @numba.njit
    def helper(x):
        return x * 2.0 + 1.0

    @numba.njit
    def kernel(x):
        return helper(x) - 1.0

    got = compile_cost.timed_compiles(lambda: kernel(1.0))
    mine = {k.rsplit(".", 1)[-1]: s for k, s in got["kernels"].items() if k.endswith(("helper", "kernel"))}
    assert set(mine) == {"helper", "kernel"} and min(mine.values()) > 0
    assert sum(mine.values()) <= got["wall_s"]
