"""kernels/norm: the Numba kernels (serial and parallel builds) equal the reference on
random shapes; the route (the
backward runs where the forward ran; CuPy arrays run the reference); gradchecks on every
backend."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import _route
from minidl.kernels import norm as K
from minidl.kernels.norm import reference
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds

cpu = pytest.importorskip("minidl.kernels.norm.cpu", reason="Numba is not installed")


@given(a=st.integers(1, 5), c=st.integers(1, 6), b=st.integers(1, 7),
       layout=st.sampled_from(["channel", "feature"]), affine=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), offset=st.sampled_from([0.0, 100.0]))
def test_cpu_equals_reference(build, a, c, b, layout, affine, dtype, offset):
    if layout == "feature":
        a = 1
    rng = np.random.default_rng(a * 100 + c * 10 + b)
    x = (rng.normal(size=(a, c, b)) + offset).astype(dtype)
    size = c if layout == "channel" else b
    w, bias = ((rng.normal(size=size).astype(dtype), rng.normal(size=size).astype(dtype))
               if affine else (None, None))
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    got, want = cpu.forward(x, w, bias, 1e-5, layout), reference.forward(x, w, bias, 1e-5, layout)
    for g, r in zip(got[:1] + got[2:], want[:1] + want[2:]):
        np.testing.assert_allclose(g, r, **tol)
    gy = rng.normal(size=x.shape).astype(dtype)
    for need in ((True, affine, affine), (False, affine, affine), (True, False, False)):
        g_all = cpu.backward(gy, got[1], w, layout, *need)
        r_all = reference.backward(gy, want[1], w, layout, *need)
        for g, r in zip(g_all, r_all):
            assert (g is None) == (r is None)
            if g is not None:
                np.testing.assert_allclose(g, r, **tol)


# ---- the route: the backward runs where the forward ran; CuPy arrays run the reference ------

def _norm_case(backend, seed, layout="channel"):
    rng = np.random.default_rng(seed)
    shape = (3, 4, 5) if layout == "channel" else (1, 6, 5)
    size = shape[1] if layout == "channel" else shape[2]
    x, w, b = rng.normal(size=shape), rng.normal(size=size), rng.normal(size=size)
    return [md.tensor(a, device=backend).data for a in (x, w, b)]


def test_backward_runs_where_the_forward_ran(monkeypatch):
    x, w, b = _norm_case("numpy", 0)
    y, saved, _, _ = K.forward(x, w, b, 1e-5, "channel")
    assert saved[0] is cpu
    monkeypatch.setattr(_route, "route", lambda *a: "reference")  # a later route must not matter
    gy = np.random.default_rng(1).normal(size=(3, 5, 4)).transpose(0, 2, 1)  # a strided gradient
    got = K.backward(gy, saved, w, "channel", True, True, True)
    want = reference.backward(gy, reference.forward(x, w, b, 1e-5, "channel")[1], w, "channel",
                              True, True, True)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the empty batch's NaN statistics
def test_route_sends_mixed_dtypes_and_empty_batches_to_the_reference():
    x, w, b = _norm_case("numpy", 0)
    assert K.forward(x.astype(np.float32), w, b, 1e-5, "channel")[1][0] is reference
    assert K.forward(np.zeros((0, 4, 5)), w, b, 1e-5, "channel")[1][0] is reference


@pytest.mark.parametrize("layout", ["channel", "feature"])
def test_cupy_arrays_run_the_reference_and_match_numpy(backend, layout):
    """On CuPy the reference's array code is the GPU path: same numbers as on NumPy."""
    x, w, b = _norm_case(backend, 2, layout)
    y, saved, mean, var = K.forward(x, w, b, 1e-5, layout)
    assert saved[0] is (cpu if backend == "numpy" else reference)
    xn, wn, bn = (md.backend.to_numpy(a) for a in (x, w, b))
    y_ref, saved_ref, mean_ref, var_ref = reference.forward(xn, wn, bn, 1e-5, layout)
    for g, r in ((y, y_ref), (mean, mean_ref), (var, var_ref)):
        assert_close(g, r, rtol=1e-9, atol=1e-12)
    gy = md.tensor(np.random.default_rng(3).normal(size=x.shape), device=backend).data
    got = K.backward(gy, saved, w, layout, True, True, True)
    want = reference.backward(md.backend.to_numpy(gy), saved_ref, wn, layout, True, True, True)
    for g, r in zip(got, want):
        assert_close(g, r, rtol=1e-9, atol=1e-12)


