"""Shared fixtures: hypothesis profiles, the backend fixture, the real-data folder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# MINIDL_EMULATE_GPU=1: `import cupy` finds the CPU emulator (tests/emulated_gpu), so the
# `gpu` tests run the GPU path's code without a GPU. Set before minidl can load CuPy.
EMULATED_GPU = os.environ.get("MINIDL_EMULATE_GPU") == "1"
if EMULATED_GPU:
    _EMULATOR = str(Path(__file__).resolve().parent / "emulated_gpu")
    sys.path.insert(0, _EMULATOR)
    # child processes (the mpiexec ranks of the distributed tests) find it too
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_EMULATOR, os.environ.get("PYTHONPATH")) if p)

import pytest
from hypothesis import HealthCheck, settings

import minidl as md

settings.register_profile(
    "dev", max_examples=12, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

GPU_REASON = "needs CuPy and an NVIDIA GPU (install minidl[gpu] on a CUDA machine)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On the emulator, the `gpu` tests skip, with the reason, where it cannot run CUDA kernels."""
    if not EMULATED_GPU:
        return
    from tests.kernels import host_cuda  # noqa: PLC0415 - only the emulated run needs it

    if host_cuda.compiler() is None:
        skip = pytest.mark.skip(reason="the CuPy emulator runs the CUDA kernels as C++: no C++ "
                                       "compiler (g++/c++/clang++) on PATH")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request: pytest.FixtureRequest) -> str:
    """Every available backend; the cupy case skips with the reason where there is no GPU."""
    if request.param == "cupy" and not md.cuda_available():
        pytest.skip(GPU_REASON)
    return request.param


@pytest.fixture(autouse=True)
def _restore_backend():
    """Tests may switch the default backend; put it back afterwards."""
    before = md.get_backend()
    yield
    md.set_backend(before)


def data_root() -> Path | None:
    """The real data folder: $MINIDL_DATA, else ../shared/data beside the project."""
    env = os.environ.get("MINIDL_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared" / "data")
    return next((p for p in candidates if p.is_dir()), None)


@pytest.fixture
def shared_data() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("real data not found: set MINIDL_DATA or put shared/data beside the project")
    return root
