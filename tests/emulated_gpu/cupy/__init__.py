"""A CuPy stand-in that runs on the CPU, to exercise minidl's GPU path without a GPU.

`MINIDL_EMULATE_GPU=1 pytest -m gpu` puts this package first on sys.path (tests/conftest.py),
so `import cupy` finds it and every `gpu` test runs against it. It is *not* CuPy: it checks
the ways minidl talks to CuPy, where code that works on NumPy breaks on a GPU.

- Its arrays are not NumPy arrays: `np.asarray(a)` raises TypeError as CuPy does, and a
  NumPy array (not a scalar) mixed into a device function or operator raises TypeError.
- Reductions and integer indexing give 0-d device arrays, never host scalars.
- Only names CuPy has are there: an explicit list (`_PROVIDED`) falls through to NumPy;
  any other NumPy name is an AttributeError, as it is on `import cupy`.
- `RawKernel` compiles the CUDA source as C++ (tests/kernels/host_cuda.py) and runs it on
  a small emulated grid, so the real kernels run, not the NumPy references.
- Every read back to the host (`.get()`, `.item()`, `float()`, `bool()`, a boolean mask, a
  stream synchronize...) and every copy from host memory (`asarray` of host data, `.set()`)
  is counted in `host_syncs`, so tests can assert a step has none.
- `get_default_memory_pool().used_bytes()` is the bytes held by live device arrays.
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as _np

from . import cuda, random  # noqa: F401 - cupy.cuda / cupy.random, as in CuPy

__emulated__ = True
__version__ = "13.0.0+emulated"

host_syncs = 0  # reads back to the host so far
_live: "weakref.WeakValueDictionary[int, ndarray]" = weakref.WeakValueDictionary()

# What falls through to NumPy: the names that every CuPy release from 12.0 (pyproject's floor)
# to 14.2 and the development head has at its top level (read from their cupy/__init__.py)
# and NumPy 2 has too, less those this module defines itself and those it leaves out: the
# submodules fft, linalg, polynomial and testing (not emulated) and vectorize, fromfile,
# loadtxt, genfromtxt (would run on the host here). Any other name is an AttributeError, as
# `cupy.<name>` is in CuPy: newer NumPy names (concat, cumulative_sum, pow, ...) are out too,
# since CuPy 12 and 13 lack them.
_PROVIDED = frozenset("""
    abs absolute add all allclose amax amin angle any append apply_along_axis arange arccos arccosh
    arcsin arcsinh arctan arctan2 arctanh argmax argmin argpartition argsort argwhere around
    array2string array_equal array_equiv array_repr array_split array_str asarray_chkfinite
    asfortranarray atleast_1d atleast_2d atleast_3d average bartlett base_repr binary_repr bincount
    bitwise_and bitwise_not bitwise_or bitwise_xor blackman bool_ broadcast broadcast_arrays
    broadcast_shapes broadcast_to byte c_ can_cast cbrt cdouble ceil choose clip column_stack
    common_type complex128 complex64 complexfloating compress concatenate conj conjugate convolve
    copy copysign copyto corrcoef correlate cos cosh count_nonzero cov cross csingle cumprod cumsum
    deg2rad degrees diag diag_indices diag_indices_from diagflat diagonal diff digitize divide
    divmod dot double dsplit dstack dtype dtypes e ediff1d einsum empty empty_like equal euler_gamma
    exp exp2 expand_dims expm1 extract eye fabs fill_diagonal finfo fix flatiter flatnonzero flip
    fliplr flipud float16 float32 float64 float_power floating floor floor_divide fmax fmin fmod
    format_float_positional format_float_scientific frexp from_dlpack frombuffer fromfunction
    fromiter fromstring full full_like gcd generic get_printoptions gradient greater greater_equal
    half hamming hanning heaviside histogram histogram2d histogramdd hsplit hstack hypot i0 identity
    iinfo imag index_exp indices inexact inf inner int16 int32 int64 int8 int_ intc integer interp
    intersect1d intp invert isclose iscomplex iscomplexobj isfinite isfortran isin isinf isnan
    isneginf isposinf isreal isrealobj isscalar issubdtype iterable ix_ kaiser kron lcm ldexp
    left_shift less less_equal lexsort linspace load log log10 log1p log2 logaddexp logaddexp2
    logical_and logical_not logical_or logical_xor logspace longlong mask_indices matmul max maximum
    may_share_memory mean median meshgrid mgrid min min_scalar_type minimum mintypecode mod modf
    moveaxis multiply nan nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean
    nanmedian nanmin nanprod nanstd nansum nanvar ndim ndindex negative newaxis nextafter nonzero
    not_equal number ogrid ones ones_like outer packbits pad partition percentile pi piecewise place
    poly poly1d polyadd polyfit polymul polysub polyval positive power printoptions prod
    promote_types ptp put putmask quantile r_ rad2deg radians ravel ravel_multi_index real
    real_if_close reciprocal remainder repeat require reshape resize result_type right_shift rint
    roll rollaxis roots rot90 round row_stack s_ save savetxt savez savez_compressed searchsorted
    select set_printoptions setdiff1d setxor1d shape shares_memory short show_config sign signbit
    signedinteger sin sinc single sinh size sort sort_complex split sqrt square squeeze stack std
    subtract sum swapaxes take take_along_axis tan tanh tensordot tile trace transpose tri tril
    tril_indices tril_indices_from trim_zeros triu triu_indices triu_indices_from true_divide trunc
    typename ubyte uint uint16 uint32 uint64 uint8 uintc uintp ulonglong union1d unique unpackbits
    unravel_index unsignedinteger unwrap ushort vander var vdot vsplit vstack where zeros zeros_like
