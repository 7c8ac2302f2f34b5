"""The LSTM and GRU cell kernels: the reference against known values and finite differences;
Numba and CuPy == the reference (either incoming LSTM gradient absent); `out` arrays; the
reference is what runs in op context with fast kernels off."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import recurrent, set_kernels
from minidl.kernels.recurrent import reference
from minidl.ops.recurrent import gru_layer, lstm_cell, lstm_layer
from tests.kernels.numba_cases import DTYPES, rand
from tests.helpers import assert_close, rand_tensor
from tests.kernels.conftest import force_build
from tests.strategies import seeds
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
       scale=st.sampled_from([0.5, 3.0, 30.0]), present=st.sampled_from(PRESENT),
       with_xz=st.booleans(), with_b=st.booleans())
def test_cell_equals_reference(impl: Impl, dtype, n, h, seed, scale, present, with_xz, with_b):
    z, c = rand((n, 4 * h), dtype, seed, scale), rand((n, h), dtype, seed + 1)
    xz = rand((n, 4 * h), dtype, seed + 4, scale) if with_xz else None  # the step's input gates
    b = rand((4 * h,), dtype, seed + 5, scale) if with_b else None
    *got, saved = recurrent.lstm_cell_forward(impl.to(z), impl.to(c), xz=impl.to(xz), b=impl.to(b))
    *want, saved_ref = reference.lstm_cell_forward(z, c, xz, b)
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
    z, c, xz = rand((n, 4 * h), dtype, 0, 3.0), rand((n, h), dtype, 1), rand((n, 4 * h), dtype, 4)
    b = rand((4 * h,), dtype, 5)
    *got, _ = recurrent.lstm_cell_forward(impl.to(z), impl.to(c), xz=impl.to(xz), b=impl.to(b))
    *want, saved = reference.lstm_cell_forward(z, c, xz, b)
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


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_work_in_place(impl: Impl, dtype):
    """The sequence op's form: the gates written over the input gates they are read from,
    and dz over the saved gates, with the numbers of separate arrays."""
    n, h = 3, 5
    z, c = rand((n, 4 * h), dtype, 0, 3.0), rand((n, h), dtype, 1)
    xz, b = rand((n, 4 * h), dtype, 2, 3.0), rand((4 * h,), dtype, 3)
    *want, saved_ref = reference.lstm_cell_forward(z, c, xz, b)
    g = impl.to(xz.copy())
    out = (impl.to(np.zeros((n, h), dtype)), impl.to(np.zeros((n, h), dtype)), g)
    *got, saved = recurrent.lstm_cell_forward(impl.to(z), impl.to(c), xz=g, b=impl.to(b), out=out)
    assert saved[0] is g
    for a, b_ in zip((*got, g), (*want, saved_ref[0])):
        impl.assert_same(a, b_, dtype)
    gh, gc = rand((n, h), dtype, 4), rand((n, h), dtype, 5)
    dc = impl.to(np.zeros((n, h), dtype))
    got = recurrent.lstm_cell_backward(saved, impl.to(gh), impl.to(gc), out=(g, dc))
    assert got[0] is g
    for a, b_ in zip(got, reference.lstm_cell_backward(saved_ref, gh, gc)):
        impl.assert_same(a, b_, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_kernels_of_a_sequence_equal_the_reference_steps(impl: Impl, dtype):
    """lstm_step_kernels, routed once for a sequence op's buffers: the fused steps and the
    reference's (what runs with fast kernels off) write the same numbers in place."""
    n, h = 4, 3
    z, c, xz, b = (rand((n, 4 * h), dtype, 0, 3.0), rand((n, h), dtype, 1),
                   rand((n, 4 * h), dtype, 2, 3.0), rand((4 * h,), dtype, 3))
    gh, gc = rand((n, h), dtype, 4), rand((n, h), dtype, 5)
    results = []
    for steps in (recurrent.lstm_step_kernels(*(impl.to(a) for a in (z, c, xz, b))),
                  (recurrent._reference_forward_step, recurrent._reference_backward_step)):
        gates, h_new, c_new, dc = impl.to(xz.copy()), *(impl.to(np.zeros((n, h), dtype)) for _ in range(3))
        steps[0](impl.to(z), impl.to(b), impl.to(c), h_new, c_new, gates)
        forward = [impl.back(a).copy() for a in (h_new, c_new, gates)]
        steps[1](impl.to(gh), impl.to(gc), impl.to(c), c_new, gates, dc)
        results.append(forward + [impl.back(gates), impl.back(dc)])
    for a, b_ in zip(*results):
        impl.assert_same(a, b_, dtype)


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


