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
    assert argmax.dtype == np.int32
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


# ---- F.avg_pool2d and F.adaptive_avg_pool2d -------------------------------------------------

def _random(shape, backend, seed):
    data = np.random.default_rng(seed).standard_normal(shape)
    return md.tensor(data, dtype="float64", requires_grad=True, device=backend)


@given(case=pool_cases(), seed=seeds)
def test_avg_pool2d_gradcheck(backend, case, seed):
    shape, kernel, stride, padding = case
    x = _random(shape, backend, seed)
    assert md.gradcheck(lambda x: F.avg_pool2d(x, kernel, stride, padding), x)


@st.composite
def adaptive_cases(draw):
    """(x_shape, output_size as the user writes it): outputs smaller, equal or larger."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 7)),
             draw(st.integers(1, 7)))
    oh, ow = draw(st.integers(1, 8) | st.none()), draw(st.integers(1, 8) | st.none())
    return shape, (oh if oh is not None and oh == ow and draw(st.booleans()) else (oh, ow))


@given(case=adaptive_cases(), seed=seeds)
def test_adaptive_avg_pool2d_gradcheck(backend, case, seed):
    shape, size = case
    x = _random(shape, backend, seed)
    assert md.gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), x)


def test_avg_pool2d_known_values_match_torch(backend):
    x = md.tensor(np.array(PLANE, dtype="float64")[None, None], requires_grad=True, device=backend)
    y = F.avg_pool2d(x, 3, 2, 1)  # the padding counts: every sum is divided by 9
    assert_close(y, np.array([[[[18, 41, 31, -26], [-14, 23, -7, -12], [-21, -26, -77, -10]]]]) / 9)
    y.backward(md.ones(*y.shape, dtype="float64", device=backend))
    assert_close(x.grad, np.array([[[[1, 2, 1, 2, 1, 2, 1], [2, 4, 2, 4, 2, 4, 2]] * 2
                                    + [[1, 2, 1, 2, 1, 2, 1]]]]) / 9)
    y2 = F.avg_pool2d(x, (2, 3), (1, 2), (1, 0))
    assert_close(y2, np.array([[[[16, 12, -7], [29, 59, -2], [17, 62, 16], [-12, -11, -5],
                                 [-12, -41, -36], [4, -15, -20]]]]) / 6)


def test_adaptive_avg_pool2d_known_values_match_torch(backend):
    """Uneven, overlapping windows (5 -> 3 rows, 7 -> 4 columns); literals from torch."""
    x = md.tensor(np.array(PLANE, dtype="float64")[None, None], requires_grad=True, device=backend)
    y = F.adaptive_avg_pool2d(x, (3, 4))
    assert_close(y, [[[[4.5, 6.833333333333333, 5.166666666666667, -6.5],
                       [-2.3333333333333335, 2.555555555555556, -0.7777777777777778, -2.0],
                       [-5.25, -4.333333333333333, -12.833333333333334, -2.5]]]])
    y.backward(md.tensor(np.arange(12.0).reshape(1, 1, 3, 4), device=backend))
    assert_close(x.grad, [[[[0.0, 1 / 6, 1 / 6, 0.5, 1 / 3, 1.0833333333333333, 0.75],
                            [2 / 3, 1.3888888888888888, 0.7222222222222222, 1.7222222222222223, 1.0,
                             2.916666666666667, 1.9166666666666667],
                            [2 / 3, 1.2222222222222223, 0.5555555555555556, 1.2222222222222223, 2 / 3,
                             1.8333333333333335, 1.1666666666666667],
                            [2.6666666666666665, 4.722222222222222, 2.0555555555555554, 4.388888888888889,
                             2.3333333333333335, 6.25, 3.916666666666667],
                            [2.0, 3.5, 1.5, 3.166666666666667, 1.6666666666666667, 4.416666666666667,
                             2.75]]]])
    # larger than the input (5 -> 7 rows), None keeps the 7 columns: windows of one or two rows
    y2 = F.adaptive_avg_pool2d(x, (7, None))
    assert y2.shape == (1, 1, 7, 7)
    assert_close(y2[0, 0, 1], [6.0, 3.0, 5.5, 12.0, 12.0, -8.5, -4.5])
    assert_close(y2[0, 0, 3], PLANE[2])


def test_adaptive_avg_pool2d_to_one_is_the_global_mean(backend):
    data = np.random.default_rng(0).standard_normal((3, 4, 5, 6))
    y = F.adaptive_avg_pool2d(md.tensor(data, device=backend), 1)
    assert y.shape == (3, 4, 1, 1)
    assert_close(y, data.mean(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("pool", [lambda x: F.avg_pool2d(x, 2), lambda x: F.adaptive_avg_pool2d(x, (2, None))])
def test_avg_pools_take_an_empty_batch(backend, pool):
    """N = 0 works forward and backward, as PyTorch."""
    x = md.zeros(0, 3, 4, 4, dtype="float32", requires_grad=True, device=backend)
    y = pool(x)
    assert y.shape[:2] == (0, 3) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)


def test_avg_pools_propagate_nan_to_their_own_windows_only(backend):
    data = np.arange(16.0).reshape(1, 1, 4, 4)
    data[0, 0, 0, 1] = np.nan
    x = md.tensor(data, device=backend)
    y = F.avg_pool2d(x, 2).numpy()[0, 0]
    assert np.isnan(y[0, 0]) and not np.isnan(y[[0, 1, 1], [1, 0, 1]]).any()
    z = F.adaptive_avg_pool2d(x, (1, 2)).numpy()[0, 0]
    assert np.isnan(z[0, 0]) and z[0, 1] == data[0, 0, :, 2:].mean()  # as torch


def test_avg_pool2d_float32_stays_float32(backend):
    x = md.tensor(np.ones((1, 2, 4, 4), dtype="float32"), device=backend)
    assert F.avg_pool2d(x, 2, padding=1).dtype == np.float32
    assert F.adaptive_avg_pool2d(x, 3).dtype == np.float32


@pytest.mark.parametrize("shape, args, error, message", [
    ((1, 4, 4), (2,), ValueError, r"avg_pool2d: expected input of shape \(N, C, H, W\), got \(1, 4, 4\)"),
    ((1, 1, 4, 4), (2, None, 2), ValueError,
     r"avg_pool2d: padding should be at most half of the kernel size, got padding \(2, 2\)"),
    ((1, 1, 2, 4), (3,), ValueError, r"avg_pool2d: kernel_size \(3, 3\) is larger than the padded input"),
    ((1, 1, 4, 4), (0,), ValueError, r"avg_pool2d: kernel_size must be >= 1"),
    ((1, 1, 4, 4), (2, 0), ValueError, r"avg_pool2d: stride must be >= 1"),
    ((1, 1, 4, 4), (2.0,), TypeError, r"avg_pool2d: kernel_size must be an int or a pair of ints"),
    ((1, 0, 4, 4), (2,), ValueError, r"avg_pool2d: expected non-empty C, H and W"),
])
def test_avg_pool2d_bad_arguments_raise(shape, args, error, message):
    with pytest.raises(error, match=message):
        F.avg_pool2d(md.zeros(*shape), *args)


@pytest.mark.parametrize("shape, size, error, message", [
    ((4, 4), 2, ValueError, r"adaptive_avg_pool2d: expected input of shape \(N, C, H, W\), got \(4, 4\)"),
    ((1, 1, 4, 4), -1, ValueError, r"adaptive_avg_pool2d: output_size must be >= 0, got -1"),
    ((1, 1, 4, 4), (2, 2, 2), TypeError, r"adaptive_avg_pool2d: output_size must be an int or a pair"),
    ((1, 1, 4, 4), 2.5, TypeError, r"adaptive_avg_pool2d: output_size must be an int or a pair"),
    ((1, 1, 0, 4), 2, ValueError, r"adaptive_avg_pool2d: expected non-empty H and W"),
])
def test_adaptive_avg_pool2d_bad_arguments_raise(shape, size, error, message):
    with pytest.raises(error, match=message):
        F.adaptive_avg_pool2d(md.zeros(*shape), size)


@pytest.mark.parametrize("pool, name", [(lambda x: F.avg_pool2d(x, 2), "avg_pool2d"),
                                        (lambda x: F.adaptive_avg_pool2d(x, 1), "adaptive_avg_pool2d")])
def test_avg_pools_refuse_integer_input(pool, name):
    with pytest.raises(TypeError, match=f"{name}: expected floating input, got int64"):
        pool(md.tensor(np.ones((1, 1, 2, 2), dtype=np.int64)))


def test_avg_pool2d_input_without_grad_keeps_nothing(backend):
    y = F.avg_pool2d(md.tensor(np.ones((1, 1, 4, 4)), device=backend), 2)
    assert not y.requires_grad and y.creator is None


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
