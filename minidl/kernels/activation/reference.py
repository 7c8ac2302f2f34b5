"""Element-wise activations and (log-)softmax: plain array code (NumPy and CuPy alike).

Each activation is a pair `<name>_forward(x, ...) -> (y, saved)` and
`<name>_backward(gy, saved) -> gx`; the formulas are the numerically stable ones, the
values and gradients PyTorch's (including the one-sided choices at kinks).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module


def relu_forward(x: Any, needs: Sequence[bool] = (True,), out: Any = None) -> tuple[Any, Any]:
    """(max(x, 0), the mask "not x <= 0"); NaN passes through, and its gradient too. The
    mask only when a gradient is needed; y into `out` when given."""
    mask = ~(x <= 0) if needs[0] else None  # before `out` (x itself, maybe) is written
    return array_module(x).maximum(x, 0, out=out), mask


def relu_backward(gy: Any, saved: Any, out: Any = None) -> Any:
    """0 where saved <= 0, else gy (saved: the mask, or the ReLU's output: a NaN output
    passes its gradient, as PyTorch's threshold_backward), into `out` when given. A select,
    not a product: a NaN or inf gradient where the ReLU was off gives 0."""
    xp = array_module(gy)
    gx = xp.where(saved <= 0, xp.zeros((), gy.dtype), gy)
    if out is None:
        return gx
    out[...] = gx
    return out


def bias_relu_forward(y: Any, bias: Any, relu: bool) -> Any:
    """y (M, N) += bias (N,) (unless None), then max(y, 0) when `relu`, in place; returns y."""
    if bias is not None:
        y += bias
    return relu_forward(y, (False,), out=y)[0] if relu else y


def relu_bias_backward(gy: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
    """(gx, gb): gx = relu_backward(gy, y) (into `out` when given) for gy, y (M, N), and
    gb (N,) = gx summed over its rows, first row first."""
    gx = relu_backward(gy, y, out)
    return gx, gx.sum(axis=0)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow, to full relative precision in both tails."""
    xp = array_module(x)
    # exp of -|x| never overflows; e / (1 + e) keeps full relative precision in the
    # negative tail, where 1 + tanh(x / 2) would cancel (sigmoid(-40) would become 0)
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    return xp.where(x >= 0, r, e * r)


def sigmoid_forward(x: Any) -> tuple[Any, Any]:
    """(sigmoid(x), y): the backward needs only the output."""
    y = sigmoid(x)
    return y, y


def sigmoid_backward(gy: Any, y: Any) -> Any:
    return gy * y * (1 - y)


def tanh_forward(x: Any) -> tuple[Any, Any]:
    y = array_module(x).tanh(x)
    return y, y


def tanh_backward(gy: Any, y: Any) -> Any:
    return gy * (1 - y * y)


def softmax_forward(x: Any, axis: int) -> tuple[Any, Any]:
    """(exp(x) / sum(exp(x)) along `axis`, shifted by the max so nothing overflows; (y, axis))."""
    xp = array_module(x)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(gy: Any, saved: Any) -> Any:
    y, axis = saved
    gx = y * gy
    return gx - y * gx.sum(axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int) -> Any:
    """log(softmax(x)) along `axis`, stable for logits of magnitude 1e4 (max-shifted)."""
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def log_softmax_forward(x: Any, axis: int) -> tuple[Any, Any]:
    y = log_softmax(x, axis)
    return y, (y, axis)


def log_softmax_backward(gy: Any, saved: Any) -> Any:
    y, axis = saved
    return gy - array_module(gy).exp(y) * gy.sum(axis=axis, keepdims=True)


def leaky_relu_forward(x: Any, negative_slope: float) -> tuple[Any, Any]:
    """(x where x > 0, else negative_slope * x; saved (the mask x > 0, the slope))."""
    positive = x > 0
    return array_module(x).where(positive, x, x * negative_slope), (positive, negative_slope)


def leaky_relu_backward(gy: Any, saved: Any) -> Any:
    """gy where x > 0, else negative_slope * gy (the slope at 0 too, as PyTorch)."""
    positive, negative_slope = saved
    return array_module(gy).where(positive, gy, gy * negative_slope)


def elu_forward(x: Any, alpha: float) -> tuple[Any, Any]:
    """(x where x > 0, else alpha * (exp(x) - 1) (expm1: exact near 0); saved (x, alpha))."""
    xp = array_module(x)
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0))), (x, alpha)


