"""Where the GPU kernel tests run: on the GPU through CuPy, and on the host.

The "host" case runs the very same CUDA source compiled as C++ (tests/kernels/host_cuda.py)
on NumPy arrays, so the kernels' index math is checked on every machine; the "cupy"
case is marked `gpu` and skips, with the reason, where CuPy or a GPU is missing.
References run with fast kernels off (MINIDL_KERNELS=reference): the plain array code is the contract.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minidl as md
from minidl.backend import to_numpy
from minidl.kernels import _cuda as build
from minidl.kernels import _route
from tests.kernels import host_cuda
from tests.conftest import GPU_REASON

DTYPES = ["float32", "float64"]


def tolerance(dtype: Any) -> dict[str, float]:
    """float64 to about 1e-10 relative, float32 to about 1e-5."""
    return {"rtol": 1e-10, "atol": 1e-12} if np.dtype(dtype) == np.float64 else {"rtol": 1e-5, "atol": 1e-6}


class Runner:
    """Moves test data to where the kernels run and back."""

    def __init__(self, name: str, xp: Any) -> None:
        self.name, self.xp = name, xp

    def to(self, a: Any) -> Any:
        return a if a is None else self.xp.asarray(a)

    def back(self, a: Any) -> np.ndarray:
        return to_numpy(a)


@pytest.fixture(params=["host", pytest.param("cupy", marks=pytest.mark.gpu)])
def runner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Runner:
    if request.param == "cupy":
        if not md.cuda_available():
            pytest.skip(GPU_REASON)
        from minidl.backend import get_cupy  # noqa: PLC0415

        xp = get_cupy()
    else:
        if host_cuda.compiler() is None:
            pytest.skip("no C++ compiler (g++/clang++) to run the CUDA source on the host")
        monkeypatch.setattr(build, "launch", host_cuda.launch)
        xp = np
    before = _route.set_kernels("reference")
    request.addfinalizer(lambda: _route.set_kernels(before))
    return Runner(request.param, xp)
