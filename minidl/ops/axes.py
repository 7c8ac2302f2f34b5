"""Axis arguments under both names: NumPy's `axis=`/`keepdims=` and PyTorch's `dim=`/`keepdim=`.

No imports from the rest of minidl: Tensor's method signatures use these defaults.
"""
from __future__ import annotations

from typing import Any


class DefaultAxis(int):
    """An axis default that is told apart from the same number passed explicitly (so
    `softmax(x, axis=-1, dim=0)` is refused); it prints as the number in signatures."""

    def __repr__(self) -> str:
        return int.__repr__(self)


LAST_AXIS = DefaultAxis(-1)
FIRST_AXIS = DefaultAxis(0)


def pick_axis(op: str, axis: Any, dim: Any, default: Any = None) -> Any:
    """`dim` (PyTorch's name) or `axis` (NumPy's); both given is a TypeError."""
    if dim is None:
        return axis
    if axis is not default:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one of them "
                        f"(dim is PyTorch's name for axis)")
    return dim


def pick_keepdims(op: str, keepdims: bool, keepdim: bool | None) -> bool:
    """`keepdim` (PyTorch's name) or `keepdims` (NumPy's)."""
    if keepdim is None:
        return keepdims
    if keepdims and not keepdim:
        raise TypeError(f"{op}: got both keepdims={keepdims!r} and keepdim={keepdim!r}; pass one "
                        f"of them (keepdim is PyTorch's name for keepdims)")
    return bool(keepdim)
