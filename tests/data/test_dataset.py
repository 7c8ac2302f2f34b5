"""TensorDataset: rows of several arrays sharing their first axis; Subset; random_split."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl.data import Dataset, Subset, TensorDataset, random_split


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


def test_subset_picks_samples_in_its_order():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [4, 0, -1])
    assert len(sub) == 3
    assert sub[0][0] == 40 and sub[1][0] == 0 and sub[2][0] == 90
    np.testing.assert_array_equal(sub[[2, 0]][0], [90, 40])
    nested = Subset(sub, [2, 0])
    assert [nested[i][0] for i in range(2)] == [90, 40]
    assert repr(sub) == "Subset(TensorDataset((10,)), 3 of 10 samples)"


def test_subset_checks_its_indices():
    ds = TensorDataset(np.arange(5))
    with pytest.raises(IndexError, match=r"Subset: indices must lie in \[-5, 5\)"):
        Subset(ds, [0, 5])
    with pytest.raises(TypeError, match="Subset: indices must be a 1-D sequence of integers"):
        Subset(ds, [0.5, 1.0])
    with pytest.raises(TypeError, match="Subset: the dataset needs __len__"):
        Subset(3, [0])


@pytest.mark.parametrize("n, lengths, expected", [
    # torch.utils.data.random_split's lengths for the same n and lengths (torch 2.13)
    (10, [0.3, 0.7], [3, 7]),
    (10, [0.33, 0.33, 0.34], [4, 3, 3]),
    (7, [0.5, 0.5], [4, 3]),
    (11, [0.25, 0.25, 0.25, 0.25], [3, 3, 3, 2]),
    (3, [0.2, 0.8], [1, 2]),
    (10, [3, 7], [3, 7]),
    (1, [1], [1]),
])
def test_random_split_lengths_are_pytorchs(n, lengths, expected):
    parts = random_split(TensorDataset(np.arange(n)), lengths, seed=0)
    assert [len(p) for p in parts] == expected
    seen = np.concatenate([[p[i][0] for i in range(len(p))] for p in parts if len(p)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(n))  # a partition


def test_random_split_warns_about_an_empty_split():
    with pytest.warns(UserWarning, match="split 1 has length 0"):
        parts = random_split(TensorDataset(np.arange(5)), [0.1, 0.1, 0.8], seed=0)
    assert [len(p) for p in parts] == [1, 0, 4]  # torch 2.13 too


def test_random_split_is_seeded():
    ds = TensorDataset(np.arange(20))
    a = [list(p.indices) for p in random_split(ds, [0.5, 0.5], seed=3)]
    assert a == [list(p.indices) for p in random_split(ds, [0.5, 0.5], seed=3)]
    assert a != [list(p.indices) for p in random_split(ds, [0.5, 0.5], seed=4)]
    md.manual_seed(1)
    b = [list(p.indices) for p in random_split(ds, [10, 10])]
    md.manual_seed(1)
    assert b == [list(p.indices) for p in random_split(ds, [10, 10])]


@pytest.mark.parametrize("lengths, match", [
    ([3, 6], r"the lengths \[3, 6\] sum to 9, but the dataset has 10 samples"),
    ([0.5, 0.6], "sum to"),
    ([2.5, 7.5], "whole counts or fractions that sum to 1"),
    ([-1, 11], "length 0 must be a count or a fraction >= 0"),
])
def test_random_split_errors(lengths, match):
    with pytest.raises(ValueError, match=match):
        random_split(TensorDataset(np.arange(10)), lengths)
