"""DistributedSampler in one process (explicit rank and num_replicas), and DataLoader(sampler=)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.data import DataLoader, TensorDataset
from minidl.distributed import DistributedSampler


def shards(n: int, world: int, **kw) -> list[list[int]]:
    return [list(DistributedSampler(n, num_replicas=world, rank=r, **kw)) for r in range(world)]


@given(n=st.integers(0, 40), world=st.integers(1, 5), shuffle=st.booleans(), drop_last=st.booleans(),
       epoch=st.integers(0, 3))
def test_shards_are_equal_sized_disjoint_and_cover(n, world, shuffle, drop_last, epoch):
    per_rank = []
    for r in range(world):
        s = DistributedSampler(n, num_replicas=world, rank=r, shuffle=shuffle, drop_last=drop_last)
        s.set_epoch(epoch)
        per_rank.append(s.indices())
        assert len(per_rank[-1]) == len(s)
    lengths = {len(p) for p in per_rank}
    assert len(lengths) == 1  # same number of steps on every rank
    together = np.concatenate(per_rank) if per_rank else np.array([], dtype=np.int64)
    assert together.dtype == np.int64 and ((0 <= together) & (together < max(n, 1))).all()
    if drop_last:
        assert len(together) == n - n % world
        assert len(set(together.tolist())) == len(together)  # disjoint
    else:
        assert len(together) == -(-n // world) * world
        assert set(together.tolist()) == set(range(n))  # covers; padding repeats indices


def test_known_shards_match_pytorchs_layout_without_shuffle():
    # rank r takes positions r, r+R, ...; padding repeats the first indices (as PyTorch)
    assert shards(10, 3, shuffle=False) == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    assert shards(10, 3, shuffle=False, drop_last=True) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert shards(2, 5, shuffle=False) == [[0], [1], [0], [1], [0]]  # fewer samples than ranks
    assert shards(3, 5, shuffle=False, drop_last=True) == [[]] * 5


def test_epochs_reshuffle_from_the_shared_seed():
    s = DistributedSampler(100, num_replicas=2, rank=0, seed=5)
    first = list(s)
    assert list(s) == first  # same epoch: same order
    s.set_epoch(1)
    second = list(s)
    assert second != first and sorted(second) != second
    again = DistributedSampler(100, num_replicas=2, rank=0, seed=5)
    again.set_epoch(1)
    assert list(again) == second  # another process with the same seed agrees
    other_seed = DistributedSampler(100, num_replicas=2, rank=0, seed=6)
    other_seed.set_epoch(1)
    assert list(other_seed) != second


def test_defaults_describe_a_job_of_one_before_init():
    s = DistributedSampler(TensorDataset(np.zeros(7)))
    assert (s.num_replicas, s.rank, len(s), s.shuffle, s.seed, s.drop_last) == (1, 0, 7, True, 0, False)
    assert sorted(s) == list(range(7))
    assert "num_replicas=1" in repr(s)


@pytest.mark.parametrize("kwargs, match", [
    ({"num_replicas": 2, "rank": 2}, r"rank must be in \[0, 2\), got 2"),
    ({"num_replicas": 2, "rank": -1}, "rank must be in"),
    ({"num_replicas": 0, "rank": 0}, "num_replicas must be a positive integer"),
    ({"num_replicas": 2, "rank": 0, "seed": -1}, "seed must be an integer >= 0"),
    ({"num_replicas": 2.0, "rank": 0}, "num_replicas must be a positive integer"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DistributedSampler(10, **kwargs)


def test_bad_dataset_and_epoch():
    with pytest.raises(TypeError, match="DistributedSampler: expected a dataset with __len__ or an int"):
        DistributedSampler(object())
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        DistributedSampler(4).set_epoch(-1)


def test_dataloader_follows_the_sampler():
    x, y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    sampler = DistributedSampler(10, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(TensorDataset(x, y), batch_size=3, sampler=sampler)
    assert len(loader) == 2  # 4 indices per rank
    batches = [yb.numpy().tolist() for _, yb in loader]
    assert batches == [[1, 4, 7], [0]]
    assert len(DataLoader(TensorDataset(x, y), batch_size=3, sampler=sampler, drop_last=True)) == 1


def test_dataloader_rejects_shuffle_with_a_sampler_and_non_samplers():
    data = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="either shuffle=True or a sampler"):
        DataLoader(data, shuffle=True, sampler=DistributedSampler(4))
    with pytest.raises(TypeError, match="sampler must have __len__ and __iter__"):
        DataLoader(data, sampler=5)
