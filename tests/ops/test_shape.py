"""Shape ops: reshape, transpose/T, indexing, concatenate, stack, broadcast_to, squeeze/unsqueeze."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import backend as B
from minidl.ops.shape import broadcast_to
from tests.helpers import assert_close, rand_tensor
from tests.strategies import seeds, shapes

SEEDS = seeds


def t64(data, backend, requires_grad=True):
    return md.tensor(np.asarray(data, dtype=np.float64), requires_grad=requires_grad, device=backend)


def on_backend(index, backend):
    """Index arrays live where the tensor does (minidl never copies them across devices)."""
    if isinstance(index, tuple):
        return tuple(on_backend(i, backend) for i in index)
    if isinstance(index, np.ndarray):
        return B.module_for(backend).asarray(index)
    return index


# ---- reshape / transpose ------------------------------------------------------------------

@st.composite
def shape_and_target(draw):
    shape = draw(shapes(0, 3))
    size = math.prod(shape)
    target = draw(st.sampled_from([
        (-1,), tuple(reversed(shape)), (size, 1), (1, size), (1,) + shape + (1,),
        shape[:1] + (-1,) if shape else (), (size,)]))
    return shape, target


@given(case=shape_and_target(), seed=SEEDS, varargs=st.booleans())
def test_reshape_gradcheck(backend, case, seed, varargs):
    shape, target = case
    x = rand_tensor(shape, backend, seed)
    fn = (lambda t: t.reshape(*target)) if varargs else (lambda t: t.reshape(target))
    assert_close(fn(x), x.numpy().reshape(target))
    assert md.gradcheck(fn, x)


def test_reshape_and_flatten_known_values(backend):
    x = t64(np.arange(6.0), backend)
    y = x.reshape(2, 3)
    assert y.shape == (2, 3) and x.flatten().shape == (6,)
    (y * t64([[1, 2, 3], [4, 5, 6]], backend)).sum().backward()
    assert_close(x.grad, [1, 2, 3, 4, 5, 6])


def test_reshape_bad_size_names_op_and_shapes(backend):
    with pytest.raises(ValueError) as info:
        md.ones(2, 3, device=backend).reshape(4, 2)
    msg = str(info.value)
    assert "Reshape" in msg and "(2, 3)" in msg and "(4, 2)" in msg


@st.composite
def shape_and_perm(draw):
    shape = draw(shapes(0, 3))
    nd = len(shape)
    perm = draw(st.permutations(range(nd)))
    return shape, tuple(a - nd if draw(st.booleans()) else a for a in perm)


@given(case=shape_and_perm(), seed=SEEDS)
def test_transpose_gradcheck(backend, case, seed):
    shape, perm = case
    x = rand_tensor(shape, backend, seed)
    assert_close(x.transpose(*perm), np.transpose(x.numpy(), perm))
    assert_close(x.transpose(perm), np.transpose(x.numpy(), perm))
    assert_close(x.T, x.numpy().T)
    assert_close(x.transpose(), x.numpy().T)
    assert md.gradcheck(lambda t: t.transpose(*perm), x)
    assert md.gradcheck(lambda t: t.T, x)


def test_transpose_known_gradient(backend):
    x = t64(np.arange(6.0).reshape(1, 2, 3), backend)
    y = x.transpose(2, 0, 1)
    assert y.shape == (3, 1, 2)
    y.backward(t64(np.arange(6.0).reshape(3, 1, 2), backend, requires_grad=False))
    assert_close(x.grad, [[[0, 2, 4], [1, 3, 5]]])


@pytest.mark.parametrize("axes", [(0,), (0, 0), (0, 2), (1, -3)])
def test_transpose_bad_axes(backend, axes):
    with pytest.raises(ValueError, match="Transpose"):
        md.ones(2, 3, device=backend).transpose(*axes)


# ---- indexing ----------------------------------------------------------------------------

def _slice(draw, n):
    bound = st.none() | st.integers(-n - 1, n + 1)
    return slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -2])))


def _int_array(draw, n, max_len=6):
    """Integer indices with repeats (a small range drawn often), negatives included."""
    vals = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=max_len))
    arr = np.array(vals, dtype=np.int64)
    if len(vals) % 2 == 0 and draw(st.booleans()):
        arr = arr.reshape(2, -1)  # a 2-D index array
    return arr


@st.composite
def index_case(draw):
    shape = draw(shapes(1, 3))
    nd = len(shape)
    kind = draw(st.sampled_from(["basic", "int", "bool", "mixed"]))
    if kind == "basic":
        parts = []
        for n in shape[:draw(st.integers(1, nd))]:
            parts.append(draw(st.integers(-n, n - 1)) if draw(st.booleans()) else _slice(draw, n))
        extra = draw(st.sampled_from(["", "none", "ellipsis"]))
        if extra == "none":
            parts.insert(draw(st.integers(0, len(parts))), None)
        elif extra == "ellipsis":  # at the end, so the parts above still index the leading axes
            parts.append(Ellipsis)
        index = tuple(parts)
    elif kind == "int":
        index = _int_array(draw, shape[0])
        if draw(st.booleans()):
            index = index.tolist()  # a Python list indexes like an array
    elif kind == "bool":
        k = draw(st.integers(1, nd))
        flags = draw(st.lists(st.booleans(), min_size=math.prod(shape[:k]), max_size=math.prod(shape[:k])))
        index = np.array(flags, dtype=bool).reshape(shape[:k])
    else:
        options = ["int-slice", "bool-slice", "ellipsis-int"]
        if nd >= 2:
            options += ["slice-int", "int-int", "scalar-int"]
        choice = draw(st.sampled_from(options))
        if choice == "int-slice":
            index = (_int_array(draw, shape[0]), _slice(draw, shape[1]) if nd >= 2 else Ellipsis)
        elif choice == "bool-slice":
            flags = np.array(draw(st.lists(st.booleans(), min_size=shape[0], max_size=shape[0])), dtype=bool)
            index = (flags, slice(None)) if nd >= 2 else (flags,)
        elif choice == "ellipsis-int":
            index = (Ellipsis, _int_array(draw, shape[-1]))
        elif choice == "slice-int":
            index = (_slice(draw, shape[0]), _int_array(draw, shape[1]))
        elif choice == "int-int":  # two index arrays broadcast together
            n = draw(st.integers(1, 4))
            rows = np.array(draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=n, max_size=n)))
            cols = np.array(draw(st.lists(st.integers(0, shape[1] - 1), min_size=1, max_size=1)))
            index = (rows, cols)
        else:
            index = (draw(st.integers(0, shape[0] - 1)), _int_array(draw, shape[1]))
    return shape, index


@given(case=index_case(), seed=SEEDS, as_tensor=st.booleans())
def test_getitem_gradcheck(backend, case, seed, as_tensor):
    shape, index = case
    x = rand_tensor(shape, backend, seed)
    expected = x.numpy()[index]
    if as_tensor and isinstance(index, np.ndarray):  # an index Tensor on the same device
        index = md.tensor(index, device=backend)
    index = on_backend(index, backend)
    out = x[index]
    assert out.shape == expected.shape
    assert_close(out, expected)
    assert md.gradcheck(lambda t: t[index], x)


def test_getitem_repeated_indices_accumulate_as_torch(backend):
    # torch: x[[0, 2, 0, 0]][:, 1:3].backward(ones * [1, 2])
    x = t64(np.arange(12.0).reshape(3, 4), backend)
    y = x[[0, 2, 0, 0]][:, 1:3]
    y.backward(t64(np.ones((4, 2)) * np.array([1.0, 2.0]), backend, requires_grad=False))
    assert_close(x.grad, [[0.0, 3.0, 6.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 2.0, 0.0]])


def test_getitem_boolean_mask_and_mixed(backend):
    x = t64([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], backend)
    pos = x[x > 0]
    assert_close(pos, [1.0, 3.0, 5.0])
    (pos * 2).sum().backward()
    assert_close(x.grad, [[2.0, 0.0, 2.0], [0.0, 2.0, 0.0]])
    x.grad = None
    rows = md.tensor([1, 1, 0], device=backend)
    x[rows, 1:].sum().backward()
    assert_close(x.grad, [[0.0, 1.0, 1.0], [0.0, 2.0, 2.0]])


def test_getitem_out_of_range_is_an_index_error():
    # CPU only: CuPy wraps out-of-range integer-array indices instead of raising
    with pytest.raises(IndexError):
        md.ones(2, 3)[np.array([0, 5])]
    with pytest.raises(IndexError):
        md.ones(2, 3)[2]


# ---- concatenate / stack -----------------------------------------------------------------

@st.composite
def concat_case(draw):
    base = draw(shapes(1, 3))
    nd = len(base)
    axis = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return [tuple(s if i == axis % nd else n for i, n in enumerate(base)) for s in sizes], axis


@given(case=concat_case(), seed=SEEDS)
def test_concatenate_gradcheck(backend, case, seed):
    shapes_, axis = case
    xs = [rand_tensor(s, backend, seed + i) for i, s in enumerate(shapes_)]
    out = md.concatenate(xs, axis=axis)
    assert_close(out, np.concatenate([x.numpy() for x in xs], axis=axis))
    assert md.gradcheck(lambda *ts: md.concatenate(ts, axis=axis), *xs)


@given(shape=shapes(0, 2), count=st.integers(1, 3), data=st.data(), seed=SEEDS)
def test_stack_gradcheck(backend, shape, count, data, seed):
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    xs = [rand_tensor(shape, backend, seed + i) for i in range(count)]
    out = md.stack(xs, axis=axis)
    assert_close(out, np.stack([x.numpy() for x in xs], axis=axis))
    assert md.gradcheck(lambda *ts: md.stack(ts, axis=axis), *xs)


def test_concatenate_stack_known_values(backend):
    a, b = t64([[1.0, 2.0]], backend), t64([[3.0, 4.0], [5.0, 6.0]], backend)
    c = md.concatenate([a, b])
    assert c.shape == (3, 2)
    c.backward(t64(np.arange(6.0).reshape(3, 2), backend, requires_grad=False))
    assert_close(a.grad, [[0.0, 1.0]])
    assert_close(b.grad, [[2.0, 3.0], [4.0, 5.0]])
    u, v = t64([1.0, 2.0], backend), t64([3.0, 4.0], backend)
    s = md.stack((u, v), axis=-1)
    assert_close(s, [[1.0, 3.0], [2.0, 4.0]])
    s.backward(t64([[1.0, 2.0], [3.0, 4.0]], backend, requires_grad=False))
    assert_close(u.grad, [1.0, 3.0])
    assert_close(v.grad, [2.0, 4.0])


def test_concatenate_with_a_constant_input(backend):
    a = t64([1.0, 2.0], backend)
    const = md.tensor([9.0], dtype="float64", device=backend)
    md.concatenate([const, a]).sum().backward()
    assert const.grad is None
    assert_close(a.grad, [1.0, 1.0])


def test_concatenate_stack_errors_name_op_and_shapes(backend):
    with pytest.raises(ValueError) as info:
        md.concatenate([md.ones(2, 3, device=backend), md.ones(2, 4, device=backend)])
    assert "Concatenate" in str(info.value) and "(2, 3)" in str(info.value) and "(2, 4)" in str(info.value)
    with pytest.raises(ValueError) as info:
        md.stack([md.ones(2, device=backend), md.ones(3, device=backend)])
    assert "Stack" in str(info.value) and "(2,)" in str(info.value) and "(3,)" in str(info.value)
    with pytest.raises(ValueError, match="at least one"):
        md.concatenate([])
    with pytest.raises(ValueError, match="at least one"):
        md.stack([])


# ---- broadcast_to / squeeze / unsqueeze ------------------------------------------------------

@st.composite
def broadcast_case(draw):
    full = draw(shapes(0, 3))
    kept = full[draw(st.integers(0, len(full))):]
    return tuple(1 if draw(st.booleans()) else n for n in kept), full


@given(case=broadcast_case(), seed=SEEDS)
def test_broadcast_to_gradcheck(backend, case, seed):
    small, full = case
    x = rand_tensor(small, backend, seed)
    assert_close(broadcast_to(x, full), np.broadcast_to(x.numpy(), full))
    assert md.gradcheck(lambda t: broadcast_to(t, full), x)


def test_broadcast_to_known_gradient(backend):
    x = t64([[1.0], [2.0]], backend)
    broadcast_to(x, (3, 2, 4)).sum().backward()
    assert_close(x.grad, [[12.0], [12.0]])


@st.composite
def squeeze_case(draw):
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4).map(tuple))
    nd = len(shape)
    axis = None if nd == 0 or draw(st.booleans()) else draw(st.integers(-nd, nd - 1))
    return shape, axis, draw(st.integers(-nd - 1, nd))


@given(case=squeeze_case(), seed=SEEDS)
def test_squeeze_unsqueeze_gradcheck(backend, case, seed):
    shape, axis, new_axis = case
    x = rand_tensor(shape, backend, seed)
    sq = x.squeeze(axis)
    if axis is None:
        expected = np.squeeze(x.numpy())
    else:  # a named axis of size > 1 stays (as in PyTorch)
        expected = np.squeeze(x.numpy(), axis) if shape[axis] == 1 else x.numpy()
    assert sq.shape == expected.shape
    assert x.unsqueeze(new_axis).shape == np.expand_dims(x.numpy(), new_axis).shape
    assert md.gradcheck(lambda t: t.squeeze(axis), x)
    assert md.gradcheck(lambda t: t.unsqueeze(new_axis), x)


def test_squeeze_unsqueeze_bad_axis(backend):
    x = md.ones(2, 1, device=backend)
    with pytest.raises(ValueError, match="squeeze"):
        x.squeeze(2)
    with pytest.raises(ValueError, match="unsqueeze"):
        x.unsqueeze(3)


def test_numpy_integer_indexes_are_basic_indexes(backend):
    x = t64(np.arange(12.0).reshape(3, 4), backend)
    y = x[np.int64(1)] + x[0, np.int32(2)]
    assert y.shape == (4,) and y.device == x.device
    y.sum().backward()
    expected = np.zeros((3, 4))
    expected[1] = 1.0
    expected[0, 2] = 4.0
    assert_close(x.grad, expected)


def test_boolean_masks_must_match_the_axes_they_cover(backend):
    x = t64(np.arange(12.0).reshape(3, 4), backend)
    xp = md.backend.module_for(backend)
    with pytest.raises(IndexError, match=r"GetItem: boolean index of shape \(4,\)"):
        x[xp.asarray([True, False, False, False])]
    with pytest.raises(IndexError, match=r"boolean index of shape \(3,\)"):
        x[:, xp.asarray([True, False, True])]
    y = x[..., xp.asarray([True, False, True, False])]  # an Ellipsis before the mask
    assert_close(y, np.arange(12.0).reshape(3, 4)[:, [0, 2]])


def test_zero_dim_boolean_index_and_numpy_integer_with_an_index_array(backend):
    x = t64(np.arange(6.0).reshape(2, 3), backend)
    assert x[np.True_].shape == (1, 2, 3) and x[np.False_].shape == (0, 2, 3)
    cols = md.tensor([0, 2], device=backend)
    y = x[np.int64(1), cols]
    assert_close(y, [3.0, 5.0])
    y.sum().backward()
    assert_close(x.grad, [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])


# ---- PyTorch's flatten(start_dim, end_dim), squeeze/unsqueeze(dim=) ---------------------------

def test_flatten_start_end_dim_as_torch(backend):
    x = md.tensor(np.arange(24.0).reshape(2, 3, 4), dtype="float64", requires_grad=True, device=backend)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)  # torch 2.13 shapes
    assert x.flatten(0, 1).shape == (6, 4) and x.flatten(-2, -1).shape == (2, 12)
    assert x.flatten(1, 1).shape == (2, 3, 4)
    assert md.tensor(3.0, device=backend).flatten().shape == (1,)
    assert md.zeros(2, 0, 3, device=backend).flatten(1).shape == (2, 0)
    assert md.gradcheck(lambda t: t.flatten(1), x)
    with pytest.raises(ValueError, match="start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)


def test_squeeze_unsqueeze_take_dim(backend):
    x = md.zeros(2, 1, 3, device=backend)
    assert x.squeeze(dim=1).shape == (2, 3) and x.unsqueeze(dim=0).shape == (1, 2, 1, 3)
    assert x.unsqueeze(-1).shape == (2, 1, 3, 1)
    with pytest.raises(TypeError, match="got both axis=1 and dim=1"):
        x.squeeze(1, dim=1)
    with pytest.raises(TypeError, match="unsqueeze: missing the axis"):
        x.unsqueeze()
