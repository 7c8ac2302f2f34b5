"""Element-wise arithmetic: + - * / **, unary -, exp, log, sqrt, abs, clip, astype, where."""
from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.ops import math as math_ops
from tests.helpers import assert_close, rand_tensor
from tests.strategies import broadcastable_pair, seeds, shapes

SEEDS = seeds


def grid_tensor(shape: tuple[int, ...], backend: str, seed: int) -> md.Tensor:
    """float64 values (k + 0.5) / 10 in (-1, 1): at least 0.05 from 0 and every multiple of 0.1,
    so abs/clip kinks at such points are never inside a finite-difference step."""
    k = np.random.default_rng(seed).integers(-10, 10, size=shape)
    return md.tensor((k + 0.5) / 10, dtype="float64", requires_grad=True, device=backend)


def t64(data, backend: str, requires_grad: bool = True) -> md.Tensor:
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, device=backend)


# ---- binary arithmetic ------------------------------------------------------------------

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}


@given(pair=broadcastable_pair(), name=st.sampled_from(sorted(BINARY)), seed=SEEDS)
def test_binary_gradcheck_broadcasting(backend, pair, name, seed):
    op = BINARY[name]
    a = rand_tensor(pair[0], backend, seed)
    # divisors stay in [0.5, 1.5] so 1/b is smooth on the finite-difference scale
    b = rand_tensor(pair[1], backend, seed + 1, low=0.5, high=1.5) if name == "div" \
        else rand_tensor(pair[1], backend, seed + 1)
    out = op(a, b)
    assert out.shape == np.broadcast_shapes(pair[0], pair[1])
    assert_close(out, op(a.numpy(), b.numpy()))
    assert md.gradcheck(op, a, b)


@given(shape=shapes(), name=st.sampled_from(sorted(BINARY)), seed=SEEDS,
       scalar=st.sampled_from([2.5, -1.5, 3]))
def test_binary_with_python_numbers_and_arrays_on_either_side(backend, shape, name, seed, scalar):
    op = BINARY[name]
    a = rand_tensor(shape, backend, seed, low=0.5, high=1.5)
    arr = np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)
    assert md.gradcheck(lambda x: op(x, scalar), a)
    assert md.gradcheck(lambda x: op(scalar, x), a)
    if backend == "numpy":  # a NumPy array mixes only with CPU tensors
        assert md.gradcheck(lambda x: op(arr, x), a)
        assert md.gradcheck(lambda x: op(x, arr), a)
        assert isinstance(op(arr, a), md.Tensor)


def test_binary_known_values_and_broadcast_gradients(backend):
    a = t64([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], backend)
    b = t64([2.0, 4.0, 8.0], backend)
    (a * b + a / b - b).sum().backward()
    # d/da = b + 1/b ; d/db = sum_rows(a - a/b^2) - 2 (two rows)
    assert_close(a.grad, [[2.5, 4.25, 8.125], [2.5, 4.25, 8.125]])
    assert_close(b.grad, [5 - 5 / 4 - 2, 7 - 7 / 16 - 2, 9 - 9 / 64 - 2])
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,)


def test_scalar_keeps_float32_and_unary_neg(backend):
    x = md.tensor([1.0, -2.0], requires_grad=True, device=backend)
    y = -(x * 2.5 + 1)
    assert y.dtype == md.float32
    y.sum().backward()
    assert_close(y, [-3.5, 4.0])
    assert_close(x.grad, [-2.5, -2.5])
    assert x.grad.dtype == md.float32


@given(shape=shapes(), seed=SEEDS)
def test_neg_gradcheck(backend, shape, seed):
    assert md.gradcheck(lambda x: -x, rand_tensor(shape, backend, seed))


@pytest.mark.parametrize("shapes_", [((2, 3), (4,)), ((3,), (2,)), ((2, 1, 3), (4, 3, 2))])
@pytest.mark.parametrize("name", ["Add", "Sub", "Mul", "Div"])
def test_shape_mismatch_names_op_and_both_shapes(backend, shapes_, name):
    op = {"Add": operator.add, "Sub": operator.sub, "Mul": operator.mul, "Div": operator.truediv}[name]
    a, b = md.ones(*shapes_[0], device=backend), md.ones(*shapes_[1], device=backend)
    with pytest.raises(ValueError) as info:
        op(a, b)
    msg = str(info.value)
    assert name in msg and str(shapes_[0]) in msg and str(shapes_[1]) in msg


# ---- powers -----------------------------------------------------------------------------

