"""random_shift: whole-pixel shifts with zero fill."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.data import random_shift


def _reference(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[..., y, x] = image[..., y - dy, x - dx]
    return out


@pytest.mark.parametrize("channels", [None, 3])
def test_each_image_is_shifted_by_its_own_offset(channels):
    rng = np.random.default_rng(0)
    shape = (6, 5, 7) if channels is None else (6, channels, 5, 7)
    images = rng.integers(1, 255, size=shape).astype(np.uint8)
    out = random_shift(images, max_shift=2, rng=np.random.default_rng(42))
    shifts = np.random.default_rng(42).integers(-2, 3, size=(6, 2))
    assert out.shape == images.shape and out.dtype == images.dtype
    for img, got, (dy, dx) in zip(images, out, shifts):
        np.testing.assert_array_equal(got, _reference(img, dy, dx))


def test_zero_shift_is_the_identity():
    images = np.arange(2 * 3 * 3).reshape(2, 3, 3)
    np.testing.assert_array_equal(random_shift(images, max_shift=0), images)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="random_shift"):
        random_shift(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(np.zeros((1, 3, 3)), max_shift=-1)