# ==== the GRU cell ======================================================================

def _sig(v):
    return 1 / (1 + np.exp(-v))


def test_gru_reference_known_values_by_hand():
    # H = 1: xg = (r, z, n) input side, hg = (r, z, n) hidden side
    xg, hg, h = np.array([[0.3, -1.2, 0.7]]), np.array([[0.5, 0.1, -0.4]]), np.array([[0.6]])
    r, z = _sig(0.8), _sig(-1.1)
    n = np.tanh(0.7 + r * -0.4)
    h_new, (gates, hn, h_saved) = reference.gru_cell_forward(xg, hg, h)
    assert_close(gates, [[r, z, n]])
    assert_close(hn, [[-0.4]])
    assert_close(h_new, [[(1 - z) * n + z * 0.6]])
    assert h_saved is h


@given(n=st.integers(1, 3), h=st.integers(1, 3), seed=seeds)
def test_gru_reference_backward_matches_finite_differences(n, h, seed):
    rng = np.random.default_rng(seed)
    xg, hg, hp = rng.normal(size=(n, 3 * h)) * 2, rng.normal(size=(n, 3 * h)), rng.normal(size=(n, h))
    w = rng.normal(size=(n, h))

    def loss() -> float:
        return float((w * reference.gru_cell_forward(xg, hg, hp)[0]).sum())

    _, saved = reference.gru_cell_forward(xg, hg, hp)
    dxg, dhg, dh = reference.gru_cell_backward(saved, w)
    assert_close(dxg, _numeric(loss, xg), rtol=1e-6, atol=1e-8)
    assert_close(dhg, _numeric(loss, hg), rtol=1e-6, atol=1e-8)
    assert_close(dh, _numeric(loss, hp), rtol=1e-6, atol=1e-8)


def _gru_case(n, h, dtype, seed, scale=1.0):
    return rand((n, 3 * h), dtype, seed, scale), rand((n, 3 * h), dtype, seed + 1, scale), \
        rand((n, h), dtype, seed + 2)


def _assert_gru_same(impl, xg, hg, h, gh, dtype, b_hh=None):
    """Forward and backward (on the reference's saved state) of `impl` == the reference."""
    got_h, got_saved = recurrent.gru_cell_forward(impl.to(xg), impl.to(hg), impl.to(h),
                                                  b_hh=impl.to(b_hh))
    want_h, want_saved = reference.gru_cell_forward(xg, hg, h, b_hh)
    for a, b in zip((got_h, *got_saved), (want_h, *want_saved)):
        impl.assert_same(a, b, dtype)
    saved = tuple(impl.to(a) for a in want_saved)
    for a, b in zip(recurrent.gru_cell_backward(saved, impl.to(gh)),
                    reference.gru_cell_backward(want_saved, gh)):
        impl.assert_same(a, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 5), h=st.integers(1, 9), seed=seeds, scale=st.sampled_from([0.5, 3.0, 30.0]),
       with_b=st.booleans())
def test_gru_cell_equals_reference(impl: Impl, dtype, n, h, seed, scale, with_b):
    xg, hg, hp = _gru_case(n, h, dtype, seed, scale)
    b_hh = rand((3 * h,), dtype, seed + 4, scale) if with_b else None
    _assert_gru_same(impl, xg, hg, hp, rand((n, h), dtype, seed + 3), dtype, b_hh)
    if impl.name != "cpu":
        assert {"gru_forward", "gru_backward"} <= set(impl.launched)


