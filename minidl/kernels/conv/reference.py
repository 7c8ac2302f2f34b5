"""Convolution as im2col + one matrix product: plain array code (NumPy and CuPy alike).

This is what runs with MINIDL_KERNELS=reference (and for integer or mixed-dtype inputs),
what gradcheck trusts, and the whole GPU path: gpu.py passes its own im2col/col2im
kernels in as `unfold`/`fold` and keeps this product.

Layout of cols (N*OH*OW, C*kh*kw), the contract every im2col keeps: row
n*OH*OW + oh*OW + ow, column c*kh*kw + i*kw + j holds x[n, c, oh*sh + i - ph, ow*sw + j - pw],
zero where that falls in the padding. col2im is im2col's adjoint: it adds every entry back
to the input pixel it was read from (padding entries are dropped).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minidl.backend import array_module
from minidl.kernels._geometry import output_size


def im2col(x: Any, kh: int, kw: int, sh: int, sw: int, ph: int, pw: int) -> Any:
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


def col2im(cols: Any, x_shape: tuple[int, ...], kh: int, kw: int, sh: int, sw: int,
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


Unfold = Callable[[Any, int, int, int, int, int, int], Any]
Fold = Callable[[Any, tuple[int, ...], int, int, int, int, int, int], Any]


def forward(x: Any, weight: Any, bias: Any, stride: tuple[int, int], padding: tuple[int, int],
            needs: tuple[bool, bool, bool], unfold: Unfold = im2col) -> tuple[Any, Any]:
    """y (N, C_out, OH, OW) = unfold(x) @ weight.reshape(C_out, -1).T + bias, as an NCHW view.

    Saves cols for the weight gradient and the (C_out, C_in*kh*kw) weight for the input
    gradient, each only when asked for."""
    (sh, sw), (ph, pw) = stride, padding
    n = x.shape[0]
    c_out, _, kh, kw = weight.shape
    cols = unfold(x, kh, kw, sh, sw, ph, pw)  # (N*OH*OW, C_in*kh*kw)
    w2 = weight.reshape(c_out, -1)
    y = cols @ w2.T  # (N*OH*OW, C_out)
    if bias is not None:
        y += bias
    need_x, need_w, _ = needs
    saved = (cols if need_w else None, w2 if need_x else None, x.shape, weight.shape, stride,
             padding, needs)
    oh, ow = output_size(x.shape[2], kh, sh, ph), output_size(x.shape[3], kw, sw, pw)
    # rows are (n, oh, ow): a free reshape, then a transposed view in NCHW order
    return y.reshape(n, oh, ow, c_out).transpose(0, 3, 1, 2), saved


def backward(gy: Any, saved: Any, fold: Fold = col2im) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) from gy (N, C_out, OH, OW); None for each gradient not asked for."""
    cols, w2, x_shape, w_shape, (sh, sw), (ph, pw), (need_x, need_w, need_b) = saved
    c_out, _, kh, kw = w_shape
    gy2 = gy.transpose(0, 2, 3, 1).reshape(-1, c_out)  # (N*OH*OW, C_out), rows as cols
    gx = gw = gb = None
    if need_w:
        gw = (gy2.T @ cols).reshape(w_shape)
    if need_b:
        gb = gy2.sum(axis=0)
    if need_x:  # skipped for a network's first layer: its input needs no gradient
        gx = fold(gy2 @ w2, x_shape, kh, kw, sh, sw, ph, pw)
    return gx, gw, gb
