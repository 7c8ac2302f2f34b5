"""2-D convolution (cross-correlation, as PyTorch): the contract and the route.

Shapes: x (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None,
y (N, C_out, OH, OW) with OH = output_size(H, kH, sH, pH), likewise OW (_geometry).
`stride` and `padding` are pairs (height, width); padding is zeros.

- `forward(x, weight, bias, stride, padding, needs) -> (y, saved)`: `needs` is the op's
  needs_input_grad (x, weight[, bias]); the implementation saves only what those
  gradients take.
- `backward(gy, saved) -> (gx, gw, gb)`: gy (N, C_out, OH, OW) in any layout; each
  gradient None where it was not asked for.

- `forward_relu_pool(x, weight, bias, stride, padding, window, needs) -> (y, saved)`:
  maxpool(relu(conv)) with the pool's `window` (kernel, stride, padding: three pairs),
  as kernels/pool and kernels/activation compute it; `backward_relu_pool(gy, saved)`
  returns (gx, gw, gb) from gy (N, C_out, PH, PW), the pooled output's gradient.

Implementations: reference.py (im2col + one product, NumPy and CuPy alike), cpu.py
(Numba: direct or im2col + GEMM per shape), gpu.py (CuPy: im2col/col2im kernels around
the reference's product). cpu.py alone fuses the pooling (`forward_relu_pool`): for a
stride-1 direct convolution with 2x2 windows it pools the output rows as it makes them,
so the full-size output is never written; everywhere else the convolution (with its
ReLU), then the pooling run one after the other. Each saves what it likes, so `saved`
remembers which one ran and the backward runs there too.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl.backend import array_module
from minidl.kernels import _route, activation, pool
from minidl.kernels.conv import reference


def _implementation(*arrays: Any) -> Any:
    where = _route.route(*arrays)
    if where == "cpu":
        from minidl.kernels.conv import cpu  # noqa: PLC0415 - imports Numba (half a second)

        return cpu
    if where == "gpu":
        from minidl.kernels.conv import gpu  # noqa: PLC0415

        return gpu
    return reference


def forward(x: Any, weight: Any, bias: Any, stride: tuple[int, int], padding: tuple[int, int],
            needs: Sequence[bool] = (True, True, True), relu: bool = False) -> tuple[Any, Any]:
    """Cross-correlate x with weight (+ bias): (y, saved) for `backward`. With `relu`, y is
    rectified as activation.relu_forward does: by the Numba kernels as they write y (no
    second pass over it), elsewhere by relu_forward afterwards. `backward` then takes the
    gradient of the convolution's own output (the op masks gy by y <= 0 first)."""
    xp = array_module(x)
    # a strided view costs one copy here, far less than the reference would
    x, weight = xp.ascontiguousarray(x), xp.ascontiguousarray(weight)
    bias = None if bias is None else xp.ascontiguousarray(bias)
    need = (bool(needs[0]), bool(needs[1]), len(needs) > 2 and bool(needs[2]))
    impl = _implementation(x, weight, bias)
    if relu and getattr(impl, "FUSES_RELU", False):
        y, saved = impl.forward(x, weight, bias, tuple(stride), tuple(padding), need, relu=True)
        return y, (impl, saved)
    y, saved = impl.forward(x, weight, bias, tuple(stride), tuple(padding), need)
    if relu:
        y, _ = activation.relu_forward(y, (False,))
    return y, (impl, saved)


def backward(gy: Any, saved: Any) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) of the forward that returned `saved`, from gy (N, C_out, OH, OW)."""
    impl, state = saved
    return impl.backward(gy, state)


def forward_relu_pool(x: Any, weight: Any, bias: Any, stride: tuple[int, int],
                      padding: tuple[int, int], window: tuple[tuple[int, int], ...],
                      needs: Sequence[bool] = (True, True, True)) -> tuple[Any, Any]:
    """maxpool(relu(conv(x))): (y, saved) for `backward_relu_pool`; `window` is the pool's
    (kernel, stride, padding)."""
    xp = array_module(x)
    x, weight = xp.ascontiguousarray(x), xp.ascontiguousarray(weight)
    bias = None if bias is None else xp.ascontiguousarray(bias)
    need = (bool(needs[0]), bool(needs[1]), len(needs) > 2 and bool(needs[2]))
    impl = _implementation(x, weight, bias)
    if hasattr(impl, "forward_relu_pool"):
        fused = impl.forward_relu_pool(x, weight, bias, tuple(stride), tuple(padding),
                                       tuple(map(tuple, window)), need)
        if fused is not None:  # None: not a shape its fused kernel takes
            y, saved = fused
            return y, (impl.backward_relu_pool, saved)
    y, conv_saved = forward(x, weight, bias, stride, padding, need, relu=True)
    pooled, pool_saved = pool.forward(y, *window, needs=(any(need),))
    return pooled, (_unfused_backward, (conv_saved, pool_saved, y if any(need) else None))


def backward_relu_pool(gy: Any, saved: Any) -> tuple[Any, Any, Any]:
    """(gx, gw, gb) of the forward_relu_pool that returned `saved`, from gy (N, C_out, PH, PW)."""
    run, state = saved
    return run(gy, state)


def _unfused_backward(gy: Any, state: Any) -> tuple[Any, Any, Any]:
    conv_saved, pool_saved, y = state
    g = pool.backward(gy, pool_saved)  # a new array: the ReLU's mask may write into it
    g = activation.relu_backward_from_output(g, y, out=g)
    return backward(g, conv_saved)
