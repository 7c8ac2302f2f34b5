"""Element-wise arithmetic. Broadcasting gradients are summed back by the engine."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.autograd.function import Function, promoted_dtype
from minidl.backend import array_module


class Add(Function):
    promotes_ints = True

    def forward(self, a: Any, b: Any) -> Any:
        return a + b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return gy, gy


class Sub(Function):
    promotes_ints = True

    def forward(self, a: Any, b: Any) -> Any:
        return a - b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return gy, -gy


class Mul(Function):
    promotes_ints = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = (a if self.needs_input_grad[1] else None,
                          b if self.needs_input_grad[0] else None)
        return a * b

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = gy * self.b if self.needs_input_grad[0] else None
        gb = gy * self.a if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    promotes_ints = ints_make_float = True

    def forward(self, a: Any, b: Any) -> Any:
        y = a / b
        self.b = b
        self.y = y if self.needs_input_grad[1] else None
        return y

    def backward(self, gy: Any) -> tuple[Any, Any]:
        ga = gy / self.b if self.needs_input_grad[0] else None
        gb = -gy * self.y / self.b if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x: Any) -> Any:
        return -x

    def backward(self, gy: Any) -> Any:
        return -gy


class PowScalar(Function):
    """x ** c for a constant number c."""

    promotes_ints = True

    def __init__(self, c: float) -> None:
        self.c = c
        self.ints_make_float = isinstance(c, float)  # int ** 0.5 is a float32, as in PyTorch

    def forward(self, x: Any) -> Any:
        self.x = x
        return x ** self.c

    def backward(self, gy: Any) -> Any:
        if self.c == 0:  # constant 1: zero gradient, also at x == 0 (where x ** -1 is inf)
            return array_module(gy).zeros_like(gy)
        return gy * self.c * self.x ** (self.c - 1)


class Pow(Function):
    """a ** b for two tensors (b may need a gradient: a**b * log a)."""

    promotes_ints = True

    def forward(self, a: Any, b: Any) -> Any:
        y = a ** b
        self.a, self.b, self.y = a, b, y
        return y

    def backward(self, gy: Any) -> tuple[Any, Any]:
        xp = array_module(self.a)
        ga = gy * self.b * self.a ** (self.b - 1) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            # d(a^b)/db = a^b log a; taken as 0 where a == 0 (the limit for b > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = xp.where(self.a > 0, xp.log(xp.where(self.a > 0, self.a, 1)), 0)
            gb = gy * self.y * log_a
        return ga, gb


class Exp(Function):
    def forward(self, x: Any) -> Any:
        self.y = array_module(x).exp(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy * self.y


class Log(Function):
    def forward(self, x: Any) -> Any:
        self.x = x
        return array_module(x).log(x)

    def backward(self, gy: Any) -> Any:
        return gy / self.x


class Sqrt(Function):
    def forward(self, x: Any) -> Any:
        self.y = array_module(x).sqrt(x)
        return self.y

    def backward(self, gy: Any) -> Any:
        return gy / (2 * self.y)


class Abs(Function):
    def forward(self, x: Any) -> Any:
        self.sign = array_module(x).sign(x)
        return array_module(x).abs(x)

    def backward(self, gy: Any) -> Any:
        return gy * self.sign


class Clip(Function):
    """Clamp to [lo, hi]; the gradient passes only where the input was inside."""

    def __init__(self, lo: float | None, hi: float | None) -> None:
        if lo is None and hi is None:  # as torch.clip (and CuPy's clip) refuse it
            raise ValueError("Clip: at least one of lo and hi must not be None")
        self.lo, self.hi = lo, hi

    def forward(self, x: Any) -> Any:
        xp = array_module(x)
        self.mask = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            self.mask &= x >= self.lo
        if self.hi is not None:
            self.mask &= x <= self.hi
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy: Any) -> Any:
        return gy * self.mask


class Clone(Function):
    """A copy of x that owns its array; the gradient passes through."""

    def forward(self, x: Any) -> Any:
        return x.copy()

    def backward(self, gy: Any) -> Any:
        return gy


class AsType(Function):
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)

    def forward(self, x: Any) -> Any:
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy: Any) -> Any:
        return gy.astype(self.in_dtype)


class Where(Function):
    """cond ? a : b; cond carries no gradient."""

    def forward(self, cond: Any, a: Any, b: Any) -> Any:
        self.cond = cond.astype(bool, copy=False)
        # an integer branch takes the float branch's dtype, as PyTorch (NumPy would widen)
        return array_module(a, b).where(self.cond, a, b).astype(promoted_dtype(a.dtype, b.dtype),
                                                                copy=False)

    def backward(self, gy: Any) -> tuple[Any, Any, Any]:
        xp = array_module(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        ga = xp.where(self.cond, gy, zero) if self.needs_input_grad[1] else None
        gb = xp.where(self.cond, zero, gy) if self.needs_input_grad[2] else None
        return None, ga, gb


class Maximum(Function):
    """Element-wise max of two tensors; ties send the gradient to the first."""

    promotes_ints = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a_wins = a >= b
        return array_module(a, b).maximum(a, b)

    def backward(self, gy: Any) -> tuple[Any, Any]:
        return gy * self.a_wins, gy * ~self.a_wins


def add(a: Any, b: Any) -> Any:
    return Add()(a, b)


def sub(a: Any, b: Any) -> Any:
    return Sub()(a, b)


def mul(a: Any, b: Any) -> Any:
    return Mul()(a, b)


def div(a: Any, b: Any) -> Any:
    return Div()(a, b)


def neg(x: Any) -> Any:
    return Neg()(x)


def pow(a: Any, b: Any) -> Any:  # noqa: A001 - mirrors the operator
    if isinstance(b, np.generic) and b.dtype.kind in "iuf":
        b = b.item()  # a NumPy scalar exponent is a number: it must not upcast x
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar(b)(a)
    return Pow()(a, b)


def exp(x: Any) -> Any:
    return Exp()(x)


def log(x: Any) -> Any:
    return Log()(x)


def sqrt(x: Any) -> Any:
    return Sqrt()(x)


def abs(x: Any) -> Any:  # noqa: A001
    return Abs()(x)


def clip(x: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """clamp's rules (PyTorch's clip is clamp): number bounds never change a float dtype."""
    return _clamp("clip", ("lo", "hi"), x, lo, hi)


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Any:  # noqa: A002
    """PyTorch's clamp with number bounds: an integer tensor with a float bound gives float32."""
    return _clamp("clamp", ("min", "max"), x, min, max)


def _clamp(op: str, names: tuple[str, str], x: Any, lo: Any, hi: Any) -> Any:
    for bound in (lo, hi):
        if bound is not None and not isinstance(bound, (int, float, np.integer, np.floating)):
            raise TypeError(f"{op}: {names[0]} and {names[1]} must be numbers or None, "
                            f"got {type(bound).__name__}")
    # NumPy scalars act as the Python numbers they hold: they must not upcast x
    lo, hi = (b.item() if isinstance(b, np.generic) else b for b in (lo, hi))
    if lo is None and hi is None:
        raise ValueError(f"{op}: at least one of {names[0]} and {names[1]} must not be None")
    floats = any(isinstance(b, float) for b in (lo, hi))
    if floats and x.dtype.kind not in "fc":
        x = astype(x, np.float32)
    return Clip(lo, hi)(x)


def clone(x: Any) -> Any:
    return Clone()(x)


def astype(x: Any, dtype: Any) -> Any:
    return AsType(dtype)(x)


def where(cond: Any, a: Any, b: Any) -> Any:
    """Pick `a` where `cond` is true, else `b` (broadcasting)."""
    return Where()(cond, a, b)


def maximum(a: Any, b: Any) -> Any:
    return Maximum()(a, b)
