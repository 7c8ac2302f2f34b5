"""The CuPy emulator (tests/emulated_gpu) has CuPy's namespace, not NumPy's: a NumPy name
that CuPy lacks is an AttributeError, and a NumPy function CuPy lacks refuses its arrays.

Imported as tests.emulated_gpu.cupy, so this runs in every leg without putting the emulator
in place of `cupy`."""
from __future__ import annotations

import numpy as np
import pytest

from tests.emulated_gpu import cupy as emulator

# in NumPy 2, not in CuPy (checked against cupy/__init__.py of CuPy 12.0 to 14.2)
NOT_IN_CUPY = ["frompyfunc", "fromregex", "nditer", "busday_count", "asmatrix", "histogram_bin_edges",
               "errstate", "geomspace", "longdouble", "insert", "nanpercentile", "unstack"]
# in CuPy 14 but not in 12 or 13, which pyproject allows: code that needs them breaks there
NEWER_THAN_CUPY_13 = ["concat", "cumulative_sum", "pow", "permute_dims", "unique_values"]


@pytest.mark.parametrize("name", NOT_IN_CUPY + NEWER_THAN_CUPY_13)
def test_a_numpy_name_cupy_lacks_is_an_attribute_error(name):
    assert hasattr(np, name)
    with pytest.raises(AttributeError, match=rf"module 'cupy' has no attribute '{name}'"):
        getattr(emulator, name)


def test_a_numpy_function_cupy_lacks_refuses_device_arrays():
    a = emulator.arange(6.0)
    with pytest.raises(TypeError, match="histogram_bin_edges"):
        np.histogram_bin_edges(a)
    assert float(np.sum(a)) == 15.0  # one CuPy has runs CuPy's (the emulator's)


def test_every_provided_name_is_there_and_what_minidl_uses_too():
    for name in emulator._PROVIDED:
        getattr(emulator, name)  # no AttributeError (cupy.newaxis is None, as np.newaxis)
    for name in ("abs", "add", "arange", "broadcast_to", "clip", "concatenate", "empty", "empty_like",
                 "exp", "float16", "float32", "full", "int64", "log", "log1p", "matmul", "maximum",
                 "ones", "sign", "split", "sqrt", "stack", "take", "tanh", "vdot", "where", "zeros",
                 "zeros_like", "bool_", "float64", "int32", "result_type", "finfo"):
        assert name in emulator._PROVIDED or name in vars(emulator), name