@given(shape=shapes(), seed=SEEDS, c=st.sampled_from([2, 3, -1, 0.5, 1.5, -2.5, 0, 1]))
def test_pow_scalar_exponent_gradcheck(backend, shape, seed, c):
    x = rand_tensor(shape, backend, seed, low=0.5, high=2.0)
    assert_close(x ** c, x.numpy() ** c)
    assert md.gradcheck(lambda t: t ** c, x)


@given(shape=shapes(), seed=SEEDS, c=st.sampled_from([2, 3, -2]))
def test_pow_integer_exponent_negative_base(backend, shape, seed, c):
    x = grid_tensor(shape, backend, seed)  # signed, away from 0
    assert md.gradcheck(lambda t: t ** c, x)


@given(pair=broadcastable_pair(), seed=SEEDS)
def test_pow_tensor_exponent_gradcheck(backend, pair, seed):
    base = rand_tensor(pair[0], backend, seed, low=0.5, high=2.0)
    expo = rand_tensor(pair[1], backend, seed + 1, low=-2.0, high=2.0)
    assert_close(base ** expo, base.numpy() ** expo.numpy())
    assert md.gradcheck(lambda a, b: a ** b, base, expo)


@given(shape=shapes(), seed=SEEDS, c=st.sampled_from([0.5, 2.0, 3]))
def test_rpow_gradcheck(backend, shape, seed, c):
    x = rand_tensor(shape, backend, seed)
    assert_close(c ** x, c ** x.numpy())
    assert md.gradcheck(lambda t: c ** t, x)


def test_pow_known_values_match_torch(backend):
    # torch.float64: x ** e, then .sum().backward()
    x = t64([0.5, 1.5, 2.0], backend)
    e = t64([2.0, -1.0, 0.5], backend)
    y = x ** e
    y.sum().backward()
    assert_close(y, [0.25, 0.6666666666666666, 1.4142135623730951])
    assert_close(x.grad, [1.0, -0.4444444444444444, 0.3535533905932738])
    assert_close(e.grad, [-0.17328679513998632, 0.27031007207210955, 0.9802581434685472])
    x.grad = None
    y = 3.0 ** x
    y.sum().backward()
    assert_close(y, [1.7320508075688772, 5.196152422706632, 9.0])
    assert_close(x.grad, [1.902852301792692, 5.708556905378076, 9.887510598012987])


def test_pow_zero_exponent_has_zero_gradient_at_zero(backend):
    x = t64([0.0, 2.0], backend)
    (x ** 0).sum().backward()
    assert_close(x.grad, [0.0, 0.0])


# ---- unary functions --------------------------------------------------------------------

@given(shape=shapes(), seed=SEEDS)
def test_exp_gradcheck(backend, shape, seed):
    x = rand_tensor(shape, backend, seed, low=-2, high=2)
    assert_close(x.exp(), np.exp(x.numpy()))
    assert md.gradcheck(lambda t: t.exp(), x)


@given(shape=shapes(), seed=SEEDS)
def test_log_gradcheck(backend, shape, seed):
    x = rand_tensor(shape, backend, seed, low=0.2, high=3)
    assert_close(x.log(), np.log(x.numpy()))
    assert md.gradcheck(lambda t: t.log(), x)


@given(shape=shapes(), seed=SEEDS)
def test_sqrt_gradcheck(backend, shape, seed):
    x = rand_tensor(shape, backend, seed, low=0.2, high=3)
    assert_close(x.sqrt(), np.sqrt(x.numpy()))
    assert md.gradcheck(lambda t: t.sqrt(), x)


@given(shape=shapes(), seed=SEEDS)
def test_abs_gradcheck(backend, shape, seed):
    x = grid_tensor(shape, backend, seed)
    assert_close(x.abs(), np.abs(x.numpy()))
    assert md.gradcheck(lambda t: t.abs(), x)


@given(shape=shapes(), seed=SEEDS, bounds=st.sampled_from([(-0.5, 0.5), (0.0, None), (None, 0.3),
                                                              (-1.0, 2.0), (0.2, 0.2)]))
def test_clip_gradcheck(backend, shape, seed, bounds):
    lo, hi = bounds
    x = grid_tensor(shape, backend, seed)
    assert_close(x.clip(lo, hi), np.clip(x.numpy(), lo, hi))
    assert md.gradcheck(lambda t: t.clip(lo, hi), x)


