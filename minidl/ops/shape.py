"""Shape ops: reshape, transpose, indexing, concatenate/stack, squeeze, device moves."""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.ops.axes import FIRST_AXIS, pick_axis
from minidl.ops.reduce import normalize_axes


class Reshape(Function):
    returns_view = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"Reshape: cannot reshape {x.shape} ({x.size} elements) "
                             f"into {self.shape}") from None

    def backward(self, gy: Any) -> Any:
        return gy.reshape(self.in_shape)


class Transpose(Function):
    returns_view = True

    def __init__(self, axes: tuple[int, ...] | None) -> None:
        self.axes = axes

    def forward(self, x: Any) -> Any:
        axes = self.axes if self.axes is not None else tuple(reversed(range(x.ndim)))
        in_range = all(-x.ndim <= a < x.ndim for a in axes)
        if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
            raise ValueError(f"Transpose: axes {axes} are not a permutation of {x.ndim} dimensions")
        self.perm = tuple(a % x.ndim for a in axes)
        return x.transpose(self.perm)

    def backward(self, gy: Any) -> Any:
        inverse = [0] * len(self.perm)
        for i, a in enumerate(self.perm):
            inverse[a] = i
        return gy.transpose(inverse)


def _plain_index(index: Any) -> Any:
    """Turn Tensors inside an index into arrays (kept on their device)."""
    from minidl.autograd.tensor import Tensor  # noqa: PLC0415 - cycle

    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    return index


def check_index_device(op: str, index: Any, x: Any) -> None:
    """Index arrays must live with x; NumPy scalars are plain numbers anywhere."""
    for p in (index if isinstance(index, tuple) else (index,)):
        if isinstance(p, np.ndarray) or B.device_of(p) == "cuda":
            if B.device_of(p) != B.device_of(x):
                raise B.DeviceMismatchError(f"{op}: index is on {B.device_of(p)} but the "
                                            f"tensor is on {B.device_of(x)}")


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts)


def _is_mask(p: Any) -> bool:
    return B.is_array(p) and p.ndim > 0 and p.dtype == bool


def _bool_to_int(index: Any, shape: tuple[int, ...]) -> Any:
    """Boolean masks become integer index arrays (x[mask] is x[mask.nonzero()]): the
    backward scatters through them, and on a GPU the mask's count is read back once.
    Each mask must match the axes it covers, as NumPy requires."""
    parts = index if isinstance(index, tuple) else (index,)
    def axes(p: Any) -> int:  # how many of x's axes an index part consumes
        return p.ndim if _is_mask(p) else 0 if p is None or p is Ellipsis else 1

    rest = len(shape) - sum(axes(p) for p in parts)  # what an Ellipsis stands for
    out: list[Any] = []
    axis = 0
    for p in parts:
        if _is_mask(p):
            covered = tuple(shape[axis:axis + p.ndim])
            if tuple(p.shape) != covered:
                raise IndexError(f"GetItem: boolean index of shape {tuple(p.shape)} does not match "
                                 f"the indexed axes {axis}.. of shape {covered}")
            out.extend(p.nonzero())
        else:
            out.append(p)
        axis += rest if p is Ellipsis else axes(p)
    return tuple(out)


class GetItem(Function):
    """x[index]; the gradient scatter-adds, so repeated integer indices accumulate."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self.returns_view = _is_basic(index)  # advanced indexing copies

    def forward(self, x: Any) -> Any:
        self.in_shape, self.in_dtype = x.shape, x.dtype
        if not _is_basic(self.index):
            check_index_device(self.name, self.index, x)
            self.index = _bool_to_int(self.index, x.shape)
        return x[self.index]

    def backward(self, gy: Any) -> Any:
        xp = array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        if _is_basic(self.index):
            gx[self.index] = gy
        else:
            B.scatter_add(gx, self.index, gy)
        return gx


class Concatenate(Function):
    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        xp = array_module(*xs)
        self.sizes = [x.shape[self.axis] for x in xs]
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = array_module(gy)
        cuts = [sum(self.sizes[: i + 1]) for i in range(len(self.sizes) - 1)]
        return tuple(xp.split(gy, cuts, axis=self.axis))


class Stack(Function):
    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, *xs: Any) -> Any:
        self.count = len(xs)
        return array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy: Any) -> tuple[Any, ...]:
        xp = array_module(gy)
        return tuple(xp.take(gy, i, axis=self.axis) for i in range(self.count))


class BroadcastTo(Function):
    returns_view = True

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        return array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy: Any) -> Any:
        return gy  # the engine sums it back to the input shape


class ToDevice(Function):
    """A differentiable move between backends (gradient moves back)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def forward(self, x: Any) -> Any:
        self.source = B.backend_of_device(B.device_of(x))
        return B.to_backend(x, self.backend)

    def backward(self, gy: Any) -> Any:
        return B.to_backend(gy, self.source)