@pytest.mark.parametrize("which", ["serial", "parallel"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gru_cell_both_builds_equal_reference(impl: Impl, monkeypatch, dtype, which):
    n, h = (6, 5) if impl.name == "gpu-host" else (40, 33)  # the host emulation is slow
    force_build(monkeypatch, "MINIDL_UPDATE_PARALLEL_MIN", which)
    xg, hg, hp = _gru_case(n, h, dtype, 7, 3.0)
    _assert_gru_same(impl, xg, hg, hp, rand((n, h), dtype, 8), dtype, rand((3 * h,), dtype, 9))


def test_gru_kernels_write_into_out_arrays(impl: Impl):
    rng = np.random.default_rng(3)
    xg, hg, hp = rng.standard_normal((2, 9)), rng.standard_normal((2, 9)), rng.standard_normal((2, 3))
    want_h, want_saved = reference.gru_cell_forward(xg, hg, hp)
    out = tuple(impl.to(np.zeros(s)) for s in ((2, 3), (2, 9), (2, 3)))
    h_new, saved = recurrent.gru_cell_forward(impl.to(xg), impl.to(hg), impl.to(hp), out=out)
    assert h_new is out[0] and saved[0] is out[1] and saved[1] is out[2]
    for a, b in zip(out, (want_h, *want_saved[:2])):
        impl.assert_same(a, b, "float64")
    gh = rng.standard_normal((2, 3))
    bout = (impl.to(np.zeros((2, 9))), impl.to(np.zeros((2, 9))), impl.to(np.zeros((2, 3))))
    got = recurrent.gru_cell_backward(saved, impl.to(gh), out=bout)
    assert all(g is o for g, o in zip(got, bout))
    for a, b in zip(bout, reference.gru_cell_backward(want_saved, gh)):
        impl.assert_same(a, b, "float64")


def test_gru_saturated_gates_stay_finite_and_nan_propagates(impl: Impl):
    # unit 0: r, z -> 1, 0 and n -> tanh(1e4) = 1; unit 1: z -> 1 keeps h; unit 2: NaN in
    xg = np.array([[1e4, 0.0, 0.0, -1e4, 1e4, np.nan, 1e4, 0.0, 0.0]])
    h_new, (gates, _, _) = recurrent.gru_cell_forward(impl.to(xg), impl.to(np.zeros((1, 9))),
                                                      impl.to(np.array([[0.5, -0.25, 1.0]])))
    got = impl.back(h_new)
    np.testing.assert_allclose(got[0, :2], [1.0, -0.25])
    assert np.isnan(got[0, 2]) and np.isnan(impl.back(gates)[0, 5])


def test_gru_out_arrays_and_inputs_in_other_layouts():
    """A strided or other-dtype `out`, or strided inputs: the results are still right."""
    rng = np.random.default_rng(4)
    xg, hg, hp = rng.standard_normal((2, 9)), rng.standard_normal((2, 9)), rng.standard_normal((2, 3))
    want_h, want_saved = reference.gru_cell_forward(xg, hg, hp)
    strided = np.zeros((2, 6))[:, ::2]
    out = (strided, np.zeros((2, 9), np.float32), np.zeros((2, 3)))
    h_new, saved = recurrent.gru_cell_forward(xg, hg, hp, out=out)
    assert h_new is strided
    assert_close(strided, want_h)
    assert_close(out[1], want_saved[0], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="gru cell: out arrays must have shapes"):
        recurrent.gru_cell_forward(xg, hg, hp, out=(np.zeros((3, 2)), out[1], out[2]))
    h_t, _ = recurrent.gru_cell_forward(np.asfortranarray(xg), hg[:, ::-1][:, ::-1], hp.T.copy().T)
    assert_close(h_t, want_h, rtol=1e-12, atol=1e-12)
    gh = np.broadcast_to(np.ones(3), (2, 3))
    for a, b in zip(recurrent.gru_cell_backward(want_saved, gh),
                    reference.gru_cell_backward(want_saved, np.ones((2, 3)))):
        assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_gru_reference_mode_runs_the_reference_in_the_layer_op(reference_mode, spy):
    called = spy(reference, "gru_cell_forward", "gru_cell_backward")
    xg, w = rand_tensor((3, 2, 6), seed=3, low=-2, high=2), rand_tensor((2, 6), seed=4)
    b, h0 = rand_tensor((6,), seed=5), rand_tensor((2, 2), seed=6)
    assert md.gradcheck(lambda *a: gru_layer(*a, reverse=True)[0], xg, w, b, h0)
    assert called.count("gru_cell_forward") >= 3 and "gru_cell_backward" in called


@pytest.mark.parametrize("dtype", DTYPES)
@given(t=st.integers(1, 4), n=st.integers(0, 4), h=st.integers(1, 7), seed=seeds,
       reverse=st.booleans(), time_axis=st.sampled_from([0, 1]))
def test_gru_layer_with_fast_kernels_equals_reference_mode(dtype, t, n, h, seed, reverse, time_axis):
    """The whole layer op (forward and backward, random shapes, N = 0 too) through the
    routed kernels == through the reference."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in
              ((t, n, 3 * h) if time_axis == 0 else (n, t, 3 * h), (h, 3 * h), (3 * h,), (n, h))]
    results = []
    for mode in ("auto", "reference"):
        before = set_kernels(mode)
        try:
            leaves = [md.tensor(a, requires_grad=True) for a in arrays]
            out, h_t = gru_layer(*leaves, time_axis=time_axis, reverse=reverse)
            ((out * out).sum() + h_t.sum()).backward()
            results.append([out.numpy(), h_t.numpy()] + [a.grad.numpy() for a in leaves])
        finally:
            set_kernels(before)
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    for got, want in zip(*results):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, **tol)