@given(seed=seeds, affine=st.booleans())
def test_layer_and_batch_norm_gradcheck_on_every_backend(backend, seed, affine):
    x = rand_tensor((3, 2, 4), backend, seed)
    w, b = ((rand_tensor((4,), backend, seed + 1), rand_tensor((4,), backend, seed + 2)) if affine
            else (None, None))
    assert md.gradcheck(lambda x, *p: F.layer_norm(x, (4,), *p), x, *[p for p in (w, b) if p is not None])
    wc, bc = ((rand_tensor((2,), backend, seed + 1), rand_tensor((2,), backend, seed + 2)) if affine
              else (None, None))
    assert md.gradcheck(lambda x, *p: F.batch_norm(x, None, None, *p, training=True), x,
                        *[p for p in (wc, bc) if p is not None])


# ---- batch norm followed by a ReLU ---------------------------------------------------------

@given(a=st.integers(1, 5), c=st.integers(1, 6), b=st.integers(1, 7),
       dtype=st.sampled_from([np.float32, np.float64]), seed=seeds)
def test_cpu_with_relu_equals_relu_of_reference(build, a, c, b, dtype, seed):
    """relu=True rectifies y as it is written and masks gy as it is read, as the ReLU
    kernels would around the plain batch norm; NaN passes through the forward."""
    from minidl.kernels.activation import reference as act  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(a, c, b)).astype(dtype)
    x[0, 0, 0] = np.nan  # channel 0 is all NaN, the others are finite
    w, bias = rng.normal(size=c).astype(dtype), rng.normal(size=c).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    y, saved, mean, var = cpu.forward(x, w, bias, 1e-5, "channel", relu=True)
    y_ref, saved_ref, mean_ref, var_ref = reference.forward(x, w, bias, 1e-5, "channel")
    y_ref, _ = act.relu_forward(y_ref, (False,))
    for g, r in ((y, y_ref), (mean, mean_ref), (var, var_ref)):
        np.testing.assert_allclose(g, r, **tol)
    assert np.isnan(y[:, 0]).all() and (y[:, 1:] >= 0).all()
    gy = rng.normal(size=x.shape).astype(dtype)
    got = cpu.backward(gy, saved, w, "channel", True, True, True)
    want = reference.backward(act.relu_backward(gy, y_ref), saved_ref, w, "channel", True, True, True)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g[..., 1:, :] if g.ndim == 3 else g[1:],
                                   r[..., 1:, :] if r.ndim == 3 else r[1:], **tol)


@pytest.mark.parametrize("where", ["cpu", "reference"])
def test_route_with_relu_equals_relu_around_the_plain_forward(monkeypatch, where):
    """The reference (and CuPy) rectify after the kernel and mask before its backward;
    Numba fuses both. Either way: relu of the plain numbers, and their gradients."""
    if where == "reference":
        monkeypatch.setattr(_route, "route", lambda *a: "reference")
    x, w, b = _norm_case("numpy", 4)
    y, saved, _, _ = K.forward(x, w, b, 1e-5, "channel", relu=True)
    assert saved[0] is (cpu if where == "cpu" else reference)
    plain, plain_saved, _, _ = reference.forward(x, w, b, 1e-5, "channel")
    np.testing.assert_allclose(y, np.maximum(plain, 0), rtol=1e-10, atol=1e-12)
    gy = np.random.default_rng(5).normal(size=x.shape)
    got = K.backward(gy, saved, w, "channel", True, True, True)
    want = reference.backward(np.where(plain > 0, gy, 0), plain_saved, w, "channel", True, True, True)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="channel layout"):
        K.forward(x, w, b, 1e-5, "feature", relu=True)
