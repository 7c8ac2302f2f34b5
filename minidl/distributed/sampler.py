"""DistributedSampler: each rank's shard of a dataset's indices, for DataLoader(sampler=...)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from minidl.distributed import state


class DistributedSampler:
    """The indices of rank `rank`'s shard of a dataset of `len(dataset)` samples.

    Every epoch all ranks draw the same permutation (from `seed` and the epoch set by
    `set_epoch`; unshuffled: 0..n-1) and rank r takes positions r, r + R, r + 2R, ... of it
    (R = num_replicas), so the shards are disjoint and together cover the dataset. When R
    does not divide n, the permutation is padded by repeating its first indices
    (`drop_last=False`) or its tail is dropped (`drop_last=True`), so every rank gets
    exactly `len(sampler)` indices and runs the same number of steps (a rank with one
    step fewer would leave the others waiting in an all-reduce).

    Call `set_epoch(epoch)` before each epoch, or every epoch repeats one order.
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        n = dataset if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool) \
            else _length(dataset)
        num_replicas = state.get_world_size() if num_replicas is None else num_replicas
        rank = state.get_rank() if rank is None else rank
        if n < 0:
            raise ValueError(f"DistributedSampler: the dataset length must be >= 0, got {n}")
        if not _is_int(num_replicas) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, "
                             f"got {num_replicas!r}")
        if not _is_int(rank) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {num_replicas}), got {rank!r}")
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be an integer >= 0, got {seed!r}")
        self.dataset_len = int(n)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = self.dataset_len // self.num_replicas
        else:
            self.num_samples = -(-self.dataset_len // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shared permutation the next iteration uses."""
        if not _is_int(epoch) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be an integer >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array of len(self)."""
        n = self.dataset_len
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(n)
        else:
            order = np.arange(n, dtype=np.int64)
        # np.resize repeats the order cyclically when padding (even when n < num_replicas)
        order = np.resize(order, self.total_size) if n else order[:0]
        return order[self.rank:self.total_size:self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f"DistributedSampler(len={self.dataset_len}, num_replicas={self.num_replicas}, "
                f"rank={self.rank}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last}, epoch={self.epoch})")


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _length(dataset: Any) -> int:
    if not hasattr(dataset, "__len__"):
        raise TypeError(f"DistributedSampler: expected a dataset with __len__ or an int, "
                        f"got {type(dataset).__name__}")
    return len(dataset)
