"""The hypothesis strategies the tests share: seeds, shapes, and conv/pool window geometry.

A window is (kh, kw, sh, sw, ph, pw): kernel, stride and padding along height and width,
drawn so that the padded input always holds at least one window.
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

seeds = st.integers(0, 2**16)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


@st.composite
def broadcastable_pair(draw: Any, max_dims: int = 3) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast together (some sides set to 1, some leading axes dropped)."""
    full = draw(shapes(0, max_dims))
    def variant() -> tuple[int, ...]:
        drop = draw(st.integers(0, len(full)))
        kept = full[drop:]
        return tuple(1 if draw(st.booleans()) else n for n in kept)
    return variant(), variant()


@st.composite
def windows(draw: Any, max_kernel: int = 3, max_stride: int = 3, max_padding: int = 2,
            pool: bool = False) -> tuple[int, int, int, int, int, int]:
    """(kh, kw, sh, sw, ph, pw); `pool`: padding at most half the kernel (max pooling's rule)."""
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    sh, sw = draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride))
    if pool:
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    else:
        ph, pw = draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding))
    return kh, kw, sh, sw, ph, pw


@st.composite
def planes(draw: Any, window: tuple[int, ...], max_n: int, max_c: int,
           max_side: int) -> tuple[int, int, int, int]:
    """An (N, C, H, W) input shape on which `window` fits at least once."""
    kh, kw, _, _, ph, pw = window
    return (draw(st.integers(1, max_n)), draw(st.integers(1, max_c)),
            draw(st.integers(max(1, kh - 2 * ph), max(max_side, kh))),
            draw(st.integers(max(1, kw - 2 * pw), max(max_side, kw))))


@st.composite
def conv_geometries(draw: Any, max_n: int = 3, max_c: int = 3, max_c_out: int = 4,
                    max_side: int = 7) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(x_shape (N, C_in, H, W), w_shape (C_out, C_in, kh, kw), window)."""
    window = draw(windows())
    x_shape = draw(planes(window, max_n, max_c, max_side))
    return x_shape, (draw(st.integers(1, max_c_out)), x_shape[1]) + window[:2], window


@st.composite
def pool_geometries(draw: Any, max_n: int = 3, max_c: int = 3,
                    max_side: int = 8) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(x_shape (N, C, H, W), window) with padding at most half the kernel."""
    window = draw(windows(pool=True))
    return draw(planes(window, max_n, max_c, max_side)), window


def pair_or_int(draw: Any, a: int, b: int) -> Any:
    """The pair (a, b), written as a plain int when both sides agree and the draw says so."""
    return a if a == b and draw(st.booleans()) else (a, b)
