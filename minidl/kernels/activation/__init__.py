"""Element-wise activations and (log-)softmax: the contract and the route.

Shapes: any; y has x's shape and dtype. Each activation is a pair
- `<name>_forward(x, ...) -> (y, saved)`,
- `<name>_backward(gy, saved) -> gx`, gy of y's shape in any layout.

ReLU (y = max(x, 0), NaN passes through; the gradient 0 where y <= 0, so 0 at 0 and
passed at NaN, as PyTorch's threshold_backward) has three implementations:
reference.py (saves the mask "not x <= 0", and only when `needs[0]`, the op's
needs_input_grad), cpu.py (Numba) and gpu.py (CuPy), which save y itself (<= 0 exactly
where x <= 0); the backward runs where the forward did, and
`relu_backward_from_output(gy, y)` takes y (a fused conv's rectified output). A Dense's
epilogue, for y (M, N): `bias_relu_forward(y, bias, relu) -> y` adds the bias (N,) (or
None) and rectifies when `relu`, in place, in one pass; `relu_bias_backward(gy, y,
out=None) -> (gx, gb)` is relu_backward_from_output and gb (N,) = gx summed over the
rows, first row first (NumPy's order: the same bits). The ReLU
forward and both backwards take `out=`, a C-contiguous array of the result's shape and
dtype to write into: the input itself when the caller may overwrite it (each element is
read before it is written). GELU
(approximate="none" | "tanh", saves its input) runs in cpu.py (Numba) for float NumPy
arrays, else reference.py. The others are plain array code on NumPy and CuPy alike
(reference.py): sigmoid, tanh, softmax(x, axis), log_softmax(x, axis) save their output;
leaky_relu(x, negative_slope) the mask x > 0; elu(x, alpha), silu(x) their input.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.kernels import _route
from minidl.kernels.activation import reference
from minidl.kernels.activation.reference import (
    elu_backward,
    elu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    log_softmax_backward,
    log_softmax_forward,
    sigmoid_backward,
    sigmoid_forward,
    silu_backward,
    silu_forward,
    softmax_backward,
    softmax_forward,
    tanh_backward,
    tanh_forward,
)

__all__ = ["relu_forward", "relu_backward", "relu_backward_from_output", "bias_relu_forward",
           "relu_bias_backward",
           "sigmoid_forward", "sigmoid_backward", "tanh_forward", "tanh_backward",
           "softmax_forward", "softmax_backward", "log_softmax_forward",
           "log_softmax_backward", "leaky_relu_forward", "leaky_relu_backward",
           "elu_forward", "elu_backward", "silu_forward", "silu_backward",
           "gelu_forward", "gelu_backward"]


def _implementation(*arrays: Any, provides: str | None = None) -> Any:
    """The module that runs for these arrays; the reference where that module has no
    function named `provides` (gpu.py has no CUDA kernel for some: CuPy runs the reference)."""
    where = _route.route(*arrays)
    impl: Any = reference
    if where == "cpu":
        from minidl.kernels.activation import cpu as impl  # noqa: PLC0415 - imports Numba (half a second)
    elif where == "gpu":
        from minidl.kernels.activation import gpu as impl  # noqa: PLC0415
    return reference if provides is not None and not hasattr(impl, provides) else impl


def relu_forward(x: Any, needs: Sequence[bool] = (True,), out: Any = None) -> tuple[Any, Any]:
    """(max(x, 0), saved for `relu_backward`); saves nothing when not needs[0]; y into
    `out` when given (C-contiguous, of x's shape and dtype; x itself rectifies in place)."""
    impl = _implementation(x, out)  # a strided x goes to the reference: a copy would cost as much
    y, saved = impl.relu_forward(x, (bool(needs[0]),), out)
    return y, (impl, saved)


def relu_backward(gy: Any, saved: Any, out: Any = None) -> Any:
    """gy where x > 0, else 0 (into `out` when given)."""
    impl, state = saved
    return impl.relu_backward(gy, state, out)


def relu_backward_from_output(gy: Any, y: Any, out: Any = None) -> Any:
    """0 where y <= 0, else gy, from the ReLU's output y (every implementation's backward
    takes y as its saved): for an op that rectified its own output (a fused conv)."""
    return _implementation(gy, y).relu_backward(gy, y, out)


def bias_relu_forward(y: Any, bias: Any, relu: bool) -> Any:
    """y (M, N) += bias (N,) or None, then max(y, 0) when `relu`, in place (C-contiguous y,
    bias of its dtype); returns y."""
    return _implementation(y, bias, provides="bias_relu_forward").bias_relu_forward(y, bias, relu)


def relu_bias_backward(gy: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
    """(relu_backward_from_output(gy, y, out), its sum over rows) for gy, y (M, N)."""
    return _implementation(gy, y, provides="relu_bias_backward").relu_bias_backward(gy, y, out)


def gelu_forward(x: Any, approximate: str) -> tuple[Any, Any]:
    """(gelu(x), saved for `gelu_backward`); Numba for float NumPy arrays (reference.py
    for the rest)."""
    impl = _implementation(x, provides="gelu_forward")
    y, saved = impl.gelu_forward(x, approximate)
    return y, (impl, saved)


def gelu_backward(gy: Any, saved: Any) -> Any:
    """gy * d(gelu)/dx, where the forward ran."""
    impl, state = saved
    return impl.gelu_backward(gy, state)
