"""2-D max pooling: the contract and the route.

Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = output_size(H, kH, sH, pH), likewise OW
(_geometry). `kernel`, `stride`, `padding` are pairs (height, width); padding counts as
-inf and callers keep it at most half the kernel, so every window holds a real pixel.

- `forward(x, kernel, stride, padding, needs) -> (y, saved)`: `needs` is the op's
  needs_input_grad; saved is None when it is false (inference keeps nothing).
- `backward(gy, saved) -> dx`: dx (N, C, H, W) from gy (N, C, OH, OW) in any layout;
  each gy entry goes to its window's max pixel, the FIRST max in row-major window
  order on ties (PyTorch's choice); overlapping windows accumulate.

What is saved is the same for every implementation: argmax (N, C, OH, OW), the flat
index h*W + w of each window's max in the unpadded plane, of type
`_geometry.flat_index_dtype(H, W)` (int32 below 2**31 pixels a plane). Each implementation
(reference.py: plain array code; cpu.py: Numba; gpu.py: CuPy kernels) provides
`maxpool(x, kh, kw, sh, sw, ph, pw, need_argmax) -> (y, argmax or None)` and
`unpool(gy, argmax, x_shape, window) -> dx`; the backward runs where the forward did.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module
from minidl.kernels import _route
from minidl.kernels.pool import reference


def _implementation(*arrays: Any) -> Any:
    where = _route.route(*arrays)
    if where == "cpu":
        from minidl.kernels.pool import cpu  # noqa: PLC0415 - imports Numba (half a second)

        return cpu
    if where == "gpu":
        from minidl.kernels.pool import gpu  # noqa: PLC0415

        return gpu
    return reference


def forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
            needs: Sequence[bool] = (True,)) -> tuple[Any, Any]:
    """Max over every window of x: (y, saved) for `backward`."""
    # a strided view costs one copy here, far less than the reference would
    x = array_module(x).ascontiguousarray(x)
    window = tuple(kernel) + tuple(stride) + tuple(padding)
    impl = _implementation(x)
    y, argmax = impl.maxpool(x, *window, need_argmax=bool(needs[0]))
    return y, ((impl, argmax, x.shape, window) if needs[0] else None)


def backward(gy: Any, saved: Any) -> Any:
    """dx of the forward that returned `saved`, from gy (N, C, OH, OW)."""
    impl, argmax, x_shape, window = saved
    return impl.unpool(gy, argmax, x_shape, window)