def elu_backward(gy: Any, saved: Any) -> Any:
    """gy where x > 0, else gy * alpha * exp(x) (alpha at 0, as PyTorch)."""
    x, alpha = saved
    xp = array_module(gy)
    return xp.where(x > 0, gy, gy * (alpha * xp.exp(xp.minimum(x, 0))))


def silu_forward(x: Any) -> tuple[Any, Any]:
    """(x * sigmoid(x); saved (x, sigmoid(x)))."""
    s = sigmoid(x)
    return x * s, (x, s)


def silu_backward(gy: Any, saved: Any) -> Any:
    """gy * s * (1 + x * (1 - s)) with s = sigmoid(x)."""
    x, s = saved
    return gy * (s * (1 + x * (1 - s)))


SQRT_HALF = 0.7071067811865476  # 1 / sqrt(2)
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi)
TANH_BETA = 0.7978845608028654  # sqrt(2 / pi), the tanh approximation's constants (PyTorch's)
TANH_KAPPA = 0.044715


def gelu_forward(x: Any, approximate: str) -> tuple[Any, Any]:
    """(x * Phi(x), Phi the standard normal CDF; saved (x, approximate)).

    "none": Phi(x) = erfc(-x / sqrt(2)) / 2, exact (erfc keeps the negative tail, where
    1 + erf would cancel); "tanh": PyTorch's approximation
    0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))."""
    if approximate == "tanh":
        inner = TANH_BETA * (x + TANH_KAPPA * x * x * x)
        return 0.5 * x * (1 + array_module(x).tanh(inner)), (x, approximate)
    return 0.5 * x * erfc(-x * SQRT_HALF), (x, approximate)


def gelu_backward(gy: Any, saved: Any) -> Any:
    """gy * d(gelu)/dx: Phi(x) + x * phi(x) (or the derivative of the tanh form)."""
    x, approximate = saved
    xp = array_module(gy)
    if approximate == "tanh":
        t = xp.tanh(TANH_BETA * (x + TANH_KAPPA * x * x * x))
        inner_grad = TANH_BETA * (1 + 3 * TANH_KAPPA * x * x)
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner_grad)
    return gy * (0.5 * erfc(-x * SQRT_HALF) + x * INV_SQRT_2PI * xp.exp(-0.5 * x * x))


# ---- erfc: NumPy has none, and CuPy's lives in cupyx: W. J. Cody's rational Chebyshev
# approximations ("Rational Chebyshev approximations for the error function", Math. Comp.
# 23, 1969; netlib specfun CALERF), relative error below 1e-15 in float64 everywhere.
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)
_ERFC_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
           2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
           2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_ERFC_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
           1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
           3.43936767414372164e03, 1.23033935480374942e03)
_ERFC_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
           1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_ERFC_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
           6.05183413124413191e-2, 2.33520497626869185e-3)
_INV_SQRT_PI = 5.6418958354775628695e-1


def _rational(num: tuple[float, ...], den: tuple[float, ...], t: Any) -> Any:
    """Cody's Horner loops: (num[-1] t^k + num[0] t^(k-1) + ... + num[-2]) over
    (t^k + den[0] t^(k-1) + ... + den[-1])."""
    top, bottom = num[-1] * t, t
    for a, b in zip(num[:-2], den[:-1]):
        top, bottom = (top + a) * t, (bottom + b) * t
    return (top + num[-2]) / (bottom + den[-1])


def erfc(x: Any) -> Any:
    """The complementary error function 1 - erf(x), element-wise (NaN stays NaN)."""
    xp = array_module(x)
    y = xp.abs(x)
    # three intervals of |x|, each evaluated on all of y clipped into it, then chosen
    near = xp.minimum(y, 0.46875)
    erfc_near = 1 - near * _rational(_ERF_A, _ERF_B, near * near)
    mid = xp.clip(y, 0.46875, 4.0)
    far = xp.clip(y, 4.0, 40.0)  # erfc(40) underflows: nothing beyond needs computing
    t = 1 / (far * far)
    ratio = xp.where(y <= 4.0, _rational(_ERFC_C, _ERFC_D, mid),
                     (_INV_SQRT_PI - t * _rational(_ERFC_P, _ERFC_Q, t)) / far)
    z = xp.where(y <= 4.0, mid, far)
    # exp(-z^2) without the rounding error of z*z: z^2 = s^2 + (z - s)(z + s), s = z to 1/16
    s = xp.trunc(z * 16) / 16
    erfc_far = xp.exp(-s * s) * xp.exp(-(z - s) * (z + s)) * ratio
    positive = xp.where(y <= 0.46875, erfc_near, erfc_far)
    return xp.where(x < 0, 2 - positive, positive)
