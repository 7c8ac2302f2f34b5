"""Tensor: an array (NumPy or CuPy) plus the graph links autograd needs.

Shape legend used across minidl docstrings: N batch, C channels, H/W height/width,
K classes, T time steps.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")

DTypeLike = Any


class Tensor:
    """A multi-dimensional array that can record the ops applied to it."""

    __slots__ = ("data", "requires_grad", "grad", "creator", "generation", "name", "__weakref__")
    # let NumPy hand `ndarray op Tensor` to Tensor's reflected operators
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        if isinstance(data, np.generic):
            # NumPy reductions over every axis return scalars; .data is always an ndarray
            data = np.asarray(data)
        self.data = data
        self.requires_grad = requires_grad
        self.grad: Tensor | None = None
        self.creator: Any = None
        self.generation = 0
        self.name = name

    # ---- attributes ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> str:
        return B.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(B.to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __hash__(self) -> int:
        return id(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = B.to_numpy(self.data)
        return out.astype(dtype) if dtype is not None else out

    # ---- autograd -------------------------------------------------------------------
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        `grad` defaults to 1 for a single-element tensor (which also takes a number, on
        any device); a non-scalar needs a grad of its shape, on its device.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph")
        xp = B.array_module(self.data)
        if grad is None:
            if self.size != 1:
                raise ValueError(
                    f"backward(): grad can be implicitly created only for scalar outputs, "
                    f"got shape {self.shape}; pass grad= of that shape")
            g = xp.ones(self.shape, dtype=self.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else grad
            number = isinstance(g, (int, float, np.generic)) or isinstance(g, np.ndarray) and g.ndim == 0
            if number and self.size == 1:  # a number for a single value: the same on every device
                g = xp.full(self.shape, np.asarray(g).item(), dtype=self.dtype)
            elif number:
                raise ValueError(f"backward(): grad is a single number, expected shape {self.shape}")
            elif B.device_of(g) != self.device:
                raise B.DeviceMismatchError(
                    f"backward(): grad is on {B.device_of(g)} but the output is on {self.device}")
            g = xp.asarray(g, dtype=self.dtype)
            if g.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {g.shape}, expected {self.shape}")
        run_backward(self, g, retain_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    # ---- conversion -----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy array (copied from the GPU if needed; shares memory on the CPU)."""
        return B.to_numpy(self.data)

    def item(self) -> Any:
        if self.size != 1:
            raise ValueError(f"item(): only one-element tensors convert, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def to(self, name: str) -> Tensor:
        """This tensor on another backend ("numpy"/"cpu" or "cupy"/"cuda"); itself if already there."""
        target = B.normalize_backend(name)
        if target == B.backend_of_device(self.device):
            return self
        if self.requires_grad and not self.is_leaf:
            return _shape.to_device(self, target)
        return Tensor(B.to_backend(self.data, target), requires_grad=self.requires_grad)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self) -> Tensor:
        return self.to("cuda")

    def astype(self, dtype: DTypeLike) -> Tensor:
        return _math.astype(self, dtype)

    # ---- shape ----------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _shape.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _shape.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        return _shape.transpose(self, None)

    def flatten(self) -> Tensor:
        return _shape.reshape(self, (-1,))

    def squeeze(self, axis: Any = None) -> Tensor:
        return _shape.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return _shape.expand_dims(self, axis)

    def __getitem__(self, index: Any) -> Tensor:
        return _shape.getitem(self, index)

    # ---- reductions -----------------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce.min(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _reduce.var(self, axis, keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.argmax(axis=axis))

    def argmin(self, axis: int | None = None) -> Tensor:
        return Tensor(self.data.argmin(axis=axis))

    # ---- element-wise ---------------------------------------------------------------
    def exp(self) -> Tensor:
        return _math.exp(self)

    def log(self) -> Tensor:
        return _math.log(self)

    def sqrt(self) -> Tensor:
        return _math.sqrt(self)

    def abs(self) -> Tensor:
        return _math.abs(self)

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        return _math.clip(self, lo, hi)

    def relu(self) -> Tensor:
        return _act.relu(self)

    def sigmoid(self) -> Tensor:
        return _act.sigmoid(self)

    def tanh(self) -> Tensor:
        return _act.tanh(self)

    # ---- operators ------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _math.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _math.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _math.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _math.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _math.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _math.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _math.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _math.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _math.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _math.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _math.neg(self)

    def __pos__(self) -> Tensor:
        return self

    # comparisons carry no gradient
    def _compare(self, other: Any, op: str) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        if isinstance(other, Tensor) and other.device != self.device:
            raise B.DeviceMismatchError(
                f"{op}: inputs are on different devices ({self.device} and {other.device})")
        return Tensor(getattr(self.data, op)(o))

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, "__lt__")

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, "__le__")

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, "__gt__")

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, "__ge__")

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "__eq__")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, "__ne__")


