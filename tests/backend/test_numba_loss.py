"""Numba softmax cross-entropy == the NumPy reference (class-index targets)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.backend.cpu import loss as ref
from minidl.backend.cpu import numba_loss as nb
from tests.backend.numba_cases import DTYPES, assert_same, rand


@pytest.mark.parametrize("dtype", DTYPES)
@given(n=st.integers(1, 6), k=st.integers(1, 12), seed=st.integers(0, 2**16),
       scale=st.sampled_from([1.0, 100.0, 1e4]), ls=st.sampled_from([0.0, 0.1, 1.0]))
def test_softmax_cross_entropy_equals_reference(dtype, n, k, seed, scale, ls):
    logits = rand((n, k), dtype, seed, scale)
    target = np.random.default_rng(seed).integers(0, k, size=n)
    loss, probs = nb.softmax_cross_entropy_forward(logits, target, ls)
    loss_ref, probs_ref = ref.softmax_cross_entropy_forward_reference(logits, target, ls)
    assert_same(probs, probs_ref, dtype)
    # the loss subtracts nearly equal numbers for huge logits: compare on the logits' scale
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5, atol=scale * (1e-5 if dtype == "float32" else 1e-13))
    assert loss.dtype == loss_ref.dtype
    gloss = rand((n,), dtype, seed + 1)
    assert_same(nb.softmax_cross_entropy_backward(probs, target, ls, gloss),
                ref.softmax_cross_entropy_backward_reference(probs_ref, target, ls, gloss), dtype)


def test_out_of_range_class_is_an_error_not_a_crash():
    with pytest.raises(ValueError, match="class index 5 of sample 1"):
        nb.softmax_cross_entropy_forward(np.zeros((2, 3), np.float32), np.array([0, 5]), 0.0)


def test_probability_targets_run_the_reference(monkeypatch):
    monkeypatch.setattr(nb, "softmax_cross_entropy_forward", lambda *a: pytest.fail("kernel called"))
    logits, target = rand((2, 3), "float64", 0), np.full((2, 3), 1 / 3)
    loss, _ = ref.softmax_cross_entropy_forward(logits, target, 0.0)
    assert loss.shape == (2,)
