"""im2col / col2im: the plain NumPy reference (also runs on CuPy through `array_module`).

Layout contract (a fast kernel behind these names must keep it):
- x (N, C, H, W); OH = (H + 2*ph - kh) // sh + 1, OW = (W + 2*pw - kw) // sw + 1.
- cols (N*OH*OW, C*kh*kw): row n*OH*OW + oh*OW + ow, column c*kh*kw + i*kw + j holds
  x[n, c, oh*sh + i - ph, ow*sw + j - pw], zero where that falls in the padding.
- col2im is the adjoint of im2col: it scatter-adds every column entry back to the
  input pixel it was read from (padding entries are dropped).
"""
from __future__ import annotations

from typing import Any

from minidl.backend import array_module


def output_size(size: int, k: int, s: int, p: int) -> int:
    """Number of kernel positions along one axis (floor, as PyTorch)."""
    return (size + 2 * p - k) // s + 1


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