""".split())
# functions whose results are metadata, not arrays
_PLAIN = {"shape", "ndim", "size", "result_type", "promote_types", "can_cast", "dtype", "finfo",
          "iinfo", "issubdtype", "isscalar", "min_scalar_type", "broadcast_shapes", "may_share_memory",
          "shares_memory", "get_printoptions", "set_printoptions", "printoptions", "typename",
          "common_type", "mintypecode"}


def _sync() -> None:
    global host_syncs
    host_syncs += 1


def _wrap(a: _np.ndarray) -> "ndarray":
    obj = ndarray.__new__(ndarray)
    obj._a = a
    _live[id(obj)] = obj
    return obj


def _dev(x: Any, what: str = "argument") -> Any:
    """Device arrays to their storage; host arrays refused, as CuPy refuses them."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np.ndarray):
        raise TypeError(f"Unsupported type {type(x)} (a NumPy array passed as a CuPy {what})")
    if isinstance(x, (list, tuple)):
        return type(x)(_dev(v, what) for v in x)
    if isinstance(x, dict):
        return {k: _dev(v, what) for k, v in x.items()}
    return x


def _out(r: Any) -> Any:
    """NumPy results as device arrays: scalars become 0-d arrays, as CuPy returns them."""
    if isinstance(r, _np.ndarray):
        return _wrap(r)
    if isinstance(r, _np.generic):
        return _wrap(_np.asarray(r))
    if isinstance(r, (list, tuple)):
        return type(r)(_out(v) for v in r)
    return r


def _call(f: Any, args: tuple, kwargs: dict) -> Any:
    out = kwargs.get("out")
    r = f(*_dev(args), **_dev(kwargs))
    return out if isinstance(out, ndarray) else _out(r)


# the size of their result depends on the data: CuPy reads it back to the host
_DATA_SIZED = {"nonzero", "argwhere", "flatnonzero", "unique", "extract", "compress"}
# NumPy gives a Python bool, CuPy a 0-d device array
_BOOL_RESULTS = {"allclose", "array_equal", "array_equiv"}


