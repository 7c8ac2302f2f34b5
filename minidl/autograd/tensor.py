"""Tensor: an array (NumPy or CuPy) plus the graph links autograd needs.

Shape legend used across minidl docstrings: N batch, C channels, H/W height/width,
K classes, T time steps.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.ops import axes as _axes

float32 = np.dtype("float32")
float64 = np.dtype("float64")
int64 = np.dtype("int64")

DTypeLike = Any


class Size(int):
    """`Tensor.size`: the element count as an int (NumPy's `.size`) that can also be called
    as PyTorch's `.size()` (the shape) and `.size(dim)` (one side)."""

    shape: tuple[int, ...]

    def __new__(cls, count: int, shape: tuple[int, ...]) -> Size:
        out = super().__new__(cls, count)
        out.shape = tuple(shape)
        return out

    def __getnewargs__(self) -> tuple[int, tuple[int, ...]]:  # copy and pickle
        return int(self), self.shape

    def __call__(self, dim: int | None = None) -> Any:
        if dim is None:
            return self.shape
        if not -len(self.shape) <= dim < len(self.shape):
            raise IndexError(f"size(): dim {dim} is out of range for a tensor of "
                             f"{len(self.shape)} dimensions")
        return self.shape[dim]


class AmbiguousBoolError(ValueError, RuntimeError):
    """bool() of a tensor with other than one element: a ValueError (NumPy's type) that is
    also PyTorch's RuntimeError."""


class Tensor:
    """A multi-dimensional array that can record the ops applied to it."""

    __slots__ = ("data", "requires_grad", "grad", "creator", "generation", "name", "_vc",
                 "__weakref__")
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
        self._vc: Any = None  # the version counter, made on first use (function.version_counter)

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
    def size(self) -> Size:
        """The number of elements (NumPy's `.size`); called, PyTorch's `.size()` / `.size(dim)`."""
        return Size(self.data.size, self.data.shape)

    def numel(self) -> int:
        return int(self.data.size)

    def dim(self) -> int:
        return self.data.ndim

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's array has had (PyTorch's counter)."""
        return 0 if self._vc is None else self._vc.value

    @property
    def device(self) -> str:
        return B.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

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

    # ---- Python numbers from one-element tensors (as PyTorch) ---------------------------
    def _one_value(self) -> Any:
        if self.size != 1:
            raise ValueError(f"only one element tensors can be converted to Python scalars "
                             f"(this one has shape {self.shape})")
        return self.data.item()

    def __float__(self) -> float:
        return float(self._one_value())

    def __int__(self) -> int:
        return int(self._one_value())

    def __bool__(self) -> bool:
        if self.size != 1:
            raise AmbiguousBoolError(f"Boolean value of Tensor with "
                                     f"{'no values' if self.size == 0 else 'more than one value'} "
                                     f"is ambiguous (shape {self.shape}); use .any() or .all()")
        return bool(self.data.item())

    def __index__(self) -> int:
        if self.size != 1 or self.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.data.item())

    def __format__(self, spec: str) -> str:
        # as PyTorch: a 0-d tensor formats as its value (f"{loss}" too); minidl also formats
        # a one-element tensor of any shape when a spec is given (f"{t:.4f}")
        if self.ndim == 0 or self.size == 1 and spec:
            return format(self.data.item(), spec)
        if spec:
            raise TypeError(f"unsupported format string passed to Tensor.__format__: {spec!r} "
                            f"needs a one-element tensor, this one has shape {self.shape}")
        return str(self)

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
            if isinstance(g, (str, bytes, np.str_, np.bytes_)) or g is None:
                raise TypeError(f"backward(): grad must be a Tensor, an array or a number, "
                                f"got {type(g).__name__} {g!r:.40}")
            number = isinstance(g, (int, float, np.generic)) or isinstance(g, np.ndarray) and g.ndim == 0
            if number and self.size == 1:  # a number for a single value: the same on every device
                g = xp.full(self.shape, np.asarray(g).item(), dtype=self.dtype)
            elif number:
                raise ValueError(f"backward(): grad is a single number, expected shape {self.shape}")
            elif B.device_of(g) != self.device:
                raise B.DeviceMismatchError(
                    f"backward(): grad is on {B.device_of(g)} but the output is on {self.device}")
            try:
                g = xp.asarray(g, dtype=self.dtype)
            except (ValueError, TypeError) as exc:
                raise TypeError(f"backward(): grad must hold numbers of dtype {self.dtype} "
                                f"({exc})") from None
            if g.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {g.shape}, expected {self.shape}")
        run_backward(self, g, retain_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (an in-place change to either is seen by both,
        and by the version check)."""
        out = Tensor(self.data)
        out._vc = version_counter(self)
        return out

    def clone(self) -> Tensor:
        """A copy with its own array; differentiable (the gradient passes through)."""
        return _math.clone(self)

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

    def to(self, name: Any, dtype: DTypeLike = None) -> Tensor:
        """This tensor on another backend ("numpy"/"cpu" or "cupy"/"cuda", also "cuda:0"),
        and/or in another dtype (`t.to("cuda")`, `t.to(md.float64)`, `t.to("cuda", "float64")`);
        itself when nothing changes."""
        if dtype is None and _is_dtype(name):
            name, dtype = None, name
        out = self if name is None else self._to_backend(_device_name(name))
        return out if dtype is None else out._as(_resolve_dtype(dtype))

    def _to_backend(self, name: str) -> Tensor:
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

    def _as(self, dtype: np.dtype) -> Tensor:
        return self if self.dtype == dtype else _math.astype(self, dtype)

    def float(self) -> Tensor:
        """float32 (a differentiable copy; the tensor itself when already float32)."""
        return self._as(float32)

    def double(self) -> Tensor:
        """float64 (a differentiable copy; the tensor itself when already float64)."""
        return self._as(float64)

    def long(self) -> Tensor:
        """int64 (floats truncate toward zero; the tensor itself when already int64)."""
        return self._as(int64)

    def int(self) -> Tensor:
        """int32, as PyTorch's `.int()`."""
        return self._as(np.dtype("int32"))

    def bool(self) -> Tensor:
        return self._as(np.dtype(bool))

    # ---- shape ----------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        return _shape.reshape(self, _shape_arg(shape))

    def contiguous(self) -> Tensor:
        """The tensor itself: minidl's shape ops copy where a layout needs it."""
        return self

    def view(self, *shape: Any) -> Tensor:
        """As `reshape` (PyTorch's name; a copy where the layout needs one, never an error)."""
        return _shape.reshape(self, _shape_arg(shape))

    def transpose(self, *axes: Any) -> Tensor:
        return _shape.transpose(self, _shape_arg(axes) or None)

    def permute(self, *axes: Any) -> Tensor:
        """Reorder every axis (`x.permute(0, 2, 1)`)."""
        return _shape.transpose(self, _shape_arg(axes))

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        return _shape.transpose(self, None)

    def t(self) -> Tensor:
        """PyTorch's `.t()`: the transpose of a tensor of at most 2 dimensions."""
        if self.ndim > 2:
            raise ValueError(f"t(): expects a tensor of at most 2 dimensions, got shape {self.shape}; "
                             f"use .permute(...) or .transpose(*axes)")
        return _shape.transpose(self, None)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes start_dim..end_dim into one (all of them by default), as PyTorch."""
        return _shape.flatten(self, start_dim, end_dim)

    def squeeze(self, axis: Any = None, *, dim: Any = None) -> Tensor:
        return _shape.squeeze(self, _axes.pick_axis("squeeze", axis, dim))

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        axis = _axes.pick_axis("unsqueeze", axis, dim)
        if axis is None:
            raise TypeError("unsqueeze: missing the axis (dim) where the new axis goes")
        return _shape.expand_dims(self, axis)

    def __getitem__(self, index: Any) -> Tensor:
        return _shape.getitem(self, index)

    # ---- reductions (`dim=`/`keepdim=` are PyTorch's names for `axis=`/`keepdims=`) ----
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        return _reduce.sum(self, _axes.pick_axis("sum", axis, dim),
                           _axes.pick_keepdims("sum", keepdims, keepdim))

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
             keepdim: bool | None = None) -> Tensor:
        return _reduce.mean(self, _axes.pick_axis("mean", axis, dim),
                            _axes.pick_keepdims("mean", keepdims, keepdim))

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Any:
        """Values (NumPy: ties share the gradient); with `dim=`, PyTorch's (values, indices)."""
        keepdims = _axes.pick_keepdims("max", keepdims, keepdim)
        if dim is not None:
            _axes.pick_axis("max", axis, dim)
            return _reduce.max_dim(self, dim, keepdims)
        return _reduce.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Any:
        """Values (NumPy: ties share the gradient); with `dim=`, PyTorch's (values, indices)."""
        keepdims = _axes.pick_keepdims("min", keepdims, keepdim)
        if dim is not None:
            _axes.pick_axis("min", axis, dim)
            return _reduce.min_dim(self, dim, keepdims)
        return _reduce.min(self, axis, keepdims)

    def var(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        """Population variance (NumPy's; PyTorch's `var` divides by n - 1)."""
        return _reduce.var(self, _axes.pick_axis("var", axis, dim),
                           _axes.pick_keepdims("var", keepdims, keepdim))

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """int64 index of the largest element (of the flattened tensor when no axis)."""
        return _reduce.argmax(self, _axes.pick_axis("argmax", axis, dim),
                              _axes.pick_keepdims("argmax", keepdims, keepdim))

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """int64 index of the smallest element (of the flattened tensor when no axis)."""
        return _reduce.argmax(self, _axes.pick_axis("argmin", axis, dim),
                              _axes.pick_keepdims("argmin", keepdims, keepdim), take_min=True)

    def any(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        """Whether any element is nonzero (bool, no gradient)."""
        return Tensor(self.data.any(axis=_axes.pick_axis("any", axis, dim),
                                    keepdims=_axes.pick_keepdims("any", keepdims, keepdim)))

    def all(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        """Whether every element is nonzero (bool, no gradient)."""
        return Tensor(self.data.all(axis=_axes.pick_axis("all", axis, dim),
                                    keepdims=_axes.pick_keepdims("all", keepdims, keepdim)))

    # ---- element-wise ---------------------------------------------------------------
    def pow(self, exponent: Any) -> Tensor:
        return _math.pow(self, exponent)

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

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """PyTorch's clamp: the gradient passes where min <= x <= max."""
        return _math.clamp(self, min, max)

    def softmax(self, axis: int = _axes.LAST_AXIS, *, dim: int | None = None) -> Tensor:
        return _act.softmax(self, _axes.pick_axis("softmax", axis, dim, _axes.LAST_AXIS))

    def log_softmax(self, axis: int = _axes.LAST_AXIS, *, dim: int | None = None) -> Tensor:
        return _act.log_softmax(self, _axes.pick_axis("log_softmax", axis, dim, _axes.LAST_AXIS))

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

    # ---- in-place (PyTorch's rules: minidl/ops/inplace.py) --------------------------------
    def _augmented(self, name: str, op: Any, other: Any) -> Tensor:
        # `t += u` where the result must enter a graph (t a non-leaf, or u requiring grad):
        # computed out of place, and Python rebinds the name, as `loss += l` has always done;
        # a leaf that requires grad is refused, as in PyTorch
        if _inplace.records_graph(self, (other,)) and not (self.requires_grad and self.is_leaf):
            return op(self, other)
        return _inplace.apply(name, self, lambda: op(self, other), (other,))

    def __iadd__(self, other: Any) -> Tensor:
        return self._augmented("+=", _math.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._augmented("-=", _math.sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._augmented("*=", _math.mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._augmented("/=", _math.div, other)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """self += alpha * other, in place."""
        scaled = (lambda: other) if alpha == 1 else (lambda: _math.mul(other, alpha))
        return _inplace.apply("add_", self, lambda: _math.add(self, scaled()), (other,))

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """self -= alpha * other, in place."""
        scaled = (lambda: other) if alpha == 1 else (lambda: _math.mul(other, alpha))
        return _inplace.apply("sub_", self, lambda: _math.sub(self, scaled()), (other,))

    def mul_(self, other: Any) -> Tensor:
        return _inplace.apply("mul_", self, lambda: _math.mul(self, other), (other,))

    def div_(self, other: Any) -> Tensor:
        return _inplace.apply("div_", self, lambda: _math.div(self, other), (other,))

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return _inplace.apply("clamp_", self, lambda: _math.clamp(self, min, max), ())

    def zero_(self) -> Tensor:
        return _inplace.fill(self, 0)

    def fill_(self, value: Any) -> Tensor:
        return _inplace.fill(self, value)

    def copy_(self, src: Any) -> Tensor:
        return _inplace.copy(self, src)

    def __setitem__(self, index: Any, value: Any) -> None:
        _inplace.setitem(self, index, value)

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


def _is_dtype(value: Any) -> bool:
    """A dtype spec rather than a device name ("float32", np.float64, md.int64...)."""
    if isinstance(value, str):
        try:
            B.normalize_backend(value.split(":")[0])
            return False
        except ValueError:
            pass
    try:
        np.dtype(value)
    except TypeError:
        return False
    return True


def _device_name(name: Any) -> str:
    """A backend or device name; PyTorch's "cuda:0" is device 0, the one GPU minidl uses."""
    text = str(name)
    base, _, index = text.partition(":")
    if index and index != "0":
        raise ValueError(f"to(): minidl uses one GPU (device 0), got {text!r}")
    return base


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


def _creation_shape(op: str, shape: Any) -> tuple[int, ...]:
    """A shape for a new tensor: integral sizes (NumPy integers too) >= 0, refused naming `op`."""
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: a shape takes integer sizes, got {dims}")
        if d < 0:
            raise ValueError(f"{op}: a shape takes sizes >= 0, got {dims}")
    return tuple(int(d) for d in dims)


def zeros(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    return Tensor(_module(device).zeros(_creation_shape("zeros", _shape_arg(shape)),
                                        dtype=_creation_dtype(dtype)),
                  requires_grad=requires_grad)


def ones(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    return Tensor(_module(device).ones(_creation_shape("ones", _shape_arg(shape)),
                                       dtype=_creation_dtype(dtype)),
                  requires_grad=requires_grad)


def randn(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
          device: str | None = None) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    xp = _module(device)
    dt = _creation_dtype(dtype)
    data = _random.generator(xp).standard_normal(_creation_shape("randn", _shape_arg(shape)), dtype=dt)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: DTypeLike = "float32", requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """Uniform samples in [0, 1) from the library's seeded generator."""
    xp = _module(device)
    data = _random.generator(xp).random(_creation_shape("rand", _shape_arg(shape)),
                                        dtype=_creation_dtype(dtype))
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


def full(shape: Any, fill_value: Any, dtype: DTypeLike = None, requires_grad: bool = False,
         device: str | None = None) -> Tensor:
    """A tensor of `shape` filled with `fill_value`; the dtype follows the value as in
    PyTorch (bool, int64, else float32) unless given."""
    value = fill_value.item() if isinstance(fill_value, (np.generic, Tensor)) else fill_value
    dt = _resolve_dtype(dtype)
    if dt is None:
        dt = _default_dtype(np.asarray(value))
    shape = _creation_shape("full", shape)
    return Tensor(_module(device).full(shape, value, dtype=dt), requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: DTypeLike = None, requires_grad: bool = False,
        device: str | None = None) -> Tensor:
    """An (n, m) matrix with ones on the diagonal (m defaults to n), float32 by default."""
    n, m = _creation_shape("eye", (n,) if m is None else (n, m)) + ((None,) if m is None else ())
    return Tensor(_module(device).eye(n, m, dtype=_creation_dtype(dtype)),
                  requires_grad=requires_grad)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor sharing `ndarray`'s memory (a change to either shows in both); its dtype kept."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: can't convert an array of dtype {ndarray.dtype}; supported "
                        f"are bool, integer, float and complex")
    return Tensor(ndarray)


def zeros_like(x: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    xp = B.array_module(x.data)
    return Tensor(xp.zeros(x.shape, dtype=x.dtype if dtype is None else _resolve_dtype(dtype)),
                  requires_grad=requires_grad)


def ones_like(x: Tensor, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    xp = B.array_module(x.data)
    return Tensor(xp.ones(x.shape, dtype=x.dtype if dtype is None else _resolve_dtype(dtype)),
                  requires_grad=requires_grad)


# Imported last: these modules build on Tensor.
from minidl.autograd.function import run_backward, version_counter  # noqa: E402
from minidl.backend import random as _random  # noqa: E402
from minidl.ops import activation as _act  # noqa: E402
from minidl.ops import linalg as _linalg  # noqa: E402
from minidl.ops import math as _math  # noqa: E402
from minidl.ops import reduce as _reduce  # noqa: E402
from minidl.ops import shape as _shape  # noqa: E402
from minidl.ops import inplace as _inplace  # noqa: E402

__all__ = ["Tensor", "tensor", "as_tensor", "zeros", "ones", "randn", "rand", "arange", "full", "eye",
           "from_numpy", "zeros_like", "ones_like", "float32", "float64", "int64"]
