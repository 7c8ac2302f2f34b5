"""Normalization (batch norm, layer norm): statistics and affine map in one kernel each way.

Contract. x3 (A, C, B) is normalised per index c over axes 0 and 2 (M = A*B values):
mean and biased variance, xhat = (x - mean) / sqrt(var + eps). The affine parameters
depend on the `layout`:
- "channel" (batch norm: x (N, C, ...) viewed as (N, C, L)): weight, bias (C,);
- "feature" (layer norm: x (..., D) viewed as (1, R, D)): weight, bias (D,).
Either may be None (no scale / no shift).

- `forward(x3, weight, bias, eps, layout, relu=False) -> (y, saved, mean, var)`:
  y = xhat * weight + bias (x3's shape), then max(y, 0) as activation.relu_forward makes
  it when `relu` (batch norm followed by a ReLU, "channel" only); mean and var (C,) are
  the batch statistics (biased variance), for the caller's running averages; `saved` is
  whatever `backward` needs (it keeps x3: x3 must not change before the backward).
- `backward(gy, saved, weight, layout, need_x, need_w, need_b) -> (gx, gw, gb)`, each None when
  not needed; gy of x3's shape in any layout (at the rectified output with `relu`: masked
  by it first). gx is the closed form inv/M * (M*g - sum(g) - xhat * sum(g*xhat)) with
  g = gy * weight, not the graph of forward's parts.

Implementations: reference.py (array code: NumPy, and CuPy, where its few fused passes
and reductions are the GPU path) and cpu.py (Numba: one pass for the statistics, one for
the normalisation, each way). `saved` remembers which one ran and the backward runs there.
"""
from __future__ import annotations

from typing import Any

from minidl.kernels import _route, activation
from minidl.kernels.norm import reference

Saved = Any


def _implementation(x3: Any, weight: Any, bias: Any) -> Any:
    # an empty batch has no first value to shift the statistics by: the reference takes it
    if x3.size and _route.route(x3, weight, bias) == "cpu":
        from minidl.kernels.norm import cpu  # noqa: PLC0415 - imports Numba (half a second)

        return cpu
    return reference


def forward(x3: Any, weight: Any, bias: Any, eps: float, layout: str,
            relu: bool = False) -> tuple[Any, Saved, Any, Any]:
    """Normalise x3 (A, C, B) per c: (y, saved for `backward`, mean (C,), var (C,)); y
    rectified when `relu`: by the Numba kernel as it writes y, elsewhere afterwards."""
    if relu and layout != "channel":
        raise ValueError(f"normalization: relu=True is for the channel layout, got {layout!r}")
    impl = _implementation(x3, weight, bias)
    if relu and getattr(impl, "FUSES_RELU", False):
        y, state, mean, var = impl.forward(x3, weight, bias, eps, layout, relu=True)
        return y, (impl, state, None), mean, var
    y, state, mean, var = impl.forward(x3, weight, bias, eps, layout)
    if relu:
        y, _ = activation.relu_forward(y, (False,))
    return y, (impl, state, y if relu else None), mean, var


def backward(gy: Any, saved: Saved, weight: Any, layout: str, need_x: bool, need_w: bool,
             need_b: bool) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) of the forward that returned `saved`, from gy (A, C, B)."""
    impl, state, rectified = saved
    if rectified is not None:  # a ReLU applied after the kernel: its mask, then the norm's
        gy = activation.relu_backward_from_output(gy, rectified)
    return impl.backward(gy, state, weight, layout, need_x, need_w, need_b)
