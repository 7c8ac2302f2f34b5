"""Dropout: inverted dropout with the mask drawn from a counter-based hash.

Contract. For x of any shape (taken in C order, element i = 0, 1, ...), a probability p in
[0, 1) and a 64-bit `seed`: element i is kept when u_i >= p, u_i = k_i / 2^24 with k_i the
top 24 bits of splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15), which is what a float32
uniform draw gives (24 random bits), so keep ~ Bernoulli(1 - p) as before; a kept
element is scaled by 1 / (1 - p) in x's dtype, a dropped one multiplied by 0 (a NaN stays
NaN, as in PyTorch's x * mask).

- `forward(x, p, seed) -> (y, saved)`;
- `backward(gy, saved) -> gx`: the same mask applied to gy (gy of x's shape, any layout).

The mask is a function of (seed, i): nothing is stored for the backward but the seed, any
number of threads draw it in parallel, and a seed gives the same mask on every path.

Implementations: reference.py (array code on NumPy and CuPy: the GPU path too) and
cpu.py (Numba, one pass, no mask array).
"""
from __future__ import annotations

from typing import Any

from minidl.kernels import _route
from minidl.kernels.dropout import reference

Saved = Any


def _implementation(x: Any) -> Any:
    if _route.route(x) == "cpu":
        from minidl.kernels.dropout import cpu  # noqa: PLC0415 - imports Numba

        return cpu
    return reference


def forward(x: Any, p: float, seed: int) -> tuple[Any, Saved]:
    """(x * keep / (1 - p), saved for `backward`)."""
    impl = _implementation(x)
    return impl.apply(x, p, seed), (impl, p, seed)


def backward(gy: Any, saved: Saved) -> Any:
    """gy * keep / (1 - p), with the forward's mask."""
    impl, p, seed = saved
    return impl.apply(_route.contiguous(gy) if impl is not reference else gy, p, seed)
