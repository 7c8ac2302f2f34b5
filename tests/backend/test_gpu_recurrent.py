"""GPU fused LSTM cell against the NumPy reference (on the GPU, and on the host)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import recurrent as ref
from minidl.backend.gpu import recurrent as gpu
from tests.backend.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture


def _close(runner, actual, expected, dtype):
    np.testing.assert_allclose(runner.back(actual), expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 4), h=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_forward_equals_reference(runner, dtype, n, h, seed):
    rng = np.random.default_rng(seed)
    z = (3 * rng.standard_normal((n, 4 * h))).astype(dtype)
    c = rng.standard_normal((n, h)).astype(dtype)
    got = gpu.lstm_cell_forward(runner.to(z), runner.to(c))
    for a, e in zip(got, ref.lstm_cell_forward(z, c)):
        assert runner.back(a).dtype == np.dtype(dtype)
        _close(runner, a, e, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("present", ["both", "gh", "gc", "none"])
@given(n=st.integers(1, 4), h=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_backward_equals_reference(runner, dtype, present, n, h, seed):
    rng = np.random.default_rng(seed)
    z = (3 * rng.standard_normal((n, 4 * h))).astype(dtype)
    c = rng.standard_normal((n, h)).astype(dtype)
    _, c_new, gates = ref.lstm_cell_forward(z, c)
    gh = rng.standard_normal((n, h)).astype(dtype) if present in ("both", "gh") else None
    gc = rng.standard_normal((n, h)).astype(dtype) if present in ("both", "gc") else None
    got = gpu.lstm_cell_backward(runner.to(gh), runner.to(gc), runner.to(gates), runner.to(c),
                                 runner.to(c_new))
    for a, e in zip(got, ref.lstm_cell_backward(gh, gc, gates, c, c_new)):
        _close(runner, a, e, dtype)


def test_saturated_gates_stay_finite(runner):
    """Pre-activations of +-1e4 saturate the gates without overflow (tanh-form sigmoid)."""
    z = np.array([[1e4, -1e4, 1e4, -1e4, -1e4, 1e4, -1e4, 1e4]])
    c = np.array([[0.5, -0.5]])
    h_new, c_new, gates = (runner.back(a) for a in gpu.lstm_cell_forward(runner.to(z), runner.to(c)))
    # i = (1, 0), f = (1, 0), g = (-1, 1), o = (0, 1)
    np.testing.assert_array_equal(gates, [[1, 0, 1, 0, -1, 1, 0, 1]])
    np.testing.assert_allclose(c_new, [[0.5 - 1, 0]])
    np.testing.assert_allclose(h_new, [[0, 0]])


def test_kernels_write_into_suitable_out_arrays(runner):
    """A sequence op hands preallocated step buffers: the kernels fill them directly (no
    copy per step), and fall back to new arrays for a buffer they cannot write."""
    rng = np.random.default_rng(3)
    z, c = rng.standard_normal((2, 12)), rng.standard_normal((2, 3))
    want = ref.lstm_cell_forward(z, c)
    out = tuple(runner.to(np.zeros_like(a)) for a in want)
    got = gpu.lstm_cell_forward(runner.to(z), runner.to(c), out)
    assert all(g is o for g, o in zip(got, out))
    for a, e in zip(out, want):
        np.testing.assert_allclose(runner.back(a), e, **tolerance("float64"))
    strided = runner.to(np.zeros((2, 6)))[:, ::2]  # not C-contiguous: the kernel writes a new array
    got = gpu.lstm_cell_forward(runner.to(z), runner.to(c), (strided, out[1], out[2]))
    assert got[0] is not strided
    np.testing.assert_allclose(runner.back(got[0]), want[0], **tolerance("float64"))
    gh, gc = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    bout = (runner.to(np.zeros((2, 12))), runner.to(np.zeros((2, 3))))
    saved = (runner.to(a) for a in (want[2], c, want[1]))  # gates, c, c_new
    got = gpu.lstm_cell_backward(runner.to(gh), runner.to(gc), *saved, bout)
    assert all(g is o for g, o in zip(got, bout))
    for a, e in zip(bout, ref.lstm_cell_backward(gh, gc, want[2], c, want[1])):
        np.testing.assert_allclose(runner.back(a), e, **tolerance("float64"))
