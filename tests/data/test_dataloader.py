"""DataLoader: batching, drop_last, seeded shuffling, Tensors vs arrays, custom datasets."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl.data import DataLoader, Dataset, TensorDataset


def _batches(loader):
    return [tuple(t.numpy() for t in batch) for batch in loader]


def test_batches_in_order_with_a_short_last_batch():
    x, y = np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    batches = _batches(loader)
    assert len(loader) == 3 == len(batches)
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    np.testing.assert_array_equal(batches[0][0], x[:4])


def test_drop_last_skips_the_short_batch():
    loader = DataLoader(TensorDataset(np.arange(10)), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(b[0]) for b in _batches(loader)] == [4, 4]


def test_batches_are_tensors_on_the_default_backend_keeping_dtypes(backend):
    md.set_backend(backend)
    x = np.zeros((6, 2, 3), dtype=np.float32)
    y = np.arange(6, dtype=np.int64)
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=4)))
    assert isinstance(xb, md.Tensor) and isinstance(yb, md.Tensor)
    assert xb.shape == (4, 2, 3) and xb.dtype == np.float32 and yb.dtype == np.int64
    assert xb.device == ("cuda" if backend == "cupy" else "cpu")


def test_tensor_datasets_give_the_same_batches_as_arrays():
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    a = _batches(DataLoader(TensorDataset(x), batch_size=4, shuffle=True, seed=3))
    b = _batches(DataLoader(TensorDataset(md.tensor(x)), batch_size=4, shuffle=True, seed=3))
    for (ba,), (bb,) in zip(a, b):
        np.testing.assert_array_equal(ba, bb)


def test_shuffle_is_a_permutation_that_changes_per_epoch_and_repeats_with_the_seed():
    y = np.arange(50)
    loader = DataLoader(TensorDataset(y), batch_size=8, shuffle=True, seed=1)
    epoch1 = np.concatenate([b[0] for b in _batches(loader)])
    epoch2 = np.concatenate([b[0] for b in _batches(loader)])
    np.testing.assert_array_equal(np.sort(epoch1), y)
    assert not np.array_equal(epoch1, y)
    assert not np.array_equal(epoch1, epoch2)
    again = DataLoader(TensorDataset(y), batch_size=8, shuffle=True, seed=1)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in _batches(again)]), epoch1)


def test_manual_seed_makes_unseeded_shuffles_repeatable():
    y = np.arange(30)
    orders = []
    for _ in range(2):
        md.manual_seed(123)
        loader = DataLoader(TensorDataset(y), batch_size=30, shuffle=True)
        orders.append(_batches(loader)[0][0])
    np.testing.assert_array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], y)


def test_pairs_stay_aligned_when_shuffled():
    x = np.arange(20) * 10
    y = np.arange(20)
    for xb, yb in _batches(DataLoader(TensorDataset(x, y), batch_size=6, shuffle=True, seed=0)):
        np.testing.assert_array_equal(xb, yb * 10)


class Squares(Dataset):
    """A dataset computed on the fly: (i, i^2) as Python ints."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, i: int):
        return np.float32(i), i * i


def test_any_dataset_with_len_and_getitem_is_collated():
    batches = _batches(DataLoader(Squares(), batch_size=3))
    assert [len(b[0]) for b in batches] == [3, 3, 1]
    np.testing.assert_array_equal(batches[1][0], [3, 4, 5])
    np.testing.assert_array_equal(batches[1][1], [9, 16, 25])


def test_single_valued_samples_batch_into_one_tensor():
    class Plain(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return md.tensor([float(i), 0.0])

    xb = next(iter(DataLoader(Plain(), batch_size=4)))  # as PyTorch: a Tensor, not a 1-tuple
    assert isinstance(xb, md.Tensor) and xb.shape == (4, 2)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.arange(3)), batch_size=0)
    with pytest.raises(TypeError, match="__len__"):
        DataLoader(object())


def test_device_arrays_stay_on_their_device(backend):
    xp = md.backend.module_for(backend)
    md.set_backend("numpy")  # the default says CPU, but the data already lives on `backend`
    x, y = xp.zeros((6, 3), dtype=xp.float32), xp.arange(6)
    xb, yb = next(iter(DataLoader(TensorDataset(x, y), batch_size=4)))
    assert xb.device == yb.device == ("cuda" if backend == "cupy" else "cpu")
