"""F.conv2d: gradcheck on random geometries, values checked against PyTorch, errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.functional as F
from minidl.kernels import _route
from minidl.kernels import conv as conv_kernel
from minidl.kernels.conv import reference
from tests.helpers import assert_close, rand_tensor
from tests.strategies import conv_geometries, pair_or_int, seeds


@st.composite
def conv_cases(draw):
    """(x_shape, w_shape, stride, padding, with_bias), stride and padding as the user writes them."""
    x_shape, w_shape, (_, _, sh, sw, ph, pw) = draw(conv_geometries(max_n=2, max_c_out=3, max_side=5))
    return (x_shape, w_shape, pair_or_int(draw, sh, sw), pair_or_int(draw, ph, pw), draw(st.booleans()))


@given(case=conv_cases(), seed=seeds)
def test_conv2d_gradcheck(backend, case, seed):
    x_shape, w_shape, stride, padding, with_bias = case
    x = rand_tensor(x_shape, backend, seed)
    w = rand_tensor(w_shape, backend, seed + 1)
    if with_bias:
        b = rand_tensor((w_shape[0],), backend, seed + 2)
        assert md.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding), x, w, b)
    else:
        assert md.gradcheck(lambda x, w: F.conv2d(x, w, stride=stride, padding=padding), x, w)


@given(case=conv_cases(), seed=seeds)
def test_conv2d_relu_gradcheck(backend, case, seed):
    """The fused op (nn.Sequential's Conv2D + ReLU) in float64; random inputs sit off the kink."""
    from minidl.ops.conv import conv2d_relu  # noqa: PLC0415

    x_shape, w_shape, stride, padding, with_bias = case
    x = rand_tensor(x_shape, backend, seed)
    w = rand_tensor(w_shape, backend, seed + 1)
    b = rand_tensor((w_shape[0],), backend, seed + 2) if with_bias else None
    fused = conv2d_relu(x, w, b, stride, padding)
    assert_close(fused.numpy(), F.relu(F.conv2d(x, w, b, stride, padding)).numpy())
    if with_bias:
        assert md.gradcheck(lambda x, w, b: conv2d_relu(x, w, b, stride, padding), x, w, b)
    else:
        assert md.gradcheck(lambda x, w: conv2d_relu(x, w, None, stride, padding), x, w)


@given(case=conv_cases(), seed=seeds, pool=st.sampled_from([(2, None, 0), (3, 2, 1), (2, 1, 0)]))
def test_conv2d_relu_max_pool2d_gradcheck(backend, case, seed, pool):
    """The fused op (nn.Sequential's Conv2D + ReLU + MaxPool2D) in float64: the numbers of
    the three ops, and gradcheck (random inputs sit off the kinks)."""
    from minidl.ops.conv import conv2d_relu_max_pool2d  # noqa: PLC0415

    x_shape, w_shape, stride, padding, with_bias = case
    x = rand_tensor(x_shape, backend, seed)
    w = rand_tensor(w_shape, backend, seed + 1)
    b = rand_tensor((w_shape[0],), backend, seed + 2) if with_bias else None
    conv_out = F.relu(F.conv2d(x, w, b, stride, padding))
    if min(conv_out.shape[2:]) < pool[0]:
        return  # the window does not fit (the error is tested below)
    assert_close(conv2d_relu_max_pool2d(x, w, b, stride, padding, *pool).numpy(),
                 F.max_pool2d(conv_out, *pool).numpy())
    fused = lambda x, w, b=None: conv2d_relu_max_pool2d(x, w, b, stride, padding, *pool)  # noqa: E731
    assert md.gradcheck(fused, x, w, b) if with_bias else md.gradcheck(fused, x, w)


def test_conv2d_relu_max_pool2d_names_a_window_that_does_not_fit():
    from minidl.ops.conv import conv2d_relu_max_pool2d  # noqa: PLC0415

    x, w = md.zeros((1, 1, 5, 5)), md.zeros((2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"max_pool2d: kernel_size \(4, 4\) is larger than the padded input \(3, 3\)"):
        conv2d_relu_max_pool2d(x, w, None, 1, 0, 4)
    with pytest.raises(ValueError, match=r"conv2d: expected input of shape \(N, 1, H, W\)"):
        conv2d_relu_max_pool2d(md.zeros((1, 2, 5, 5)), w)


def _known_inputs(backend):
    x = md.tensor(((np.arange(32) % 7 - 3) * 0.5).reshape(1, 2, 4, 4), dtype="float64",
                  requires_grad=True, device=backend)
    w = md.tensor(((np.arange(36) % 5 - 2) * 0.25).reshape(3, 2, 2, 3), dtype="float64",
                  requires_grad=True, device=backend)
    b = md.tensor([0.5, -1.0, 2.0], dtype="float64", requires_grad=True, device=backend)
    return x, w, b


def test_conv2d_known_values_match_torch(backend):
    # literals from torch.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=(1, 0)), float64
    x, w, b = _known_inputs(backend)
    y = F.conv2d(x, w, b, stride=(2, 1), padding=(1, 0))
    assert y.shape == (1, 3, 3, 2)
    assert_close(y, [[[[-0.5, -0.5], [-1.625, -1.125], [-0.125, 0.375]],
                      [[0.25, -0.125], [1.0, -1.5], [-2.0, -2.375]],
                      [[1.125, 1.625], [0.625, 3.25], [3.125, 4.375]]]])
    y.backward(md.tensor(((np.arange(18) % 4) - 1.5).reshape(1, 3, 3, 2), device=backend))
    assert_close(x.grad, [[[[-0.625, -2.125, -0.75, 0.0], [0.0, -0.75, -2.125, -0.625],
                            [0.875, 1.375, 1.25, 0.0], [0.0, 1.25, 1.375, 0.875]],
                           [[-1.25, -0.75, 1.25, 0.75], [-0.75, -2.125, 0.25, 0.625],
                            [0.75, 1.25, -0.75, -1.25], [1.25, 1.375, 0.25, -0.875]]]])
    dw_pattern = [[[-0.5, 1.25, 1.25], [1.5, 1.5, 1.5]], [[1.25, -0.5, -0.5], [1.5, 1.5, 1.5]]]
    assert_close(w.grad, [dw_pattern,
                          [[[1.5, -3.75, -3.75], [-0.5, -0.5, -0.5]],
                           [[-3.75, 1.5, 1.5], [-0.5, -0.5, -0.5]]],
                          dw_pattern])
    assert_close(b.grad, [-2.0, 2.0, -2.0])


def test_conv2d_equals_direct_sum(backend):
    """Cross-correlation (no kernel flip), written as the textbook sum over the window."""
    x = rand_tensor((2, 3, 5, 4), backend, 1, requires_grad=False)
    w = rand_tensor((2, 3, 3, 2), backend, 2, requires_grad=False)
    y = F.conv2d(x, w, stride=(2, 1), padding=1).numpy()
    xn = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 1), (1, 1)))
    wn = w.numpy()
    expected = np.zeros((2, 2, 3, 5))
    for oh in range(3):
        for ow in range(5):
            window = xn[:, :, 2 * oh:2 * oh + 3, ow:ow + 2]
            expected[:, :, oh, ow] = np.einsum("nchw,ochw->no", window, wn)
    assert_close(y, expected)


