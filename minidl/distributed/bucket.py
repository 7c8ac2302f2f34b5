"""Buckets: parameters packed into a few flat buffers, so one collective moves many of them.

A collective has a fixed cost (latency, a handshake) on top of its bandwidth cost; a model
has dozens of small biases next to a few big weights. Packing consecutive parameters of one
dtype and device into buffers of about `cap_bytes` turns one call per parameter into one
call per bucket. Buffers are allocated once and reused every step (multi-MB temporaries
freed every step cost page faults on this kind of machine).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from minidl import backend as B
from minidl.autograd.tensor import Tensor

DEFAULT_BUCKET_MB = 4.0


class Bucket:
    """Parameters of one dtype and device sharing one flat buffer (params[i] at offsets[i])."""

    def __init__(self, params: Sequence[Tensor]) -> None:
        if not params:
            raise ValueError("Bucket: needs at least one parameter")
        self.params = list(params)
        self.offsets = []
        total = 0
        for p in self.params:
            self.offsets.append(total)
            total += p.size
        self.numel = total
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.buffer: Any = None

    @property
    def nbytes(self) -> int:
        return self.numel * self.dtype.itemsize

    def matches(self) -> bool:
        """Whether every parameter still has the dtype and device it was planned with."""
        return all(p.dtype == self.dtype and p.device == self.device for p in self.params)

    def flat(self) -> Any:
        """The bucket's flat buffer (allocated on first use, on the parameters' device)."""
        if self.buffer is None:
            xp = B.module_for(B.backend_of_device(self.device))
            self.buffer = xp.empty(self.numel, dtype=self.dtype)
        return self.buffer

    def pack(self, arrays: Iterable[Any]) -> Any:
        """Copy one array per parameter (None means zeros) into the flat buffer; returns it."""
        buf = self.flat()
        for p, off, a in zip(self.params, self.offsets, arrays):
            if a is None:
                buf[off:off + p.size] = 0
            else:
                buf[off:off + p.size] = a.reshape(-1)
        return buf

    def views(self) -> Iterator[tuple[Tensor, Any]]:
        """(parameter, its slice of the buffer shaped like it) pairs."""
        buf = self.flat()
        for p, off in zip(self.params, self.offsets):
            yield p, buf[off:off + p.size].reshape(p.shape)

    def __repr__(self) -> str:
        return (f"Bucket({len(self.params)} params, {self.numel} x {self.dtype} on {self.device}, "
                f"{self.nbytes / 2**20:.2f} MiB)")


def plan_buckets(params: Iterable[Tensor], cap_bytes: int = int(DEFAULT_BUCKET_MB * 2**20)
                 ) -> list[Bucket]:
    """Group consecutive parameters of one dtype and device into buckets of at most
    `cap_bytes` (a parameter bigger than the cap gets a bucket of its own)."""
    if cap_bytes <= 0:
        raise ValueError(f"plan_buckets: cap_bytes must be positive, got {cap_bytes}")
    buckets: list[Bucket] = []
    current: list[Tensor] = []
    size = 0
    for p in params:
        nbytes = p.size * p.dtype.itemsize
        same_kind = current and (p.dtype, p.device) == (current[0].dtype, current[0].device)
        if current and (not same_kind or size + nbytes > cap_bytes):
            buckets.append(Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(Bucket(current))
    return buckets
