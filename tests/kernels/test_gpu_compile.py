"""Every GPU kernel source compiles with NVRTC, as CuPy's RawKernel compiles it.

No GPU is needed to compile: this runs wherever the NVRTC library is installed (the
`test` extra installs it on Linux x86-64). Each source is built for each dtype (T) and
index type (I) the wrappers use, for Hopper (what minidl is measured on) and for an old
architecture (sm_52), where double atomicAdd needs the compare-and-swap fallback.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re

import numpy as np
import pytest

import minidl.kernels as kernels_package
from minidl.kernels import _cuda as build
from tests.kernels import nvrtc


def _kernel_modules() -> dict:
    """Every module with a CUDA SOURCE, so none is missed: minidl/kernels/<concern>/gpu.py."""
    found = {}
    for m in pkgutil.iter_modules(kernels_package.__path__):
        if m.ispkg and importlib.util.find_spec(f"minidl.kernels.{m.name}.gpu") is not None:
            found[m.name] = importlib.import_module(f"minidl.kernels.{m.name}.gpu")
    return found


KERNEL_MODULES = _kernel_modules()
CONCERNS = sorted(KERNEL_MODULES)


@pytest.fixture(scope="module")
def have_nvrtc() -> None:
    if nvrtc.library() is None:
        pytest.skip("NVRTC not installed (pip install nvidia-cuda-nvrtc-cu12; Linux x86-64 wheels)")


@pytest.mark.parametrize("arch", ["compute_90", "compute_52"])
@pytest.mark.parametrize("index", ["int32", "int64"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("concern", CONCERNS)
def test_kernel_source_compiles_with_nvrtc(have_nvrtc, concern, dtype, index, arch):
    source = KERNEL_MODULES[concern].SOURCE
    full = build.full_source(source, np.dtype(dtype), np.dtype(index))
    # the options CuPy passes: ours, then its -ftz=true and the architecture
    ptx = nvrtc.compile_ptx(full, [*build.OPTIONS, "-ftz=true", f"-arch={arch}"], f"{concern}.cu")
    declared = set(re.findall(r'extern "C" __global__ void (\w+)\(', source))
    assert declared, f"no kernels found in {KERNEL_MODULES[concern].__name__}"
    entries = set(re.findall(r"\.entry (\w+)\(", ptx))
    assert declared <= entries, f"kernels missing from the PTX: {sorted(declared - entries)}"


def test_every_kernel_module_is_found():
    assert {"activation", "conv", "pool", "recurrent", "loss", "optim"} <= set(CONCERNS)


def test_a_broken_source_is_reported_with_the_compiler_log(have_nvrtc):
    with pytest.raises(RuntimeError, match="NVRTC error"):
        nvrtc.compile_ptx('extern "C" __global__ void k(float* x) { x[0] = undefined_name; }',
                          ["--gpu-architecture=compute_90"])
