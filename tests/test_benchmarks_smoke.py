"""One tiny iteration of every benchmark path, so benchmarks/ cannot rot unnoticed.

Runs minidl only (the suite never imports torch); timings are not checked.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import minidl as md
from benchmarks import compare, kernel_cases, workloads
from tests.conftest import GPU_REASON


@pytest.fixture
def mnist(shared_data, monkeypatch):
    """Point the benchmark loader (and its subprocesses) at the real data folder."""
    monkeypatch.setenv("MINIDL_DATA", str(shared_data))
    return shared_data


@pytest.mark.parametrize("case", kernel_cases.CASES, ids=lambda c: c.name)
def test_every_kernel_case_runs(case):
    outs = [case.make(impl, case.sizes[0])() for impl in ("reference", "numba")]
    assert len(outs) == 2


@pytest.mark.parametrize("case", ["cnn:train:4", "mlp:train:4", "lstm:train:4", "cnn:infer:8"])
def test_every_model_step_runs(mnist, case):
    step, why = workloads.make_step("minidl", case, pool=2, data_limit=16)
    assert why is None
    step(0)
    step(1)


@pytest.mark.gpu
@pytest.mark.parametrize("case", kernel_cases.CASES, ids=lambda c: c.name)
def test_every_kernel_case_runs_on_the_gpu(case):
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    case.make("cupy", case.sizes[0])()


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["cnn:train:4", "mlp:train:4", "lstm:train:4", "cnn:infer:8"])
def test_every_model_step_runs_on_the_gpu(mnist, case):
    if not md.cuda_available():
        pytest.skip(GPU_REASON)
    step, why = workloads.make_step("minidl-cupy", case, pool=2, data_limit=16)
    assert why is None
    step(0)
    step(1)
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
    assert "MLP training, batch 4" in md_path.read_text()
    assert png_path.stat().st_size > 0


def test_batches_wrap_and_scale():
    from benchmarks import data

    images = np.arange(3 * 784, dtype=np.uint8).reshape(3, 1, 28, 28)
    out = data.batches(images, np.arange(3), 2, 3)
    assert [x.shape for x, _ in out] == [(2, 1, 28, 28)] * 3
    assert out[0][0].dtype == np.float32 and out[0][0].max() <= 1.0
