"""GPU fused SGD / Adam updates against the NumPy reference (on the GPU, and on the host)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import optim as ref
from minidl.backend.gpu import optim as gpu
from tests.backend.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture

shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, momentum=st.sampled_from([0.0, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       nesterov=st.booleans(), wd=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**16))
def test_sgd_equals_reference_over_steps(runner, dtype, shape, momentum, dampening, nesterov, wd, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    buf = np.zeros(shape, dtype) if momentum else None
    p_dev, buf_dev = runner.to(p.copy()), runner.to(None if buf is None else buf.copy())
    for step in range(3):
        g = rng.standard_normal(shape).astype(dtype)
        g_dev = runner.to(g)
        damp = 0.0 if step == 0 else dampening  # PyTorch: buf = g on the first step
        ref.sgd_update(p, g, buf, 0.1, momentum, damp, nesterov, wd)
        gpu.sgd_update(p_dev, g_dev, buf_dev, 0.1, momentum, damp, nesterov, wd)
        np.testing.assert_array_equal(runner.back(g_dev), g)  # grad is never written
    np.testing.assert_allclose(runner.back(p_dev), p, **tolerance(dtype))
    if buf is not None:
        np.testing.assert_allclose(runner.back(buf_dev), buf, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=shapes, wd=st.sampled_from([0.0, 0.01]), decoupled=st.booleans(),
       seed=st.integers(0, 2**16))
def test_adam_equals_reference_over_steps(runner, dtype, shape, wd, decoupled, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    m, v = np.zeros(shape, dtype), np.zeros(shape, dtype)
    p_dev, m_dev, v_dev = runner.to(p.copy()), runner.to(m.copy()), runner.to(v.copy())
    for step in range(1, 4):
        g = rng.standard_normal(shape).astype(dtype)
        ref.adam_update(p, g, m, v, step, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled)
        gpu.adam_update(p_dev, runner.to(g), m_dev, v_dev, step, 1e-2, 0.9, 0.999, 1e-8, wd, decoupled)
    for dev, host in ((p_dev, p), (m_dev, m), (v_dev, v)):
        np.testing.assert_allclose(runner.back(dev), host, **tolerance(dtype))


def test_non_contiguous_param_is_updated_in_place(runner):
    """A transposed parameter view is updated through a contiguous copy, then written back."""
    base = np.arange(6.0).reshape(2, 3)
    expected = base.T.copy()
    ref.sgd_update(expected, np.ones((3, 2)), None, 0.5, 0.0, 0.0, False, 0.0)
    dev = runner.to(base)
    view = dev.T
    gpu.sgd_update(view, runner.to(np.ones((3, 2))), None, 0.5, 0.0, 0.0, False, 0.0)
    np.testing.assert_array_equal(runner.back(dev).T, expected)
