"""The `gpu` tests once more, on the CuPy emulator (tests/emulated_gpu), in a fresh interpreter.

Where there is no GPU the `gpu` tests skip; this runs the same tests against a CPU stand-in
for CuPy that is strict where CuPy is (no implicit host conversion, no host arrays in device
code, 0-d results), runs the CUDA kernels' source compiled as C++, and counts host reads.
It proves the GPU path's Python code on every machine; it is no substitute for a GPU run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backend import host_cuda

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_tests_pass_on_the_cupy_emulator():
    if host_cuda.compiler() is None:
        pytest.skip("no C++ compiler (g++/clang++) to run the CUDA kernels on the host")
    if os.environ.get("MINIDL_EMULATE_GPU") == "1":
        pytest.skip("this run already uses the emulator")
    env = {k: v for k, v in os.environ.items() if k != "MINIDL_BACKEND"}
    env["MINIDL_EMULATE_GPU"] = "1"
    # each inner test is bounded too, so a hang shows which test hung
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=--benchmark-disable --timeout=120", str(ROOT / "tests")]
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the emulated gpu run took over 280 s:\n{(exc.stdout or b'')[-8000:]!r}")
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.strip().splitlines()[-1]
