"""GPU fused softmax cross-entropy against the NumPy reference (on the GPU, and on the host)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import loss as ref
from minidl.backend.gpu import loss as gpu
from tests.backend.gpu_cases import DTYPES, runner, tolerance  # noqa: F401 - fixture


def _targets(rng, n, k, kind, dtype):
    if kind == "index":
        return rng.integers(0, k, size=n).astype(np.int64)
    t = rng.random((n, k))
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["index", "prob"])
@given(n=st.integers(1, 5), k=st.integers(1, 7), ls=st.sampled_from([0.0, 0.1, 0.5]),
       scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 2**16))
def test_forward_and_backward_equal_reference(runner, dtype, kind, n, k, ls, scale, seed):
    rng = np.random.default_rng(seed)
    logits = (scale * rng.standard_normal((n, k))).astype(dtype)
    target = _targets(rng, n, k, kind, dtype)
    loss, probs = gpu.softmax_cross_entropy_forward(runner.to(logits), runner.to(target), ls)
    loss_ref, probs_ref = ref.softmax_cross_entropy_forward(logits, target, ls)
    tol = tolerance(dtype)
    np.testing.assert_allclose(runner.back(probs), probs_ref, **tol)
    # the loss is a difference of O(scale) terms: compare relative to that scale
    np.testing.assert_allclose(runner.back(loss), loss_ref, rtol=tol["rtol"], atol=tol["rtol"] * scale * 4)
    gloss = rng.standard_normal(n).astype(dtype)
    dz = gpu.softmax_cross_entropy_backward(runner.to(probs_ref), runner.to(target), ls, runner.to(gloss))
    np.testing.assert_allclose(runner.back(dz),
                               ref.softmax_cross_entropy_backward(probs_ref, target, ls, gloss), **tol)


def test_huge_logits_are_stable(runner):
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    target = np.array([1, 2])
    loss, probs = (runner.back(a) for a in gpu.softmax_cross_entropy_forward(
        runner.to(logits), runner.to(target), 0.0))
    np.testing.assert_allclose(loss, [1e4, np.log(3)])
    np.testing.assert_allclose(probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])


def test_out_of_range_class_gives_nan_not_a_wild_read(runner):
    logits = np.zeros((2, 3))
    loss, _ = gpu.softmax_cross_entropy_forward(runner.to(logits), runner.to(np.array([0, 3])), 0.0)
    loss = runner.back(loss)
    assert loss[0] == pytest.approx(np.log(3)) and np.isnan(loss[1])


def test_broadcast_gloss_from_a_mean(runner):
    """gloss arrives as a zero-stride broadcast view after `mean`: it is read correctly."""
    probs = np.full((3, 2), 0.5)
    gloss = np.broadcast_to(np.array(1 / 3), (3,))
    dev = runner.xp.broadcast_to(runner.xp.asarray(np.array(1 / 3)), (3,)) if runner.name == "cupy" else gloss
    dz = runner.back(gpu.softmax_cross_entropy_backward(runner.to(probs), runner.to(np.array([0, 1, 1])),
                                                         0.0, dev))
    np.testing.assert_allclose(dz, ref.softmax_cross_entropy_backward(probs, np.array([0, 1, 1]), 0.0, gloss))