def test_conv2d_float32_stays_float32(backend):
    x = rand_tensor((2, 2, 6, 6), backend, 3, requires_grad=False)
    w = rand_tensor((4, 2, 3, 3), backend, 4, requires_grad=False)
    y64 = F.conv2d(x, w, padding=1)
    y32 = F.conv2d(x.astype("float32"), w.astype("float32"), padding=1)
    assert y32.dtype == np.float32
    assert_close(y32, y64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernels, patch", [("auto", 10**9), ("auto", 0), ("reference", 0)],
                         ids=["direct", "im2col", "reference"])
def test_conv2d_input_without_grad_computes_no_input_gradient(backend, kernels, patch, monkeypatch):
    """A first layer's input needs no gradient: the kernel keeps nothing for it and
    computes none (on every path: Numba direct and im2col, the reference, the GPU)."""
    monkeypatch.setitem(_route.TUNING, "MINIDL_DIRECT_CONV_MAX_WEIGHTS", patch)
    monkeypatch.setattr(_route, "_mode", kernels)
    grads = []
    real = conv_kernel.backward
    monkeypatch.setattr(conv_kernel, "backward", lambda gy, saved: grads.append(real(gy, saved)) or grads[-1])
    x = rand_tensor((2, 1, 5, 5), backend, 5, requires_grad=False)
    w = rand_tensor((3, 1, 3, 3), backend, 6)
    y = F.conv2d(x, w)
    assert y.creator.saved[1][1] is None  # no weight kept for an input gradient (both layouts)
    y.sum().backward()
    (gx, gw, gb), = grads
    assert gx is None and gb is None and x.grad is None
    # dW of sum(y) is the sum of every patch, channel by channel
    cols = reference.im2col(x.data, 3, 3, 1, 1, 0, 0)
    assert_close(w.grad.numpy().reshape(3, -1), np.tile(md.tensor(cols).numpy().sum(0), (3, 1)))


