"""The fused LSTM cell op, the Unbind op, and the fused LSTM and GRU layer ops (the kernels:
tests/kernels)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels.recurrent import reference
from minidl.ops.recurrent import gru_layer, lstm_cell, lstm_layer
from minidl.ops.shape import unbind
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds


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
    ref_h, ref_c, _ = reference.lstm_cell_forward(z.numpy(), c.numpy())
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


# ---- the fused layer (one op for a whole sequence) ------------------------------------

def _unrolled(xz, w_hh, h0, c0, time_axis, reverse=False, bias=None):
    """The same recurrence as separate per-step ops: the definition lstm_layer must equal."""
    steps = unbind(xz if bias is None else xz + bias, axis=time_axis)
    h_dim = w_hh.shape[0]
    h = h0
    c = c0 if c0 is not None else md.zeros(steps[0].shape[0], h_dim, dtype=xz.dtype, device=xz.device)
    hs = [None] * len(steps)
    for t in (reversed(range(len(steps))) if reverse else range(len(steps))):
        h, c = lstm_cell(steps[t] if h is None else steps[t] + h @ w_hh, c)
        hs[t] = h
    return md.stack(hs, axis=time_axis), h, c


@st.composite
def layer_cases(draw):
    t, n, h = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return (t, n, h, draw(st.sampled_from([0, 1])), draw(st.booleans()), draw(st.booleans()),
            draw(st.booleans()), draw(st.booleans()))


def _layer_inputs(backend, case, seed):
    """(xz, w, bias, h0, c0, time_axis); reverse is case[-1]."""
    t, n, h, axis, with_b, with_h0, with_c0, _ = case
    xz_shape = (t, n, 4 * h) if axis == 0 else (n, t, 4 * h)
    xz = rand_tensor(xz_shape, backend, seed=seed, low=-2, high=2)
    w = rand_tensor((h, 4 * h), backend, seed=seed + 1)
    h0 = rand_tensor((n, h), backend, seed=seed + 2) if with_h0 else None
    c0 = rand_tensor((n, h), backend, seed=seed + 3) if with_c0 else None
    b = rand_tensor((4 * h,), backend, seed=seed + 4) if with_b else None
    return xz, w, b, h0, c0, axis


@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_lstm_layer_gradcheck(backend, case, seed):
    xz, w, b, h0, c0, axis = _layer_inputs(backend, case, seed)
    reverse = case[-1]
    rest = [a for a in (b, h0, c0) if a is not None]

    def f(xz, w, *rest):
        it = iter(rest)
        b_, h0_, c0_ = (next(it) if a is not None else None for a in (b, h0, c0))
        out, h, c = lstm_layer(xz, w, h0_, c0_, time_axis=axis, reverse=reverse, bias=b_)
        # every output used, with different weights
        return (out * out).sum() + (h * 3.0).sum() + (c * c * 2.0).sum()

    assert md.gradcheck(f, xz, w, *rest)


@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_lstm_layer_equals_the_unrolled_cells(backend, case, seed):
    """Same outputs and same gradients as the per-step graph it replaces."""
    xz, w, b, h0, c0, axis = _layer_inputs(backend, case, seed)
    reverse = case[-1]
    leaves = [a for a in (xz, w, b, h0, c0) if a is not None]
    fused = _outputs_and_grads(leaves, lambda: lstm_layer(xz, w, h0, c0, time_axis=axis,
                                                          reverse=reverse, bias=b))
    # with T = 1 and no h0 the unrolled graph never touches w_hh: no grad means zeros
    unrolled = _outputs_and_grads(leaves, lambda: _unrolled(xz, w, h0, c0, axis, reverse, b),
                                  missing_as_zeros=True)
    for got, want in zip(fused, unrolled):
        assert_close(got, want, rtol=1e-10, atol=1e-12)


def _outputs_and_grads(leaves: list, run, missing_as_zeros: bool = False) -> list:
    """[out, h, c] of `run()` (an LSTM layer's three outputs) and the leaves' gradients of
    one loss on all three, each leaf's gradient cleared first."""
    for a in leaves:
        a.grad = None
    out, h, c = run()
    (out.sum() * 0.5 + (h * h).sum() + c.sum()).backward()
    grads = [np.zeros(a.shape) if a.grad is None and missing_as_zeros else a.grad.numpy() for a in leaves]
    return [out.numpy(), h.numpy(), c.numpy()] + grads


@given(case=layer_cases(), seed=st.integers(0, 2**16))
def test_lstm_layer_overwriting_xz_gives_the_same_numbers(case, seed):
    """overwrite_xz lets the cells write over xz's array (when time-major and read
    forward) and changes no output or gradient; without it xz is left as it was."""
    xz, w, b, h0, c0, axis = _layer_inputs("numpy", case, seed)
    reverse = case[-1]
    leaves = [a for a in (xz, w, b, h0, c0) if a is not None]
    results = []
    for overwrite in (False, True):
        xz_mid = xz * 1.0  # an intermediate, as nn.LSTM's input projection
        before = xz_mid.numpy().copy()
        results.append(_outputs_and_grads(leaves, lambda: lstm_layer(
            xz_mid, w, h0, c0, time_axis=axis, reverse=reverse, bias=b, overwrite_xz=overwrite)))
        spent = not np.array_equal(xz_mid.numpy(), before)
        assert spent == (overwrite and axis == 0 and not reverse)
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)


