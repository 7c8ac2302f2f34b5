"""The LSTM cell kernels: the reference against known values and finite differences;
Numba and CuPy == the reference (either incoming gradient absent); `out` arrays; the
reference is what runs in op context with fast kernels off."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import recurrent, set_kernels
from minidl.kernels.recurrent import reference
from minidl.ops.recurrent import lstm_cell, lstm_layer
from tests.kernels.numba_cases import DTYPES, rand
from tests.helpers import assert_close, rand_tensor
from tests.kernels.implementations import Impl, impl  # noqa: F401 - fixture

PRESENT = [(True, True), (True, False), (False, True), (False, False)]


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


# ---- the reference ------------------------------------------------------------------

def test_reference_known_values_zero_preactivations():
    # z = 0: i = f = o = 1/2, g = 0, so c' = c/2 and h' = tanh(c/2)/2
    c = np.array([[1.0, -2.0], [0.5, 0.0]])
    h_new, c_new, (gates, c_saved, c_new_saved) = reference.lstm_cell_forward(np.zeros((2, 8)), c)
    assert_close(c_new, c / 2)
    assert_close(h_new, np.tanh(c / 2) / 2)
    assert_close(gates, np.tile([0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5], (2, 1)))
    assert c_saved is c and c_new_saved is c_new


def test_reference_known_values_by_hand():
    # H = 1: z = (i, f, g, o) pre-activations
    z = np.array([[0.3, -1.2, 0.7, 2.0]])
    c = np.array([[0.4]])

    def sig(v: float) -> float:
        return 1 / (1 + np.exp(-v))

    i, f, g, o = sig(0.3), sig(-1.2), np.tanh(0.7), sig(2.0)
    h_new, c_new, (gates, _, _) = reference.lstm_cell_forward(z, c)
    assert_close(gates, [[i, f, g, o]])
    assert_close(c_new, [[f * 0.4 + i * g]])
    assert_close(h_new, [[o * np.tanh(f * 0.4 + i * g)]])


def test_reference_large_preactivations_do_not_overflow():
    z = np.array([[1e4, -1e4, 1e4, -1e4]], dtype=np.float32)
    with np.errstate(all="raise"):
        h_new, c_new, (gates, _, _) = reference.lstm_cell_forward(z, np.zeros((1, 1), np.float32))
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
        h_new, c_new, _ = reference.lstm_cell_forward(z, c)
        return float((0 if wh is None else (wh * h_new).sum()) + (0 if wc is None else (wc * c_new).sum()))

    _, _, saved = reference.lstm_cell_forward(z, c)
    dz, dc = reference.lstm_cell_backward(saved, wh, wc)
    assert_close(dz, _numeric(loss, z), rtol=1e-6, atol=1e-8)
    assert_close(dc, _numeric(loss, c), rtol=1e-6, atol=1e-8)


def test_reference_backward_with_no_gradient_is_zero():
    _, _, saved = reference.lstm_cell_forward(np.ones((2, 8)), np.ones((2, 2)))
    dz, dc = reference.lstm_cell_backward(saved, None, None)
    assert dz.shape == (2, 8) and dc.shape == (2, 2)
    assert not dz.any() and not dc.any()


# ---- the fast kernels == the reference ------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), h=st.integers(1, 9), seed=st.integers(0, 2**16),
       scale=st.sampled_from([0.5, 3.0, 30.0]), present=st.sampled_from(PRESENT))
def test_cell_equals_reference(impl: Impl, dtype, n, h, seed, scale, present):
    z, c = rand((n, 4 * h), dtype, seed, scale), rand((n, h), dtype, seed + 1)
    *got, saved = recurrent.lstm_cell_forward(impl.to(z), impl.to(c))
    *want, saved_ref = reference.lstm_cell_forward(z, c)
    for a, b in zip((*got, *saved), (*want, *saved_ref)):
        impl.assert_same(a, b, dtype)
    gh = rand((n, h), dtype, seed + 2) if present[0] else None
    gc = rand((n, h), dtype, seed + 3) if present[1] else None
    # the same saved state on both sides: the backward is compared on its own
    saved = tuple(impl.to(a) for a in saved_ref)
    for a, b in zip(recurrent.lstm_cell_backward(saved, impl.to(gh), impl.to(gc)),
                    reference.lstm_cell_backward(saved_ref, gh, gc)):
        impl.assert_same(a, b, dtype)
    if impl.name != "cpu":
        assert {"lstm_forward", "lstm_backward"} <= set(impl.launched)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cell_parallel_build_equals_reference(impl: Impl, dtype):
    n, h = 520, 128  # 4*N*H above MINIDL_UPDATE_PARALLEL_MIN
    if impl.name == "gpu-host":
        n, h = 6, 5  # the host emulation runs every thread in turn: a small grid suffices
    z, c = rand((n, 4 * h), dtype, 0, 3.0), rand((n, h), dtype, 1)
    *got, _ = recurrent.lstm_cell_forward(impl.to(z), impl.to(c))
    *want, saved = reference.lstm_cell_forward(z, c)
    for a, b in zip(got, want):
        impl.assert_same(a, b, dtype)
    gh, gc = rand((n, h), dtype, 2), rand((n, h), dtype, 3)
    for a, b in zip(recurrent.lstm_cell_backward(tuple(impl.to(a) for a in saved), impl.to(gh), impl.to(gc)),
                    reference.lstm_cell_backward(saved, gh, gc)):
        impl.assert_same(a, b, dtype)


def test_saturated_gates_stay_finite(impl: Impl):
    """Pre-activations of +-1e4 saturate the gates without overflow (tanh-form sigmoid)."""
    z = np.array([[1e4, -1e4, 1e4, -1e4, -1e4, 1e4, -1e4, 1e4]])
    c = np.array([[0.5, -0.5]])
    h_new, c_new, (gates, _, _) = recurrent.lstm_cell_forward(impl.to(z), impl.to(c))
    # i = (1, 0), f = (1, 0), g = (-1, 1), o = (0, 1)
    np.testing.assert_array_equal(impl.back(gates), [[1, 0, 1, 0, -1, 1, 0, 1]])
    np.testing.assert_allclose(impl.back(c_new), [[0.5 - 1, 0]])
    np.testing.assert_allclose(impl.back(h_new), [[0, 0]])


def test_kernels_write_into_out_arrays(impl: Impl):
    """A sequence op hands preallocated step buffers: the kernels fill them directly, and
    `saved` refers to them (no copy per step)."""
    rng = np.random.default_rng(3)
    z, c = rng.standard_normal((2, 12)), rng.standard_normal((2, 3))
    *want, saved_ref = reference.lstm_cell_forward(z, c)
    out = tuple(impl.to(np.zeros(s)) for s in ((2, 3), (2, 3), (2, 12)))
    h_new, c_new, saved = recurrent.lstm_cell_forward(impl.to(z), impl.to(c), out=out)
    assert h_new is out[0] and c_new is out[1] and saved[0] is out[2] and saved[2] is out[1]
    for a, b in zip(out, (*want, saved_ref[0])):
        impl.assert_same(a, b, "float64")
    gh, gc = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    bout = (impl.to(np.zeros((2, 12))), impl.to(np.zeros((2, 3))))
    got = recurrent.lstm_cell_backward(saved, impl.to(gh), impl.to(gc), out=bout)
    assert all(g is o for g, o in zip(got, bout))
    for a, b in zip(bout, reference.lstm_cell_backward(saved_ref, gh, gc)):
        impl.assert_same(a, b, "float64")


def test_float32_tanh_is_accurate_and_bounded(impl: Impl):
    """Numba's rational float32 tanh: within 4e-7 relative of the exact value, never beyond +-1."""
    if impl.name != "cpu":
        pytest.skip("the rational tanh is the Numba kernel's")
    x = np.concatenate([np.linspace(-20, 20, 40001), np.logspace(-30, 1, 300),
                        -np.logspace(-30, 1, 300)]).astype(np.float32)
    z = np.zeros((1, 4 * x.size), np.float32)
    z[0, 2 * x.size:3 * x.size] = x  # the g gate is tanh(z)
    _, _, (gates, _, _) = recurrent.lstm_cell_forward(z, np.zeros((1, x.size), np.float32))
    t = gates[0, 2 * x.size:3 * x.size].astype(np.float64)
    exact = np.tanh(x.astype(np.float64))
    assert np.abs(t).max() <= 1.0
    assert (np.abs(t - exact) <= 4e-7 * np.abs(exact) + 1e-45).all()


