"""The im2col / col2im reference: layout contract and adjointness."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.backend.cpu.conv import col2im, im2col, output_size
from tests.helpers import assert_close


@st.composite
def geometries(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(max(1, kh - 2 * ph), 6)), draw(st.integers(max(1, kw - 2 * pw), 6)))
    return shape, (kh, kw, sh, sw, ph, pw)


def _array(shape, backend, seed):
    return md.tensor(np.random.default_rng(seed).standard_normal(shape), device=backend).data


@given(case=geometries(), seed=st.integers(0, 2**16))
def test_im2col_matches_contract_layout(backend, case, seed):
    """cols[n*OH*OW + oh*OW + ow, c*kh*kw + i*kw + j] = x[n, c, oh*sh + i - ph, ow*sw + j - pw]."""
    shape, (kh, kw, sh, sw, ph, pw) = case
    x = _array(shape, backend, seed)
    cols = md.tensor(im2col(x, kh, kw, sh, sw, ph, pw)).numpy()
    n, c, h, w = shape
    oh, ow = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    xn = np.pad(md.tensor(x).numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    expected = np.empty((n * oh * ow, c * kh * kw))
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                patch = xn[b, :, r * sh:r * sh + kh, q * sw:q * sw + kw]
                expected[b * oh * ow + r * ow + q] = patch.ravel()
    assert_close(cols, expected, rtol=0, atol=0)


@given(case=geometries(), seed=st.integers(0, 2**16))
def test_col2im_is_adjoint_of_im2col(backend, case, seed):
    """<im2col(x), c> == <x, col2im(c)> for every x and c."""
    shape, geometry = case
    x = _array(shape, backend, seed)
    cols = im2col(x, *geometry)
    c = _array(cols.shape, backend, seed + 1)
    dx = col2im(c, shape, *geometry)
    assert dx.shape == shape
    lhs = float((cols * c).sum())
    rhs = float((x * dx).sum())
    assert abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))


def test_col2im_counts_how_often_each_pixel_is_read(backend):
    """col2im of ones counts window memberships: overlaps add, padding is dropped."""
    ones = md.ones(4, 4, dtype="float64", device=backend).data  # 2x2 kernel, stride 1: 4 windows
    dx = col2im(ones, (1, 1, 3, 3), 2, 2, 1, 1, 0, 0)
    assert_close(md.tensor(dx).numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    ones = md.ones(4, 9, dtype="float64", device=backend).data  # 3x3 kernel, stride 2, padding 1
    dx = col2im(ones, (1, 1, 3, 3), 3, 3, 2, 2, 1, 1)
    assert_close(md.tensor(dx).numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
