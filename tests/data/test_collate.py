"""default_collate and the structure of batches: tuples, dicts, arrays, named tuples."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

import minidl as md
from minidl.data import DataLoader, Dataset, default_collate


class Pair(NamedTuple):
    image: np.ndarray
    label: int


def test_dtypes_follow_pytorchs_default_collate():
    sample = {"a": 1, "b": 0.5, "c": True, "d": np.float32(2), "e": "x",
              "f": (np.zeros(2, np.float32), 3)}
    batch = default_collate([sample, sample])
    # torch 2.13: int64, float64, bool, float32, a list of strings; tuples field by field
    assert {k: batch[k].dtype for k in "abcd"} == {"a": np.int64, "b": np.float64, "c": np.bool_,
                                                   "d": np.float32}
    assert batch["e"] == ["x", "x"]
    assert isinstance(batch["f"], tuple) and batch["f"][0].shape == (2, 2) and batch["f"][1].dtype == np.int64


def test_named_tuples_and_lists_keep_their_type():
    batch = default_collate([Pair(np.ones(3), 1), Pair(np.zeros(3), 2)])
    assert isinstance(batch, Pair) and batch.image.shape == (2, 3)
    np.testing.assert_array_equal(batch.label, [1, 2])
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)


def test_tensors_stack():
    batch = default_collate([md.tensor([1.0, 2.0]), md.tensor([3.0, 4.0])])
    assert isinstance(batch, np.ndarray) and batch.dtype == np.float32 and batch.shape == (2, 2)


@pytest.mark.parametrize("samples, error, match", [
    ([np.zeros(3), np.zeros(4)], ValueError,
     r"cannot stack samples of shapes \[\(3,\), \(4,\)\] at the sample into one batch; pad them"),
    ([(np.zeros(2), np.zeros(3)), (np.zeros(2), np.zeros(1))], ValueError, r"at the sample\[1\]"),
    ([{"a": 1}, {"b": 1}], ValueError, r"sample 1 has keys \['b'\] at the sample, the first has \['a'\]"),
    ([(1, 2), (1,)], ValueError, "sample 1 has 1 fields at the sample, the first has 2"),
    ([object(), object()], TypeError, "cannot collate object samples"),
    ([], ValueError, "empty list"),
])
def test_mismatched_samples_raise_saying_where(samples, error, match):
    with pytest.raises(error, match=match):
        default_collate(samples)


class Records(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "meta": {"id": i, "name": f"n{i}"}}


def test_dict_samples_give_dict_batches_of_tensors():
    batch = next(iter(DataLoader(Records(), batch_size=3)))
    assert set(batch) == {"x", "meta"}
    assert isinstance(batch["x"], md.Tensor) and batch["x"].shape == (3, 2)
    assert isinstance(batch["meta"]["id"], md.Tensor) and batch["meta"]["id"].tolist() == [0, 1, 2]
    assert batch["meta"]["name"] == ["n0", "n1", "n2"]


def test_collate_fn_replaces_the_default_and_its_result_is_returned_as_is():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [s["meta"]["id"] for s in samples]

    assert list(DataLoader(Records(), batch_size=2, collate_fn=collate)) == [[0, 1], [2, 3], [4]]
    assert seen == [2, 2, 1]
