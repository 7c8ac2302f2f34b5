"""Per-kernel timings: NumPy reference vs Numba (vs CuPy when a GPU is there), several sizes.

    python -m pytest benchmarks/test_kernels.py --benchmark-enable
    python -m pytest benchmarks/test_kernels.py --benchmark-enable -k "conv2d and numba"
    python -m pytest benchmarks/test_kernels.py --benchmark-enable --benchmark-group-by=param:size

First calls (JIT compile or cache load) happen before timing starts.
"""
from __future__ import annotations

import pytest

import minidl as md
from benchmarks.kernel_cases import CASES, IMPLS


def _params():
    for case in CASES:
        for size in case.sizes:
            for impl in IMPLS:
                marks = [pytest.mark.gpu] if impl == "cupy" else []
                yield pytest.param(case, size, impl, id=f"{case.name}-{size}-{impl}".replace(" ", ""),
                                   marks=marks)


@pytest.mark.parametrize(("case", "size", "impl"), list(_params()))
def test_kernel(benchmark, case, size, impl):
    if impl == "cupy" and not md.cuda_available():
        pytest.skip("needs CuPy and an NVIDIA GPU")
    run = case.make(impl, size)
    run()  # compile / load / warm up outside the timing
    benchmark.group = f"{case.name} {size}"
    benchmark(run)