# ---- creation -----------------------------------------------------------------------

def _resolve_dtype(dtype: DTypeLike) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"unknown dtype {dtype!r}: expected e.g. 'float32', 'float64', 'int64'") from exc


def _creation_dtype(dtype: DTypeLike) -> np.dtype:
    """zeros/ones/randn/rand: float32 unless told otherwise (None included)."""
    return float32 if dtype is None else _resolve_dtype(dtype)


def _module(device: str | None) -> Any:
    return B.module_for(device if device is not None else B.get_backend())


def tensor(data: Any, dtype: DTypeLike = None, requires_grad: bool = False,
           device: str | None = None) -> Tensor:
    """Make a tensor. Python floats become float32, Python ints int64; arrays keep their
    dtype and are wrapped without a copy when dtype and device already match."""
    dt = _resolve_dtype(dtype)
    if isinstance(data, Tensor):
        data = data.data
    backend = B.normalize_backend(device) if device is not None else None
    if B.is_array(data):
        arr = data if backend is None else B.to_backend(data, backend)
        if dt is not None and arr.dtype != dt:
            arr = arr.astype(dt)
    else:
        try:
            host = np.asarray(data)
        except ValueError as exc:  # ragged nested lists
            raise ValueError(f"tensor(): data is not a rectangular array ({exc})") from None
        except TypeError as exc:  # e.g. a list of CuPy arrays: never copied to the host silently
            raise TypeError(f"tensor(): cannot build an array from this data ({exc}); "
                            f"combine GPU arrays or tensors with md.stack instead") from None
        if dt is None:
            dt = _default_dtype(host)
        host = host.astype(dt, copy=False)
        arr = B.to_backend(host, backend or B.get_backend())
    if requires_grad and arr.dtype.kind not in "fc":
        raise TypeError(f"tensor(): only floating tensors can require grad, got dtype {arr.dtype}")
    return Tensor(arr, requires_grad=requires_grad)


def _default_dtype(host: np.ndarray) -> np.dtype:
    if host.dtype.kind == "f":
        return float32
    if host.dtype.kind in "iu":
        return int64
    if host.dtype.kind == "O":
        raise TypeError("tensor(): cannot make a tensor from ragged or object data")
    return host.dtype


def as_tensor(value: Any, device: str | None = None) -> Tensor:
    """A Tensor as is, anything else through `tensor()`."""
    if isinstance(value, Tensor):
        return value
    return tensor(value, device=device)


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def zeros(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    return Tensor(_module(device).zeros(_shape_arg(shape), dtype=_creation_dtype(dtype)),
                  requires_grad=requires_grad)


def ones(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    return Tensor(_module(device).ones(_shape_arg(shape), dtype=_creation_dtype(dtype)),
                  requires_grad=requires_grad)


def randn(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    xp = _module(device)
    dt = _creation_dtype(dtype)
    data = _random.generator(xp).standard_normal(_shape_arg(shape), dtype=dt)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """Uniform samples in [0, 1) from the library's seeded generator."""
    xp = _module(device)
    data = _random.generator(xp).random(_shape_arg(shape), dtype=_creation_dtype(dtype))
    return Tensor(data, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: DTypeLike = None,
           requires_grad: bool = False, device: str | None = None) -> Tensor:
    """Evenly spaced values as `numpy.arange`; int64 for integer arguments, else float32."""
    if stop is None:
        start, stop = 0, start
    dt = _resolve_dtype(dtype)
    if dt is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dt = int64 if ints else float32
    return Tensor(_module(device).arange(start, stop, step, dtype=dt), requires_grad=requires_grad)


def zeros_like(x: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    xp = B.array_module(x.data)
    return Tensor(xp.zeros(x.shape, dtype=x.dtype if dtype is None else _resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    xp = B.array_module(x.data)
    return Tensor(xp.ones(x.shape, dtype=x.dtype if dtype is None else _resolve_dtype(dtype)),
                  requires_grad=requires_grad)


# Imported last: these modules build on Tensor.
from minidl.autograd.function import run_backward  # noqa: E402
from minidl.backend import random as _random  # noqa: E402
from minidl.ops import activation as _act  # noqa: E402
from minidl.ops import linalg as _linalg  # noqa: E402
from minidl.ops import math as _math  # noqa: E402
from minidl.ops import reduce as _reduce  # noqa: E402
from minidl.ops import shape as _shape  # noqa: E402

__all__ = ["Tensor", "tensor", "as_tensor", "zeros", "ones", "randn", "rand", "arange",
           "zeros_like", "ones_like", "float32", "float64", "int64"]
