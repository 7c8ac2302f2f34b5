"""2-D average pooling, fixed and adaptive windows: the contract and the route.

Shapes: x (N, C, H, W) -> y (N, C, OH, OW). Fixed windows (`forward`): `kernel`,
`stride`, `padding` are pairs (height, width), OH = output_size(H, kH, sH, pH)
(_geometry); the padding is zeros that count in every window's divisor (PyTorch's
count_include_pad=True), so each window's sum is divided by kH*kW. Adaptive windows
(`adaptive_forward`): `output_size` = (OH, OW), PyTorch's bounds (windows.adaptive),
each window's sum divided by its own size.

- `forward(x, kernel, stride, padding, needs) -> (y, saved)` and
  `adaptive_forward(x, output_size, needs) -> (y, saved)`: `needs` is the op's
  needs_input_grad; saved is None when it is false (inference keeps nothing).
- `backward(gy, saved) -> dx`: dx (N, C, H, W) from gy (N, C, OH, OW) in any layout;
  every pixel of a window gets gy / the window's divisor; overlapping windows accumulate.

Both are separable (windows.py): per axis, each window's bounds and divisor. Each
implementation (reference.py: plain array code; cpu.py: Numba; gpu.py: CuPy kernels)
provides `avgpool(x, rows, cols) -> y` and `unavgpool(gy, x_shape, rows, cols) -> dx`;
the backward runs where the forward did. What is saved is the windows, not the input.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module
from minidl.kernels import _route
from minidl.kernels.avgpool import reference, windows


def _implementation(*arrays: Any) -> Any:
    where = _route.route(*arrays)
    if where == "cpu":
        from minidl.kernels.avgpool import cpu  # noqa: PLC0415 - imports Numba (half a second)

        return cpu
    if where == "gpu":
        from minidl.kernels.avgpool import gpu  # noqa: PLC0415

        return gpu
    return reference


def _pool(x: Any, rows: windows.Windows, cols: windows.Windows, needs: Sequence[bool]) -> tuple[Any, Any]:
    # a strided view costs one copy here, far less than the reference would
    x = array_module(x).ascontiguousarray(x)
    impl = _implementation(x)
    y = impl.avgpool(x, rows, cols)
    return y, ((impl, x.shape, rows, cols) if needs[0] else None)


def forward(x: Any, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
            needs: Sequence[bool] = (True,)) -> tuple[Any, Any]:
    """The mean of every fixed window of x, padding counted: (y, saved) for `backward`."""
    h, w = x.shape[2:]
    return _pool(x, windows.fixed(h, kernel[0], stride[0], padding[0]),
                 windows.fixed(w, kernel[1], stride[1], padding[1]), needs)


def adaptive_forward(x: Any, output_size: tuple[int, int],
                     needs: Sequence[bool] = (True,)) -> tuple[Any, Any]:
    """The mean of each of output_size (OH, OW) windows spread over x: (y, saved)."""
    h, w = x.shape[2:]
    return _pool(x, windows.adaptive(h, output_size[0]), windows.adaptive(w, output_size[1]), needs)


def backward(gy: Any, saved: Any) -> Any:
    """dx of the forward that returned `saved`, from gy (N, C, OH, OW)."""
    impl, x_shape, rows, cols = saved
    return impl.unavgpool(gy, x_shape, rows, cols)
