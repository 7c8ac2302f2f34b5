"""The fused LSTM cell op, its NumPy reference, and the Unbind op the LSTM slices time with."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.backend.cpu.recurrent import lstm_cell_backward, lstm_cell_forward
from minidl.ops.recurrent import lstm_cell
from minidl.ops.shape import unbind
from tests.helpers import assert_close, rand_tensor


def _numeric(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to the array x (perturbed in place)."""
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        orig = x[k]
        x[k] = orig + eps
        plus = f()
        x[k] = orig - eps
        minus = f()
        x[k] = orig
        g[k] = (plus - minus) / (2 * eps)
    return g


# ---- the reference functions --------------------------------------------------------

def test_forward_known_values_zero_preactivations():
    # z = 0: i = f = o = 1/2, g = 0, so c' = c/2 and h' = tanh(c/2)/2
    c = np.array([[1.0, -2.0], [0.5, 0.0]])
    h_new, c_new, gates = lstm_cell_forward(np.zeros((2, 8)), c)
    assert_close(c_new, c / 2)
    assert_close(h_new, np.tanh(c / 2) / 2)
    assert_close(gates, np.tile([0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5], (2, 1)))


def test_forward_known_values_by_hand():
    # H = 1: z = (i, f, g, o) pre-activations
    z = np.array([[0.3, -1.2, 0.7, 2.0]])
    c = np.array([[0.4]])
    def sig(v: float) -> float:
        return 1 / (1 + np.exp(-v))

    i, f, g, o = sig(0.3), sig(-1.2), np.tanh(0.7), sig(2.0)
    h_new, c_new, gates = lstm_cell_forward(z, c)
    assert_close(gates, [[i, f, g, o]])
    assert_close(c_new, [[f * 0.4 + i * g]])
    assert_close(h_new, [[o * np.tanh(f * 0.4 + i * g)]])


def test_forward_large_preactivations_do_not_overflow():
    z = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=np.float32)
    with np.errstate(all="raise"):
        h_new, c_new, gates = lstm_cell_forward(z, np.zeros((1, 1), np.float32))
    assert_close(gates, [[1.0, 0.0, 1.0, 0.0]])
    assert h_new.dtype == c_new.dtype == np.float32


@given(n=st.integers(1, 3), h=st.integers(1, 3), which=st.sampled_from(["both", "h", "c"]),
       seed=st.integers(0, 2**16))
def test_reference_backward_matches_finite_differences(n, h, which, seed):
    rng = np.random.default_rng(seed)
    z, c = rng.normal(size=(n, 4 * h)) * 2, rng.normal(size=(n, h))
    wh = rng.normal(size=(n, h)) if which != "c" else None
    wc = rng.normal(size=(n, h)) if which != "h" else None

    def loss() -> float:
        h_new, c_new, _ = lstm_cell_forward(z, c)
        return float((0 if wh is None else (wh * h_new).sum()) + (0 if wc is None else (wc * c_new).sum()))

    _, c_new, gates = lstm_cell_forward(z, c)
    dz, dc = lstm_cell_backward(wh, wc, gates, c, c_new)
    assert_close(dz, _numeric(loss, z), rtol=1e-6, atol=1e-8)
    assert_close(dc, _numeric(loss, c), rtol=1e-6, atol=1e-8)


def test_reference_backward_with_no_gradient_is_zero():
    z, c = np.ones((2, 8)), np.ones((2, 2))
    _, c_new, gates = lstm_cell_forward(z, c)
    dz, dc = lstm_cell_backward(None, None, gates, c, c_new)
    assert dz.shape == (2, 8) and dc.shape == (2, 2)
    assert not dz.any() and not dc.any()


# ---- the op -------------------------------------------------------------------------

@given(n=st.integers(1, 3), h=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_lstm_cell_gradcheck(backend, n, h, seed):
    z = rand_tensor((n, 4 * h), backend, seed=seed, low=-2, high=2)
    c = rand_tensor((n, h), backend, seed=seed + 1, low=-2, high=2)
    assert md.gradcheck(lambda z, c: lstm_cell(z, c), z, c)


def test_lstm_cell_gradcheck_one_output_used(backend):
    z = rand_tensor((2, 8), backend, seed=3)
    c = rand_tensor((2, 2), backend, seed=4)
    assert md.gradcheck(lambda z, c: lstm_cell(z, c)[0], z, c)
    assert md.gradcheck(lambda z, c: lstm_cell(z, c)[1], z, c)


def test_lstm_cell_op_matches_reference(backend):
    z = rand_tensor((3, 8), backend, seed=5)
    c = rand_tensor((3, 2), backend, seed=6)
    h_new, c_new = lstm_cell(z, c)
    ref_h, ref_c, _ = lstm_cell_forward(z.numpy(), c.numpy())
    assert_close(h_new, ref_h)
    assert_close(c_new, ref_c)
    assert h_new.device == md.tensor(0.0, device=backend).device


def test_lstm_cell_gradient_only_to_z_when_c_is_constant():
    z = rand_tensor((1, 4), seed=7)
    c = rand_tensor((1, 1), seed=8, requires_grad=False)
    h_new, _ = lstm_cell(z, c)
    h_new.sum().backward()
    assert z.grad is not None and c.grad is None


def test_lstm_cell_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"LSTMCell: expected z \(N, 4H\) and c \(N, H\).*\(2, 6\)"):
        lstm_cell(md.zeros(2, 6), md.zeros(2, 2))
    with pytest.raises(ValueError, match="LSTMCell"):
        lstm_cell(md.zeros(2, 8), md.zeros(3, 2))


# ---- Unbind (minidl/ops/shape.py), the O(T) way the LSTM takes its time steps ---------

@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple), data=st.data())
def test_unbind_gradcheck(backend, shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand_tensor(shape, backend, seed=len(shape))
    assert md.gradcheck(lambda x: unbind(x, axis), x)


def test_unbind_values_and_unused_slices_get_zero_gradient():
    x = md.tensor(np.arange(6.0).reshape(2, 3), dtype="float64", requires_grad=True)
    parts = unbind(x, axis=1)
    assert len(parts) == 3
    assert_close(parts[2], [2.0, 5.0])
    (parts[0] * 2 + parts[2]).sum().backward()
    assert_close(x.grad, [[2.0, 0.0, 1.0], [2.0, 0.0, 1.0]])


def test_unbind_rejects_bad_axis():
    with pytest.raises(ValueError, match="Unbind: axis 2 is out of range"):
        unbind(md.zeros(2, 2), axis=2)
