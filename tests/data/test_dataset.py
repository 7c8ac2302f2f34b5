"""TensorDataset: rows of several arrays sharing their first axis."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl.data import Dataset, TensorDataset


def test_items_are_rows_of_every_array():
    x = np.arange(12).reshape(4, 3)
    y = np.array([7, 8, 9, 10])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi, [6, 7, 8])
    assert yi == 9


def test_index_arrays_select_several_rows():
    ds = TensorDataset(np.arange(10), np.arange(10) * 2)
    xs, ys = ds[np.array([3, 1])]
    np.testing.assert_array_equal(xs, [3, 1])
    np.testing.assert_array_equal(ys, [6, 2])


def test_tensors_are_accepted(backend):
    x = md.tensor(np.ones((5, 2), dtype=np.float32), device=backend)
    ds = TensorDataset(x, np.zeros(5))
    assert len(ds) == 5
    assert ds[0][0].shape == (2,)


def test_different_lengths_raise_naming_them():
    with pytest.raises(ValueError, match=r"TensorDataset.*\[4, 3\]"):
        TensorDataset(np.zeros(4), np.zeros(3))


def test_no_arrays_or_non_arrays_raise():
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(TypeError, match="argument 1"):
        TensorDataset(np.zeros(3), [1, 2, 3])


def test_base_dataset_needs_subclassing():
    with pytest.raises(NotImplementedError):
        len(Dataset())
