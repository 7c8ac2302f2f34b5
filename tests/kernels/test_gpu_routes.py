"""The references hand CuPy arrays to the GPU kernels, and the ops work through them.

Without a GPU, the "host" tests route float NumPy arrays to the GPU kernels' CUDA
source compiled for the CPU (tests/kernels/host_cuda.py): every op, model and optimizer
of the end-to-end GPU tests then runs through the kernels and must equal the NumPy
references. That checks the wiring (argument order, shapes, strides, dtypes) on every
machine; the `gpu` test checks the real dispatch rule on CuPy arrays.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import minidl as md
from minidl.kernels import _cuda as build
from minidl.kernels import _route
from tests import test_gpu_end_to_end as e2e
from tests.kernels import host_cuda
from tests.conftest import GPU_REASON



@pytest.fixture(autouse=True)
def _references_without_numba() -> Iterator[None]:
    """The plain NumPy references are what the kernels must equal."""
    mode = _route.set_kernels("reference")
    yield
    _route.set_kernels(mode)


@pytest.fixture
def through_kernels() -> Any:
    """A context manager: inside it, float NumPy arrays go through the GPU kernels (run on
    the host); it yields the list of kernel names launched."""
    if host_cuda.compiler() is None:
        pytest.skip("no C++ compiler (g++/clang++) to run the CUDA source on the host")

    class Route:
        def __enter__(self) -> list[str]:
            self.mp = pytest.MonkeyPatch()
            launched: list[str] = []

            def launch(source: str, name: str, *args: Any) -> None:
                launched.append(name)
                host_cuda.launch(source, name, *args)

            def use_host(*arrays: Any) -> bool:
                dtypes = {a.dtype for a in arrays if a is not None}
                return (all(a is None or type(a) is np.ndarray for a in arrays) and len(dtypes) == 1
                        and dtypes <= set(build.FLOATS))

            def route_host(*arrays: Any) -> str:  # minidl.kernels: NumPy floats as if on the GPU
                given = [a for a in arrays if a is not None]
                return "gpu" if use_host(*given) and all(a.flags.c_contiguous for a in given) else "reference"

            self.mp.setattr(build, "launch", launch)
            self.mp.setattr(_route, "route", route_host)
            return launched

        def __exit__(self, *exc: Any) -> None:
            self.mp.undo()

    return Route()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_op_through_the_kernels_equals_the_references(through_kernels, dtype):
    expected = {name: e2e._run_op(name, dtype, "cpu") for name in e2e.OPS}
    with through_kernels as launched:
        got = {name: e2e._run_op(name, dtype, "cpu") for name in e2e.OPS}
    for name in e2e.OPS:
        (out, grads), (out_ref, grads_ref) = got[name], expected[name]
        scale = 100.0 if name in ("log_softmax", "cross_entropy_index") else 1.0
        e2e._close(out, out_ref, dtype, scale)
        for g, g_ref in zip(grads, grads_ref):
            assert (g is None) == (g_ref is None)
            if g_ref is not None:
                e2e._close(g, g_ref, dtype, scale)
    assert {"im2col", "col2im", "maxpool_forward", "maxpool_backward", "relu_forward", "relu_backward",
            "ce_forward_index", "ce_backward_index", "ce_forward_prob", "ce_backward_prob"} <= set(launched)


@pytest.mark.parametrize("opt_name", sorted(e2e.OPTIMIZERS))
@pytest.mark.parametrize("model_name", sorted(e2e.MODELS))
def test_training_through_the_kernels_equals_the_references(through_kernels, model_name, opt_name):
    model_ref, losses_ref = e2e._train(model_name, opt_name, "float64", "cpu")
    with through_kernels as launched:
        model, losses = e2e._train(model_name, opt_name, "float64", "cpu")
    e2e._close(losses, losses_ref, "float64", 10.0)
    for (_, a), (_, b) in zip(model.state_dict().items(), model_ref.state_dict().items()):
        e2e._close(a, b, "float64", 10.0)
    assert ("adam_update" if opt_name.startswith("adam") else "sgd_update") in launched
    if model_name == "lstm":
        assert {"lstm_forward", "lstm_backward"} <= set(launched)
    if model_name == "gru":
        assert {"gru_forward", "gru_backward"} <= set(launched)
    if model_name == "cnn":
        assert {"im2col", "col2im", "maxpool_forward", "maxpool_backward"} <= set(launched)