def test_lstm_layer_overwriting_a_leaf_xz_keeps_its_grad_apart():
    """The gradient of an overwritten xz is written in xz's array: a leaf gets a copy as
    its .grad, not its own data."""
    xz = rand_tensor((3, 2, 8), seed=1)
    w = rand_tensor((2, 8), seed=2)
    out, h, _ = lstm_layer(xz, w, overwrite_xz=True)
    (out.sum() + h.sum()).backward()
    assert not np.shares_memory(xz.grad.numpy(), xz.numpy())


def test_lstm_layer_backward_twice_with_retain_graph():
    """A kept graph keeps its gates: the second backward gives the first one's gradients."""
    xz = rand_tensor((4, 2, 8), seed=3)
    w = rand_tensor((2, 8), seed=4)
    out, h, c = lstm_layer(xz * 1.0, w, overwrite_xz=True)
    loss = (out * out).sum() + h.sum() + c.sum()
    loss.backward(retain_graph=True)
    first = [xz.grad.numpy().copy(), w.grad.numpy().copy()]
    xz.grad = w.grad = None
    loss.backward()
    for got, want in zip((xz.grad.numpy(), w.grad.numpy()), first):
        np.testing.assert_array_equal(got, want)


def test_lstm_layer_only_final_state_used():
    """The classifier case: the output sequence unused (its gradient arrives as zeros)."""
    xz = rand_tensor((4, 2, 8), seed=1)
    w = rand_tensor((2, 8), seed=2)
    assert md.gradcheck(lambda xz, w: lstm_layer(xz, w)[1], xz, w)


@pytest.mark.parametrize("used", [(0,), (1,), (2,), (0, 2)])
def test_lstm_layer_with_unused_outputs(used):
    """An output nobody used sends no gradient (None, not zeros): out, h_T and c_T each
    alone, and out with c_T."""
    xz = rand_tensor((4, 2, 8), seed=5)
    w = rand_tensor((2, 8), seed=6)
    c0 = rand_tensor((2, 2), seed=7)

    def f(xz, w, c0):
        outs = lstm_layer(xz, w, None, c0)
        return sum((outs[k] * outs[k]).sum() for k in used)

    assert md.gradcheck(f, xz, w, c0)


@pytest.mark.parametrize("used", [(0,), (1,)])
def test_gru_layer_with_unused_outputs(used):
    xg = rand_tensor((4, 2, 6), seed=5)
    w, b = rand_tensor((2, 6), seed=6), rand_tensor((6,), seed=7)
    assert md.gradcheck(lambda xg, w, b: (gru_layer(xg, w, b)[used[0]] ** 2).sum(), xg, w, b)


def test_lstm_layer_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"lstm_layer: expected xz .* got xz \(2, 3, 8\), w_hh \(3, 8\)"):
        lstm_layer(md.zeros(2, 3, 8), md.zeros(3, 8))
    with pytest.raises(ValueError, match="T >= 1"):
        lstm_layer(md.zeros(0, 3, 8), md.zeros(2, 8))
    with pytest.raises(ValueError, match=r"bias \(4H,\) or None, got .* bias \(4,\)"):
        lstm_layer(md.zeros(2, 3, 8), md.zeros(2, 8), bias=md.zeros(4))


# ---- the fused GRU layer ---------------------------------------------------------------

