"""The fused Linear op (F.linear): y = x @ W + b with W (in, out)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.ops.linear import Linear, sum_rows
from tests.helpers import assert_close, rand_tensor
from tests.strategies import shapes


@given(batch=shapes(0, 3, max_side=3), n_in=st.integers(1, 4), n_out=st.integers(1, 4),
       bias=st.booleans())
def test_gradcheck_any_batch_dims(backend, batch, n_in, n_out, bias):
    x = rand_tensor(batch + (n_in,), backend, seed=1)
    w = rand_tensor((n_in, n_out), backend, seed=2)
    args = (x, w, rand_tensor((n_out,), backend, seed=3)) if bias else (x, w)
    assert md.gradcheck(F.linear, *args)


@given(batch=shapes(0, 3, max_side=3), n_in=st.integers(1, 4), n_out=st.integers(1, 4),
       bias=st.booleans())
def test_linear_relu_gradcheck_and_numbers(backend, batch, n_in, n_out, bias):
    """The fused op (nn.Sequential's Dense + ReLU) in float64: relu(linear) exactly, and
    gradcheck (random inputs sit off the kink)."""
    from minidl.ops.linear import linear_relu  # noqa: PLC0415

    x = rand_tensor(batch + (n_in,), backend, seed=1)
    w = rand_tensor((n_in, n_out), backend, seed=2)
    args = (x, w, rand_tensor((n_out,), backend, seed=3)) if bias else (x, w)
    assert_close(linear_relu(*args), F.relu(F.linear(*args)))
    assert md.gradcheck(linear_relu, *args)


def test_known_values_and_gradients(backend):
    x = md.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True, device=backend)
    w = md.tensor([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]], dtype="float64", requires_grad=True,
                  device=backend)
    b = md.tensor([0.5, -0.5, 1.0], dtype="float64", requires_grad=True, device=backend)
    y = F.linear(x, w, b)
    assert_close(y, [[5.5, 1.5, 0.0], [11.5, 3.5, -2.0]])
    y.backward(md.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]], dtype="float64", device=backend))
    # gx = gy @ W.T, gW = x.T @ gy, gb = gy.sum(0), by hand
    assert_close(x.grad, [[-1.0, 2.0], [1.0, 1.0]])
    assert_close(w.grad, [[1.0, 3.0, -1.0], [2.0, 4.0, 0.0]])
    assert_close(b.grad, [1.0, 1.0, 1.0])


def test_three_d_input_equals_per_row_product():
    x = rand_tensor((2, 3, 4), requires_grad=False)
    w = rand_tensor((4, 5), seed=7, requires_grad=False)
    b = rand_tensor((5,), seed=8, requires_grad=False)
    y = F.linear(x, w, b)
    assert y.shape == (2, 3, 5)
    assert_close(y, x.numpy() @ w.numpy() + b.numpy())


def test_one_d_input():
    x = md.tensor([1.0, -1.0], dtype="float64")
    w = md.tensor([[2.0, 3.0], [1.0, 5.0]], dtype="float64")
    assert_close(F.linear(x, w), [1.0, -2.0])


def test_float32_stays_float32():
    x, w, b = md.ones(3, 2), md.ones(2, 4), md.zeros(4)
    assert F.linear(x, w, b).dtype == np.float32


def test_is_one_graph_node():
    x = rand_tensor((2, 3))
    w = rand_tensor((3, 2))
    b = rand_tensor((2,))
    y = F.linear(x, w, b)
    assert isinstance(y.creator, Linear)
    assert y.creator.inputs == (x, w, b)


def test_saves_only_what_requested_gradients_need():
    x = rand_tensor((2, 3), requires_grad=False)
    w = rand_tensor((3, 2))
    y = F.linear(x, w)
    op = y.creator
    assert op.needs_input_grad == (False, True)
    assert op.w is None and op.x2 is not None  # gW needs x, gx would need W
    y.sum().backward()
    assert x.grad is None
    assert_close(w.grad, np.repeat(x.numpy().sum(0)[:, None], 2, axis=1))

    x2 = rand_tensor((2, 3))
    w2 = rand_tensor((3, 2), requires_grad=False)
    op2 = F.linear(x2, w2).creator
    assert op2.x2 is None and op2.w is not None


def test_bad_shapes_raise_value_error_naming_the_op():
    with pytest.raises(ValueError, match=r"Linear.*\(\.\.\., 3\).*\(2, 4\)"):
        F.linear(md.ones(2, 4), md.ones(3, 5))
    with pytest.raises(ValueError, match="Linear: weight must be 2-D"):
        F.linear(md.ones(2, 3), md.ones(3))
    with pytest.raises(ValueError, match=r"Linear: bias must have shape \(5,\)"):
        F.linear(md.ones(2, 3), md.ones(3, 5), md.ones(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 5), (3200, 7), (33, 1024)])
def test_sum_rows_is_the_sum_over_rows(dtype, shape):
    """The bias gradient: a product with ones for the BLAS dtypes, a sum otherwise; the
    same numbers as the float64 sum to float32 rounding, in the input's dtype."""
    a = (np.random.default_rng(0).standard_normal(shape) * 4).astype(dtype)
    got = sum_rows(a)
    assert got.dtype == a.dtype and got.shape == shape[1:]
    tol = {np.float16: 1e-2, np.float32: 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(got, a.astype(np.float64).sum(axis=0), rtol=tol, atol=tol * shape[0])


def test_sum_rows_propagates_nan_and_inf():
    a = np.ones((4, 3), np.float32)
    a[1, 0], a[2, 1] = np.nan, np.inf
    got = sum_rows(a)
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 4