def reshape(x: Any, shape: tuple[int, ...]) -> Any:
    return Reshape(shape)(x)


def transpose(x: Any, axes: tuple[int, ...] | None = None) -> Any:
    return Transpose(axes)(x)


def getitem(x: Any, index: Any) -> Any:
    return GetItem(_plain_index(index))(x)


def concatenate(tensors: Any, axis: int = FIRST_AXIS, *, dim: int | None = None) -> Any:
    """Join tensors along an existing axis (`dim=` is PyTorch's name for it; `md.cat`)."""
    axis = pick_axis("concatenate", axis, dim, FIRST_AXIS)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    return Concatenate(axis)(*tensors)


cat = concatenate


def stack(tensors: Any, axis: int = FIRST_AXIS, *, dim: int | None = None) -> Any:
    """Join same-shaped tensors along a new axis (`dim=` is PyTorch's name for it)."""
    axis = pick_axis("stack", axis, dim, FIRST_AXIS)
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    return Stack(axis)(*tensors)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    return BroadcastTo(shape)(x)


def squeeze(x: Any, axis: Any = None) -> Any:
    """Drop size-1 axes (all, or those in `axis`; a named axis of another size stays, as in PyTorch)."""
    if axis is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        try:
            axes = normalize_axes(axis, x.ndim)
        except ValueError as exc:
            raise ValueError(f"squeeze: {exc}") from None
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes or n != 1)
    return reshape(x, shape)


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Merge axes start_dim..end_dim (inclusive) into one; a 0-d tensor becomes (1,)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = (normalize_axes(a, x.ndim)[0] for a in (start_dim, end_dim))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape
    return reshape(x, shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:])


def expand_dims(x: Any, axis: int) -> Any:
    """Insert a size-1 axis at `axis` (-ndim-1 <= axis <= ndim)."""
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a tensor of {x.ndim} dimensions")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def to_device(x: Any, backend: str) -> Any:
    return ToDevice(B.normalize_backend(backend))(x)


class Unbind(Function):
    """Split x into its slices along `axis` (views, one output each).

    The backward stacks the slices' gradients once, so taking all T slices of a
    sequence costs O(T) in total, where T separate `x[t]` would cost O(T^2).
    """

    returns_view = True

    def __init__(self, axis: int) -> None:
        self.axis = axis

    def forward(self, x: Any) -> tuple[Any, ...]:
        if x.ndim == 0:
            raise ValueError("Unbind: cannot split a 0-d tensor")
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"Unbind: axis {self.axis} is out of range for {x.ndim} dimensions")
        self.axis %= x.ndim
        self.slice_shape = x.shape[: self.axis] + x.shape[self.axis + 1:]
        lead = (slice(None),) * self.axis
        return tuple(x[lead + (i,)] for i in range(x.shape[self.axis]))

    def backward(self, *gys: Any) -> Any:
        xp = array_module(*gys)
        ref = next(g for g in gys if g is not None)
        # an output whose gradient never arrived may come as None: it contributes zero
        gys = tuple(xp.zeros(self.slice_shape, ref.dtype) if g is None else g for g in gys)
        return xp.stack(gys, axis=self.axis)


def unbind(x: Any, axis: int = 0) -> tuple[Any, ...]:
    """The slices of x along `axis`, as a tuple of tensors (x.shape without that axis)."""
    return Unbind(axis)(x)
