"""im2col / col2im: the plain NumPy reference (also runs on CuPy through `array_module`).

Layout contract (a fast kernel behind these names must keep it):
- x (N, C, H, W); OH = (H + 2*ph - kh) // sh + 1, OW = (W + 2*pw - kw) // sw + 1.
- cols (N*OH*OW, C*kh*kw): row n*OH*OW + oh*OW + ow, column c*kh*kw + i*kw + j holds
  x[n, c, oh*sh + i - ph, ow*sw + j - pw], zero where that falls in the padding.
- col2im is the adjoint of im2col: it scatter-adds every column entry back to the
  input pixel it was read from (padding entries are dropped).
- conv2d_forward / conv2d_backward: the whole convolution on raw arrays. The Numba
  version (numba_conv.py) picks per shape a direct convolution or im2col + GEMM.

Each public function runs the Numba kernel for float NumPy arrays (unless
MINIDL_NUMBA=0), the CuPy kernel (minidl/backend/gpu/conv.py) for float CuPy arrays,
and the `*_reference` function otherwise.
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module
from minidl.backend.cpu.dispatch import kernels, use_numba
from minidl.backend.gpu import kernels as gpu_kernels, use_cupy


def output_size(size: int, k: int, s: int, p: int) -> int:
    """Number of kernel positions along one axis (floor, as PyTorch)."""
    return (size + 2 * p - k) // s + 1


def im2col_reference(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> Any:
    """Unfold every (kh, kw) patch of x (N, C, H, W) into a row of cols (N*OH*OW, C*kh*kw)."""
    xp = array_module(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    padded = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    # (N, OH, OW, C, kh, kw) is the row/column order of cols, so the final reshape is free
    cols = xp.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            # every output position reads pixel (i, j) of its window: one strided slice
            patch = padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            cols[:, :, :, :, i, j] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * kh * kw)


def col2im_reference(cols: Any, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
           ph: int, pw: int) -> Any:
    """Scatter-add cols (N*OH*OW, C*kh*kw) back into an (N, C, H, W) array (im2col's adjoint)."""
    xp = array_module(cols)
    n, c, h, w = x_shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    cols6 = cols.reshape(n, oh, ow, c, kh, kw)
    padded = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # windows overlap when the stride is below the kernel: accumulate, never assign
            padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += \
                cols6[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return padded[:, :, ph:ph + h, pw:pw + w]


def im2col(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> Any:
    """Unfold every (kh, kw) patch of x (N, C, H, W) into a row of cols (N*OH*OW, C*kh*kw)."""
    if use_numba(x):
        return kernels("conv").im2col(x, kh, kw, sh, sw, ph, pw)
    if use_cupy(x):
        return gpu_kernels("conv").im2col(x, kh, kw, sh, sw, ph, pw)
    return im2col_reference(x, kh, kw, sh, sw, ph, pw)


def col2im(cols: Any, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
           ph: int, pw: int) -> Any:
    """Scatter-add cols (N*OH*OW, C*kh*kw) back into an (N, C, H, W) array (im2col's adjoint)."""
    if use_numba(cols):
        return kernels("conv").col2im(cols, x_shape, kh, kw, sh, sw, ph, pw)
    if use_cupy(cols):
        return gpu_kernels("conv").col2im(cols, x_shape, kh, kw, sh, sw, ph, pw)
    return col2im_reference(cols, x_shape, kh, kw, sh, sw, ph, pw)


def conv2d_fast(x: Any, weight: Any, bias: Any = None) -> bool:
    """True when the Numba whole-op kernels apply: float NumPy arrays of one dtype."""
    arrays = (x, weight) if bias is None else (x, weight, bias)
    return use_numba(*arrays) and all(a.dtype == x.dtype for a in arrays)


def conv2d_forward_reference(x: Any, weight: Any, bias: Any, sh: int, sw: int, ph: int,
                             pw: int) -> Any:
    """y (N, C_out, OH, OW) = im2col(x) @ weight.reshape(C_out, -1).T + bias, as NCHW."""
    n = x.shape[0]
    c_out, _, kh, kw = weight.shape
    y = im2col_reference(x, kh, kw, sh, sw, ph, pw) @ weight.reshape(c_out, -1).T
    if bias is not None:
        y += bias
    oh, ow = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
    return array_module(y).ascontiguousarray(y.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2))


def conv2d_backward_reference(gy: Any, x: Any, weight: Any, sh: int, sw: int, ph: int, pw: int,
                              x_shape: tuple[int, ...], need_x: bool, need_w: bool,
                              need_b: bool) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) from gy (N, C_out, OH, OW); each None when not needed (x only for gw)."""
    c_out, _, kh, kw = weight.shape
    gy2 = gy.transpose(0, 2, 3, 1).reshape(-1, c_out)  # rows ordered as im2col's
    gx = gw = gb = None
    if need_w:
        gw = (gy2.T @ im2col_reference(x, kh, kw, sh, sw, ph, pw)).reshape(weight.shape)
    if need_b:
        gb = gy2.sum(axis=0)
    if need_x:
        gx = col2im_reference(gy2 @ weight.reshape(c_out, -1), x_shape, kh, kw, sh, sw, ph, pw)
    return gx, gw, gb


def conv2d_forward(x: Any, weight: Any, bias: Any, sh: int, sw: int, ph: int, pw: int) -> Any:
    """Cross-correlate x (N, C_in, H, W) with weight (C_out, C_in, kh, kw) (+ bias (C_out,))."""
    if conv2d_fast(x, weight, bias):
        return kernels("conv").conv2d_forward(x, weight, bias, sh, sw, ph, pw)
    return conv2d_forward_reference(x, weight, bias, sh, sw, ph, pw)


def conv2d_backward(gy: Any, x: Any, weight: Any, sh: int, sw: int, ph: int, pw: int,
                    x_shape: tuple[int, ...], need_x: bool, need_w: bool,
                    need_b: bool) -> tuple[Any, Any, Any]:
    """Gradients of conv2d_forward: (gx, gw, gb), None where not asked for."""
    if conv2d_fast(gy, weight) and gy.dtype == weight.dtype:
        return kernels("conv").conv2d_backward(gy, x, weight, sh, sw, ph, pw, x_shape,
                                               need_x, need_w, need_b)
    return conv2d_backward_reference(gy, x, weight, sh, sw, ph, pw, x_shape, need_x, need_w, need_b)
