"""Reductions: sum, mean, max, min (ties share the gradient evenly), var."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds, shapes

SEEDS = seeds


@st.composite
def shape_axis_keepdims(draw):
    """A shape, an axis argument (None, an int or a tuple, negatives included) and keepdims."""
    shape = draw(shapes(0, 3))
    nd = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-nd, nd - 1)) if nd else draw(st.sampled_from([0, -1]))
    else:
        picked = draw(st.lists(st.integers(0, max(nd - 1, 0)), unique=True, max_size=nd))
        axis = tuple(a - nd if draw(st.booleans()) else a for a in picked)
    return shape, axis, draw(st.booleans())


def np_axis(axis, ndim):
    """NumPy rejects axis 0/-1 on a 0-d array, which PyTorch (and minidl) accept."""
    return None if ndim == 0 else axis


def distinct_tensor(shape, backend, seed):
    """float64 values without near-ties: a permutation spaced 1/size apart, plus small jitter."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    vals = (rng.permutation(size) + rng.uniform(0, 0.2, size)) / max(size, 1) * 2 - 1
    return md.tensor(vals.reshape(shape), requires_grad=True, device=backend)


def t64(data, backend):
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=True, device=backend)


@given(case=shape_axis_keepdims(), seed=SEEDS, name=st.sampled_from(["sum", "mean"]))
def test_sum_mean_gradcheck(backend, case, seed, name):
    shape, axis, keepdims = case
    x = rand_tensor(shape, backend, seed)
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x.numpy(), axis=np_axis(axis, x.ndim), keepdims=keepdims)
    assert out.shape == np.shape(expected)
    assert_close(out, expected)
    assert md.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@given(case=shape_axis_keepdims(), seed=SEEDS, name=st.sampled_from(["max", "min"]))
def test_max_min_gradcheck_without_ties(backend, case, seed, name):
    shape, axis, keepdims = case
    x = distinct_tensor(shape, backend, seed)
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x.numpy(), axis=np_axis(axis, x.ndim), keepdims=keepdims)
    assert out.shape == np.shape(expected)
    assert_close(out, expected)
    assert md.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), x)


@given(case=shape_axis_keepdims(), seed=SEEDS)
def test_var_gradcheck(backend, case, seed):
    shape, axis, keepdims = case
    x = rand_tensor(shape, backend, seed)
    assert_close(x.var(axis=axis, keepdims=keepdims),
                 np.var(x.numpy(), axis=np_axis(axis, x.ndim), keepdims=keepdims))
    assert md.gradcheck(lambda t: t.var(axis=axis, keepdims=keepdims), x)