def test_conv2d_non_contiguous_input(backend):
    x = rand_tensor((2, 5, 4, 3), backend, 7, requires_grad=False)
    w = rand_tensor((2, 3, 2, 2), backend, 8, requires_grad=False)
    xt = x.transpose(0, 3, 2, 1)  # (2, 3, 4, 5), a strided view
    contiguous = md.tensor(np.ascontiguousarray(xt.numpy()), device=backend)
    assert_close(F.conv2d(xt, w), F.conv2d(contiguous, w))


@pytest.mark.parametrize("x_shape, w_shape, b_shape, kwargs, message", [
    ((2, 3, 5), (4, 3, 2, 2), None, {}, r"conv2d: expected input of shape \(N, 3, H, W\).*got \(2, 3, 5\)"),
    ((1, 2, 3, 3), (4, 3, 2, 2), None, {}, r"conv2d: expected input of shape \(N, 3, H, W\).*got \(1, 2, 3, 3\)"),
    ((1, 3, 3, 3), (4, 3, 2), None, {}, r"conv2d: expected weight of shape \(C_out, C_in, kH, kW\), got \(4, 3, 2\)"),
    ((1, 3, 3, 3), (4, 3, 2, 2), (3,), {}, r"conv2d: expected bias of shape \(4,\), got \(3,\)"),
    ((1, 3, 3, 3), (4, 3, 4, 2), None, {}, r"conv2d: kernel \(4, 2\) is larger than the padded input \(3, 3\)"),
    ((1, 3, 3, 3), (4, 3, 2, 2), None, {"stride": 0}, r"conv2d: stride must be >= 1"),
    ((1, 3, 3, 3), (4, 3, 2, 2), None, {"padding": (1, -1)}, r"conv2d: padding must be >= 0"),
])
def test_conv2d_bad_shapes_raise(x_shape, w_shape, b_shape, kwargs, message):
    x, w = md.zeros(*x_shape), md.zeros(*w_shape)
    b = md.zeros(*b_shape) if b_shape else None
    with pytest.raises(ValueError, match=message):
        F.conv2d(x, w, b, **kwargs)


@pytest.mark.parametrize("stride", [1.5, (1, 2, 3), "2", True])
def test_conv2d_bad_stride_type_raises(stride):
    with pytest.raises(TypeError, match="conv2d: stride must be an int or a pair of ints"):
        F.conv2d(md.zeros(1, 1, 3, 3), md.zeros(1, 1, 2, 2), stride=stride)


def test_conv2d_padding_makes_kernel_fit():
    y = F.conv2d(md.ones(1, 1, 1, 1), md.ones(1, 1, 3, 3), padding=1)
    assert y.shape == (1, 1, 1, 1) and y.item() == 1.0