def _function(f: Any, name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        if name in _DATA_SIZED or name == "where" and len(args) + len(kwargs) == 1:
            _sync()
        r = _call(f, args, kwargs)
        return _wrap(_np.asarray(r)) if name in _BOOL_RESULTS else r
    call.__name__ = call.__qualname__ = name
    return call


_AT_UFUNCS = {"add", "maximum", "minimum"}
_AT_DTYPES = {_np.dtype(t) for t in (_np.float16, _np.float32, _np.float64, _np.int32, _np.uint32, _np.uint64)}


class ufunc:
    """A NumPy ufunc over device arrays: calls, and .at with CuPy's dtype limits (atomics)."""

    def __init__(self, f: _np.ufunc) -> None:
        self._f, self.__name__, self.nin, self.nout = f, f.__name__, f.nin, f.nout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        _no_lists(self.__name__, args)
        return _call(self._f, args, kwargs)

    def at(self, a: Any, indices: Any, b: Any = None) -> None:
        if not isinstance(a, ndarray):
            raise TypeError(f"{self.__name__}.at: a must be a cupy.ndarray, not {type(a).__name__}")
        if self.__name__ not in _AT_UFUNCS:
            raise NotImplementedError(f"{self.__name__}.at is not supported (CuPy has {sorted(_AT_UFUNCS)})")
        if a.dtype not in _AT_DTYPES:
            raise TypeError(f"{self.__name__}.at: dtype {a.dtype} is not supported (CUDA atomics)")
        self._f.at(a._a, _index(indices), _value(b))

    def __repr__(self) -> str:
        return f"<ufunc '{self.__name__}' (emulated)>"


def _no_lists(name: str, args: tuple) -> None:
    for a in args:
        if isinstance(a, list):
            raise TypeError(f"{name}: Unsupported type <class 'list'> (CuPy takes arrays and scalars)")


def _value(value: Any) -> Any:
    """A value to store: device arrays unwrapped; host data is copied over (counted)."""
    if isinstance(value, (_np.ndarray, list)):
        _sync()
        return value
    return _dev(value, "value")


def _index(key: Any) -> Any:
    """An index for __getitem__/__setitem__: device arrays unwrapped; a boolean mask syncs."""
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if isinstance(k, (ndarray, _np.ndarray)) and k.dtype == _np.bool_:
            _sync()  # CuPy must learn the mask's count on the host
        elif isinstance(k, (_np.ndarray, list)):
            _sync()  # a host index array is copied to the device first
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key._a if isinstance(key, ndarray) else key


class ndarray:
    """A device array: NumPy storage behind CuPy's rules."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None,
                 order: str = "C") -> None:
        self._a = _np.empty(shape, dtype=dtype, order=order)
        _live[id(self)] = self

    # -- what CuPy refuses or syncs on
    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream: Any = None, order: str = "C", out: Any = None) -> _np.ndarray:
        _sync()
        if out is not None:
            out[...] = self._a
            return out
        return _np.array(self._a, order=order)

    def set(self, arr: _np.ndarray, stream: Any = None) -> None:
        _sync()
        if not self._a.flags.c_contiguous:
            raise RuntimeError("Cannot set to non-contiguous array")
        if not isinstance(arr, _np.ndarray) or arr.dtype != self.dtype or arr.shape != self.shape:
            raise ValueError("set(): expected a NumPy array of the same dtype and shape")
        self._a[...] = arr

    def item(self) -> Any:
        _sync()
        return self._a.item()

    def tolist(self) -> Any:
        _sync()
        return self._a.tolist()

    def __float__(self) -> float:
        _sync()
        return float(self._a)

    def __int__(self) -> int:
        _sync()
        return int(self._a)

    def __bool__(self) -> bool:
        _sync()
        return bool(self._a)

    def __index__(self) -> int:
        _sync()
        return self._a.__index__()

    def nonzero(self) -> tuple:
        _sync()
        return _out(self._a.nonzero())

    # -- NumPy protocol: NumPy functions on device arrays run CuPy's, where CuPy has one
    def __array_ufunc__(self, uf: _np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__":
            return NotImplemented
        return _call(uf, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        mine = globals().get(func.__name__) or _lookup(func.__name__)
        return NotImplemented if mine is None else mine(*args, **kwargs)

    # -- metadata
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: _wrap(self._a.T))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    device = property(lambda self: cuda.Device(0))
    data = property(lambda self: cuda.MemoryPointer(self._a.ctypes.data))

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        return (_out(v) for v in self._a)

    def __repr__(self) -> str:
        _sync()  # printing reads the values back
        return repr(self._a)

    def __str__(self) -> str:
        _sync()
        return str(self._a)

    def __getitem__(self, key: Any) -> "ndarray":
        return _out(self._a[_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_index(key)] = _value(value)

    def __copy__(self) -> "ndarray":
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo: Any) -> "ndarray":
        return _wrap(self._a.copy())

    def __reduce__(self) -> Any:
        raise TypeError("emulated device arrays do not pickle (nor do they in minidl's design)")


def _method(name: str) -> Any:
    def call(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("__"):
            _no_lists(name, args)
        if name == "clip" and all(v is None for v in (*args, *kwargs.values())):
            raise ValueError("array_clip: must set either max or min")
        r = getattr(self._a, name)(*_dev(args), **_dev(kwargs))
        if r is self._a:  # in-place operators return the array itself
            return self
        return None if r is None else _out(r)
    call.__name__ = name
    return call


for _name in ("astype", "copy", "reshape", "transpose", "swapaxes", "ravel", "flatten", "squeeze",
              "sum", "mean", "max", "min", "argmax", "argmin", "var", "std", "prod", "all", "any",
              "clip", "dot", "cumsum", "round", "take", "repeat", "view", "conj", "sort", "argsort",
              "fill", "diagonal", "trace",
              "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__",
              "__rpow__", "__matmul__", "__rmatmul__", "__and__", "__rand__", "__or__", "__ror__",
              "__xor__", "__rxor__", "__lshift__", "__rshift__",
              "__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__ifloordiv__",
              "__iand__", "__ior__", "__ixor__", "__imod__",
              "__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__",
              "__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(ndarray, _name, _method(_name))
ndarray.__hash__ = None  # type: ignore[assignment]


def _lookup(name: str) -> Any:
    if name not in _PROVIDED:
        return None
    obj = getattr(_np, name)
    if isinstance(obj, _np.ufunc):
        return ufunc(obj)
    if isinstance(obj, type) or not callable(obj):
        return obj  # dtypes and scalar types, constants
    if name in _PLAIN:  # metadata: device arrays unwrapped, the result as it is
        return lambda *args, **kwargs: obj(*_dev(args), **_dev(kwargs))
    return _function(obj, name)


def __getattr__(name: str) -> Any:
    if name not in _PROVIDED:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (CuPy has no such name; "
                             f"CuPy emulator)")
    found = globals()[name] = _lookup(name)  # newaxis is None, and there
    return found


# -- creating device arrays: the only functions that take host data
def _upload(obj: Any) -> None:
    """A copy from host memory waits for the host side of the transfer (pageable memory),
    so it counts as a sync; a Python number is written by a fill kernel and does not."""
    if not isinstance(obj, (bool, int, float, complex)):
        _sync()


def array(obj: Any, dtype: Any = None, copy: bool = True, order: str = "K", subok: bool = False,
          ndmin: int = 0) -> ndarray:
    if isinstance(obj, ndarray):
        obj = obj._a
    else:
        _upload(obj)
    return _wrap(_np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a: Any, dtype: Any = None, order: Any = None) -> ndarray:
    if isinstance(a, ndarray):
        return a if dtype is None or _np.dtype(dtype) == a.dtype else a.astype(dtype)
    if isinstance(a, (list, tuple)) and a and all(isinstance(v, ndarray) for v in a):
        return _wrap(_np.array([v._a for v in a], dtype=dtype))  # stacked on the device
    _upload(a)
    return _wrap(_np.array(a, dtype=dtype, order=order or "K"))


asanyarray = asarray


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None) -> _np.ndarray:
    return a.get(out=out) if isinstance(a, ndarray) else _np.asarray(a, order=order)


def get_array_module(*args: Any) -> Any:
    import sys  # noqa: PLC0415

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else _np


def ascontiguousarray(a: Any, dtype: Any = None) -> ndarray:
    if not isinstance(a, ndarray):  # CuPy's takes device arrays only
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy.ndarray, got {type(a).__name__})")
    r = _np.ascontiguousarray(a._a, dtype=dtype)
    return a if r is a._a else _wrap(r)


def reset_host_syncs() -> int:
    """Zero the host-sync counter; returns what it was."""
    global host_syncs
    before, host_syncs = host_syncs, 0
    return before


from ._kernel import RawKernel  # noqa: E402, F401 - they use the array type above
from ._memory import MemoryPool, get_default_memory_pool, get_default_pinned_memory_pool  # noqa: E402, F401
