"""Data-parallel training: every rank holds the whole model, sees its own shard of each
batch, and averages gradients with the others before the optimizer steps.

Why it equals one big batch: the loss is a mean over the batch, so the mean over N ranks
of each rank's mean gradient (over B samples) is the gradient of the mean over all N*B
samples. The ranks start from rank 0's parameters and optimizer state and apply identical
averaged gradients, so they stay identical without ever exchanging parameters again.

No overlap of communication with backward: the engine has no per-parameter gradient
hooks and computes gradients op by op in Python; on CPU ranks a shared-memory all-reduce
is itself CPU work that would compete with backward for the same cores, and MPI only
progresses a non-blocking reduction when called. For the seed CNN the one bucket (2.8 MB)
takes about 1.3 ms on 2 local ranks against an 11 ms step, so overlap could hide at most
that; on GPUs (NCCL on its own stream) it would pay more, and is left for later.
"""
from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

from minidl import backend as B
from minidl.autograd.tensor import Tensor
from minidl.distributed import state
from minidl.distributed.bucket import DEFAULT_BUCKET_MB, Bucket, plan_buckets
from minidl.distributed.group import ProcessGroup
from minidl.nn.module import Module


def check_same_parameters(named_params: Iterable[tuple[str, Tensor]], group: ProcessGroup | None = None,
                          where: str = "DistributedDataParallel") -> None:
    """Raise ValueError on every rank (never a hang) unless all ranks hold parameters of the
    same names, shapes and dtypes, naming the first rank and parameter that differ from rank 0."""
    group = group or state.get_group()
    mine = [(name, tuple(int(s) for s in p.shape), str(p.dtype)) for name, p in named_params]
    everyone = group.all_gather_object(mine)
    ref = everyone[0]
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs == ref:
            continue
        for i in range(max(len(ref), len(theirs))):
            a = ref[i] if i < len(ref) else None
            b = theirs[i] if i < len(theirs) else None
            if a != b:
                raise ValueError(
                    f"{where}: the model on rank {rank} differs from rank 0 at parameter #{i}: "
                    f"rank 0 has {_describe(a)}, rank {rank} has {_describe(b)}; every rank must "
                    f"build the same model")


def _describe(entry: tuple[str, tuple[int, ...], str] | None) -> str:
    if entry is None:
        return "no parameter there"
    name, shape, dtype = entry
    return f"{name!r} of shape {shape} and dtype {dtype}"


class GradientReducer:
    """Averages the gradients of `params` over every rank: one in-place all-reduce per bucket.

    A parameter with no gradient on some ranks counts as zero there (as in one big batch); a
    parameter with no gradient on any rank keeps `.grad = None`, so optimizers skip it as
    they would in one process.
    """

    def __init__(self, params: Iterable[Tensor], group: ProcessGroup | None = None,
                 bucket_cap_mb: float = DEFAULT_BUCKET_MB) -> None:
        self.group = group or state.get_group()
        self.params = [p for p in params if p.requires_grad]
        self.cap_bytes = max(1, int(bucket_cap_mb * 2**20))
        self.buckets: list[Bucket] = plan_buckets(self.params, self.cap_bytes)
        self._has_grad = np.zeros(len(self.params), dtype=np.uint8)

    def _current_buckets(self) -> list[Bucket]:
        if not all(b.matches() for b in self.buckets):  # the model moved or changed dtype
            self.buckets = plan_buckets(self.params, self.cap_bytes)
        return self.buckets

    def broadcast_parameters(self, root: int = 0) -> None:
        """Overwrite every rank's parameter values with root's (bucketed, in place)."""
        for bucket in self._current_buckets():
            buf = bucket.pack(p.data for p in bucket.params)
            self.group.broadcast(buf, root)
            for p, view in bucket.views():
                p.data[...] = view

    def all_reduce_gradients(self) -> None:
        """Replace every gradient by its mean over the ranks."""
        if self.group.world_size == 1:
            return
        has_grad = self._has_grad
        has_grad[:] = [p.grad is not None for p in self.params]
        self.group.all_reduce(has_grad, "max")  # tiny; keeps globally unused grads at None
        for bucket in self._current_buckets():
            buf = bucket.pack(None if p.grad is None else p.grad.data for p in bucket.params)
            self.group.all_reduce(buf, "mean")
            for p, view in bucket.views():
                _set_grad(p, view)
        for p, used in zip(self.params, has_grad):
            if not used:
                p.grad = None


