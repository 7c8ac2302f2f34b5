"""What Keras-style `fit` needs to train data-parallel (used by `minidl.training.fit`).

After `minidl.distributed.init()` in a job of several ranks, `fit(x, y, batch_size=B)`
trains on rank r's shard of (x, y) at B samples per rank per step (an effective batch of
world_size * B, as in PyTorch's DistributedDataParallel), averages gradients before each
optimizer step, reports metrics summed over all ranks, and draws/prints only on rank 0.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl.backend import random as _random
from minidl.distributed import state
from minidl.distributed.ddp import (
    AverageGradientsHook,
    DistributedDataParallel,
    GradientReducer,
    broadcast_optimizer_state,
    check_same_parameters,
)
from minidl.distributed.sampler import DistributedSampler


class FitSync:
    """Rank 0's weights and optimizer state everywhere at start, then per-step gradient
    averaging, a shared shuffled shard per epoch, and metric totals over ranks.

    The averaging comes from what fit is given, once per step: the optimizer's own hook
    when a DistributedDataParallel installed one (then `sync_gradients` does nothing), else
    the wrapper's reducer when the model is one, else a reducer of fit's own.
    """

    def __init__(self, model: Any, optimizer: Any, n_samples: int, shuffle: bool) -> None:
        group = state.get_group()
        if AverageGradientsHook.of(optimizer) is not None:
            self._sync = _already_averaged  # step() averages by itself
        elif isinstance(model, DistributedDataParallel) and model.reducer is not None:
            self._sync = model.sync_gradients  # already checked and broadcast when wrapped
        else:
            check_same_parameters(model.named_parameters(), group, where="fit")
            reducer = GradientReducer(model.parameters(), group)
            reducer.broadcast_parameters()
            self._sync = reducer.all_reduce_gradients
        broadcast_optimizer_state(optimizer, group)
        # one shuffling seed for all ranks, drawn on rank 0 (md.manual_seed there decides it)
        seed = group.broadcast_object(_random.derive_seed() % 2**32 if group.rank == 0 else None)
        self.sampler = DistributedSampler(n_samples, num_replicas=group.world_size, rank=group.rank,
                                          shuffle=shuffle, seed=seed)
        self.group = group
        self.is_main = group.rank == 0

    def start_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def sync_gradients(self) -> None:
        self._sync()

    def sum_over_ranks(self, *values: Any) -> list[Any]:
        """Totals over every rank of some scalars (None stays None: a metric nobody has)."""
        totals = np.array([0.0 if v is None else float(v) for v in values], dtype=np.float64)
        self.group.all_reduce(totals, "sum")
        return [None if v is None else t for v, t in zip(values, totals.tolist())]


def _already_averaged() -> None:
    """The optimizer's step pre-hook averages the gradients: nothing to do before step()."""
