"""The kernels the benchmarks time, each as: sizes, and a factory that returns a
zero-argument callable running one implementation on inputs of one size.

Implementations: "reference" (the plain NumPy code: a concern's reference.py, or a
`*_reference` function), "numba" (the Numba kernels, called directly so MINIDL_KERNELS
does not matter) and "cupy" (the GPU kernels on CuPy arrays; only when a GPU is there).
Shared by benchmarks/test_kernels.py and the smoke test in tests/.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

IMPLS = ("reference", "numba", "cupy")


@dataclass(frozen=True)
class KernelCase:
    name: str
    sizes: tuple[Any, ...]  # the first is the smallest (the smoke test runs it)
    make: Callable[[str, Any], Callable[[], Any]]


def _rand(shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _on(impl: str, *arrays: Any) -> tuple[Any, ...]:
    """The arrays on the implementation's device."""
    if impl != "cupy":
        return arrays
    import cupy

    return tuple(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in arrays)


def _sync(impl: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    if impl != "cupy":
        return fn
    import cupy

    def run() -> Any:
        out = fn()
        cupy.cuda.Device().synchronize()
        return out

    return run


def _pick(impl: str, reference: Callable[..., Any], numba_fn: Callable[[], Callable[..., Any]],
          public: Callable[..., Any]) -> Callable[..., Any]:
    if impl == "reference":
        return reference
    if impl == "numba":
        return numba_fn()
    return public


# ---- convolution, pooling, activation (minidl/kernels/<concern>) ------------------------
# Each implementation module of a concern directly: reference.py, cpu.py (Numba), gpu.py
# (CuPy). Backward cases time the backward alone, on what the same implementation's
# forward saved.

def _kernels(impl: str) -> SimpleNamespace:
    """The conv, pool and activation modules of one implementation."""
    if impl == "numba":
        from minidl.kernels.activation import cpu as activation
        from minidl.kernels.conv import cpu as conv
        from minidl.kernels.pool import cpu as pool
    elif impl == "cupy":
        from minidl.kernels.activation import gpu as activation
        from minidl.kernels.conv import gpu as conv
        from minidl.kernels.pool import gpu as pool
    else:
        from minidl.kernels.activation import reference as activation
        from minidl.kernels.conv import reference as conv
        from minidl.kernels.pool import reference as pool
    return SimpleNamespace(conv=conv, pool=pool, activation=activation)


def _conv_inputs(impl: str, size: tuple[int, int, int, int]) -> tuple[Any, ...]:
    n, c_in, c_out, hw = size
    return _on(impl, _rand((n, c_in, hw, hw)), _rand((c_out, c_in, 3, 3), 1), _rand((c_out,), 2))


def _conv_forward(impl: str, size: tuple[int, int, int, int]) -> Callable[[], Any]:
    x, w, b = _conv_inputs(impl, size)
    kernel = _kernels(impl).conv
    return _sync(impl, lambda: kernel.forward(x, w, b, (1, 1), (0, 0), (True, True, True)))


def _conv_backward(impl: str, size: tuple[int, int, int, int]) -> Callable[[], Any]:
    x, w, b = _conv_inputs(impl, size)
    kernel = _kernels(impl).conv
    # the first layer of a network: weight and bias gradients, none for the input
    y, saved = kernel.forward(x, w, b, (1, 1), (0, 0), (size[1] > 1, True, True))
    gy, = _on(impl, _rand(tuple(y.shape), 3))
    return _sync(impl, lambda: kernel.backward(gy, saved))


def _pool_forward(impl: str, size: int) -> Callable[[], Any]:
    x, = _on(impl, _rand((size, 32, 26, 26)))
    kernel = _kernels(impl).pool
    return _sync(impl, lambda: kernel.maxpool(x, 2, 2, 2, 2, 0, 0))


def _pool_backward(impl: str, size: int) -> Callable[[], Any]:
    x, gy = _on(impl, _rand((size, 32, 26, 26)), _rand((size, 32, 13, 13), 1))
    kernel = _kernels(impl).pool
    _, argmax = kernel.maxpool(x, 2, 2, 2, 2, 0, 0)
    return _sync(impl, lambda: kernel.unpool(gy, argmax, tuple(x.shape), (2, 2, 2, 2, 0, 0)))


def _relu_forward(impl: str, size: int) -> Callable[[], Any]:
    x, = _on(impl, _rand((size,)))
    kernel = _kernels(impl).activation
    return _sync(impl, lambda: kernel.relu_forward(x))


def _relu_backward(impl: str, size: int) -> Callable[[], Any]:
    x, gy = _on(impl, _rand((size,)), _rand((size,), 1))
    kernel = _kernels(impl).activation
    _, saved = kernel.relu_forward(x)
    return _sync(impl, lambda: kernel.relu_backward(gy, saved))


# ---- LSTM cell, loss, optimizers --------------------------------------------------------

def _loss_cpu() -> Any:
    """The Numba loss kernels, called directly (MINIDL_KERNELS does not matter; the inputs
    here are the contiguous float32 arrays the route sends there)."""
    from minidl.kernels.loss import cpu

    return cpu


def _optim_cpu() -> Any:
    """The Numba optimizer kernels, called directly (as `_loss_cpu`)."""
    from minidl.kernels.optim import cpu

    return cpu


def _numba_lstm_forward(z: Any, c: Any, xz: Any) -> Any:
    from minidl.kernels.recurrent import cpu

    # the kernel works in place: the gates array holds the input gates when it starts
    h_new, c_new, gates = np.empty_like(c), np.empty_like(c), xz.copy()
    cpu.lstm_cell_forward(z, np.zeros(z.shape[1], z.dtype), c, h_new, c_new, gates)
    return h_new, c_new, gates


def _numba_lstm_backward(saved: Any, gh: Any, gc: Any) -> Any:
    from minidl.kernels.recurrent import cpu

    gates, c, c_new = saved
    dz, dc = gates.copy(), np.empty_like(c)  # turned from the gates into dz in place
    cpu.lstm_cell_backward(gh, gc, c, c_new, dz, dc)
    return dz, dc


def _lstm_forward(impl: str, size: tuple[int, int]) -> Callable[[], Any]:
    from minidl.kernels import recurrent
    from minidl.kernels.recurrent import reference

    n, h = size  # z = h @ W_hh and xz the step's input gates, as the layer passes them
    z, c, xz = _on(impl, _rand((n, 4 * h)), _rand((n, h), 1), _rand((n, 4 * h), 2))
    fn = _pick(impl, reference.lstm_cell_forward, lambda: _numba_lstm_forward,
               lambda z, c, xz: recurrent.lstm_cell_forward(z, c, xz=xz))
    return _sync(impl, lambda: fn(z, c, xz))


def _lstm_backward(impl: str, size: tuple[int, int]) -> Callable[[], Any]:
    from minidl.kernels import recurrent
    from minidl.kernels.recurrent import reference

    n, h = size
    _, c_new, (gates, _, _) = reference.lstm_cell_forward(_rand((n, 4 * h)), _rand((n, h), 1))
    gh, gc, gates, c, c_new = _on(impl, _rand((n, h), 2), _rand((n, h), 3), gates, _rand((n, h), 1), c_new)
    fn = _pick(impl, reference.lstm_cell_backward, lambda: _numba_lstm_backward,
               recurrent.lstm_cell_backward)
    return _sync(impl, lambda: fn((gates, c, c_new), gh, gc))


def _ce_forward_backward(impl: str, size: tuple[int, int]) -> Callable[[], Any]:
    from minidl.kernels import loss
    from minidl.kernels.loss import reference

    n, k = size
    target = np.random.default_rng(0).integers(0, k, size=n)
    logits, target, gloss = _on(impl, _rand((n, k)), target, np.full(n, 1.0 / n, np.float32))
    fwd = _pick(impl, reference.softmax_cross_entropy_forward,
                lambda: _loss_cpu().softmax_cross_entropy_forward, loss.softmax_cross_entropy_forward)
    bwd = _pick(impl, reference.softmax_cross_entropy_backward,
                lambda: _loss_cpu().softmax_cross_entropy_backward, loss.softmax_cross_entropy_backward)

    def step() -> Any:
        _, saved = fwd(logits, target, 0.0)
        return bwd(saved, gloss)

    return _sync(impl, step)


def _adam(impl: str, size: int) -> Callable[[], Any]:
    from minidl.kernels import optim
    from minidl.kernels.optim import reference

    p, g, m, v = _on(impl, _rand((size,)), _rand((size,), 1), np.zeros(size, np.float32),
                     np.zeros(size, np.float32))
    fn = _pick(impl, reference.adam_update, lambda: _optim_cpu().adam_update, optim.adam_update)
    return _sync(impl, lambda: fn(p, g, m, v, 10, 1e-3, 0.9, 0.999, 1e-8, 0.0, False))


def _sgd(impl: str, size: int) -> Callable[[], Any]:
    from minidl.kernels import optim
    from minidl.kernels.optim import reference

    p, g, buf = _on(impl, _rand((size,)), _rand((size,), 1), np.zeros(size, np.float32))
    fn = _pick(impl, reference.sgd_update, lambda: _optim_cpu().sgd_update, optim.sgd_update)
    return _sync(impl, lambda: fn(p, g, buf, 0.01, 0.9, 0.0, False, 0.0))


# sizes: conv (N, C_in, C_out, H=W); pool N for (N, 32, 26, 26); element counts; (N, H); (N, K)
CASES = (
    KernelCase("conv2d_forward", ((2, 1, 4, 8), (64, 1, 32, 28), (256, 1, 32, 28), (64, 16, 32, 14)),
               _conv_forward),
    KernelCase("conv2d_backward", ((2, 1, 4, 8), (64, 1, 32, 28), (256, 1, 32, 28), (64, 16, 32, 14)),
               _conv_backward),
    KernelCase("maxpool_forward", (1, 64, 256), _pool_forward),
    KernelCase("maxpool_backward", (1, 64, 256), _pool_backward),
    KernelCase("relu_forward", (1000, 64 * 32 * 26 * 26, 1000 * 32 * 26 * 26), _relu_forward),
    KernelCase("relu_backward", (1000, 64 * 32 * 26 * 26), _relu_backward),
    KernelCase("lstm_cell_forward", ((2, 8), (64, 128), (256, 256)), _lstm_forward),
    KernelCase("lstm_cell_backward", ((2, 8), (64, 128), (256, 256)), _lstm_backward),
    KernelCase("softmax_cross_entropy", ((4, 10), (64, 10), (1024, 10)), _ce_forward_backward),
    KernelCase("adam_update", (1000, 5408 * 128, 4_000_000), _adam),
    KernelCase("sgd_update", (1000, 5408 * 128), _sgd),
)