def test_max_ties_share_gradient_evenly_as_torch_amax(backend):
    # values from torch.amax / torch.amin (float64), which split the gradient among ties
    x = t64([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], backend)
    x.max().backward()
    assert_close(x.grad, [[0.0, 0.5, 0.5], [0.0, 0.0, 0.0]])
    x.grad = None
    x.max(axis=1).sum().backward()
    assert_close(x.grad, [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.min(axis=0).sum().backward()
    assert_close(x.grad, [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    x.grad = None
    x.max(axis=-1, keepdims=True).backward(md.tensor([[2.0], [3.0]], dtype="float64", device=backend))
    assert_close(x.grad, [[0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])


def test_sum_mean_known_values(backend):
    x = t64(np.arange(6.0).reshape(2, 3), backend)
    s = x.sum(axis=0)
    assert_close(s, [3.0, 5.0, 7.0])
    m = x.mean(axis=(0, -1), keepdims=True)
    assert m.shape == (1, 1) and m.item() == 2.5
    (s * md.tensor([1.0, 2.0, 3.0], dtype="float64", device=backend)).sum().backward()
    assert_close(x.grad, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    x.grad = None
    x.mean(axis=1).sum().backward()
    assert_close(x.grad, np.full((2, 3), 1 / 3))


def test_reductions_accept_numpy_integer_axes(backend):
    x = t64(np.ones((2, 3)), backend)
    assert x.sum(axis=np.int64(1)).shape == (2,)
    assert x.max(axis=(np.int64(0),)).shape == (3,)


@pytest.mark.parametrize("axis", [2, -3, (0, 2)])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_axis_out_of_range_is_a_value_error(backend, name, axis):
    x = md.ones(2, 3, device=backend)
    with pytest.raises(ValueError, match="axis"):
        getattr(x, name)(axis=axis)


def test_max_of_empty_tensor_raises(backend):
    with pytest.raises(ValueError, match="empty"):
        md.zeros(0, device=backend).max()


# ---- PyTorch's max/min(dim=): (values, indices), the gradient to the index returned ----------

@given(shape=shapes(1, 3), seed=SEEDS, data=st.data(), name=st.sampled_from(["max", "min"]),
       keepdim=st.booleans())
def test_max_min_dim_gradcheck(backend, shape, seed, data, name, keepdim):
    x = distinct_tensor(shape, backend, seed)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    values, indices = getattr(x, name)(dim=dim, keepdim=keepdim)
    reduce = getattr(np, name)(x.numpy(), axis=dim, keepdims=keepdim)
    arg = getattr(np, "arg" + name)(x.numpy(), axis=dim, keepdims=keepdim)
    assert values.shape == indices.shape == reduce.shape and indices.dtype == md.int64
    assert_close(values, reduce)
    assert (indices.numpy() == arg).all()
    assert md.gradcheck(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim).values, x)


def test_max_min_dim_match_torch_on_ties(backend):
    # torch 2.13 (float64): values, indices (the first of tied elements) and the gradient, which
    # goes to that one index only (not shared as max(axis=) shares it)
    x = t64([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 7.0], [5.0, 5.0, 5.0, 5.0]], backend)
    r = x.max(dim=1, keepdim=True)
    assert isinstance(r, tuple) and r.values is r[0] and r.indices is r[1]
    assert r.values.numpy().tolist() == [[3.0], [7.0], [5.0]]
    assert r.indices.numpy().tolist() == [[1], [3], [0]]
    (r.values * md.tensor([[0.5], [-1.5], [2.0]], dtype="float64", device=backend)).sum().backward()
    assert_close(x.grad, [[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, -1.5], [2.0, 0.0, 0.0, 0.0]])
    x.grad = None
    values, indices = x.min(dim=0)
    assert values.numpy().tolist() == [1.0, 2.0, 0.0, -2.0] and indices.numpy().tolist() == [0, 1, 1, 0]
    (values * md.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64", device=backend)).sum().backward()
    assert_close(x.grad, [[1.0, 0.0, 0.0, 4.0], [0.0, 2.0, 3.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    values, indices = x.max(dim=-1)
    assert values.numpy().tolist() == [3.0, 7.0, 5.0] and indices.numpy().tolist() == [1, 3, 0]


def test_max_dim_propagates_nan_as_torch(backend):
    x = md.tensor([[1.0, np.nan, 3.0]], device=backend)
    for name in ("max", "min"):
        values, indices = getattr(x, name)(dim=1)
        assert np.isnan(values.numpy()).all() and indices.numpy().tolist() == [1]  # torch 2.13


def test_max_dim_on_integers_and_0d(backend):
    values, indices = md.tensor([[1, 3], [3, 1]], device=backend).max(dim=0)
    assert values.dtype == md.int64 and values.numpy().tolist() == [3, 3]
    assert indices.numpy().tolist() == [1, 0] and not values.requires_grad  # torch 2.13
    s = md.tensor(2.5, dtype="float64", requires_grad=True, device=backend)
    values, indices = s.max(dim=0)
    assert values.shape == indices.shape == () and indices.item() == 0
    values.backward()
    assert s.grad.item() == 1.0


def test_max_dim_errors(backend):
    x = md.ones(2, 3, device=backend)
    with pytest.raises(TypeError, match="dim must be one int"):
        x.max(dim=(0, 1))
    with pytest.raises(ValueError, match="out of range"):
        x.min(dim=2)
    with pytest.raises(ValueError, match="size 0"):
        md.zeros(2, 0, device=backend).max(dim=1)


def test_positional_or_axis_max_still_returns_values(backend):
    x = t64([[1.0, 3.0], [4.0, 2.0]], backend)
    assert isinstance(x.max(1), md.Tensor) and x.max(1).numpy().tolist() == [3.0, 4.0]
    assert isinstance(x.min(axis=0, keepdims=True), md.Tensor)
    assert x.max(1, keepdim=True).shape == (2, 1)  # keepdim alone keeps NumPy's result


# ---- argmax / argmin -----------------------------------------------------------------------------

def test_argmax_argmin_match_torch(backend):
    # torch 2.13
    x = t64([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, 0.0, 7.0], [5.0, 5.0, 5.0, 5.0]], backend)
    assert x.argmax().item() == 7 and x.argmin().item() == 3
    assert x.argmax(dim=0).numpy().tolist() == [2, 2, 2, 1]
    assert x.argmin(dim=1, keepdim=True).numpy().tolist() == [[3], [2], [0]]
    assert x.argmax(1).numpy().tolist() == [1, 3, 0] and x.argmax(axis=-1).dtype == md.int64
    assert x.argmax(keepdim=True).shape == (1, 1)
    assert x.argmax().device == x.device and not x.argmax().requires_grad
    assert md.tensor(3.0, device=backend).argmax(dim=0).item() == 0


def test_argmax_errors(backend):
    with pytest.raises(ValueError, match="argmax: the tensor is empty"):
        md.zeros(0, device=backend).argmax()
    with pytest.raises(TypeError, match="argmin: dim must be one int"):
        md.zeros(2, 2, device=backend).argmin(dim=(0, 1))


# ---- empty batches (PyTorch's rules, torch 2.13) ----------------------------------------------

def test_mean_over_nothing_is_nan_and_backward_is_empty(backend):
    x = md.zeros(0, 3, dtype="float64", requires_grad=True, device=backend)
    y = x.mean()
    assert np.isnan(y.item())
    y.backward()
    assert x.grad.shape == (0, 3)
    column = md.zeros(0, 3, dtype="float64", device=backend).mean(axis=0)
    assert np.isnan(column.numpy()).all() and column.shape == (3,)
    assert md.zeros(0, 3, device=backend).mean(axis=1).shape == (0,)


def test_max_min_of_an_empty_batch_along_a_full_axis(backend):
    """torch.zeros(0, 3).amax(dim=1) has shape (0,); along dim 0 it raises."""
    x = md.zeros(0, 3, dtype="float64", requires_grad=True, device=backend)
    for name in ("max", "min"):
        y = getattr(x, name)(axis=1)
        assert y.shape == (0,)
        y.sum().backward()
        assert x.grad.shape == (0, 3)
        with pytest.raises(ValueError, match=r"empty along the reduced axes \(0,\)"):
            getattr(x, name)(axis=0)