def _gru_unrolled(xg, w_hh, b_hh, h0, time_axis, reverse=False):
    """PyTorch's GRU equations as separate per-step ops: what gru_layer must equal."""
    steps = unbind(xg, axis=time_axis)
    h_dim = w_hh.shape[0]
    h = h0 if h0 is not None else md.zeros(steps[0].shape[0], h_dim, dtype=xg.dtype, device=xg.device)
    hs = [None] * len(steps)
    for t in (reversed(range(len(steps))) if reverse else range(len(steps))):
        x, hg = steps[t], h @ w_hh + b_hh
        r = F.sigmoid(x[:, :h_dim] + hg[:, :h_dim])
        z = F.sigmoid(x[:, h_dim: 2 * h_dim] + hg[:, h_dim: 2 * h_dim])
        n = F.tanh(x[:, 2 * h_dim:] + r * hg[:, 2 * h_dim:])
        h = (1 - z) * n + z * h
        hs[t] = h
    return md.stack(hs, axis=time_axis), h


@st.composite
def gru_cases(draw):
    t, n, h = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return t, n, h, draw(st.sampled_from([0, 1])), draw(st.booleans()), draw(st.booleans())


def _gru_inputs(backend, case, seed):
    t, n, h, axis, with_h0, _ = case
    xg = rand_tensor((t, n, 3 * h) if axis == 0 else (n, t, 3 * h), backend, seed=seed, low=-2, high=2)
    w = rand_tensor((h, 3 * h), backend, seed=seed + 1)
    b = rand_tensor((3 * h,), backend, seed=seed + 2)
    h0 = rand_tensor((n, h), backend, seed=seed + 3) if with_h0 else None
    return xg, w, b, h0


@given(case=gru_cases(), seed=seeds)
def test_gru_layer_gradcheck(backend, case, seed):
    xg, w, b, h0 = _gru_inputs(backend, case, seed)
    axis, reverse = case[3], case[5]

    def f(xg, w, b, *h0_):
        out, h = gru_layer(xg, w, b, *h0_, time_axis=axis, reverse=reverse)
        return (out * out).sum() + (h * 3.0).sum()  # both outputs used, differently

    assert md.gradcheck(f, xg, w, b, *([h0] if h0 is not None else []))


@given(case=gru_cases(), seed=seeds)
def test_gru_layer_equals_the_unrolled_equations(backend, case, seed):
    """Same outputs and gradients as PyTorch's GRU equations written as per-step ops."""
    xg, w, b, h0 = _gru_inputs(backend, case, seed)
    axis, reverse = case[3], case[5]
    leaves = [a for a in (xg, w, b, h0) if a is not None]
    results = []
    for unrolled in (False, True):
        for a in leaves:
            a.grad = None
        out, h = (_gru_unrolled(xg, w, b, h0, axis, reverse) if unrolled
                  else gru_layer(xg, w, b, h0, time_axis=axis, reverse=reverse))
        (out.sum() * 0.5 + (h * h).sum()).backward()
        grads = [a.grad.numpy() if a.grad is not None else np.zeros(a.shape) for a in leaves]
        results.append([out.numpy(), h.numpy()] + grads)
    for got, want in zip(*results):
        assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gru_layer_only_final_state_used_and_gradients_asked_for():
    xg, w, b = rand_tensor((4, 2, 6), seed=1), rand_tensor((2, 6), seed=2), rand_tensor((6,), seed=3)
    assert md.gradcheck(lambda xg, w, b: gru_layer(xg, w, b)[1], xg, w, b)
    const_w = rand_tensor((2, 6), seed=2, requires_grad=False)
    _, h = gru_layer(xg, const_w, b)
    h.sum().backward()
    assert const_w.grad is None and xg.grad is not None and b.grad is not None


def test_gru_layer_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"gru_layer: expected xg .* got xg \(2, 3, 8\), w_hh \(3, 9\)"):
        gru_layer(md.zeros(2, 3, 8), md.zeros(3, 9), md.zeros(9))
    with pytest.raises(ValueError, match=r"b_hh \(6,\)"):
        gru_layer(md.zeros(2, 3, 9), md.zeros(3, 9), md.zeros(6))
    with pytest.raises(ValueError, match="T >= 1"):
        gru_layer(md.zeros(0, 3, 9), md.zeros(3, 9), md.zeros(9))
