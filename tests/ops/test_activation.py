"""F.relu, F.sigmoid, F.tanh, F.softmax, F.log_softmax, F.leaky_relu, F.gelu, F.silu, F.elu."""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds, shapes

SEEDS = seeds


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


# ---- LeakyReLU, GELU, SiLU, ELU (API v2) -----------------------------------------------------

NEW = {
    "leaky_relu": lambda t: F.leaky_relu(t),
    "leaky_relu_0.2": lambda t: F.leaky_relu(t, negative_slope=0.2),
    "gelu": lambda t: F.gelu(t),
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu,
    "elu": F.elu,
    "elu_0.5": lambda t: F.elu(t, alpha=0.5),
}


@given(shape=shapes(), seed=SEEDS, name=st.sampled_from(sorted(NEW)))
def test_new_activations_gradcheck(backend, shape, seed, name):
    # values (k + 0.5) / 5 in (-4, 4): never within a finite-difference step of a kink at 0
    k = np.random.default_rng(seed).integers(-20, 20, size=shape)
    x = t64((k + 0.5) / 5, backend)
    assert md.gradcheck(NEW[name], x)


# literals from torch.nn.functional in float64: y = f(x), then (y * W).sum().backward()
X = [-3.0, -1.5, -0.5, 0.0, 0.25, 1.0, 2.5]
W = [0.5, -1.0, 2.0, 1.5, -0.25, 1.0, 3.0]
TORCH = {
    "leaky_relu": ([-0.03, -0.015, -0.005, 0.0, 0.25, 1.0, 2.5],
                   [0.005, -0.01, 0.02, 0.015, -0.25, 1.0, 3.0]),
    "leaky_relu_0.2": ([-0.6000000000000001, -0.30000000000000004, -0.1, 0.0, 0.25, 1.0, 2.5],
                       [0.1, -0.2, 0.4, 0.30000000000000004, -0.25, 1.0, 3.0]),
    "gelu": ([-0.00404969409489031, -0.10021080190328704, -0.15426876936299344, 0.0,
              0.14967658142073093, 0.841344746068543, 2.4844758366855597],
             [-0.00597282360209196, 0.1274691922299796, 0.26500975068767424, 0.75, -0.173843338720909,
              1.0833154705876864, 3.1128332577244353]),
    "gelu_tanh": ([-0.0036373920817729943, -0.10042842301976707, -0.15428599017485606, 0.0,
                   0.149675350701685, 0.8411919906082768, 2.484915733910001],
                  [-0.005792083315484824, 0.12771079315143308, 0.2652601929307153, 0.75,
                   -0.1738385237877651, 1.0829640838457826, 3.1138547286379983]),
    "silu": ([-0.14227761953270035, -0.2736382857095345, -0.1887703343990727, 0.0, 0.14054412522144952,
              0.7310585786300049, 2.3103545499468914],
             [-0.04405205300758481, 0.041294154299142946, 0.5200776253946964, 0.75, -0.15592750539254943,
              0.9276705118714869, 3.29820333402458]),
    "elu": ([-0.950212931632136, -0.7768698398515702, -0.3934693402873666, 0.0, 0.25, 1.0, 2.5],
            [0.024893534183931972, -0.22313016014842982, 1.2130613194252668, 1.5, -0.25, 1.0, 3.0]),
    "elu_0.5": ([-0.475106465816068, -0.3884349199257851, -0.1967346701436833, 0.0, 0.25, 1.0, 2.5],
                [0.012446767091965986, -0.11156508007421491, 0.6065306597126334, 0.75, -0.25, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(TORCH))
def test_new_activations_match_torch(backend, name):
    x = t64(X, backend)
    y = NEW[name](x)
    (y * t64(W, backend, requires_grad=False)).sum().backward()
    values, grads = TORCH[name]
    assert_close(y, values, rtol=1e-13, atol=1e-15)
    assert_close(x.grad, grads, rtol=1e-13, atol=1e-15)  # the one-sided gradients at 0 too


def test_new_activations_tails_and_nan(backend):
    x = t64([-40.0, -10.0, 40.0, np.nan], backend, requires_grad=False)
    # exact in the negative tail (erfc, not 1 + erf: PyTorch's own gelu(-10) cancels to -0.0)
    exact = [-40.0 * 0.5 * math.erfc(40 / math.sqrt(2)), -10.0 * 0.5 * math.erfc(10 / math.sqrt(2))]
    assert_close(F.gelu(x).numpy()[:3], exact + [40.0], rtol=1e-13, atol=0)
    assert_close(F.silu(x).numpy()[:3], [-1.6993417021166355e-16, -0.0004539786870243439, 40.0],
                 rtol=1e-14, atol=0)  # torch.nn.functional.silu
    assert_close(F.elu(x).numpy()[:3], [-1.0, -0.9999546000702375, 40.0], rtol=1e-15, atol=0)
    for f in NEW.values():
        assert np.isnan(f(x).numpy()[3])


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_activations_keep_float32(backend, name):
    x = md.tensor(X, dtype="float32", requires_grad=True, device=backend)
    y = NEW[name](x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32
    assert_close(y, TORCH[name][0], rtol=2e-6, atol=1e-7)


def test_new_activation_signatures():
    P = inspect.Parameter
    for fn, params in ((F.leaky_relu, [("x", P.empty), ("negative_slope", 0.01)]),
                       (F.gelu, [("x", P.empty), ("approximate", "none")]),
                       (F.silu, [("x", P.empty)]), (F.elu, [("x", P.empty), ("alpha", 1.0)])):
        assert [(p.name, p.default) for p in inspect.signature(fn).parameters.values()] == params
        assert fn.__name__ in F.__all__


@pytest.mark.parametrize("call, error, message", [
    (lambda x: F.gelu(x, approximate="erf"), ValueError, r"gelu: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda x: F.leaky_relu(x, negative_slope="0.1"), TypeError, r"leaky_relu: negative_slope must be a real"),
    (lambda x: F.elu(x, alpha=None), TypeError, r"elu: alpha must be a real number, got None"),
])
def test_new_activations_bad_arguments_raise(call, error, message):
    with pytest.raises(error, match=message):
        call(md.ones(2))