def test_unary_known_values_match_torch(backend):
    # torch.float64 values of clamp(-1, 1), abs and exp/log/sqrt gradients, summed
    x = t64([-2.0, -1.0, 0.0, 1.0, 2.0], backend)
    x.clip(-1, 1).sum().backward()
    assert_close(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])  # the boundaries pass the gradient
    x.grad = None
    x.abs().sum().backward()
    assert_close(x.grad, [-1.0, -1.0, 0.0, 1.0, 1.0])  # abs'(0) = 0
    p = t64([1.0, 4.0], backend)
    (p.exp() + p.log() + p.sqrt()).sum().backward()
    assert_close(p.grad, [np.e + 1 + 0.5, np.exp(4.0) + 0.25 + 0.25])


# ---- astype ----------------------------------------------------------------------------

@given(shape=shapes(), seed=SEEDS)
def test_astype_gradcheck(backend, shape, seed):
    x = rand_tensor(shape, backend, seed)
    assert md.gradcheck(lambda t: t.astype("float64") * 3, x)
    # through float32 and back: float32 rounding needs a larger step and tolerance
    assert md.gradcheck(lambda t: t.astype(md.float32).astype(md.float64) * 3, x,
                        eps=1e-3, atol=1e-3, rtol=1e-2)


def test_astype_gradient_comes_back_in_input_dtype(backend):
    x = t64([1.0, 2.0], backend)
    y = x.astype("float32")
    assert y.dtype == md.float32 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == md.float64
    assert_close(x.grad, [2.0, 4.0])


def test_astype_to_integer_carries_no_gradient(backend):
    x = t64([1.7, -2.2], backend)
    y = x.astype(md.int64)
    assert y.dtype == md.int64 and not y.requires_grad
    assert y.numpy().tolist() == [1, -2]


# ---- where -----------------------------------------------------------------------------

@st.composite
def three_broadcastable(draw):
    """Shapes for cond, a and b that broadcast together."""
    full = draw(shapes(0, 3))

    def variant():
        kept = full[draw(st.integers(0, len(full))):]
        return tuple(1 if draw(st.booleans()) else n for n in kept)
    return variant(), variant(), variant()


@given(trio=three_broadcastable(), seed=SEEDS)
def test_where_gradcheck_broadcasting(backend, trio, seed):
    cshape, ashape, bshape = trio
    cond_np = np.random.default_rng(seed).random(cshape) < 0.5
    cond = md.tensor(cond_np, device=backend)
    a = rand_tensor(ashape, backend, seed)
    b = rand_tensor(bshape, backend, seed + 1)
    out = md.where(cond, a, b)
    assert_close(out, np.where(cond_np, a.numpy(), b.numpy()))
    assert md.gradcheck(lambda u, v: md.where(cond, u, v), a, b)


def test_where_known_values_and_scalar_branch(backend):
    x = t64([-1.0, 2.0, -3.0, 4.0], backend)
    y = md.where(x > 0, x * 10, 0.0)
    assert_close(y, [0.0, 20.0, 0.0, 40.0])
    y.sum().backward()
    assert_close(x.grad, [0.0, 10.0, 0.0, 10.0])
    a, b = t64([1.0, 2.0], backend), t64([[3.0], [4.0]], backend)
    cond = md.tensor([True, False], device=backend)
    md.where(cond, a, b).sum().backward()
    assert_close(a.grad, [2.0, 0.0])  # broadcast over 2 rows
    assert_close(b.grad, [[1.0], [1.0]])


@pytest.mark.parametrize("make", [
    # torch 2.13 gives float32 for each
    lambda m, f, i: md.where(m, f, 0),
    lambda m, f, i: md.where(m, 0, f),
    lambda m, f, i: md.where(m, f, 1.5),
    lambda m, f, i: md.where(m, i, 0.5),
    lambda m, f, i: md.where(m, i, f),
    lambda m, f, i: md.where(m, f, i),
    lambda m, f, i: md.where(m, 0.5, 1),
])
def test_where_numbers_and_integer_branches_keep_float32(backend, make):
    """A number (or an integer branch) never widens a float32 where(): the mask comes first,
    so the number must not take the mask's dtype rule."""
    m = md.tensor([True, False], device=backend)
    f, i = md.tensor([1.0, 2.0], device=backend), md.tensor([1, 2], dtype="int32", device=backend)
    assert make(m, f, i).dtype == md.float32


def test_where_of_numbers_and_integers_as_torch(backend):
    m = md.tensor([True, False], device=backend)
    assert md.where(m, 0, 1).dtype == md.int64  # torch: int64
    assert md.where(m, md.tensor([1, 2], device=backend), 0).dtype == md.int64
    assert md.where(m, md.ones(2, dtype="float64", device=backend), 0.5).dtype == md.float64


