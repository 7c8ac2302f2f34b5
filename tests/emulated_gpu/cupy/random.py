"""cupy.random of the emulator: the Generator methods CuPy's Generator has, on device arrays."""
from __future__ import annotations

from typing import Any

import numpy as _np

_FLOAT_DTYPES = (_np.dtype(_np.float32), _np.dtype(_np.float64))


class Generator:
    """CuPy's Generator offers random/standard_normal/uniform/integers... in float32/float64."""

    def __init__(self, seed: Any = None) -> None:
        self._g = _np.random.default_rng(seed)

    def _float(self, method: str, dtype: Any, *args: Any, **kwargs: Any) -> Any:
        import cupy  # noqa: PLC0415

        if _np.dtype(dtype) not in _FLOAT_DTYPES:
            raise TypeError(f"Generator.{method}: dtype must be float32 or float64, not {_np.dtype(dtype)}")
        return cupy._wrap(_np.asarray(getattr(self._g, method)(*args, dtype=dtype, **kwargs)))

    def random(self, size: Any = None, dtype: Any = _np.float64, out: Any = None) -> Any:
        return self._float("random", dtype, size)

    def standard_normal(self, size: Any = None, dtype: Any = _np.float64, out: Any = None) -> Any:
        return self._float("standard_normal", dtype, size)

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        import cupy  # noqa: PLC0415

        return cupy._wrap(_np.asarray(self._g.uniform(low, high, size)))

    def integers(self, low: int, high: Any = None, size: Any = None, dtype: Any = _np.int64,
                 endpoint: bool = False) -> Any:
        import cupy  # noqa: PLC0415

        return cupy._wrap(_np.asarray(self._g.integers(low, high, size, dtype=dtype, endpoint=endpoint)))


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)
