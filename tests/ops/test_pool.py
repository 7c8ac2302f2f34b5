"""F.max_pool2d: gradcheck on random geometries, values checked against PyTorch, ties, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels.pool import reference
from tests.helpers import assert_close
from tests.strategies import pair_or_int, pool_geometries, seeds


@st.composite
def pool_cases(draw):
    """(x_shape, kernel, stride or None, padding), as the user writes them."""
    shape, (kh, kw, sh, sw, ph, pw) = draw(pool_geometries(max_n=2, max_side=6))
    stride = None if draw(st.booleans()) else (sh, sw)
    return shape, pair_or_int(draw, kh, kw), stride, pair_or_int(draw, ph, pw)


def _distinct(shape, backend, seed):
    """Values 0.1 apart in random order: no ties, so the max is differentiable."""
    size = int(np.prod(shape))
    data = (np.random.default_rng(seed).permutation(size) - size / 2) * 0.1
    return md.tensor(data.reshape(shape), dtype="float64", requires_grad=True, device=backend)


@given(case=pool_cases(), seed=seeds)
def test_max_pool2d_gradcheck(backend, case, seed):
    shape, kernel, stride, padding = case
    x = _distinct(shape, backend, seed)
    assert md.gradcheck(lambda x: F.max_pool2d(x, kernel, stride, padding), x)


# a 5 x 7 plane of distinct values; literals below are from torch.nn.functional.max_pool2d
PLANE = [[9, 12, -5, 10, 7, 0, -14], [3, -6, 16, 14, 17, -17, 5], [-7, 13, -2, 6, 11, 4, -4],
         [-9, -8, 1, -11, -16, -15, 15], [-1, -3, 8, -13, -10, -12, 2]]


def test_max_pool2d_known_values_match_torch(backend):
    x = md.tensor(np.array(PLANE, dtype="float64")[None, None], requires_grad=True, device=backend)
    y = F.max_pool2d(x, 3, 2, 1)
    assert_close(y, [[[[12, 16, 17, 5], [13, 16, 17, 15], [-1, 8, -10, 15]]]])
    y.backward(md.ones(*y.shape, dtype="float64", device=backend))
    assert_close(x.grad, [[[[0, 1, 0, 0, 0, 0, 0], [0, 0, 2, 0, 2, 0, 1], [0, 1, 0, 0, 0, 0, 0],
                            [0, 0, 0, 0, 0, 0, 2], [1, 0, 1, 0, 1, 0, 0]]]])
    y2 = F.max_pool2d(x, (2, 3), (1, 2), (1, 0))
    assert_close(y2, [[[[12, 10, 7], [16, 17, 17], [16, 17, 17], [13, 11, 15], [8, 8, 15],
                        [8, 8, 2]]]])


def test_max_pool2d_default_stride_is_kernel_and_floors(backend):
    x = md.tensor(np.arange(2 * 3 * 5 * 7, dtype="float64").reshape(2, 3, 5, 7), device=backend)
    y = F.max_pool2d(x, 2)
    assert y.shape == (2, 3, 2, 3)  # floor(5/2), floor(7/2): the last row and column are dropped
    assert_close(y, x.numpy()[:, :, 1:4:2, 1:6:2])


@pytest.mark.parametrize("kernel, stride, padding, expected", [
    # every window ties (all zeros): the first max in row-major window order takes the gradient
    (2, 1, 0, [[1, 1, 0], [1, 1, 0], [0, 0, 0]]),
    (3, 1, 1, [[4, 2, 0], [2, 1, 0], [0, 0, 0]]),  # padding is never the first max
])
def test_max_pool2d_ties_go_to_first_max(backend, kernel, stride, padding, expected):
    x = md.zeros(1, 1, 3, 3, dtype="float64", requires_grad=True, device=backend)
    F.max_pool2d(x, kernel, stride, padding).sum().backward()
    assert_close(x.grad, [[expected]])  # as torch.nn.functional.max_pool2d


def test_max_pool2d_all_minus_inf_window_points_at_a_real_pixel(backend):
    x = md.tensor(np.full((1, 1, 3, 3), -np.inf), requires_grad=True, device=backend)
    y = F.max_pool2d(x, 3, 2, 1)
    assert np.all(y.numpy() == -np.inf)
    y.sum().backward()
    assert_close(x.grad, [[[[1, 1, 0], [1, 1, 0], [0, 0, 0]]]])  # as torch


def test_maxpool_reference_argmax_is_flat_index_into_unpadded_plane(backend):
    x = md.tensor(np.array(PLANE, dtype="float64")[None, None], device=backend)
    y, argmax = reference.maxpool(x.data, 3, 3, 2, 2, 1, 1)
    argmax = md.tensor(argmax).numpy()
    assert argmax.dtype == np.int64
    plane = np.array(PLANE, dtype="float64").ravel()
    assert_close(plane[argmax], md.tensor(y).numpy())
    assert argmax[0, 0, 0, 0] == 1  # 12 sits at row 0, column 1


def test_max_pool2d_overlapping_windows_accumulate(backend):
    x = md.tensor([[[[0.0, 1.0, 0.0], [0.0, 0.5, 0.0]]]], dtype="float64", requires_grad=True,
                  device=backend)
    F.max_pool2d(x, (2, 2), 1).sum().backward()
    assert_close(x.grad, [[[[0, 2, 0], [0, 0, 0]]]])


def test_max_pool2d_input_without_grad_keeps_nothing(backend):
    x = md.tensor(np.ones((1, 1, 4, 4)), device=backend)
    y = F.max_pool2d(x, 2)
    assert not y.requires_grad and y.creator is None


@pytest.mark.parametrize("shape, args, message", [
    ((1, 4, 4), (2,), r"max_pool2d: expected input of shape \(N, C, H, W\), got \(1, 4, 4\)"),
    ((1, 1, 4, 4), (2, None, 2), (r"max_pool2d: padding should be at most half of the kernel size, "
                                 r"got padding \(2, 2\) for kernel_size \(2, 2\)")),
    ((1, 1, 4, 4), ((3, 1), None, (1, 1)), r"padding \(1, 1\) for kernel_size \(3, 1\)"),
    ((1, 1, 2, 4), (3,), r"max_pool2d: kernel_size \(3, 3\) is larger than the padded input \(2, 4\)"),
    ((1, 1, 4, 4), (0,), r"max_pool2d: kernel_size must be >= 1"),
    ((1, 1, 4, 4), (2, 0), r"max_pool2d: stride must be >= 1"),
])
def test_max_pool2d_bad_arguments_raise(shape, args, message):
    with pytest.raises(ValueError, match=message):
        F.max_pool2d(md.zeros(*shape), *args)


def test_max_pool2d_bad_kernel_type_raises():
    with pytest.raises(TypeError, match="max_pool2d: kernel_size must be an int or a pair of ints"):
        F.max_pool2d(md.zeros(1, 1, 4, 4), 2.0)


@pytest.mark.parametrize("kernels", ["auto", "reference"])
def test_max_pool2d_nan_propagates_and_takes_the_gradient(backend, kernels, monkeypatch):
    """torch 2.13: max_pool2d([[nan, 1], [nan, 2]], 2) is nan and the gradient goes to the
    last NaN (index 2); a NaN anywhere in an overlapping window spreads to each window."""
    from minidl.kernels import _route  # noqa: PLC0415

    monkeypatch.setattr(_route, "_mode", kernels)
    x = md.tensor([[[[np.nan, 1.0], [np.nan, 2.0]]]], requires_grad=True, device=backend)
    y = F.max_pool2d(x, 2)
    assert np.isnan(y.item())
    y.sum().backward()
    assert_close(x.grad, [[[[0.0, 0.0], [1.0, 0.0]]]])
    z = np.zeros((1, 1, 3, 3), np.float32)
    z[0, 0, 1, 1] = np.nan  # inside every 3x3 window (padding 1)
    assert np.isnan(F.max_pool2d(md.tensor(z, device=backend), 3, 1, 1).numpy()).all()


@pytest.mark.parametrize("kernels", ["auto", "reference"])
def test_max_pool2d_of_an_empty_batch(backend, kernels, monkeypatch):
    """N = 0 forward and backward, as torch: output (0, C, OH, OW), gradient (0, C, H, W)."""
    from minidl.kernels import _route  # noqa: PLC0415

    monkeypatch.setattr(_route, "_mode", kernels)
    x = md.zeros(0, 2, 4, 4, requires_grad=True, device=backend)
    y = F.max_pool2d(x, 2)
    assert y.shape == (0, 2, 2, 2)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 4, 4)


def test_max_pool2d_refuses_bool_input_naming_the_op():
    """torch: "max_pool2d" not implemented for 'Bool'."""
    with pytest.raises(TypeError, match="max_pool2d: expected an integer or floating tensor, got dtype bool"):
        F.max_pool2d(md.tensor(np.ones((1, 1, 2, 2), bool)), 2)
