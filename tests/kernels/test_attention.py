"""kernels/attention: the reference against a plain formula on random shapes (masks,
dropout multipliers, fully masked rows), its backward against float64 gradchecks, the
GPU path (the reference on CuPy) equal to NumPy, and `saved` taking the backward back to
the implementation that ran."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import attention as K
from minidl.kernels.attention import reference
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds

sizes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5),
                  st.integers(1, 4), st.integers(1, 4))  # N, H, L, S, E, Ev


def _case(size, seed, mask, dropout):
    n, h, length, source, e, ev = size
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s) for s in ((n, h, length, e), (n, h, source, e), (n, h, source, ev)))
    bias = None
    if mask == "causal":
        bias = np.where(np.triu(np.ones((length, source), bool), 1), -np.inf, 0.0)
    elif mask == "padding":  # per batch row; may mask every key of a row
        bias = np.where(rng.random((n, 1, 1, source)) < 0.4, -np.inf, 0.0)
    elif mask == "float":
        bias = rng.standard_normal((n, h, length, source))
    keep = (rng.random((n, h, length, source)) >= 0.3) / 0.7 if dropout else None
    return q, k, v, bias, keep


def _plain(q, k, v, bias, scale, keep, safe):
    """The formula, one step at a time."""
    s = q @ k.swapaxes(-1, -2) * scale + (0 if bias is None else bias)
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    if safe:
        p = np.where(np.isneginf(s).all(axis=-1, keepdims=True), 0.0, p)
    w = p if keep is None else p * keep
    return w @ v, w


@given(size=sizes, seed=seeds, mask=st.sampled_from([None, "causal", "padding", "float"]),
       dropout=st.booleans(), safe=st.booleans())
def test_reference_forward_is_the_formula(size, seed, mask, dropout, safe):
    q, k, v, bias, keep = _case(size, seed, mask, dropout)
    out, weights, _ = K.forward(q, k, v, bias, 0.7, keep, safe)
    want_out, want_w = _plain(q, k, v, bias, 0.7, keep, safe)
    np.testing.assert_allclose(weights, want_w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-14)


def test_a_fully_masked_row_is_zero_when_safe_and_nan_otherwise():
    q, k, v, _, _ = _case((1, 1, 2, 3, 2, 2), 0, None, False)
    bias = np.array([[0.0, 0.0, 0.0], [-np.inf, -np.inf, -np.inf]])
    out, weights, _ = K.forward(q, k, v, bias, 1.0, None, True)
    assert np.all(weights[0, 0, 1] == 0) and np.all(out[0, 0, 1] == 0) and np.isfinite(out).all()
    out, weights, _ = K.forward(q, k, v, bias, 1.0, None, False)
    assert np.isnan(weights[0, 0, 1]).all() and np.isnan(out[0, 0, 1]).all()


@given(size=sizes, seed=seeds, mask=st.sampled_from([None, "causal", "float"]), dropout=st.booleans(),
       needs=st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_reference_backward_is_the_gradient_of_its_forward(size, seed, mask, dropout, needs):
    """<g_out, d out> + <g_w, d weights> by central differences, against the backward."""
    q, k, v, bias, keep = _case(size, seed, mask, dropout)
    rng = np.random.default_rng(seed + 1)
    out, weights, saved = K.forward(q, k, v, bias, 0.7, keep, True)
    g_out, g_w = rng.standard_normal(out.shape), rng.standard_normal(weights.shape)
    grads = K.backward(g_out, g_w, saved, *needs)
    for i, (x, g) in enumerate(zip((q, k, v), grads)):
        assert (g is None) == (not needs[i])
        if g is None:
            continue
        d = rng.standard_normal(x.shape)
        args = [q, k, v]

        def value(t, args=args, i=i, d=d):
            moved = list(args)
            moved[i] = args[i] + t * d
            o, w, _ = K.forward(*moved, bias, 0.7, keep, True)
            return (o * g_out).sum() + (w * g_w).sum()
        numeric = (value(1e-6) - value(-1e-6)) / 2e-6
        assert abs(numeric - (g * d).sum()) <= 1e-6 * max(1.0, abs(numeric))


def test_backward_runs_where_the_forward_ran(monkeypatch):
    q, k, v, bias, _ = _case((2, 2, 3, 3, 2, 2), 0, "causal", False)
    out, _, saved = K.forward(q, k, v, bias, 0.5, None, True)
    impl, state = saved
    assert impl is reference
    calls = []
    monkeypatch.setattr(reference, "backward", lambda *a: calls.append(a) or (None, None, None))
    K.backward(np.ones_like(out), None, saved, True, True, True)
    assert calls and calls[0][2] is state


@pytest.mark.parametrize("mask", [None, "causal", "padding"])
def test_gpu_path_equals_numpy(backend, mask):
    """On CuPy the reference's array code runs (cuBLAS products): the NumPy numbers."""
    q, k, v, bias, keep = _case((2, 2, 4, 5, 3, 3), 3, mask, True)
    dev = [None if a is None else md.tensor(a, device=backend).data for a in (q, k, v, bias, keep)]
    out, weights, saved = K.forward(*dev[:3], dev[3], 0.6, dev[4], True)
    want_out, want_w, want_saved = reference.forward(q, k, v, bias, 0.6, keep, True)
    assert_close(out, want_out)
    assert_close(weights, want_w)
    g_out = np.random.default_rng(4).standard_normal(out.shape)
    got = K.backward(md.tensor(g_out, device=backend).data, None, saved, True, True, True)
    for g, w in zip(got, reference.backward(g_out, None, want_saved, True, True, True)):
        assert_close(g, w)


@given(seed=seeds, causal=st.booleans())
def test_scaled_dot_product_attention_gradcheck_on_every_backend(backend, seed, causal):
    q, k, v = (rand_tensor((2, 3, 2), backend, seed + i) for i in range(3))
    assert md.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal), q, k, v)
