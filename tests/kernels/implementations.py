"""Run a concern's public kernel functions through one chosen fast implementation.

The `impl` fixture forces `minidl.kernels._route.route` to one answer, so a test calls
the same public functions an op calls and the chosen kernels run, whatever
MINIDL_KERNELS says; the test compares them with the concern's `reference.py`, called
directly. Implementations: "cpu" (Numba), "gpu-host" (the CuPy kernels' CUDA source
compiled as C++ and run on NumPy arrays, tests/kernels/host_cuda.py: the kernels'
index math on every machine) and "cupy" (marked `gpu`: a GPU, or the emulator).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minidl as md
from minidl.backend import to_numpy
from minidl.kernels import _cuda as build
from minidl.kernels import _route
from tests.kernels import gpu_cases, host_cuda, numba_cases
from tests.conftest import GPU_REASON


class Impl:
    """Moves test data to where the kernels run and back; `launched` lists GPU kernels run."""

    def __init__(self, name: str, xp: Any) -> None:
        self.name, self.xp = name, xp
        self.launched: list[str] = []

    def to(self, a: Any) -> Any:
        return a if a is None else self.xp.asarray(a)

    def back(self, a: Any) -> Any:
        return a if a is None else to_numpy(a)

    def tolerance(self, dtype: Any) -> dict[str, float]:
        return (numba_cases if self.name == "cpu" else gpu_cases).tolerance(dtype)

    def assert_same(self, actual: Any, expected: Any, dtype: Any) -> None:
        """Same shape and dtype, values within the implementation's tolerance."""
        actual, expected = self.back(actual), to_numpy(expected)
        assert actual.shape == expected.shape, (actual.shape, expected.shape)
        assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
        np.testing.assert_allclose(actual, expected, **self.tolerance(dtype))


@pytest.fixture(params=["cpu", "gpu-host", pytest.param("cupy", marks=pytest.mark.gpu)])
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Impl:
    if request.param == "cpu":
        if not _route.numba_available():
            pytest.skip("Numba does not import")
        chosen = Impl("cpu", np)
    elif request.param == "gpu-host":
        if host_cuda.compiler() is None:
            pytest.skip("no C++ compiler (g++/clang++) to run the CUDA source on the host")
        chosen = Impl("gpu-host", np)
    else:
        if not md.cuda_available():
            pytest.skip(GPU_REASON)
        chosen = Impl("cupy", md.backend.get_cupy())
    run = host_cuda.launch if request.param == "gpu-host" else build.launch

    def launch(source: str, name: str, *args: Any) -> None:
        chosen.launched.append(name)
        run(source, name, *args)

    monkeypatch.setattr(build, "launch", launch)
    where = "cpu" if request.param == "cpu" else "gpu"
    monkeypatch.setattr(_route, "route", lambda *arrays: where)
    return chosen