# ---- the route --------------------------------------------------------------------------

def test_out_arrays_the_kernels_cannot_write_get_the_reference_results():
    """A strided or other-dtype `out` sends the step to the reference, which fills it."""
    rng = np.random.default_rng(4)
    z, c = rng.standard_normal((2, 12)), rng.standard_normal((2, 3))
    *want, saved_ref = reference.lstm_cell_forward(z, c)
    strided = np.zeros((2, 6))[:, ::2]
    out = (strided, np.zeros((2, 3)), np.zeros((2, 12), np.float32))
    h_new, c_new, saved = recurrent.lstm_cell_forward(z, c, out=out)
    assert h_new is strided and saved[0] is out[2]
    assert_close(strided, want[0])
    assert_close(out[2], saved_ref[0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="out arrays must have shapes"):
        recurrent.lstm_cell_forward(z, c, out=(np.zeros((3, 2)), out[1], out[2]))


def test_strided_inputs_and_gradients_are_read_correctly():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((12, 2)).T  # a transposed view
    c = np.broadcast_to(rng.standard_normal(3), (2, 3))
    *want, saved_ref = reference.lstm_cell_forward(np.ascontiguousarray(z), np.ascontiguousarray(c))
    *got, saved = recurrent.lstm_cell_forward(z, c)
    for a, b in zip(got, want):
        assert_close(a, b, rtol=1e-12, atol=1e-12)
    gh = np.broadcast_to(np.ones(3), (2, 3))
    for a, b in zip(recurrent.lstm_cell_backward(saved, gh, None),
                    reference.lstm_cell_backward(saved_ref, np.ones((2, 3)), None)):
        assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_reference_mode_runs_the_reference_in_the_ops(monkeypatch):
    """With fast kernels off, the cell and layer ops run reference.py (forward and
    backward), and they gradcheck."""
    called: list[str] = []
    for name in ("lstm_cell_forward", "lstm_cell_backward"):
        real = getattr(reference, name)
        monkeypatch.setattr(reference, name, lambda *a, _r=real, _n=name, **k: (called.append(_n), _r(*a, **k))[1])
    before = set_kernels("reference")
    try:
        z, c = rand_tensor((2, 8), seed=1, low=-2, high=2), rand_tensor((2, 2), seed=2)
        assert md.gradcheck(lambda z, c: lstm_cell(z, c), z, c)
        assert {"lstm_cell_forward", "lstm_cell_backward"} <= set(called)
        called.clear()
        xz, w = rand_tensor((3, 2, 8), seed=3, low=-2, high=2), rand_tensor((2, 8), seed=4)
        h0, c0 = rand_tensor((2, 2), seed=5), rand_tensor((2, 2), seed=6)
        assert md.gradcheck(lambda *a: lstm_layer(*a)[0], xz, w, h0, c0)
        assert called.count("lstm_cell_forward") >= 3 and "lstm_cell_backward" in called
    finally:
        set_kernels(before)