def _set_grad(p: Tensor, value: Any) -> None:
    """Write the averaged gradient into p's own grad array when it has one (no allocation)."""
    g = p.grad.data if p.grad is not None else None
    if g is not None and g.shape == value.shape and g.dtype == value.dtype and g.flags.writeable \
            and B.device_of(g) == B.device_of(value):
        g[...] = value
    else:
        p.grad = Tensor(value.copy())


def broadcast_optimizer_state(optimizer: Any, group: ProcessGroup | None = None, root: int = 0) -> None:
    """Give every rank root's optimizer hyperparameters and state (pickled; once, at start-up)."""
    group = group or state.get_group()
    if group.world_size == 1:
        return
    saved = group.broadcast_object(optimizer.state_dict() if group.rank == root else None, root)
    if group.rank != root:
        optimizer.load_state_dict(saved)


class AverageGradientsHook:
    """The step pre-hook that averages gradients over the ranks before an optimizer updates.

    One per optimizer: `install` replaces an earlier one, so whichever way a model, its
    wrapper and `fit` share an optimizer, a step averages its gradients exactly once.
    """

    def __init__(self, reducer: GradientReducer) -> None:
        self.reducer = reducer
        self.handle: Any = None

    def __call__(self, optimizer: Any) -> None:
        self.reducer.all_reduce_gradients()

    @classmethod
    def install(cls, optimizer: Any, reducer: GradientReducer) -> AverageGradientsHook:
        previous = cls.of(optimizer)
        if previous is not None:
            previous.handle.remove()
        hook = cls(reducer)
        hook.handle = optimizer.register_step_pre_hook(hook)
        return hook

    @classmethod
    def of(cls, optimizer: Any) -> AverageGradientsHook | None:
        """The hook averaging `optimizer`'s gradients, or None (also for an optimizer that is
        not a minidl one: `compile` accepts any object with step and zero_grad)."""
        hooks = getattr(optimizer, "_step_pre_hooks", {})  # minidl's own Optimizer: read, never written
        return next((h for h in hooks.values() if isinstance(h, cls)), None)


class DistributedDataParallel(Module):
    """Wrap a model for data-parallel training; forward calls the model.

    At construction: checks every rank built the same model (names, shapes, dtypes), then
    copies rank 0's parameters (and `optimizer`'s state, when given) to every rank. After
    `loss.backward()`, call `sync_gradients()` to average gradients over ranks; when an
    `optimizer` is given, a step pre-hook on it does that at every `step()` (after the
    closure, before the update). Shapes: whatever the model takes. Without `init()` it is a
    transparent wrapper (a job of one).

    The hook lives as long as this wrapper, as PyTorch's gradient hooks live as long as its
    DistributedDataParallel: keep the wrapper while you train (drop it, and the optimizer
    steps on this rank's gradients alone). Wrapping again with the same optimizer replaces
    the earlier wrapper's hook: a step never averages twice.

        model = dist.DistributedDataParallel(net, optimizer=opt)
        loss = F.cross_entropy(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    """

    def __init__(self, module: Module, optimizer: Any = None, bucket_cap_mb: float = DEFAULT_BUCKET_MB,
                 group: ProcessGroup | None = None) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        if optimizer is not None and not callable(getattr(optimizer, "register_step_pre_hook", None)):
            raise TypeError(f"DistributedDataParallel: optimizer must be a minidl optimizer (it needs "
                            f"register_step_pre_hook), got {type(optimizer).__name__}")
        self.module = module
        group = group or (state.get_group() if state.is_initialized() else None)
        self.group = group
        self.reducer: GradientReducer | None = None
        if group is None or group.world_size == 1:
            return
        check_same_parameters(module.named_parameters(), group)
        self.reducer = GradientReducer(module.parameters(), group, bucket_cap_mb)
        self.reducer.broadcast_parameters()
        if optimizer is not None:
            broadcast_optimizer_state(optimizer, group)
            hook = AverageGradientsHook.install(optimizer, self.reducer)
            weakref.finalize(self, hook.handle.remove)  # the hook goes with the wrapper

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def sync_gradients(self) -> None:
        """Average every parameter's gradient over the ranks (call after backward)."""
        if self.reducer is not None:
            self.reducer.all_reduce_gradients()

    def extra_repr(self) -> str:
        if self.reducer is None:
            return "world_size=1"
        return f"world_size={self.group.world_size}, buckets={len(self.reducer.buckets)}"
