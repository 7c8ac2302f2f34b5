"""Numba LSTM cell == the NumPy reference, forward and backward (with either incoming
gradient absent), for float32 (rational tanh) and float64 (libm tanh)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import numba_recurrent as nb
from minidl.backend.cpu import recurrent as ref
from tests.backend.numba_cases import DTYPES, assert_same, rand


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), h=st.integers(1, 9), seed=st.integers(0, 2**16),
       scale=st.sampled_from([0.5, 3.0, 30.0]),
       present=st.sampled_from([(True, True), (True, False), (False, True), (False, False)]))
def test_lstm_cell_equals_reference(dtype, n, h, seed, scale, present):
    z, c = rand((n, 4 * h), dtype, seed, scale), rand((n, h), dtype, seed + 1)
    got, want = nb.lstm_cell_forward(z, c), ref.lstm_cell_forward_reference(z, c)
    for a, b in zip(got, want):
        assert_same(a, b, dtype)
    _, c_new, gates = want
    gh = rand((n, h), dtype, seed + 2) if present[0] else None
    gc = rand((n, h), dtype, seed + 3) if present[1] else None
    for a, b in zip(nb.lstm_cell_backward(gh, gc, gates, c, c_new),
                    ref.lstm_cell_backward_reference(gh, gc, gates, c, c_new)):
        assert_same(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_cell_parallel_build_equals_reference(dtype):
    n, h = 520, 128  # 4*N*H above the serial limit
    z, c = rand((n, 4 * h), dtype, 0, 3.0), rand((n, h), dtype, 1)
    got, want = nb.lstm_cell_forward(z, c), ref.lstm_cell_forward_reference(z, c)
    for a, b in zip(got, want):
        assert_same(a, b, dtype)
    gh, gc = rand((n, h), dtype, 2), rand((n, h), dtype, 3)
    for a, b in zip(nb.lstm_cell_backward(gh, gc, want[2], c, want[1]),
                    ref.lstm_cell_backward_reference(gh, gc, want[2], c, want[1])):
        assert_same(a, b, dtype)


def test_float32_tanh_is_accurate_and_bounded():
    """The rational tanh: within 4e-7 relative of the exact value, never beyond +-1."""
    x = np.concatenate([np.linspace(-20, 20, 40001), np.logspace(-30, 1, 300),
                        -np.logspace(-30, 1, 300)]).astype(np.float32)
    z = np.zeros((1, 4 * x.size), np.float32)
    z[0, 2 * x.size:3 * x.size] = x  # the g gate is tanh(z)
    _, _, gates = nb.lstm_cell_forward(z, np.zeros((1, x.size), np.float32))
    t = gates[0, 2 * x.size:3 * x.size].astype(np.float64)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(t).max() <= 1.0
    assert (np.abs(t - exact) <= 4e-7 * np.abs(exact) + 1e-45).all()
