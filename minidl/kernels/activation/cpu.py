"""ReLU and GELU with Numba: one pass forward, one pass backward.

The forward saves nothing of its own: the backward reads the output y, which the next
op holds anyway (y <= 0 exactly where x <= 0), so a training step writes one array
instead of two. NaN passes through the forward as in np.maximum, and its gradient through
the backward as in PyTorch. Memory-bound (a few
ns per element): parallel only from tuning("MINIDL_ELEMENTWISE_PARALLEL_MIN") elements.

GELU saves its input and Phi(x) (or its tanh approximation), so the backward needs no
second erfc or tanh. Exact GELU in float64 calls libm's erfc and exp once an element
(where the reference's NumPy erfc makes some forty passes); in float32 it uses erf, erfc
and exp written as arithmetic that vectorises (`_erf32`, `_erfc64`, `_exp64`), within a
few float32 ulp of the float64 result.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import math

import numpy as np
from numba import prange

from minidl.kernels._numba import jit, launch, pjit
from minidl.kernels._route import tuning
from minidl.kernels._workspace import scratch
from minidl.kernels.activation.reference import INV_SQRT_2PI, SQRT_HALF, TANH_BETA, TANH_KAPPA

PARALLEL = "MINIDL_ELEMENTWISE_PARALLEL_MIN"


@jit
def put_relu(out, i, v):  # pragma: no cover - compiled
    """out[i] = max(v, 0), NaN passing through as in np.maximum (also a fused conv's and
    batch norm's epilogue)."""
    out[i] = v if (v > 0 or np.isnan(v)) else 0


@pjit(over=lambda x, *_: x.size)
def _relu_forward(x, y):  # pragma: no cover - compiled
    for i in prange(x.size):  # y may be x itself: one pass in place
        put_relu(y, i, x[i])


@jit
def relu_grad(g, y):  # pragma: no cover - compiled
    """0 where the ReLU's output y <= 0, else g: a NaN output passes its gradient, as in
    PyTorch's threshold_backward (also a fused batch norm's backward)."""
    return 0 if y <= 0 else g


@pjit(over=lambda gy, *_: gy.size)
def _relu_backward(gy, y, gx):  # pragma: no cover - compiled
    for i in prange(gy.size):
        gx[i] = relu_grad(gy[i], y[i])


def relu_forward(x: np.ndarray, needs: Sequence[bool] = (True,), out: Any = None
                 ) -> tuple[np.ndarray, Any]:
    """(y, saved) with saved = y itself (see the module note), y into `out` (C-contiguous,
    x itself allowed) when given; x C-contiguous."""
    y = scratch(x.shape, x.dtype) if out is None else out
    launch(_relu_forward, x.size, tuning(PARALLEL), x.reshape(-1), y.reshape(-1))
    return y, (y if needs[0] else None)


def relu_backward(gy: np.ndarray, saved: np.ndarray, out: Any = None) -> np.ndarray:
    """0 where saved <= 0, else gy, into `out` (C-contiguous) when given; gy of saved's
    shape and dtype, any layout."""
    gy = np.ascontiguousarray(gy)
    gx = scratch(gy.shape, gy.dtype) if out is None else out
    launch(_relu_backward, gy.size, tuning(PARALLEL), gy.reshape(-1), saved.reshape(-1), gx.reshape(-1))
    return gx


@pjit(over=lambda y, *_: y.shape[0])
def _bias_relu(y, bias, has_bias, relu):  # pragma: no cover - compiled
    for i in prange(y.shape[0]):
        row = y[i]
        for j in range(row.size):
            v = row[j] + bias[j] if has_bias else row[j]
            if relu:
                put_relu(row, j, v)
            else:
                row[j] = v


# columns per task of `_relu_bias_backward`: each task sums its columns over every row in
# order, so the bias gradient's bits do not depend on the thread count
_COLUMNS = 64


@pjit(over=lambda gy, *_: -(-gy.shape[1] // _COLUMNS))
def _relu_bias_backward(gy, y, gx, gb):  # pragma: no cover - compiled
    n, m = gy.shape
    for c in prange(-(-m // _COLUMNS)):
        lo, hi = c * _COLUMNS, min(c * _COLUMNS + _COLUMNS, m)
        gb[lo:hi] = 0
        for i in range(n):
            for j in range(lo, hi):
                g = relu_grad(gy[i, j], y[i, j])
                gx[i, j] = g
                gb[j] += g


def bias_relu_forward(y: np.ndarray, bias: Any, relu: bool) -> np.ndarray:
    """In place, as the reference; y C-contiguous (M, N), bias (N,) of its dtype or None."""
    has_bias = bias is not None
    launch(_bias_relu, y.size, tuning(PARALLEL), y, bias if has_bias else y[0], has_bias, relu)
    return y


def relu_bias_backward(gy: np.ndarray, y: np.ndarray, out: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """As the reference (the same bits: each column summed in row order); gy of y's shape
    and dtype, any layout; `out` C-contiguous."""
    gy = np.ascontiguousarray(gy)
    gx = scratch(gy.shape, gy.dtype) if out is None else out
    gb = np.empty(gy.shape[1], gy.dtype)
    launch(_relu_bias_backward, gy.size, tuning(PARALLEL), gy, y, gx, gb)
    return gx, gb


@pjit(over=lambda x, *_: x.size)
def _gelu_forward(x, y, cdf, tanh_form, half, sqrt_half):  # pragma: no cover - compiled
    for i in prange(x.size):
        if tanh_form:  # (1 + tanh) / 2 in float64: no cancellation where tanh ~ -1
            v = np.float64(x[i])
            a = 0.5 * (1.0 + math.tanh(TANH_BETA * (v + TANH_KAPPA * v * v * v)))
        else:  # float64 (the exact form in float32 is _gelu_forward_f32)
            a = half * math.erfc(-x[i] * sqrt_half)
        cdf[i] = a
        y[i] = x[i] * a


@pjit(over=lambda gy, *_: gy.size)
def _gelu_backward(gy, x, cdf, gx, tanh_form, neg_half, inv_sqrt_2pi):  # pragma: no cover - compiled
    for i in prange(x.size):
        if tanh_form:  # 1 - tanh^2 = 4 a (1 - a)
            v = np.float64(x[i])
            a = np.float64(cdf[i])
            d = a + 2.0 * v * a * (1.0 - a) * TANH_BETA * (1.0 + 3.0 * TANH_KAPPA * v * v)
        else:  # phi(x), float64 (the exact form in float32 is _gelu_backward_f32)
            d = cdf[i] + x[i] * inv_sqrt_2pi * math.exp(neg_half * x[i] * x[i])
        gx[i] = gy[i] * d


# erf(z) for float32 as z P(z^2) / Q(z^2) on z clamped to [-4, 4] (erf(4) is 1 in float32):
# the rational minimax approximation Eigen and XLA use for float32 (generic_fast_erf_float),
# within 5e-7 of erf everywhere (tests/kernels/test_activation.py). Unlike libm's erfcf, a
# call per element, it vectorises: GELU's forward 3x faster at the names_gpt sizes.
_ERF32_P = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
            -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
            -1.60960333262415e-02)
_ERF32_Q = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
            -7.37332916720468e-03, -1.42647390514189e-02)


@jit(inline="always")
def _erf32(z):  # pragma: no cover - compiled
    z = np.float32(-4.0) if z < -4.0 else (np.float32(4.0) if z > 4.0 else z)  # NaN stays NaN
    z2 = z * z
    p = np.float32(_ERF32_P[0])
    for c in _ERF32_P[1:]:
        p = p * z2 + np.float32(c)
    q = np.float32(_ERF32_Q[0])
    for c in _ERF32_Q[1:]:
        q = q * z2 + np.float32(c)
    return z * p / q


# exp and erfc in plain arithmetic that LLVM vectorises (SVML is not there, so math.exp
# and math.erfc are a libm call per element, 20-40x slower), in float64 so that their
# float32 results stay within a few ulp:
# - exp(u) = 2^n exp(r), u = n ln2 + r with |r| <= ln2 / 2: Taylor to r^8 (error 2e-10),
#   2^n from its exponent bits;
# - erfc(z), z >= 0 = t exp(-z^2 + P(t)), t = 1 / (1 + z/2): the Chebyshev fit of
#   Numerical Recipes' erfcc, fractional error below 1.2e-7 everywhere.
_LN2, _LOG2E = math.log(2.0), 1.0 / math.log(2.0)
_EXP_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(8, -1, -1))  # 1/8!, ..., 1/1!, 1
_ERFC_P = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
           0.09678418, 0.37409196, 1.00002368, -1.26551223)


@jit(inline="always")
def _exp64(u):  # pragma: no cover - compiled
    # u < -200 (and NaN) as -200: far below float32's range, and 2^n stays a normal float64
    u = u if u > -200.0 else -200.0
    u = u if u < 700.0 else 700.0
    n = np.floor(u * _LOG2E + 0.5)
    r = u - n * _LN2
    p = _EXP_TAYLOR[0]
    for c in _EXP_TAYLOR[1:]:
        p = p * r + c
    return p * np.int64((np.int64(n) + 1023) << 52).view(np.float64)


@jit(inline="always")
def _erfc64(z):  # pragma: no cover - compiled
    t = 1.0 / (1.0 + 0.5 * z)
    p = _ERFC_P[0]
    for c in _ERFC_P[1:]:
        p = p * t + c
    return t * _exp64(p - z * z)


@pjit(over=lambda x, *_: x.size)
def _gelu_forward_f32(x, y, cdf, half, sqrt_half):  # pragma: no cover - compiled
    """The exact form for float32: (1 + erf(x / sqrt 2)) / 2 by the rational `_erf32`, and
    below x = -1, where 1 + erf cancels (relative error up to 5e-6 at -2, 5e-5 at -3),
    erfc(-x / sqrt 2) / 2 by `_erfc64`; both in one loop of selects, which vectorises
    (a branch to the tail for the 16% of normal inputs below -1 mispredicts and runs
    the tail's float64 chains one element at a time: slower than computing both)."""
    for i in prange(x.size):
        v = x[i]
        near = half * (np.float32(1.0) + _erf32(v * sqrt_half))
        tail = np.float32(0.5 * _erfc64(-np.float64(v) * SQRT_HALF))
        a = near if v >= -1.0 else tail
        cdf[i] = a
        y[i] = v * a


@pjit(over=lambda gy, *_: gy.size)
def _gelu_backward_f32(gy, x, cdf, gx):  # pragma: no cover - compiled
    """The exact form's derivative for float32: Phi(x) + x phi(x), phi by `_exp64`."""
    for i in prange(x.size):
        v = np.float64(x[i])
        gx[i] = gy[i] * np.float32(cdf[i] + v * INV_SQRT_2PI * _exp64(-0.5 * v * v))


def gelu_forward(x: np.ndarray, approximate: str) -> tuple[np.ndarray, Any]:
    """(x * Phi(x), saved (x, Phi(x), approximate)); with "tanh", PyTorch's approximation
    Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2. x C-contiguous. Keeping Phi
    spares the backward the expensive call."""
    y, cdf = scratch(x.shape, x.dtype), scratch(x.shape, x.dtype)
    scalar = x.dtype.type
    if x.dtype == np.float32 and approximate != "tanh":
        launch(_gelu_forward_f32, x.size, tuning(PARALLEL), x.reshape(-1), y.reshape(-1), cdf.reshape(-1),
               scalar(0.5), scalar(SQRT_HALF))
    else:
        launch(_gelu_forward, x.size, tuning(PARALLEL), x.reshape(-1), y.reshape(-1), cdf.reshape(-1),
               approximate == "tanh", scalar(0.5), scalar(SQRT_HALF))
    return y, (x, cdf, approximate)


def gelu_backward(gy: np.ndarray, saved: Any) -> np.ndarray:
    """gy * d(gelu)/dx at the saved x; gy of x's shape and dtype, any layout."""
    x, cdf, approximate = saved
    gy = np.ascontiguousarray(gy)
    gx = scratch(gy.shape, gy.dtype)
    scalar = x.dtype.type
    if x.dtype == np.float32 and approximate != "tanh":
        launch(_gelu_backward_f32, gy.size, tuning(PARALLEL), gy.reshape(-1), x.reshape(-1),
               cdf.reshape(-1), gx.reshape(-1))
    else:
        launch(_gelu_backward, gy.size, tuning(PARALLEL), gy.reshape(-1), x.reshape(-1),
               cdf.reshape(-1), gx.reshape(-1), approximate == "tanh", scalar(-0.5),
               scalar(INV_SQRT_2PI))
    return gx
