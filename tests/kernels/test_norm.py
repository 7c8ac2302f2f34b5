"""The Numba normalization kernels equal the reference on random shapes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minidl.kernels.norm import reference

cpu = pytest.importorskip("minidl.kernels.norm.cpu", reason="Numba is not installed")


@given(a=st.integers(1, 5), c=st.integers(1, 6), b=st.integers(1, 7),
       layout=st.sampled_from(["channel", "feature"]), affine=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), offset=st.sampled_from([0.0, 100.0]))
def test_cpu_equals_reference(a, c, b, layout, affine, dtype, offset):
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
