"""Buckets: planning by size, dtype and device; packing gradients and reading them back."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import nn
from minidl.distributed import Bucket, plan_buckets


def params(*sizes: int, dtype: str = "float32", device: str = "numpy") -> list[nn.Parameter]:
    return [nn.Parameter(md.arange(n, dtype=dtype, device=device)) for n in sizes]


def test_consecutive_parameters_share_buckets_up_to_the_cap():
    ps = params(10, 20, 5, 100, 3)  # float32: 40, 80, 20, 400, 12 bytes
    buckets = plan_buckets(ps, cap_bytes=150)
    assert [[p.size for p in b.params] for b in buckets] == [[10, 20, 5], [100], [3]]
    assert [b.offsets for b in buckets] == [[0, 10, 30], [0], [0]]
    assert [b.numel for b in buckets] == [35, 100, 3]
    assert [p for b in buckets for p in b.params] == ps  # every parameter once, in order
    assert len(plan_buckets(ps)) == 1  # the default cap (4 MiB) holds them all


def test_a_change_of_dtype_starts_a_new_bucket():
    ps = params(4) + params(4, dtype="float64") + params(4)
    buckets = plan_buckets(ps, cap_bytes=1 << 20)
    assert [(len(b.params), b.dtype) for b in buckets] == [(1, np.float32), (1, np.float64), (1, np.float32)]


def test_pack_and_views_round_trip_with_missing_gradients_as_zeros(backend):
    ps = params(3, 4, 2, dtype="float64", device=backend)
    ps[1].data = ps[1].data.reshape(2, 2)
    bucket = Bucket(ps)
    grads = [p.data + 1 for p in ps]
    buf = bucket.pack([grads[0], None, grads[2]])
    assert buf.shape == (9,) and buf.dtype == np.float64 and md.backend.device_of(buf) == ps[0].device
    np.testing.assert_array_equal(md.backend.to_numpy(buf), [1, 2, 3, 0, 0, 0, 0, 1, 2])
    views = list(bucket.views())
    assert [v.shape for _, v in views] == [(3,), (2, 2), (2,)]
    np.testing.assert_array_equal(md.backend.to_numpy(views[2][1]), [1, 2])
    assert bucket.pack(p.data for p in ps) is buf  # one buffer, reused every step
    assert bucket.nbytes == 72 and "3 params" in repr(bucket)


def test_matches_notices_a_dtype_change():
    ps = params(3, 3)
    bucket = Bucket(ps)
    assert bucket.matches()
    ps[0].data = ps[0].data.astype(np.float64)
    assert not bucket.matches()


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="cap_bytes must be positive"):
        plan_buckets(params(2), cap_bytes=0)
    with pytest.raises(ValueError, match="at least one parameter"):
        Bucket([])
    assert plan_buckets([]) == []