def test_clip_follows_clamp_dtype_rule(backend):
    """clip is clamp (PyTorch): an integer tensor with a float bound gives float32, as torch."""
    y = md.tensor([1, 2], device=backend).clip(1.5, None)
    assert y.dtype == md.float32 and y.tolist() == [1.5, 2.0]
    assert md.tensor([1, 2], device=backend).clip(0, 1).dtype == md.int64


def test_clip_needs_a_bound(backend):
    # as torch.clip: "At least one of 'min' or 'max' must not be None"
    with pytest.raises(ValueError, match="clip: at least one of lo and hi"):
        t64([1.0, -2.0], backend).clip()


@pytest.mark.parametrize("expr, dtype", [
    # each row checked against torch 2.13 with torch.tensor([1, 2]) (int64) etc.
    (lambda i, f32, f64: i + 0.5, "float32"),
    (lambda i, f32, f64: 0.5 - i, "float32"),
    (lambda i, f32, f64: i * 2.5, "float32"),
    (lambda i, f32, f64: i / 2, "float32"),
    (lambda i, f32, f64: i / i, "float32"),
    (lambda i, f32, f64: i ** 0.5, "float32"),
    (lambda i, f32, f64: 2.5 ** i, "float32"),
    (lambda i, f32, f64: i + f32, "float32"),
    (lambda i, f32, f64: math_ops.maximum(i, f32), "float32"),
    (lambda i, f32, f64: i + f64, "float64"),
    (lambda i, f32, f64: i * 2, "int64"),
    (lambda i, f32, f64: i ** 2, "int64"),
    (lambda i, f32, f64: (i > 1) * 1.5, "float32"),
])
def test_integer_promotion_follows_torch(backend, expr, dtype):
    i = md.tensor([1, 2], device=backend)
    f32 = md.tensor([1.0, 2.0], device=backend)
    f64 = md.tensor([1.0, 2.0], dtype="float64", device=backend)
    out = expr(i, f32, f64)
    assert out.dtype == np.dtype(dtype) and out.device == i.device


# ---- clamp and clone (PyTorch's names) ---------------------------------------------------------

@given(shape=shapes(), seed=SEEDS, bounds=st.sampled_from([(-0.5, 0.5), (0.0, None), (None, 0.3)]))
def test_clamp_gradcheck(backend, shape, seed, bounds):
    lo, hi = bounds
    x = grid_tensor(shape, backend, seed)
    assert_close(x.clamp(lo, hi), np.clip(x.numpy(), lo, hi))
    assert md.gradcheck(lambda t: t.clamp(min=lo, max=hi), x)


def test_clamp_known_values_match_torch(backend):
    # torch 2.13 (float64): the gradient passes where min <= x <= max, boundaries included
    c = t64([-1.5, 0.0, 0.25, 1.0, 2.0], backend)
    y = c.clamp(min=0.0, max=1.0)
    assert y.numpy().tolist() == [0.0, 0.0, 0.25, 1.0, 1.0]
    (y * md.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype="float64", device=backend)).sum().backward()
    assert c.grad.numpy().tolist() == [0.0, 2.0, 3.0, 4.0, 0.0]
    f = md.tensor([-1.5, 0.5], device=backend)
    assert f.clamp(min=0).numpy().tolist() == [0.0, 0.5] and f.clamp(max=0).numpy().tolist() == [-1.5, 0.0]
    assert f.clamp(np.float64(0.0)).dtype == md.float32  # a NumPy scalar bound does not upcast


def test_clamp_of_integers_as_torch(backend):
    i = md.tensor([1, 2, 3], device=backend)
    out = i.clamp(0.5, 2.5)  # torch 2.13: a float bound gives float32
    assert out.dtype == md.float32 and out.numpy().tolist() == [1.0, 2.0, 2.5]
    assert i.clamp(2).dtype == md.int64 and i.clamp(2).numpy().tolist() == [2, 2, 3]


def test_clamp_errors(backend):
    x = t64([1.0], backend)
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        x.clamp()
    with pytest.raises(TypeError, match="clamp: min and max must be numbers"):
        x.clamp(md.tensor([0.0]))


@given(shape=shapes(), seed=SEEDS)
def test_clone_gradcheck(backend, shape, seed):
    x = rand_tensor(shape, backend, seed)
    c = x.clone()
    assert c.data is not x.data and c.dtype == x.dtype
    assert_close(c, x)
    assert md.gradcheck(lambda t: t.clone(), x)
