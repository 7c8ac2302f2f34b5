"""End-to-end step timings of the three benchmark models on real MNIST images: minidl
(NumPy + Numba), minidl on CuPy and PyTorch CPU/CUDA when available.

    python -m pytest benchmarks/test_models.py --benchmark-enable

For the side-by-side table with ratios and memory, run `python -m benchmarks.compare`
(each framework in its own process; here they share one).
"""
from __future__ import annotations

import itertools

import pytest

from benchmarks import data
from benchmarks.compare import DEFAULT_CASES
from benchmarks.workloads import FRAMEWORKS, make_step

try:
    data.mnist_dir()
    _NO_DATA = None
except FileNotFoundError as exc:
    _NO_DATA = str(exc)


@pytest.mark.skipif(_NO_DATA is not None, reason=_NO_DATA or "")
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", DEFAULT_CASES)
def test_model_step(benchmark, framework, case):
    step, unavailable = make_step(framework, case, pool=8)
    if unavailable:
        pytest.skip(unavailable)
    counter = itertools.count()
    for _ in range(3):  # JIT / first-call costs stay out of the timing
        step(next(counter))
    benchmark.group = case
    benchmark(lambda: step(next(counter)))
