"""F.relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes

SEEDS = st.integers(0, 2**16)


def t64(data, backend, requires_grad=True):
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, device=backend)


def np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@given(shape=shapes(), seed=SEEDS)
def test_relu_gradcheck(backend, shape, seed):
    # values (k + 0.5) / 10: never within a finite-difference step of the kink at 0
    k = np.random.default_rng(seed).integers(-10, 10, size=shape)
    x = t64((k + 0.5) / 10, backend)
    assert_close(F.relu(x), np.maximum(x.numpy(), 0))
    assert_close(x.relu(), np.maximum(x.numpy(), 0))
    assert md.gradcheck(F.relu, x)


@given(shape=shapes(), seed=SEEDS, name=st.sampled_from(["sigmoid", "tanh"]))
def test_sigmoid_tanh_gradcheck(backend, shape, seed, name):
    x = rand_tensor(shape, backend, seed, low=-4, high=4)
    reference = np_sigmoid if name == "sigmoid" else np.tanh
    assert_close(getattr(F, name)(x), reference(x.numpy()), rtol=1e-12)
    assert_close(getattr(x, name)(), reference(x.numpy()), rtol=1e-12)
    assert md.gradcheck(getattr(F, name), x)


@st.composite
def shape_and_axis(draw):
    shape = draw(shapes(1, 3))
    return shape, draw(st.integers(-len(shape), len(shape) - 1))


@given(case=shape_and_axis(), seed=SEEDS, name=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_log_softmax_gradcheck(backend, case, seed, name):
    shape, axis = case
    x = rand_tensor(shape, backend, seed, low=-3, high=3)
    expected = np_log_softmax(x.numpy(), axis)
    if name == "softmax":
        expected = np.exp(expected)
    assert_close(getattr(F, name)(x, axis=axis), expected, rtol=1e-12)
    assert md.gradcheck(lambda t: getattr(F, name)(t, axis=axis), x)


def test_softmax_default_axis_is_last(backend):
    x = t64(np.arange(6.0).reshape(2, 3), backend, requires_grad=False)
    assert_close(F.softmax(x).sum(axis=-1), [1.0, 1.0])
    assert_close(F.log_softmax(x), F.log_softmax(x, axis=1))


def test_log_softmax_matches_torch_and_is_stable_at_1e4(backend):
    # torch.log_softmax(x, dim=-1) in float64, then (y * w).sum().backward()
    x = t64([[1.0, 2.0, 3.0], [1e4, 0.0, -1e4]], backend)
    w = t64([[0.5, -1.0, 2.0], [1.0, 3.0, -2.0]], backend, requires_grad=False)
    y = F.log_softmax(x)
    (y * w).sum().backward()
    assert_close(y, [[-2.4076059644443806, -1.4076059644443804, -0.4076059644443804],
                     [0.0, -10000.0, -20000.0]])
    assert_close(x.grad, [[0.36495414024442935, -1.3670927065821965, 1.0021385663377673],
                          [-1.0, 3.0, -2.0]])


def test_softmax_matches_torch_and_is_stable_at_1e4(backend):
    # torch.softmax(x, dim=0) in float64, then (y * w).sum().backward()
    x = t64([[1.0, 2.0, 3.0], [1e4, 0.0, -1e4]], backend)
    w = t64([[0.5, -1.0, 2.0], [1.0, 3.0, -2.0]], backend, requires_grad=False)
    y = F.softmax(x, axis=0)
    (y * w).sum().backward()
    assert_close(y, [[0.0, 0.8807970779778823, 1.0], [1.0, 0.11920292202211755, 0.0]])
    assert_close(x.grad, [[0.0, -0.4199743416140261, 0.0], [0.0, 0.419974341614026, 0.0]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_logits_stay_finite(backend, dtype):
    x = md.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]], dtype=dtype,
                  requires_grad=True, device=backend)
    ls = F.log_softmax(x)
    sm = F.softmax(x)
    (ls.sum() + sm.sum()).backward()
    for t in (ls, sm, x.grad):
        assert np.isfinite(t.numpy()).all()
    assert ls.dtype == sm.dtype == x.grad.dtype == np.dtype(dtype)
    expected = np_log_softmax(np.array([[1e4, -1e4, 0.0], [0.0, 1.0, 2.0]]), -1)
    assert_close(ls, expected, rtol=1e-5, atol=1e-5)


def test_sigmoid_tanh_relu_known_values_match_torch(backend):
    # torch.sigmoid in float64 (full relative precision in the negative tail)
    x = t64([-30.0, -1.0, 0.0, 2.0, 40.0], backend)
    y = F.sigmoid(x)
    y.sum().backward()
    assert_close(y, [9.357622968839299e-14, 0.2689414213699951, 0.5, 0.8807970779778823, 1.0])
    assert_close(x.grad, [9.357622968838423e-14, 0.19661193324148185, 0.25, 0.10499358540350662, 0.0])
    r = t64([-2.0, -1.0, 0.0, 1.0, 2.0], backend)
    F.relu(r).sum().backward()
    assert_close(r.grad, [0.0, 0.0, 0.0, 1.0, 1.0])  # relu'(0) = 0, as in PyTorch
    t = t64([0.5], backend)
    F.tanh(t).backward()
    assert_close(t.grad, [1 - np.tanh(0.5) ** 2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_extremes_no_overflow(backend, dtype):
    x = md.tensor([-1000.0, 1000.0], dtype=dtype, device=backend)
    assert_close(F.sigmoid(x), [0.0, 1.0])
    assert F.sigmoid(x).dtype == np.dtype(dtype)
    assert F.sigmoid(md.tensor([-40.0], dtype="float64")).item() == pytest.approx(4.248354255291589e-18,
                                                                                     rel=1e-12)
